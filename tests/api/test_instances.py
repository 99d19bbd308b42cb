import uuid
from pathlib import Path

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from app.services.references import INSTANCES_PATH
from core.models import Operation
from tests.support.services import fresh

INSTANCES = INSTANCES_PATH

BOUNDS = {
    "cpu": (1, 128),
    "ram": (512, 1048576),
    "disk_size": (8, 1024),
    "nodes_number": (1, 16),
    "sync_replica_number": (0, 15),
}


def operations_of(db, target_uuid):
    fresh(db)
    return db.scalars(
        select(Operation).where(Operation.target_uuid == target_uuid).order_by(Operation.id)
    ).all()


def queued_job_args(app):
    queue = Queue(
        app.config["QUEUE_NAME"], connection=redis.Redis.from_url(app.config["REDIS_URL"])
    )
    return [queue.fetch_job(job_id).args for job_id in queue.job_ids]


def test_create_answers_201_new_with_location(api, instance_body, version):
    answer = api.post(INSTANCES, json=instance_body)
    assert answer.status_code == 201
    body = answer.json
    assert answer.headers["Location"] == f"{INSTANCES}/{body['uuid']}"
    assert body["status"] == "NEW"
    assert body["error"] is None
    assert body["ipsv4"] == []
    assert body["project_id"] == api.project_id
    assert body["version"] == f"/v1/types/postgres/versions/{version['uuid']}"
    for field in ("name", "description", "cpu", "ram", "disk_size", "nodes_number"):
        assert body[field] == instance_body[field]
    assert body["created_at"].endswith("Z")


def test_create_records_an_operation_and_enqueues_only_its_id(app, api, db, instance_body):
    body = api.post(INSTANCES, json=instance_body).json
    [operation] = operations_of(db, body["uuid"])
    assert (operation.target, operation.action, operation.status) == (
        "instance",
        "create",
        "PENDING",
    )
    assert operation.enqueued_at is not None
    assert queued_job_args(app) == [(operation.uuid,)]


def test_get_and_list(api, instance):
    assert api.get(f"{INSTANCES}/{instance['uuid']}").json == instance
    assert api.get(INSTANCES).json == [instance]


def test_spec_manifest_one_node_one_sync_replica_is_accepted(api, instance_body):
    instance_body.update(nodes_number=1, sync_replica_number=1, cpu=1, ram=1024, disk_size=15)
    answer = api.post(INSTANCES, json=instance_body)
    assert answer.status_code == 201
    assert answer.json["sync_replica_number"] == 1
    assert answer.json["effective_sync_replica_number"] == 0


def test_defaults_for_nodes_and_sync(api, instance_body):
    del instance_body["nodes_number"], instance_body["sync_replica_number"]
    body = api.post(INSTANCES, json=instance_body).json
    assert (body["nodes_number"], body["sync_replica_number"]) == (1, 0)


@pytest.mark.parametrize("field", BOUNDS)
def test_sizes_accept_their_bounds(api, instance_body, field):
    for n, value in enumerate(BOUNDS[field]):
        body = dict(instance_body, name=f"bound-{n}", **{field: value})
        answer = api.post(INSTANCES, json=body)
        assert answer.status_code == 201, (value, answer.json)
        assert answer.json[field] == value


@pytest.mark.parametrize("field", BOUNDS)
def test_sizes_refuse_just_outside_bounds_and_non_integers(api, db, instance_body, field):
    low, high = BOUNDS[field]
    for value in (low - 1, high + 1, True, False, 2.0, 1.5, "4", None, [4], {"n": 4}):
        answer = api.post(INSTANCES, json=dict(instance_body, **{field: value}))
        assert answer.status_code == 422, (value, answer.json)
        assert field in answer.json["errors"]
    assert api.get(INSTANCES).json == []
    assert db.scalars(select(Operation)).all() == []


@pytest.mark.parametrize("field", ["name", "cpu", "ram", "disk_size", "version"])
def test_required_fields(api, instance_body, field):
    del instance_body[field]
    answer = api.post(INSTANCES, json=instance_body)
    assert answer.status_code == 422
    assert answer.json["errors"][field] == ["Missing data for required field."]


