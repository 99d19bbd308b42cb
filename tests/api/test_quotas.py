"""Quotas (what a project may take) and capacity (what this host can hold): refused at
once, naming the limit or the reason, and nothing recorded."""

import pytest

INSTANCES = "/v1/postgres/instances"
LIMITS = ("instances", "nodes", "cpu", "ram", "disk")


def small(instance_body, name="q", **sizes):
    body = dict(instance_body, name=name, cpu=1, ram=1024, disk_size=10, nodes_number=3)
    return {**body, **sizes}


def count_instances(api) -> int:
    return len(api.get(INSTANCES).json)


def test_a_project_sees_its_limits_and_usage(api, instance_body, app):
    shown = api.get("/v1/quotas")
    assert shown.status_code == 200
    assert shown.json["project_id"] == api.project_id
    assert shown.json["limits"] == {n: app.config[f"QUOTA_{n.upper()}"] for n in LIMITS}
    assert shown.json["usage"] == dict.fromkeys(LIMITS, 0)
    assert api.post(INSTANCES, json=small(instance_body)).status_code == 201
    usage = api.get("/v1/quotas").json["usage"]
    assert usage == {"instances": 1, "nodes": 3, "cpu": 3, "ram": 3072, "disk": 30}


@pytest.mark.parametrize(
    ("limit", "value", "sizes"),
    [
        ("instances", 0, {}),
        ("nodes", 2, {}),
        ("cpu", 5, {"cpu": 2}),
        ("ram", 3000, {}),
        ("disk", 29, {}),
    ],
)
def test_a_create_past_a_limit_is_refused_naming_it(
    api, admin_api, instance_body, limit, value, sizes
):
    assert admin_api.put(f"/v1/quotas/{api.project_id}", json={limit: value}).status_code == 200
    refused = api.post(INSTANCES, json=small(instance_body, **sizes))
    assert refused.status_code == 403, refused.json
    assert refused.json["error"] == "quota_exceeded"
    assert refused.json["limit"] == limit
    assert limit in refused.json["message"]
    assert refused.json["quota"]["limit"] == value
    assert count_instances(api) == 0


def test_a_resize_past_a_limit_is_refused_and_a_shrink_never(api, admin_api, instance_body, settle):
    made = api.post(INSTANCES, json=small(instance_body))
    assert made.status_code == 201
    settle()
    admin_api.put(f"/v1/quotas/{api.project_id}", json={"ram": 3072, "nodes": 3})
    path = f"{INSTANCES}/{made.json['uuid']}"
    refused = api.put(path, json={"ram": 2048})
    assert (refused.status_code, refused.json["limit"]) == (403, "ram")
    assert api.get(path).json["ram"] == 1024
    assert api.put(path, json={"nodes_number": 4}).json["limit"] == "nodes"
    # Under a limit lowered below what it uses, a project can still shrink.
    admin_api.put(f"/v1/quotas/{api.project_id}", json={"cpu": 1})
    assert api.put(path, json={"nodes_number": 2}).status_code == 200


def test_quotas_are_the_project_s_own_and_only_an_admin_sets_them(api, other_api, admin_api):
    refused = api.put(f"/v1/quotas/{api.project_id}", json={"instances": 100})
    assert refused.status_code == 403
    assert api.get(f"/v1/quotas/{other_api.project_id}").status_code == 403
    admin_api.put(f"/v1/quotas/{api.project_id}", json={"instances": 1})
    assert api.get("/v1/quotas").json["limits"]["instances"] == 1
    assert other_api.get("/v1/quotas").json["limits"]["instances"] != 1
    # null: back to the default.
    back = admin_api.put(f"/v1/quotas/{api.project_id}", json={"instances": None})
    assert back.json["limits"]["instances"] == api.get("/v1/quotas").json["limits"]["instances"]


@pytest.mark.parametrize(
    "body",
    [{}, {"instances": -1}, {"cpu": "many"}, {"status": 3}, {"instances": 1.5}],
)
def test_bad_limits_are_refused_naming_the_field(admin_api, api, body):
    answer = admin_api.put(f"/v1/quotas/{api.project_id}", json=body)
    assert answer.status_code == 422, answer.json


def test_a_create_the_host_cannot_hold_is_refused_at_once(api, app, instance_body, monkeypatch):
    # A lab network with 5 addresses for nodes: one 3-node instance fits, two do not.
    monkeypatch.setitem(app.config, "LAB_NETWORK", "10.77.0.0/29")
    assert api.post(INSTANCES, json=small(instance_body, "a")).status_code == 201
    refused = api.post(INSTANCES, json=small(instance_body, "b"))
    assert refused.status_code == 409, refused.json
    assert refused.json["error"] == "capacity"
    assert "no free address" in refused.json["message"]
    assert count_instances(api) == 1

    monkeypatch.setitem(app.config, "LAB_NETWORK", "10.77.0.0/24")
    monkeypatch.setitem(app.config, "RAM_OVERCOMMIT", 1.0)
    monkeypatch.setitem(app.config, "RESERVED_RAM", 0)
    huge = api.post(INSTANCES, json=small(instance_body, "c", ram=1024 * 1024))
    assert huge.status_code == 409, huge.json
    assert "not enough memory" in huge.json["message"]

    monkeypatch.setitem(app.config, "DISK_OVERCOMMIT", 0.001)
    disk = api.post(INSTANCES, json=small(instance_body, "d", disk_size=1024))
    assert disk.status_code == 409, disk.json
    assert "not enough free disk" in disk.json["message"]
    assert count_instances(api) == 1


def test_a_project_is_named_by_its_uuid(admin_api, api):
    assert admin_api.put("/v1/quotas/not-a-project", json={"nodes": 1}).status_code == 404
    assert admin_api.put("/v1/quotas/" + "a" * 300, json={"nodes": 1}).status_code == 404
    upper = api.project_id.upper()
    assert admin_api.put(f"/v1/quotas/{upper}", json={"nodes": 1}).status_code == 200
    assert api.get("/v1/quotas").json["limits"]["nodes"] == 1  # the same project
