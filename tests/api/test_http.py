"""The HTTP contract: paths old clients use, error shapes, the OpenAPI document."""

import json
import uuid

import pytest

from core.models import Operation


def test_trailing_slash_and_types_prefix_reach_the_same_routes(api, instance_body, version):
    created = api.post("/v1/types/postgres/instances/", json=instance_body)
    assert created.status_code == 201
    uid = created.json["uuid"]
    for path in (
        f"/v1/postgres/instances/{uid}",
        f"/v1/postgres/instances/{uid}/",
        f"/v1/types/postgres/instances/{uid}",
        f"/v1/types/postgres/instances/{uid}/",
    ):
        answer = api.get(path)
        assert answer.status_code == 200, path
        assert answer.json["uuid"] == uid
    user = api.post(
        f"/v1/types/postgres/instances/{uid}/users/",
        json={"name": "app_user", "password": "secure_password_123"},
    )
    assert user.status_code == 201
    assert api.get(f"/v1/types/postgres/instances/{uid}/users/").json == [user.json]
    assert api.get("/v1/types/postgres/versions/").status_code == 200
    assert api.get(f"/v1/types/postgres/versions/{version['uuid']}/").status_code == 200


def test_no_route_redirects(api, instance):
    for path in ("/v1/postgres/instances/", "/v1/types/postgres/instances//", "/openapi.json/"):
        assert api.get(path).status_code < 300


@pytest.mark.parametrize(
    "raw",
    ['{"name": ', "not json", "{'name': 'x'}", "\xff\xfe"],
)
def test_malformed_json_is_400_json(api, raw):
    answer = api.post(
        "/v1/postgres/instances", data=raw.encode("latin-1"), content_type="application/json"
    )
    assert answer.status_code == 400
    assert answer.json["code"] == 400
    assert answer.json["message"]


@pytest.mark.parametrize("body", [[], "text", 42, None, [{"name": "x"}]])
def test_a_body_that_is_no_object_is_422(api, body):
    answer = api.post(
        "/v1/postgres/instances", data=json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 422
    assert answer.json["errors"]


def test_oversized_body_is_413_json(api, instance_body):
    answer = api.post("/v1/postgres/instances", json=dict(instance_body, description="x" * 70000))
    assert answer.status_code == 413
    assert answer.json["code"] == 413


def test_unknown_paths_and_methods_answer_json(api):
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json["code"] == 404
    not_allowed = api.request("PATCH", "/v1/postgres/instances")
    assert not_allowed.status_code == 405
    assert not_allowed.json["code"] == 405


def test_error_shape_is_the_same_everywhere(api, instance):
    shapes = [
        api.post("/v1/postgres/instances", json={}),
        api.get(f"/v1/postgres/instances/{uuid.uuid4()}"),
        api.put(f"/v1/postgres/instances/{instance['uuid']}", json={"cpu": 8}),
        api.post("/v1/types/postgres/versions", json={"name": "x", "image": "x"}),
    ]
    assert [s.status_code for s in shapes] == [422, 404, 409, 403]
    for answer in shapes:
        assert {"code", "status", "message", "errors"} <= set(answer.json)


def test_openapi_document_and_docs(app, api):
    client = app.test_client()
    spec = client.get("/openapi.json").json
    paths = spec["paths"]
    for path in (
        "/v1/types/postgres/versions",
        "/v1/postgres/instances",
        "/v1/postgres/instances/{instance_uuid}",
        "/v1/postgres/instances/{instance_uuid}/users/{user_uuid}",
        "/v1/postgres/instances/{instance_uuid}/databases/{database_uuid}",
    ):
        assert path in paths
    create = paths["/v1/postgres/instances"]["post"]
    example = create["requestBody"]["content"]["application/json"]["example"]
    assert example["name"] == "production-postgres"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"/docs/static/swagger-ui-bundle.js" in docs.data
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200


def test_internal_errors_are_json_without_details(tmp_path, redis_url):
    from app import create_app, migrate

    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate.upgrade(url)
    app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": url, "REDIS_URL": redis_url})

    @app.get("/boom")
    def boom():
        raise RuntimeError("SELECT secret FROM internals")

    answer = app.test_client().get("/boom")
    assert answer.status_code == 500
    assert answer.json["code"] == 500
    assert "secret" not in answer.get_data(as_text=True)
    assert "Traceback" not in answer.get_data(as_text=True)


def test_redis_down_still_records_and_the_outbox_relays_later(
    app, db, api, instance_body, redis_url
):
    from sqlalchemy import select

    from core import queue
    from tests.support.services import free_port, fresh

    app.extensions["dbaas_queue"] = queue.JobQueue(
        f"redis://127.0.0.1:{free_port()}/0", app.config["QUEUE_NAME"]
    )
    try:
        answer = api.post("/v1/postgres/instances", json=instance_body)
    finally:
        working = queue.JobQueue(redis_url, app.config["QUEUE_NAME"])
        app.extensions["dbaas_queue"] = working
    assert answer.status_code == 201
    fresh(db)
    [operation] = db.scalars(select(Operation)).all()
    assert operation.enqueued_at is None
    assert working.queue.job_ids == []

    assert queue.relay_outbox(db, working) == 1
    assert working.queue.job_ids == [queue.job_id(operation.uuid)]
    assert working.queue.fetch_job(working.queue.job_ids[0]).args == (operation.uuid,)
    assert queue.relay_outbox(db, working) == 0


def test_json_body_is_read_whatever_the_content_type(api, instance_body):
    sent_as_form = api.post(
        "/v1/postgres/instances",
        data=json.dumps(instance_body),
        content_type="application/x-www-form-urlencoded",
    )
    assert sent_as_form.status_code == 201
    real_form = api.post(
        "/v1/postgres/instances",
        data="name=x&cpu=1",
        content_type="application/x-www-form-urlencoded",
    )
    assert real_form.status_code == 400
