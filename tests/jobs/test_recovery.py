"""Recovery rules on a real database and Redis, without a worker: dead runs are
retried up to MAX_ATTEMPTS then failed; operations Redis lost are enqueued again."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import migrate
from app.services import instances, versions
from core import config
from core.database import writing_session
from core.models import Operation, OperationStatus, utcnow
from core.queue import JobQueue, enqueue
from jobs import recovery

SETTINGS = {
    "HEARTBEAT_TIMEOUT": 10,
    "MAX_ATTEMPTS": 3,
    "RETENTION_DAYS": 7,
    "DISK_CHECK_INTERVAL": 60,
    "QUOTA_DISK": 10_240,
}


@pytest.fixture
def world(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'dbaas.db'}"
    migrate.upgrade(url)
    with writing_session(url) as session:
        versions.load_default_catalogue(session)
        version = versions.list_versions(session)[0]
        _, operation = instances.create_instance(
            session,
            "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            {
                "name": "i",
                "cpu": 1,
                "ram": 1024,
                "disk_size": 8,
                "nodes_number": 1,
                "sync_replica_number": 0,
                "version": version.uuid,
            },
            config.load({"DATA_DIR": str(tmp_path)}),
        )
        settings = dict(SETTINGS, DATA_DIR=str(tmp_path))
        yield session, operation, settings, JobQueue(redis_url, f"q-{tmp_path.name}")


def make_dead(session, operation, attempts):
    operation.status = OperationStatus.RUNNING
    operation.attempts = attempts
    operation.heartbeat_at = utcnow() - timedelta(seconds=60)
    session.commit()


def test_dead_run_is_requeued(world):
    session, operation, settings, job_queue = world
    make_dead(session, operation, attempts=1)
    assert recovery.sweep(session, settings, job_queue)["dead"] == 1
    session.refresh(operation)
    assert operation.status == OperationStatus.PENDING
    assert operation.enqueued_at is not None  # relayed in the same sweep
    assert job_queue.queue.job_ids


def test_dead_run_fails_after_the_last_attempt_leaving_no_extravars(world):
    session, operation, settings, job_queue = world
    extravars = Path(settings["DATA_DIR"]) / "runs" / operation.uuid / "env" / "extravars"
    extravars.parent.mkdir(parents=True)
    extravars.write_text("dbaas_credentials: {superuser: secret}")
    make_dead(session, operation, attempts=3)
    recovery.sweep(session, settings, job_queue)
    session.refresh(operation)
    assert operation.status == OperationStatus.FAILED
    assert "died 3 times" in operation.error["message"]
    assert operation.instance.status == "ERROR"
    assert not extravars.exists()


def test_old_runs_and_idempotency_keys_are_pruned_unfinished_ones_kept(world):
    from core.models import IdempotencyKey

    session, operation, settings, job_queue = world
    runs = Path(settings["DATA_DIR"]) / "runs"
    old_finished, old_unfinished, recent = (
        runs / "done-long-ago",
        runs / operation.uuid,
        runs / "new",
    )
    eight_days_ago = time.time() - 8 * 86400
    for run_dir in (old_finished, old_unfinished, recent):
        run_dir.mkdir(parents=True)
        (run_dir / "run.log").write_text("x")
    for run_dir in (old_finished, old_unfinished):
        os.utime(run_dir, (eight_days_ago, eight_days_ago))
    for key, age in (("old", 8), ("new", 1)):
        session.add(
            IdempotencyKey(
                project_id="p",
                key=key,
                request_digest="d",
                created_at=utcnow() - timedelta(days=age),
            )
        )
    session.commit()
    assert recovery.prune_old(session, settings) == 2
    assert sorted(p.name for p in runs.iterdir()) == sorted([operation.uuid, "new"])
    assert session.scalars(select(IdempotencyKey.key)).all() == ["new"]


def test_a_live_heartbeat_is_left_alone(world):
    session, operation, settings, job_queue = world
    make_dead(session, operation, attempts=1)
    operation.heartbeat_at = utcnow()
    session.commit()
    assert recovery.sweep(session, settings, job_queue)["dead"] == 0
    session.refresh(operation)
    assert operation.status == OperationStatus.RUNNING


def test_operation_lost_by_redis_is_enqueued_again(world):
    session, operation, settings, job_queue = world
    assert enqueue(session, job_queue, operation)
    job_queue.redis.flushdb()
    summary = recovery.sweep(session, settings, job_queue)
    assert summary["lost"] == 1
    assert summary["relayed"] == 1
    assert job_queue.queue.job_ids


def test_orphan_stopper_only_kills_our_own_ansible_playbook(tmp_path):
    run_dir = tmp_path / "runs" / "op"
    # Not ansible-playbook: left alone, even if it names our run directory.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(run_dir)])
    try:
        assert recovery.stop_orphaned_run(sleeper.pid, run_dir) is False
        assert recovery.stop_orphaned_run(os.getpid(), run_dir) is False
        assert recovery.stop_orphaned_run(None, run_dir) is False
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
    fake = tmp_path / "ansible-playbook"
    fake.write_text(f"#!{sys.executable}\nimport time; time.sleep(60)\n")
    fake.chmod(0o700)
    ours = subprocess.Popen([str(fake), "-i", str(run_dir / "inventory")], start_new_session=True)
    try:
        # Until the exec, /proc shows the forking Python's command line.
        cmdline = Path(f"/proc/{ours.pid}/cmdline")
        deadline = time.monotonic() + 10
        while b"ansible-playbook" not in cmdline.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recovery.stop_orphaned_run(ours.pid, run_dir) is True
        assert ours.wait(timeout=10) != 0
    finally:
        if ours.poll() is None:
            ours.kill()
    assert Path(f"/proc/{ours.pid}").exists() is False


def active_with_a_node(session, operation):
    """The world's instance as a finished create leaves it: ACTIVE, one ACTIVE node
    (whose machine, under DATA_DIR/nodes, does not run)."""
    from core.models import Node, Status

    instance = operation.instance
    operation.status = OperationStatus.SUCCEEDED
    instance.status = Status.ACTIVE
    instance.nodes.append(
        Node(index=1, name="pg0123456789", address="10.0.0.2", status=Status.ACTIVE)
    )
    session.commit()
    return instance


def test_a_stopped_node_shows_error_while_its_instance_stays_active(world):
    session, operation, settings, job_queue = world
    instance = active_with_a_node(session, operation)
    assert recovery.sweep(session, settings, job_queue)["restarts"] == 1
    session.refresh(instance)
    [node] = instance.nodes
    assert (instance.status, node.status) == ("ACTIVE", "ERROR")
    assert "machine stopped" in node.error["message"]
    [start] = session.scalars(
        select(Operation).where(Operation.instance_id == instance.id, Operation.action == "start")
    ).all()
    assert start.status == OperationStatus.PENDING
    # While the restart is pending, another sweep records nothing more.
    assert recovery.sweep(session, settings, job_queue)["restarts"] == 0

    # The restart fails: the reason is the node's; the instance is still ACTIVE.
    from core import lifecycle

    lifecycle.operation_started(session, start)
    assert instance.status == "ACTIVE"
    lifecycle.operation_failed(session, start, {"message": "nspawn said no", "host": node.name})
    session.refresh(instance)
    assert (instance.status, node.status, node.error["message"]) == (
        "ACTIVE",
        "ERROR",
        "nspawn said no",
    )


def test_machines_of_other_providers_are_not_watched(world):
    session, operation, settings, job_queue = world
    active_with_a_node(session, operation)
    summary = recovery.sweep(session, dict(settings, PROVIDER="static"), job_queue)
    assert summary["restarts"] == 0


def test_libvirt_nodes_are_watched_through_libvirt(world):
    """libvirt's own test driver (test:///default) runs one domain, named "test"."""
    session, operation, settings, job_queue = world
    instance = active_with_a_node(session, operation)
    libvirt = dict(settings, PROVIDER="libvirt", LIBVIRT_URI="test:///default")
    [node] = instance.nodes
    node.name = "test"
    session.commit()
    assert recovery.sweep(session, libvirt, job_queue)["restarts"] == 0
    # libvirt that does not answer: nothing is judged stopped.
    unanswered = dict(libvirt, LIBVIRT_URI="bogus:///nowhere")
    node.name = "pg0123456789"
    session.commit()
    assert recovery.sweep(session, unanswered, job_queue)["restarts"] == 0
    assert recovery.sweep(session, libvirt, job_queue)["restarts"] == 1
    session.refresh(node)
    assert node.status == "ERROR"


