import uuid

import pytest

VERSIONS = "/v1/types/postgres/versions"


def test_default_catalogue_in_the_specs_shape(api):
    answer = api.get(VERSIONS)
    assert answer.status_code == 200
    assert set(answer.json) == {"versions"}
    by_image = {v["image"]: v for v in answer.json["versions"]}
    assert by_image["debian-bookworm-pg15"]["name"] == "PostgreSQL 15"
    assert by_image["debian-trixie-pg17"]["name"] == "PostgreSQL 17"
    assert by_image["debian-forky-pg18"]["name"] == "PostgreSQL 18"
    assert "Debian testing" in by_image["debian-forky-pg18"]["description"]
    assert [(v["suite"], v["major"]) for v in by_image.values()] == [
        ("bookworm", 15),
        ("trixie", 17),
        ("forky", 18),
    ]
    for version in answer.json["versions"]:
        assert set(version) == {
            "uuid",
            "name",
            "description",
            "image",
            "suite",
            "major",
            "deprecated",
            "created_at",
            "updated_at",
        }
        assert version["created_at"].endswith("Z")


def test_show_a_version(api, version):
    assert api.get(f"{VERSIONS}/{version['uuid']}").json == version
    assert api.get(f"{VERSIONS}/{uuid.uuid4()}").status_code == 404


def test_admin_adds_and_changes_a_version(admin_api):
    body = {"name": "PostgreSQL 18 beta", "description": "test", "image": "debian-forky-pg18"}
    answer = admin_api.post(VERSIONS, json=body)
    assert answer.status_code == 201
    created = answer.json
    assert answer.headers["Location"] == f"{VERSIONS}/{created['uuid']}"
    assert created["deprecated"] is False
    changed = admin_api.put(f"{VERSIONS}/{created['uuid']}", json={"deprecated": True})
    assert changed.status_code == 200
    assert changed.json["deprecated"] is True
    assert changed.json["name"] == "PostgreSQL 18 beta"
    assert (changed.json["suite"], changed.json["major"]) == ("forky", 18)


def test_a_version_names_an_image_with_a_recipe(admin_api, version):
    answer = admin_api.post(VERSIONS, json={"name": "PostgreSQL 16", "image": "debian-x-pg16"})
    assert answer.status_code == 422
    assert "debian-bookworm-pg15" in answer.json["errors"]["image"][0]
    answer = admin_api.put(f"{VERSIONS}/{version['uuid']}", json={"image": "debian-x-pg16"})
    assert answer.status_code == 422
    assert "image" in answer.json["errors"]


def test_version_writes_need_an_admin(api, version):
    assert api.post(VERSIONS, json={"name": "x", "image": "x"}).status_code == 403
    answer = api.put(f"{VERSIONS}/{version['uuid']}", json={"deprecated": True})
    assert answer.status_code == 403
    assert api.get(f"{VERSIONS}/{version['uuid']}").json["deprecated"] is False


def test_version_name_is_unique(admin_api, version):
    answer = admin_api.post(VERSIONS, json={"name": version["name"], "image": "debian-trixie-pg17"})
    assert answer.status_code == 409
    assert "name" in answer.json["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"image": "x"},
        {"name": "", "image": "x"},
        {"name": "x" * 65, "image": "x"},
        {"name": "x", "image": "Debian Bookworm"},
        {"name": "x", "image": "../etc"},
        {"name": "x", "image": "x", "deprecated": "yes"},
        {"name": "x", "image": "x", "deprecated": 1},
        {"name": "x", "image": "x", "uuid": str(uuid.uuid4())},
        {"name": "x", "image": "x", "created_at": "2024-01-01T00:00:00Z"},
    ],
)
def test_bad_versions_are_422(admin_api, body):
    answer = admin_api.post(VERSIONS, json=body)
    assert answer.status_code == 422
    assert answer.json["errors"]


def test_image_of_a_version_in_use_cannot_change(admin_api, version, instance):
    answer = admin_api.put(f"{VERSIONS}/{version['uuid']}", json={"image": "debian-trixie-pg17"})
    assert answer.status_code == 409
    assert "image" in answer.json["errors"]