@pytest.mark.parametrize("name", ["a", "A" + "b" * 62, "db-1_x", "Prod-Postgres"])
def test_instance_names_accepted(api, instance_body, name):
    assert api.post(INSTANCES, json=dict(instance_body, name=name)).status_code == 201


@pytest.mark.parametrize(
    "name",
    ["", "1db", "-db", "_db", "a" * 64, "db name", "db.name", "dé", "db\n", "db\x00", "db/1"],
)
def test_instance_names_refused(api, instance_body, name):
    answer = api.post(INSTANCES, json=dict(instance_body, name=name))
    assert answer.status_code == 422
    assert "name" in answer.json["errors"]


def test_name_is_unique_per_project_only(api, other_api, instance_body, instance):
    taken = api.post(INSTANCES, json=instance_body)
    assert taken.status_code == 409
    assert "name" in taken.json["errors"]
    assert other_api.post(INSTANCES, json=instance_body).status_code == 201


def test_version_as_uri_uuid_or_url(api, instance_body, version):
    for n, reference in enumerate(
        [
            version["uuid"],
            f"/v1/types/postgres/versions/{version['uuid']}/",
            f"http://localhost:8080/v1/types/postgres/versions/{version['uuid']}",
            version["uuid"].upper(),
        ]
    ):
        answer = api.post(INSTANCES, json=dict(instance_body, name=f"v{n}", version=reference))
        assert answer.status_code == 201, (reference, answer.json)
        assert answer.json["version"].endswith(version["uuid"])


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "postgres:15",
        str(uuid.uuid4()),
        f"/v1/types/postgres/versions/{uuid.uuid4()}",
        "/v1/types/postgres/instances/00000000-0000-0000-0000-000000000000",
        "../../etc/passwd",
    ],
)
def test_unknown_or_malformed_version_is_422(api, instance_body, reference):
    answer = api.post(INSTANCES, json=dict(instance_body, version=reference))
    assert answer.status_code == 422
    assert "version" in answer.json["errors"]


def test_deprecated_version_refuses_new_instances_but_keeps_old_ones(
    api, admin_api, instance_body, instance, version
):
    path = f"/v1/types/postgres/versions/{version['uuid']}"
    assert admin_api.put(path, json={"deprecated": True}).status_code == 200
    answer = api.post(INSTANCES, json=dict(instance_body, name="another"))
    assert answer.status_code == 422
    assert "deprecated" in answer.json["errors"]["version"][0]
    assert api.get(f"{INSTANCES}/{instance['uuid']}").status_code == 200
    assert api.get(path).json["deprecated"] is True


def test_client_chosen_uuid(api, other_api, instance_body):
    chosen = str(uuid.uuid4())
    answer = api.post(INSTANCES, json=dict(instance_body, uuid=chosen))
    assert answer.status_code == 201
    assert answer.json["uuid"] == chosen
    again = other_api.post(INSTANCES, json=dict(instance_body, uuid=chosen))
    assert again.status_code == 409
    assert "uuid" in again.json["errors"]
    bad = api.post(INSTANCES, json=dict(instance_body, name="x2", uuid="not-a-uuid"))
    assert bad.status_code == 422


def test_project_id_must_be_the_tokens(api, instance_body):
    foreign = api.post(INSTANCES, json=dict(instance_body, project_id=str(uuid.uuid4())))
    assert foreign.status_code == 403
    assert "project_id" in foreign.json["errors"]
    own = api.post(INSTANCES, json=dict(instance_body, project_id=api.project_id))
    assert own.status_code == 201


@pytest.mark.parametrize(
    "field, value",
    [
        ("status", "ACTIVE"),
        ("ipsv4", ["10.0.0.1"]),
        ("error", None),
        ("created_at", "2024-01-01T00:00:00Z"),
        ("effective_sync_replica_number", 2),
        ("owner", "x"),
    ],
)
def test_read_only_and_unknown_fields_are_refused(api, instance_body, field, value):
    answer = api.post(INSTANCES, json=dict(instance_body, **{field: value}))
    assert answer.status_code == 422
    assert answer.json["errors"][field] == ["Unknown field."]


def test_description_limits(api, instance_body):
    long = api.post(INSTANCES, json=dict(instance_body, description="d" * 1025))
    assert long.status_code == 422
    nul = api.post(INSTANCES, json=dict(instance_body, description="a\x00b"))
    assert nul.status_code == 422
    ok = api.post(INSTANCES, json=dict(instance_body, description="d" * 1024))
    assert ok.status_code == 201