def test_certificates_near_their_end_get_an_update_that_issues_new_ones(world, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from core import secrets as core_secrets
    from core import tls
    from core.models import InstanceSecret

    session, operation, settings, job_queue = world
    instance = active_with_a_node(session, operation)
    [node] = instance.nodes
    instance_ca = tls.new_instance_ca(tls.root(settings), instance.uuid)
    old = tls.new_node_certificate(
        instance_ca, node.name, node.address, now=datetime.now(UTC) - timedelta(days=340)
    )
    session.add(
        InstanceSecret(
            instance_id=instance.id,
            name=tls.node_secret_name(node),
            ciphertext=core_secrets.cipher(settings).encrypt(old.to_json()),
        )
    )
    session.commit()
    monkeypatch.setattr(recovery, "_renewal_checked_at", [float("-inf")])
    assert recovery.renew_certificates(session, settings) == 1
    [update] = session.scalars(
        select(Operation).where(Operation.instance_id == instance.id, Operation.action == "update")
    ).all()
    assert update.status == OperationStatus.PENDING and update.params == {"changes": {}}
    # Checked hourly, and never twice for an instance with a change under way.
    assert recovery.renew_certificates(session, settings) == 0
    monkeypatch.setattr(recovery, "_renewal_checked_at", [float("-inf")])
    assert recovery.renew_certificates(session, settings) == 0


def test_a_parked_operation_is_woken_when_its_blocker_is_gone_not_every_sweep(world):
    from core import lifecycle
    from core import operations as core_operations
    from core.models import Action

    session, create, settings, job_queue = world
    # The create runs; an update asked meanwhile waits for it, parked.
    create.status = OperationStatus.RUNNING
    create.heartbeat_at = utcnow()
    update = core_operations.record(session, create.instance, Action.UPDATE, {"changes": {}})
    session.commit()
    lifecycle.operation_parked(session, update, "waiting for the create")
    for _ in range(3):
        summary = recovery.sweep(session, settings, job_queue)
        assert (summary["relayed"], summary["woken"]) == (0, 0)
    assert job_queue.queue.job_ids == []
    # The create ends and its wake-up is lost (its worker died): the sweep wakes it once.
    create.status = OperationStatus.SUCCEEDED
    session.commit()
    assert recovery.sweep(session, settings, job_queue)["woken"] == 1
    assert job_queue.queue.job_ids and not update.parked
    assert recovery.sweep(session, settings, job_queue)["woken"] == 0
