"""POST /v1/postgres/instances/{uuid}/upgrade: what is recorded and what is refused.
(A real rolling update: the e2e tests; which targets are an upgrade: tests/unit.)"""

import pytest

INSTANCES = "/v1/postgres/instances"


def upgrade(api, instance, body=None):
    return api.post(f"{INSTANCES}/{instance['uuid']}/upgrade", json={} if body is None else body)


def upgrades_of(api, instance) -> list[dict]:
    operations = api.get(f"{INSTANCES}/{instance['uuid']}/operations").json
    return [o for o in operations if o["action"] == "upgrade"]


def version_of(api, image: str) -> dict:
    versions = api.get("/v1/types/postgres/versions").json["versions"]
    return next(v for v in versions if v["image"] == image)


def test_a_minor_update_is_an_operation_and_the_instance_stays_active(api, instance, settle):
    settle()
    answer = upgrade(api, instance)
    assert answer.status_code == 202, answer.json
    operation = answer.json
    assert operation["action"] == "upgrade"
    assert operation["status"] == "PENDING"
    assert answer.headers["Location"].endswith(f"/operations/{operation['uuid']}")
    assert api.get(f"{INSTANCES}/{instance['uuid']}").json["status"] == "ACTIVE"


def test_naming_the_instances_own_version_is_a_minor_update(api, instance, version, settle):
    settle()
    answer = upgrade(api, instance, {"version": f"/v1/types/postgres/versions/{version['uuid']}"})
    assert answer.status_code == 202, answer.json
    assert len(upgrades_of(api, instance)) == 1


def test_while_the_create_runs_it_is_409(api, instance):
    answer = upgrade(api, instance)
    assert answer.status_code == 409
    assert "create" in answer.json["message"]
    assert upgrades_of(api, instance) == []


def test_a_second_upgrade_while_one_waits_is_409(api, instance, settle):
    settle()
    assert upgrade(api, instance).status_code == 202
    assert upgrade(api, instance).status_code == 409
    assert len(upgrades_of(api, instance)) == 1


def test_a_major_upgrade_is_an_operation_and_the_instance_in_progress(api, instance, settle):
    settle()
    target = version_of(api, "debian-trixie-pg17")
    answer = upgrade(api, instance, {"version": target["uuid"]})
    assert answer.status_code == 202, answer.json
    assert answer.json["action"] == "upgrade"
    found = api.get(f"{INSTANCES}/{instance['uuid']}").json
    assert found["status"] == "IN_PROGRESS"
    # The instance shows its version until the upgrade succeeded.
    assert found["version"].endswith(version_of(api, "debian-bookworm-pg15")["uuid"])
    assert upgrade(api, instance, {"version": target["uuid"]}).status_code == 409


def test_a_major_upgrade_on_machines_that_cannot_change_image_is_422(app, api, instance, settle):
    settle()
    app.config["PROVIDER"] = "static"
    try:
        answer = upgrade(api, instance, {"version": version_of(api, "debian-trixie-pg17")["uuid"]})
    finally:
        app.config["PROVIDER"] = "nspawn"
    assert answer.status_code == 422
    assert "static" in answer.json["errors"]["version"][0]
    assert upgrades_of(api, instance) == []
    assert api.get(f"{INSTANCES}/{instance['uuid']}").json["status"] == "ACTIVE"


def test_a_downgrade_is_422(api, instance_body, settle):
    newer = version_of(api, "debian-forky-pg18")
    eighteen = api.post(INSTANCES, json=dict(instance_body, name="eighteen", version=newer["uuid"]))
    assert eighteen.status_code == 201, eighteen.json
    settle()
    answer = upgrade(api, eighteen.json, {"version": version_of(api, "debian-trixie-pg17")["uuid"]})
    assert answer.status_code == 422
    assert "cannot be downgraded" in answer.json["errors"]["version"][0]


@pytest.mark.parametrize(
    "reference",
    ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "/v1/postgres/instances/x", 7, ""],
)
def test_an_unknown_or_malformed_version_is_422(api, instance, settle, reference):
    settle()
    answer = upgrade(api, instance, {"version": reference})
    assert answer.status_code == 422
    assert "version" in answer.json["errors"]


def test_unknown_fields_and_a_status_are_refused(api, instance, settle):
    settle()
    assert upgrade(api, instance, {"status": "ACTIVE"}).status_code == 422
    assert upgrade(api, instance, {"kind": "major"}).status_code == 422
    assert upgrades_of(api, instance) == []


def test_another_projects_instance_is_404(other_api, instance, settle):
    settle()
    assert upgrade(other_api, instance).status_code == 404


def test_a_deleted_instance_is_409(api, instance, settle):
    settle()
    assert api.delete(f"{INSTANCES}/{instance['uuid']}").status_code == 204
    assert upgrade(api, instance).status_code == 409


def test_a_put_of_the_instances_own_version_changes_nothing(api, instance, version, settle):
    settle()
    answer = api.put(f"{INSTANCES}/{instance['uuid']}", json={"version": version["uuid"]})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "ACTIVE"
    assert [o["action"] for o in api.get(f"{INSTANCES}/{instance['uuid']}/operations").json] == [
        "create"
    ]


def test_a_put_of_a_higher_major_is_the_major_upgrade(api, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    current = api.get(path).json
    target = version_of(api, "debian-forky-pg18")
    # With a size change too: refused, nothing applied.
    both = api.put(path, json={"version": target["uuid"], "cpu": current["cpu"] + 1})
    assert both.status_code == 422
    assert "cpu" in both.json["errors"]["version"][0]
    assert upgrades_of(api, instance) == []
    # The whole body, its sizes unchanged, and a new description: the upgrade.
    body = {f: current[f] for f in ("cpu", "ram", "disk_size", "nodes_number")}
    answer = api.put(path, json={**body, "version": target["uuid"], "description": "eighteen"})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "IN_PROGRESS"
    assert answer.json["description"] == "eighteen"
    assert len(upgrades_of(api, instance)) == 1


def test_a_put_of_another_version_is_refused_as_the_upgrade_would_be(api, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    unknown = api.put(path, json={"version": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 422
    assert "version" in unknown.json["errors"]
    # Nothing else of the request was applied.
    assert api.put(path, json={"version": "nope", "description": "x"}).status_code == 422
    assert api.get(path).json["description"] != "x"
