import uuid

import pytest

PASSWORD = "secure_password_123"


def databases_path(instance):
    return f"/v1/postgres/instances/{instance['uuid']}/databases"


def user_uri(instance, user):
    return f"/v1/types/postgres/instances/{instance['uuid']}/users/{user['uuid']}"


def test_create_database_with_owner_uri(api, instance, user):
    answer = api.post(
        databases_path(instance),
        json={
            "name": "app_database",
            "description": "Main application database",
            "owner": user_uri(instance, user),
        },
    )
    assert answer.status_code == 201
    body = answer.json
    assert answer.headers["Location"] == f"{databases_path(instance)}/{body['uuid']}"
    assert body["owner"] == user_uri(instance, user)
    assert body["instance"] == f"/v1/types/postgres/instances/{instance['uuid']}"
    assert body["status"] == "NEW"
    assert api.get(f"{databases_path(instance)}/{body['uuid']}").json == body


def test_owner_as_bare_uuid_or_canonical_path(api, instance, user):
    for n, owner in enumerate(
        [user["uuid"], f"/v1/postgres/instances/{instance['uuid']}/users/{user['uuid']}"]
    ):
        answer = api.post(databases_path(instance), json={"name": f"db{n}", "owner": owner})
        assert answer.status_code == 201, answer.json


def test_owner_must_be_a_user_of_this_instance(api, instance_body, instance, user):
    second = api.post("/v1/postgres/instances", json=dict(instance_body, name="second")).json
    theirs = api.post(
        f"/v1/postgres/instances/{second['uuid']}/users", json={"name": "x", "password": PASSWORD}
    ).json
    for owner in [
        theirs["uuid"],
        user_uri(second, theirs),
        user_uri(second, user),
        str(uuid.uuid4()),
        "app_user",
        "",
    ]:
        answer = api.post(databases_path(instance), json={"name": "db", "owner": owner})
        assert answer.status_code == 422, owner
        assert "owner" in answer.json["errors"]


def test_owner_being_deleted_is_refused(api, instance, user, settle):
    settle()
    api.delete(f"/v1/postgres/instances/{instance['uuid']}/users/{user['uuid']}")
    answer = api.post(databases_path(instance), json={"name": "db", "owner": user["uuid"]})
    assert answer.status_code == 422
    assert "being deleted" in answer.json["errors"]["owner"][0]


@pytest.mark.parametrize("name", ["a", "_db", "A" * 63, "app_db_2", "Postgres1", "pg_data"])
def test_database_names_accepted(api, instance, user, name):
    answer = api.post(databases_path(instance), json={"name": name, "owner": user["uuid"]})
    assert answer.status_code == 201, answer.json


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1db",
        "a" * 64,
        "db$1",
        "db-1",
        "db name",
        "bäse",
        "postgres",
        "template0",
        "template1",
        "POSTGRES",
        "Template1",
        "db\n",
    ],
)
def test_database_names_refused(api, instance, user, name):
    answer = api.post(databases_path(instance), json={"name": name, "owner": user["uuid"]})
    assert answer.status_code == 422
    assert "name" in answer.json["errors"]


def test_database_name_unique_per_instance(api, instance, user, database):
    again = api.post(
        databases_path(instance), json={"name": database["name"], "owner": user["uuid"]}
    )
    assert again.status_code == 409


def test_database_owner_is_required(api, instance):
    answer = api.post(databases_path(instance), json={"name": "db"})
    assert answer.status_code == 422
    assert "owner" in answer.json["errors"]


def test_databases_cannot_be_changed(api, instance, database):
    answer = api.put(f"{databases_path(instance)}/{database['uuid']}", json={"name": "x"})
    assert answer.status_code == 405
    assert answer.json["code"] == 405


def test_delete_database_then_its_owner(api, instance, user, database, settle):
    settle()
    db_path = f"{databases_path(instance)}/{database['uuid']}"
    assert api.delete(db_path).status_code == 204
    assert api.get(db_path).json["status"] == "IN_PROGRESS"
    settle()
    assert api.get(db_path).status_code == 404
    user_path = f"/v1/postgres/instances/{instance['uuid']}/users/{user['uuid']}"
    assert api.delete(user_path).status_code == 204


def test_list_databases(api, instance, user, database):
    assert api.get(databases_path(instance)).json == [database]
    assert api.get(f"{databases_path(instance)}?status=ERROR").json == []


def test_a_database_and_its_owner_deleted_before_they_were_made(api, instance, user, database):
    """Both still waiting for the instance: each DELETE cancels a create that never ran;
    the owner is free to go once its database has."""
    db_path = f"{databases_path(instance)}/{database['uuid']}"
    user_path = f"/v1/postgres/instances/{instance['uuid']}/users/{user['uuid']}"
    assert api.delete(user_path).status_code == 409  # it owns the database
    assert api.delete(db_path).status_code == 204
    assert api.get(db_path).status_code == 404
    assert api.delete(user_path).status_code == 204
    assert api.get(user_path).status_code == 404
    operations = api.get(f"/v1/postgres/instances/{instance['uuid']}/operations").json
    cancelled = [o for o in operations if o["target_type"] in ("user", "database")]
    assert [o["status"] for o in cancelled] == ["FAILED", "FAILED"]