def test_list_is_newest_first_and_pages_with_a_marker(api, instance_body):
    made = [
        api.post(INSTANCES, json=dict(instance_body, name=f"i{n}")).json["uuid"] for n in range(5)
    ]
    newest_first = made[::-1]
    first = api.get(f"{INSTANCES}?limit=2")
    assert [i["uuid"] for i in first.json] == newest_first[:2]
    marker = first.headers["X-Pagination-Marker"]
    second = api.get(f"{INSTANCES}?limit=2&marker={marker}")
    assert [i["uuid"] for i in second.json] == newest_first[2:4]
    third = api.get(f"{INSTANCES}?page_limit=2&page_marker={second.headers['X-Pagination-Marker']}")
    assert [i["uuid"] for i in third.json] == newest_first[4:]
    assert "X-Pagination-Marker" not in third.headers


def test_list_filters(api, instance_body, instance):
    api.post(INSTANCES, json=dict(instance_body, name="other"))
    assert [i["name"] for i in api.get(f"{INSTANCES}?name=other").json] == ["other"]
    assert len(api.get(f"{INSTANCES}?status=NEW").json) == 2
    assert api.get(f"{INSTANCES}?status=ACTIVE").json == []


@pytest.mark.parametrize(
    "query",
    ["status=RUNNING", "limit=0", "limit=-1", "limit=abc", f"marker={uuid.uuid4()}", "marker=zz"],
)
def test_bad_list_queries_are_422(api, instance, query):
    answer = api.get(f"{INSTANCES}?{query}")
    assert answer.status_code == 422
    assert answer.json["errors"]


def test_another_projects_marker_is_refused(api, other_api, instance, instance_body):
    theirs = other_api.post(INSTANCES, json=instance_body).json
    assert api.get(f"{INSTANCES}?marker={theirs['uuid']}").status_code == 422


def test_update_sizes_starts_an_operation(api, db, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json={"disk_size": 120, "cpu": 8})
    assert answer.status_code == 200
    assert answer.json["status"] == "IN_PROGRESS"
    assert (answer.json["disk_size"], answer.json["cpu"]) == (120, 8)
    update = operations_of(db, instance["uuid"])[-1]
    assert update.action == "update"
    assert update.params == {"changes": {"cpu": [4, 8], "disk_size": [100, 120]}}


def test_update_name_only_needs_no_operation(api, db, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json={"name": "renamed", "description": "new words"})
    assert answer.status_code == 200
    assert answer.json["status"] == "ACTIVE"
    assert answer.json["name"] == "renamed"
    assert len(operations_of(db, instance["uuid"])) == 1


def test_disk_size_cannot_shrink(api, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json={"disk_size": 99})
    assert answer.status_code == 422
    assert "cannot shrink" in answer.json["errors"]["disk_size"][0]
    assert api.put(path, json={"disk_size": 100}).status_code == 200
    assert api.get(path).json["disk_size"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "ACTIVE"},
        {"uuid": str(uuid.uuid4())},
        {"project_id": str(uuid.uuid4())},
        {"ipsv4": []},
        {"version": "x"},
        {"cpu": 0},
        {"cpu": 129},
        {"ram": 511},
        {"nodes_number": 17},
        {"sync_replica_number": 16},
        {"cpu": "8"},
        {"name": "9lives"},
    ],
)
def test_bad_updates_are_422_and_change_nothing(api, instance, body):
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json=body)
    assert answer.status_code == 422
    assert api.get(path).json == instance


def test_update_while_another_change_runs_is_409_naming_it(api, db, instance):
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json={"cpu": 8})
    assert answer.status_code == 409
    create = operations_of(db, instance["uuid"])[0]
    assert answer.json["operation"] == create.uuid
    assert api.get(path).json["cpu"] == 4


def test_update_rename_to_taken_name_is_409(api, instance_body, instance):
    api.post(INSTANCES, json=dict(instance_body, name="other"))
    answer = api.put(f"{INSTANCES}/{instance['uuid']}", json={"name": "other"})
    assert answer.status_code == 409


