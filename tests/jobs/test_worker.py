"""A real `dbaas worker` process takes operations from a real Redis. Until the
provisioning pipeline lands, every operation must end FAILED with a reason, and its
resource ERROR: never stuck in NEW, never reported done."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import migrate, queue
from app.database import make_engine, writer
from app.models import Instance, Operation
from app.services import instances, versions
from tests.services import fresh


@pytest.fixture
def environment(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'dbaas.db'}"
    migrate.upgrade(url)
    env = dict(
        os.environ,
        DBAAS_DATA_DIR=str(tmp_path),
        DBAAS_DATABASE_URL=url,
        DBAAS_REDIS_URL=redis_url,
        DBAAS_QUEUE_NAME=f"test-{tmp_path.name}",
    )
    engine = make_engine(url)
    with Session(writer(engine), expire_on_commit=False) as session:
        versions.load_default_catalogue(session)
        yield env, session
    engine.dispose()


def new_instance(session, name="demo"):
    version = versions.list_versions(session)[0]
    body = {
        "name": name,
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": 1,
        "sync_replica_number": 0,
        "version": version.uuid,
    }
    return instances.create_instance(session, "3f2504e0-4f89-41d3-9a0c-0305e82c3301", body)


def run_worker(env):
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_worker_runs_the_job_and_reports_no_provisioner(environment):
    env, session = environment
    instance, operation = new_instance(session)
    job_queue = queue.JobQueue(env["DBAAS_REDIS_URL"], env["DBAAS_QUEUE_NAME"])
    assert queue.enqueue(session, job_queue, operation)

    log = run_worker(env)

    fresh(session)
    operation = session.scalars(select(Operation)).one()
    assert operation.status == "FAILED"
    assert operation.attempts == 1
    assert operation.started_at and operation.finished_at
    assert "No provisioner for instance create" in operation.error["message"]
    instance = session.scalars(select(Instance)).one()
    assert instance.status == "ERROR"
    assert instance.error == operation.error
    assert f"operation={operation.uuid}" in log


def test_worker_relays_the_outbox_at_start(environment):
    env, session = environment
    _, operation = new_instance(session)
    assert operation.enqueued_at is None  # as if Redis had been down
    run_worker(env)
    fresh(session)
    assert session.scalars(select(Operation)).one().status == "FAILED"


def test_a_job_delivered_twice_runs_once(environment):
    env, session = environment
    _, operation = new_instance(session)
    job_queue = queue.JobQueue(env["DBAAS_REDIS_URL"], env["DBAAS_QUEUE_NAME"])
    queue.enqueue(session, job_queue, operation)
    job_queue.queue.enqueue(queue.JOB_FUNCTION, operation.uuid)
    run_worker(env)
    fresh(session)
    assert session.scalars(select(Operation)).one().attempts == 1
