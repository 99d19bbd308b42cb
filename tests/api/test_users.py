import uuid

import pytest
import redis
from sqlalchemy import select

from core import scram
from core.models import Operation, User
from tests.support.services import fresh

PASSWORD = "secure_password_123"


def users_path(instance):
    return f"/v1/postgres/instances/{instance['uuid']}/users"


def test_create_user_answers_201_and_never_shows_the_password(api, instance):
    answer = api.post(
        users_path(instance),
        json={"name": "app_user", "description": "Application user", "password": PASSWORD},
    )
    assert answer.status_code == 201
    body = answer.json
    assert answer.headers["Location"] == f"{users_path(instance)}/{body['uuid']}"
    assert body["status"] == "NEW"
    assert body["instance"] == f"/v1/types/postgres/instances/{instance['uuid']}"
    assert set(body) == {
        "uuid",
        "instance",
        "name",
        "description",
        "status",
        "error",
        "created_at",
        "updated_at",
    }
    assert PASSWORD not in answer.get_data(as_text=True)
    assert "SCRAM" not in answer.get_data(as_text=True)


def test_only_a_scram_verifier_is_stored_and_queued(app, api, db, instance):
    body = api.post(users_path(instance), json={"name": "app_user", "password": PASSWORD}).json
    stored = db.scalars(select(User).where(User.uuid == body["uuid"])).one()
    assert scram.is_verifier(stored.password_verifier)
    assert scram.matches(PASSWORD, stored.password_verifier)
    assert not scram.matches(PASSWORD + "x", stored.password_verifier)
    for operation in db.scalars(select(Operation)):
        assert PASSWORD not in repr(operation.params)
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    for key in client.keys("*"):
        if client.type(key) == b"hash":
            assert PASSWORD.encode() not in b"".join(client.hgetall(key).values())


@pytest.mark.parametrize(
    "name", ["a", "_a", "app$user", "A" * 63, "user_1", "Pgadmin", "postgre", "dbaa_x"]
)
def test_user_names_accepted(api, instance, name):
    answer = api.post(users_path(instance), json={"name": name, "password": PASSWORD})
    assert answer.status_code == 201, answer.json


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1user",
        "$user",
        "a" * 64,
        "user-1",
        "user name",
        "usér",
        "user\n",
        "pg_admin",
        "PG_admin",
        "dbaas_internal",
        "dbaas_replication",
        "DBAAS_x",
        "postgres",
        "postgres_x",
        "Postgresql",
        "a\x00",
    ],
)
def test_user_names_refused(api, instance, name):
    answer = api.post(users_path(instance), json={"name": name, "password": PASSWORD})
    assert answer.status_code == 422
    assert "name" in answer.json["errors"]


@pytest.mark.parametrize(
    "password, status",
    [
        ("a" * 7, 422),
        ("a" * 8, 201),
        ("é" * 99, 201),
        ("a" * 100, 422),
        (12345678, 422),
        (None, 422),
        ("pass\x00word", 422),
    ],
)
def test_password_length_8_to_99(api, instance, password, status):
    answer = api.post(users_path(instance), json={"name": "u", "password": password})
    assert answer.status_code == status, answer.json
    if status == 422:
        assert "password" in answer.json["errors"]


def test_password_is_required(api, instance):
    answer = api.post(users_path(instance), json={"name": "u"})
    assert answer.status_code == 422
    assert "password" in answer.json["errors"]


def test_user_name_unique_per_instance(api, instance_body, instance, user):
    again = api.post(users_path(instance), json={"name": user["name"], "password": PASSWORD})
    assert again.status_code == 409
    second = api.post("/v1/postgres/instances", json=dict(instance_body, name="second")).json
    elsewhere = api.post(users_path(second), json={"name": user["name"], "password": PASSWORD})
    assert elsewhere.status_code == 201


def test_manifest_style_body_with_instance_and_project(api, instance):
    body = {
        "project_id": api.project_id,
        "name": "demo_user",
        "password": PASSWORD,
        "instance": instance["uuid"],
        "uuid": str(uuid.uuid4()),
    }
    answer = api.post(users_path(instance), json=body)
    assert answer.status_code == 201
    assert answer.json["uuid"] == body["uuid"]


def test_instance_in_body_must_be_the_paths(api, instance):
    answer = api.post(
        users_path(instance),
        json={"name": "u", "password": PASSWORD, "instance": str(uuid.uuid4())},
    )
    assert answer.status_code == 422
    assert "instance" in answer.json["errors"]


def test_project_id_of_another_project_is_403(api, instance):
    answer = api.post(
        users_path(instance),
        json={"name": "u", "password": PASSWORD, "project_id": str(uuid.uuid4())},
    )
    assert answer.status_code == 403