def test_update_of_instance_in_error_retries(api, db, instance):
    from core import lifecycle

    [create] = operations_of(db, instance["uuid"])
    lifecycle.operation_failed(db, create, {"message": "boom", "task": "t", "host": "h"})
    path = f"{INSTANCES}/{instance['uuid']}"
    shown = api.get(path).json
    assert shown["status"] == "ERROR"
    assert shown["error"] == {"message": "boom", "task": "t", "host": "h"}
    answer = api.put(path, json={"cpu": 4})
    assert answer.status_code == 200
    assert answer.json["status"] == "IN_PROGRESS"
    assert answer.json["error"] is None


def test_delete_shows_in_progress_then_404(api, db, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.delete(path)
    assert answer.status_code == 204
    assert answer.data == b""
    assert api.get(path).json["status"] == "IN_PROGRESS"
    assert operations_of(db, instance["uuid"])[-1].action == "delete"
    again = api.delete(path)
    assert again.status_code == 409
    assert api.put(path, json={"cpu": 8}).status_code == 409
    settle()
    assert api.get(path).status_code == 404


def test_delete_cancels_pending_user_and_database_operations(api, db, instance, settle):
    settle()
    base = f"{INSTANCES}/{instance['uuid']}"
    user = api.post(f"{base}/users", json={"name": "u1", "password": "password1"}).json
    assert api.delete(base).status_code == 204
    [create_user] = operations_of(db, user["uuid"])
    assert create_user.status == "FAILED"
    assert "Cancelled" in create_user.error["message"]
    assert (
        api.post(f"{base}/users", json={"name": "u2", "password": "password1"}).status_code == 409
    )


def test_unknown_instance_is_404(api):
    assert api.get(f"{INSTANCES}/{uuid.uuid4()}").status_code == 404
    assert api.get(f"{INSTANCES}/not-a-uuid").status_code == 404
    assert api.put(f"{INSTANCES}/{uuid.uuid4()}", json={"cpu": 2}).status_code == 404
    assert api.delete(f"{INSTANCES}/{uuid.uuid4()}").status_code == 404


def test_nodes_number_goes_down_as_an_update_and_never_below_one(api, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    answer = api.put(path, json={"nodes_number": 0})
    assert answer.status_code == 422 and "nodes_number" in answer.json["errors"]
    answer = api.put(path, json={"nodes_number": instance["nodes_number"] - 1})
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "IN_PROGRESS"
    assert answer.json["effective_sync_replica_number"] <= answer.json["nodes_number"] - 1


def test_a_put_with_a_stale_etag_is_refused_and_changes_nothing(api, instance, settle):
    settle()
    path = f"{INSTANCES}/{instance['uuid']}"
    read = api.get(path)
    tag = read.headers["ETag"]
    first = api.put(path, json={"description": "first"}, headers={"If-Match": tag})
    assert first.status_code == 200
    assert first.headers["ETag"] != tag
    stale = api.put(path, json={"description": "second"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert "changed since" in stale.json["message"]
    assert api.get(path).json["description"] == "first"
    fresh = api.put(
        path, json={"description": "second"}, headers={"If-Match": first.headers["ETag"]}
    )
    assert fresh.status_code == 200
    assert api.put(path, json={"description": "any"}, headers={"If-Match": "*"}).status_code == 200


def test_a_replayed_post_with_an_idempotency_key_creates_nothing_more(api, instance_body, db):
    first = api.post(INSTANCES, json=instance_body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 201
    replay = api.post(INSTANCES, json=instance_body, headers={"Idempotency-Key": "order-42"})
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json and replay.headers["Location"] == first.headers["Location"]
    assert len(api.get(INSTANCES).json) == 1

    other = dict(instance_body, name="another-name")
    reused = api.post(INSTANCES, json=other, headers={"Idempotency-Key": "order-42"})
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json["errors"]
    # A refused request leaves its key free: corrected, it goes through.
    bad = api.post(INSTANCES, json=dict(other, cpu=0), headers={"Idempotency-Key": "k2"})
    assert bad.status_code == 422
    good = api.post(INSTANCES, json=other, headers={"Idempotency-Key": "k2"})
    assert good.status_code == 201
    assert api.post(INSTANCES, json=other, headers={"Idempotency-Key": ""}).status_code == 422
    assert len(api.get(INSTANCES).json) == 2


def test_a_crash_before_the_answer_leaves_neither_records_nor_a_stuck_key(
    api, instance_body, monkeypatch
):
    """The key, the records and the answer commit together: a request that fails after
    the service's commit (here, while its answer is written) leaves nothing, and asking
    again with the same key goes through instead of answering 409 for ever."""
    from app.api.instances.schemas import InstanceSchema

    real_dump = InstanceSchema.dump

    def crash(self, *args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(InstanceSchema, "dump", crash)
    lost = api.post(INSTANCES, json=instance_body, headers={"Idempotency-Key": "crash-1"})
    assert lost.status_code == 500
    monkeypatch.setattr(InstanceSchema, "dump", real_dump)
    assert api.get(INSTANCES).json == []
    again = api.post(INSTANCES, json=instance_body, headers={"Idempotency-Key": "crash-1"})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert [i["uuid"] for i in api.get(INSTANCES).json] == [again.json["uuid"]]


def test_the_ca_is_served_as_pem_to_the_instance_s_project_only(api, other_api, instance, app):
    path = f"/v1/postgres/instances/{instance['uuid']}/ca"
    answer = api.get(path)
    assert answer.status_code == 200
    assert answer.mimetype == "application/x-pem-file"
    pem = answer.get_data(as_text=True)
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE" not in pem
    assert pem == (Path(app.config["DATA_DIR"]) / "tls" / "ca.pem").read_text()
    assert other_api.get(path).status_code == 404
    assert (
        api.get("/v1/postgres/instances/00000000-0000-4000-8000-000000000000/ca").status_code == 404
    )


def test_the_connection_uri_asks_for_verified_tls(api, instance, settle, db):
    from core.models import Instance, Node

    record = db.query(Instance).filter_by(uuid=instance["uuid"]).one()
    db.add(Node(instance_id=record.id, index=1, name="pgtlsuri0001", address="10.1.2.3"))
    db.commit()
    settle()
    uri = api.get(f"/v1/postgres/instances/{instance['uuid']}").json["connection_uri"]
    assert uri.endswith("target_session_attrs=read-write&sslmode=verify-full"), uri


def test_delete_while_the_create_waits_cancels_it(api, db, instance):
    path = f"{INSTANCES}/{instance['uuid']}"
    assert api.delete(path).status_code == 204
    create, delete = operations_of(db, instance["uuid"])
    assert (create.action, create.status) == ("create", "FAILED")
    assert create.error["message"] == "Cancelled: the instance is being deleted."
    assert (delete.action, delete.status) == ("delete", "PENDING")
    assert api.get(path).json["status"] == "IN_PROGRESS"


def test_delete_while_the_create_runs_asks_its_job_to_stop(api, db, instance):
    from core import lifecycle

    [create] = operations_of(db, instance["uuid"])
    lifecycle.operation_started(db, create)
    path = f"{INSTANCES}/{instance['uuid']}"
    assert api.delete(path).status_code == 204
    create, delete = operations_of(db, instance["uuid"])
    assert (create.status, create.cancel_requested) == ("RUNNING", True)
    assert (delete.action, delete.status, delete.cancel_requested) == ("delete", "PENDING", False)
    assert api.delete(path).status_code == 409  # one delete at a time


def test_max_disk_size_is_off_or_at_least_the_disk(api, instance_body, settle):
    assert api.post(INSTANCES, json=instance_body).json["max_disk_size"] == 0
    low = api.post(INSTANCES, json=dict(instance_body, name="low", max_disk_size=50))
    assert low.status_code == 422 and "max_disk_size" in low.json["errors"]
    for bad in (-1, 2000, "20", 12.5):
        answer = api.post(INSTANCES, json=dict(instance_body, name="bad", max_disk_size=bad))
        assert answer.status_code == 422 and "max_disk_size" in answer.json["errors"]
    made = api.post(INSTANCES, json=dict(instance_body, name="grows", max_disk_size=150)).json
    assert (made["max_disk_size"], made["warnings"], made["disk_usage"]) == (150, [], None)
    settle()
    path = f"{INSTANCES}/{made['uuid']}"
    assert api.put(path, json={"disk_size": 160}).status_code == 422  # past its max
    changed = api.put(path, json={"max_disk_size": 0})
    assert changed.status_code == 200 and changed.json["status"] == "ACTIVE"  # no operation
