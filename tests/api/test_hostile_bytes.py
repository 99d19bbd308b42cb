"""Bytes a hostile client sends: every one is a 4xx naming what is wrong, never a 500,
and nothing is written."""

import pytest
from sqlalchemy import func, select

from core.models import Database, Instance, User
from tests.support.services import fresh

PASSWORD = "secure_password_123"
LONE_SURROGATE = '"\\ud800"'  # valid JSON text, no valid Unicode string


def raw(api, method, path, body: str):
    return api.request(
        method, path, data=body.encode(), headers={"Content-Type": "application/json"}
    )


def counts(db):
    fresh(db)
    return [db.scalar(select(func.count()).select_from(m)) for m in (Instance, User, Database)]


@pytest.mark.parametrize("field", ["password", "description", "name"])
def test_a_lone_surrogate_in_a_user_is_422_naming_the_field(api, db, instance, field):
    before = counts(db)
    values = {"name": '"app"', "password": f'"{PASSWORD}"', "description": '"x"'}
    values[field] = LONE_SURROGATE
    body = "{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}"
    answer = raw(api, "POST", f"/v1/postgres/instances/{instance['uuid']}/users", body)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["errors"]
    assert counts(db) == before


def test_a_lone_surrogate_in_updates_is_422(api, instance, user, database, settle):
    settle()
    base = f"/v1/postgres/instances/{instance['uuid']}"
    for path, field in [
        (f"{base}/users/{user['uuid']}", "password"),
        (f"{base}/users/{user['uuid']}", "description"),
        (base, "description"),
    ]:
        answer = raw(api, "PUT", path, f'{{"{field}": {LONE_SURROGATE}}}')
        assert answer.status_code == 422, (path, answer.json)
        assert field in answer.json["errors"]


def test_a_lone_surrogate_in_an_instance_or_database_is_422(api, db, instance_body, user):
    before = counts(db)
    body = dict(instance_body, name="other")
    text = "{" + ", ".join(
        f'"{k}": "{v}"' if isinstance(v, str) else f'"{k}": {v}'
        for k, v in body.items()
        if k != "description"
    )
    answer = raw(
        api, "POST", "/v1/postgres/instances", text + f', "description": {LONE_SURROGATE}}}'
    )
    assert answer.status_code == 422, answer.json
    assert "description" in answer.json["errors"]
    path = f"/v1/postgres/instances/{user['instance'].rsplit('/', 1)[-1]}/databases"
    answer = raw(
        api,
        "POST",
        path,
        f'{{"name": "d", "owner": "{user["uuid"]}", "description": {LONE_SURROGATE}}}',
    )
    assert answer.status_code == 422, answer.json
    assert counts(db) == before


@pytest.mark.parametrize("depth", [1000, 30_000])
def test_deeply_nested_json_is_a_400(api, db, instance, depth):
    before = counts(db)
    body = "[" * depth + "]" * depth
    for method, path in [
        ("POST", "/v1/postgres/instances"),
        ("POST", f"/v1/postgres/instances/{instance['uuid']}/users"),
        ("PUT", f"/v1/postgres/instances/{instance['uuid']}"),
    ]:
        answer = raw(api, method, path, body)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
        assert answer.is_json and answer.json["message"]
    nested = (
        '{"name": "app", "password": "'
        + PASSWORD
        + '", "description": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    answer = raw(api, "POST", f"/v1/postgres/instances/{instance['uuid']}/users", nested)
    assert 400 <= answer.status_code < 500
    assert counts(db) == before


@pytest.mark.parametrize("body", [b"\xff\xfe{", b'{"name": "\xc3"}', b"\x00", b'{"a": 1e999999}'])
def test_undecodable_bodies_are_a_400(api, instance, body):
    answer = api.request(
        "POST",
        f"/v1/postgres/instances/{instance['uuid']}/users",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.status_code
    assert answer.is_json