def test_update_password_and_description(api, db, instance, user, settle):
    settle()
    path = f"{users_path(instance)}/{user['uuid']}"
    before = db.scalars(select(User).where(User.uuid == user["uuid"])).one().password_verifier
    answer = api.put(path, json={"password": "new_password_456", "description": "rotated"})
    assert answer.status_code == 200
    assert answer.json["status"] == "IN_PROGRESS"
    assert answer.json["description"] == "rotated"
    fresh(db)
    after = db.scalars(select(User).where(User.uuid == user["uuid"])).one().password_verifier
    assert after != before
    assert scram.matches("new_password_456", after)
    operation = db.scalars(select(Operation).order_by(Operation.id.desc())).first()
    assert operation.action == "update"
    assert operation.params == {"fields": ["description", "password"]}


@pytest.mark.parametrize(
    "body", [{}, {"name": "renamed"}, {"status": "ACTIVE"}, {"password": "short"}]
)
def test_bad_user_updates_are_422(api, instance, user, settle, body):
    settle()
    answer = api.put(f"{users_path(instance)}/{user['uuid']}", json=body)
    assert answer.status_code == 422


def test_update_while_pending_is_409(api, instance, user):
    answer = api.put(f"{users_path(instance)}/{user['uuid']}", json={"description": "x"})
    assert answer.status_code == 409
    assert "operation" in answer.json


def test_delete_user_then_404(api, instance, user, settle):
    settle()
    path = f"{users_path(instance)}/{user['uuid']}"
    assert api.delete(path).status_code == 204
    assert api.get(path).json["status"] == "IN_PROGRESS"
    assert api.delete(path).status_code == 409
    settle()
    assert api.get(path).status_code == 404


def test_deleting_a_user_that_owns_a_database_is_409_naming_it(api, instance, user, database):
    answer = api.delete(f"{users_path(instance)}/{user['uuid']}")
    assert answer.status_code == 409
    assert answer.json["databases"] == ["app_database"]
    assert "app_database" in answer.json["message"]


def test_list_users_newest_first_with_filters(api, instance):
    for name in ("u1", "u2", "u3"):
        api.post(users_path(instance), json={"name": name, "password": PASSWORD})
    assert [u["name"] for u in api.get(users_path(instance)).json] == ["u3", "u2", "u1"]
    assert [u["name"] for u in api.get(f"{users_path(instance)}?name=u2").json] == ["u2"]
    page = api.get(f"{users_path(instance)}?limit=2")
    assert len(page.json) == 2
    rest = api.get(f"{users_path(instance)}?marker={page.headers['X-Pagination-Marker']}")
    assert [u["name"] for u in rest.json] == ["u1"]


def test_user_of_unknown_instance_is_404(api):
    assert api.get(f"/v1/postgres/instances/{uuid.uuid4()}/users").status_code == 404
    answer = api.post(
        f"/v1/postgres/instances/{uuid.uuid4()}/users", json={"name": "u", "password": PASSWORD}
    )
    assert answer.status_code == 404


def test_a_user_deleted_before_its_create_ran_is_gone_at_once(api, db, instance):
    user = api.post(users_path(instance), json={"name": "early", "password": "password1"}).json
    path = f"{users_path(instance)}/{user['uuid']}"
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404  # nothing was made on the machines
    fresh(db)
    [create] = db.scalars(select(Operation).where(Operation.target_uuid == user["uuid"])).all()
    assert (create.status, create.error["message"]) == (
        "FAILED",
        "Cancelled: the user was deleted.",
    )
    # The name is free again.
    again = api.post(users_path(instance), json={"name": "early", "password": "password1"})
    assert again.status_code == 201


def test_a_user_deleted_while_its_create_runs_is_stopped_then_dropped(api, db, instance):
    from core import lifecycle

    user = api.post(users_path(instance), json={"name": "racing", "password": "password1"}).json
    fresh(db)
    [create] = db.scalars(select(Operation).where(Operation.target_uuid == user["uuid"])).all()
    lifecycle.operation_started(db, create)
    path = f"{users_path(instance)}/{user['uuid']}"
    assert api.delete(path).status_code == 204
    assert api.get(path).json["status"] == "IN_PROGRESS"
    fresh(db)
    create, delete = db.scalars(
        select(Operation).where(Operation.target_uuid == user["uuid"]).order_by(Operation.id)
    ).all()
    assert (create.status, create.cancel_requested) == ("RUNNING", True)
    assert (delete.action, delete.status) == ("delete", "PENDING")
    assert api.delete(path).status_code == 409
