"""Recovery rules on a real database and Redis, without a worker: dead runs are
retried up to MAX_ATTEMPTS then failed; operations Redis lost are enqueued again."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app import migrate
from app.database import make_engine, writer
from app.models import OperationStatus, utcnow
from app.queue import JobQueue, enqueue
from app.services import instances, versions
from jobs import recovery

SETTINGS = {"HEARTBEAT_TIMEOUT": 10, "MAX_ATTEMPTS": 3}


@pytest.fixture
def world(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'dbaas.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(writer(engine), expire_on_commit=False) as session:
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
        )
        settings = dict(SETTINGS, DATA_DIR=str(tmp_path))
        yield session, operation, settings, JobQueue(redis_url, f"q-{tmp_path.name}")
    engine.dispose()


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


def test_dead_run_fails_after_the_last_attempt(world):
    session, operation, settings, job_queue = world
    make_dead(session, operation, attempts=3)
    recovery.sweep(session, settings, job_queue)
    session.refresh(operation)
    assert operation.status == OperationStatus.FAILED
    assert "died 3 times" in operation.error["message"]
    assert operation.instance.status == "ERROR"


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
