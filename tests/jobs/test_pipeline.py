"""API -> Redis -> worker -> ansible-runner -> events -> the status the API shows."""

import os
from pathlib import Path

from sqlalchemy import select

from app.services.references import INSTANCES_PATH
from core.models import Operation
from tests.support.services import fresh

INSTANCES = INSTANCES_PATH


def test_instance_create_runs_its_playbook_to_active(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("demo")
    path = f"{INSTANCES}/{instance['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE")
    assert active["error"] is None
    [operation] = pipeline.operations(instance)
    assert operation["status"] == "SUCCEEDED"
    assert operation["action"] == "create"
    assert operation["attempts"] == 1
    assert operation["progress"]["done"] == operation["progress"]["total"] > 0
    assert operation["started_at"] and operation["finished_at"]
    marker = Path(pipeline.settings["DATA_DIR"]) / "markers" / operation["uuid"]
    assert marker.read_text() == "instance create\n"
    shown = pipeline.api.get(f"{path}/operations/{operation['uuid']}").json
    assert shown == operation
    run_log = Path(pipeline.settings["DATA_DIR"]) / "runs" / operation["uuid"] / "run.log"
    assert "TASK Leave a marker" in run_log.read_text()


def test_failed_task_puts_the_instance_in_error_with_the_reason(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("fail-image")
    failed = pipeline.wait_status(f"{INSTANCES}/{instance['uuid']}", "ERROR")
    assert failed["error"] == {
        "message": "image debian-bookworm-pg15 refused by the test playbook",
        "task": "Fail as asked",
        "host": "localhost",
    }
    [operation] = pipeline.operations(instance)
    assert operation["status"] == "FAILED"
    assert operation["error"] == failed["error"]


def test_user_waits_for_its_instance_then_becomes_active(pipeline):
    pipeline.worker.start()
    pipeline.add_worker()  # a free worker takes the user's job at once: it must wait
    instance = pipeline.create_instance("slow-users")
    base = f"{INSTANCES}/{instance['uuid']}"
    user = pipeline.api.post(f"{base}/users", json={"name": "u1", "password": "password1"}).json
    waiting = pipeline.wait_for(
        lambda: next(
            (
                o
                for o in pipeline.operations(instance)
                if o["target_type"] == "user"
                and "waiting" in ((o["progress"] or {}).get("task") or "")
            ),
            None,
        ),
        "the user operation to wait",
    )
    assert waiting["status"] == "PENDING"
    assert pipeline.api.get(f"{base}/users/{user['uuid']}").json["status"] == "NEW"
    pipeline.wait_status(f"{base}/users/{user['uuid']}", "ACTIVE")
    create_user, create_instance = pipeline.operations(instance)
    assert create_user["started_at"] >= create_instance["finished_at"]


def test_user_of_a_failed_instance_waits_and_runs_after_the_fix(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("fail-first")
    base = f"{INSTANCES}/{instance['uuid']}"
    user = pipeline.api.post(f"{base}/users", json={"name": "u1", "password": "password1"}).json
    pipeline.wait_status(base, "ERROR")
    user_operation = next(o for o in pipeline.operations(instance) if o["target_type"] == "user")
    assert user_operation["status"] == "PENDING"  # waits; does not fail
    fixed = pipeline.api.put(base, json={"name": "fixed", "cpu": 2})
    assert fixed.status_code == 200
    assert fixed.json["status"] == "IN_PROGRESS"
    pipeline.wait_status(base, "ACTIVE")
    pipeline.wait_status(f"{base}/users/{user['uuid']}", "ACTIVE")


def test_a_change_while_another_runs_is_409(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("slow-busy")
    base = f"{INSTANCES}/{instance['uuid']}"
    running = pipeline.wait_operation(instance, "the create to run", 90, status="RUNNING")
    answer = pipeline.api.put(base, json={"cpu": 2})
    assert answer.status_code == 409
    assert answer.json["operation"] == running["uuid"]
    pipeline.wait_status(base, "ACTIVE")
    assert pipeline.api.put(base, json={"cpu": 2}).status_code == 200


def test_a_delete_while_the_create_runs_stops_it_then_deletes(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("slow-doomed")
    base = f"{INSTANCES}/{instance['uuid']}"
    running = pipeline.wait_operation(instance, "the create to run", 90, status="RUNNING")
    assert pipeline.api.delete(base).status_code == 204
    assert pipeline.api.get(base).json["status"] == "IN_PROGRESS"
    assert pipeline.api.delete(base).status_code == 409  # one delete at a time
    cancelled = pipeline.wait_operation(
        instance, "the create to stop", 30, uuid=running["uuid"], status="FAILED"
    )
    assert cancelled["error"]["message"].startswith("Cancelled")
    delete = pipeline.wait_operation(instance, "the delete to run", 30, action="delete")
    assert delete["status"] in ("PENDING", "RUNNING")
    pipeline.wait_for(lambda: pipeline.api.get(base).status_code == 404, "the delete", 60)
    # Stopped in its 8-second task: it never reached its last one.
    markers = Path(pipeline.settings["DATA_DIR"]) / "markers"
    assert not (markers / running["uuid"]).exists()
    assert (markers / delete["uuid"]).exists()


def test_worker_killed_mid_run_is_recovered(pipeline):
    pipeline.worker.start()
    instance = pipeline.create_instance("slow-crash")
    session = pipeline.session

    def running_with_pid():
        fresh(session)
        operation = session.scalars(select(Operation)).one()
        session.rollback()
        return operation.runner_pid and operation

    orphan = pipeline.wait_for(running_with_pid, "ansible-playbook to start").runner_pid
    pipeline.worker.kill()
    assert os.path.exists(f"/proc/{orphan}")  # the run outlives its worker ...
    pipeline.worker.start()
    active = pipeline.wait_status(f"{INSTANCES}/{instance['uuid']}", "ACTIVE")
    [operation] = pipeline.operations(instance)
    assert operation["status"] == "SUCCEEDED"
    assert operation["attempts"] == 2
    assert active["error"] is None
    assert not _alive(orphan)  # ... until recovery stops it
    assert "requeued" in pipeline.worker.log()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def test_redis_restarted_with_pending_operations_loses_nothing(tmp_path):
    from tests.support.pipeline import Pipeline
    from tests.support.services import redis_server

    with redis_server() as first_url:
        pipeline = Pipeline(tmp_path, first_url)
        made = [pipeline.create_instance(f"queued-{n}") for n in range(2)]
        assert len(pipeline.api.get(INSTANCES).json) == 2
    # Both were on the queue of a Redis that went away with its data.
    port = first_url.rsplit(":", 1)[1].split("/")[0]
    with redis_server(int(port)) as second_url:
        assert second_url == first_url
        try:
            pipeline.worker.start()
            for instance in made:
                pipeline.wait_status(f"{INSTANCES}/{instance['uuid']}", "ACTIVE")
        finally:
            pipeline.close()


def test_passwords_appear_nowhere(pipeline):
    """The plaintext of a user's password exists only inside the request that carried it."""
    passwords = ("Plain-Text-Pa55word!", "Rotated-Pa55word?")
    pipeline.worker.start()
    instance = pipeline.create_instance("secrets")
    base = f"{INSTANCES}/{instance['uuid']}"
    user = pipeline.api.post(f"{base}/users", json={"name": "u", "password": passwords[0]}).json
    pipeline.wait_status(f"{base}/users/{user['uuid']}", "ACTIVE")
    changed = pipeline.api.put(f"{base}/users/{user['uuid']}", json={"password": passwords[1]})
    assert changed.status_code == 200
    pipeline.wait_status(f"{base}/users/{user['uuid']}", "ACTIVE")

    places = pipeline.secret_places()
    assert [w for w, content in places.items() for p in passwords if p.encode() in content] == []
    # The search reads real content: the verifier is in the database, jobs in Redis,
    # the worker's environment its settings.
    assert b"SCRAM-SHA-256$4096:" in places["database dump"]
    assert any(where.startswith("redis b'rq:job:") for where in places)
    assert b"DBAAS_REDIS_URL=" in places["worker environment"]


def test_ten_creates_at_once_on_two_workers_all_active_without_collisions(pipeline):
    from core.models import Node

    pipeline.worker.start()
    pipeline.add_worker()
    created = [pipeline.create_instance(f"burst-{n}", nodes_number=3) for n in range(10)]
    for instance in created:
        pipeline.wait_status(f"{INSTANCES}/{instance['uuid']}", "ACTIVE", timeout=300)
    fresh(pipeline.session)
    addresses = pipeline.session.scalars(select(Node.address)).all()
    names = pipeline.session.scalars(select(Node.name)).all()
    assert len(addresses) == len(set(addresses)) == 30
    assert len(names) == len(set(names)) == 30


def test_two_puts_racing_on_one_instance_one_wins_one_is_409(pipeline):
    import threading

    from tests.support.client import ApiClient

    pipeline.worker.start()
    instance = pipeline.create_instance("raced")
    path = f"{INSTANCES}/{instance['uuid']}"
    pipeline.wait_status(path, "ACTIVE")
    pipeline.worker.kill()  # the winner's operation stays PENDING: the race is the API's
    answers: list[int] = []
    start = threading.Barrier(2)

    def put(cpu: int) -> None:
        client = ApiClient(pipeline.app, pipeline.api.token, pipeline.api.project_id)
        start.wait()
        answers.append(client.put(path, json={"cpu": cpu}).status_code)

    racers = [threading.Thread(target=put, args=(cpu,)) for cpu in (2, 4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert sorted(answers) == [200, 409]
    updates = [o for o in pipeline.operations(instance) if o["action"] == "update"]
    assert len(updates) == 1
