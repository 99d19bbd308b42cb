"""The API killed in the middle of requests (SIGKILL to its process group, by PID)
and started again, on SQLite and on PostgreSQL: every record a client was answered
201 for is there, and no record is there without its operation. Each create is one
transaction, so a kill can only lose a whole request, never half of one."""

import os
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPException

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.client import ApiError, Client
from core.database import make_engine
from core.models import Database, Instance, Operation, User
from tests.integration.conftest import dbaas
from tests.support.services import free_port, postgres_database

ROUNDS = 3
CLIENTS = 6


def start_server(env: dict, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers share our process group: killed together
    )
    client = Client(f"http://127.0.0.1:{port}", "none", timeout=5)
    for _ in range(200):
        try:
            client.get("/v1/types/postgres/versions")
        except ApiError:
            return server  # it answers (401 without a token)
        except OSError:
            time.sleep(0.05)
    server.kill()
    pytest.fail("dbaas serve did not answer")


def keep_creating(client: Client, version: str, prefix: str, stop, answered: list) -> None:
    """Instance, then a user on it, then a database the user owns, over and over."""
    base = "/v1/postgres/instances"
    n = 0
    while not stop.is_set():
        n += 1
        try:
            instance = client.request(
                "POST",
                base,
                {
                    "name": f"{prefix}-{n}",
                    "cpu": 1,
                    "ram": 1024,
                    "disk_size": 8,
                    "nodes_number": 1,
                    "version": f"/v1/types/postgres/versions/{version}",
                },
            )
            answered.append(("instance", instance["uuid"]))
            path = f"{base}/{instance['uuid']}"
            user = client.request("POST", f"{path}/users", {"name": "u", "password": "Pw-123456"})
            answered.append(("user", user["uuid"]))
            database = client.request(
                "POST", f"{path}/databases", {"name": "d", "owner": user["uuid"]}
            )
            answered.append(("database", database["uuid"]))
        except (OSError, HTTPException, ApiError):
            time.sleep(0.01)  # the server is gone: keep trying until told to stop


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_api_killed_mid_requests_leaves_no_half_written_record(env, backend):
    with postgres_database() as postgres_url:
        if backend == "postgresql":
            env = dict(env, DBAAS_DATABASE_URL=postgres_url)
        token = dbaas(env, "token", "create").strip().splitlines()[-1]
        port = free_port()
        client = Client(f"http://127.0.0.1:{port}", token, timeout=5)
        answered: list[tuple[str, str]] = []
        for round_number in range(ROUNDS):
            server = start_server(env, port)
            version = client.get("/v1/types/postgres/versions")["versions"][0]["uuid"]
            stop = threading.Event()
            clients = [
                threading.Thread(
                    target=keep_creating,
                    args=(client, version, f"r{round_number}c{i}", stop, answered),
                )
                for i in range(CLIENTS)
            ]
            for thread in clients:
                thread.start()
            time.sleep(1.5)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            stop.set()
            for thread in clients:
                thread.join(30)

        server = start_server(env, port)
        try:
            assert len(answered) > 20, answered  # the kills landed among many requests
            url = (
                postgres_url
                if backend == "postgresql"
                else f"sqlite:///{env['DBAAS_DATA_DIR']}/dbaas.db"
            )
            check_every_record_whole(url, answered)
            # Served again, each record reads back whole.
            for kind, record_uuid in answered:
                if kind == "instance":
                    assert client.get(f"/v1/postgres/instances/{record_uuid}")["status"] == "NEW"
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def check_every_record_whole(url: str, answered: list[tuple[str, str]]) -> None:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            models = {"instance": Instance, "user": User, "database": Database}
            for kind, model in models.items():
                uuids = set(session.scalars(select(model.uuid)))
                # Every 201 answered is a record ...
                assert {u for k, u in answered if k == kind} <= uuids
                # ... and every record has exactly its create operation.
                counts = dict(
                    session.execute(
                        select(Operation.target_uuid, func.count())
                        .where(Operation.target == kind, Operation.action == "create")
                        .group_by(Operation.target_uuid)
                    ).all()
                )
                assert {u: counts.get(u) for u in uuids} == dict.fromkeys(uuids, 1)
            # No operation points at a record that is not there.
            targets = set(session.scalars(select(Operation.target_uuid)))
            every = set().union(*(set(session.scalars(select(m.uuid))) for m in models.values()))
            assert targets <= every
    finally:
        engine.dispose()
