"""The worker pipeline for tests: the API (test client) writes, a real `dbaas worker`
process takes the jobs from a real Redis and runs the playbooks with ansible-runner."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app, migrate
from app.services import tokens, versions
from app.sessions import get_db
from core import nspawn_node
from core.models import Operation
from jobs.recovery import stop_orphaned_run
from tests.support.client import ApiClient
from tests.support.lab import ssh

PLAYBOOKS = Path(__file__).parents[1] / "jobs" / "playbooks"


children_of = nspawn_node.children


class Worker:
    """`dbaas worker` in its own process group, stopped by its PID."""

    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 (the process holds it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def interrupt(self) -> None:
        """Ctrl-C, as `make run` passes it on: the worker finishes its job and exits."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=600)
        self.process = None

    def kill(self) -> None:
        """SIGKILL to the worker and its work-horse (RQ forks one per job, in a session
        of its own): a crash of the whole worker, not a shutdown."""
        if self.process and self.process.poll() is None:
            horses = children_of(self.process.pid)
            self.process.kill()
            for pid in horses:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


class Pipeline:
    def __init__(self, tmp_path: Path, redis_url: str, **settings):
        self.data_dir = tmp_path / "data"
        self.database_url = f"sqlite:///{self.data_dir / 'dbaas.db'}"
        self.settings = {
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": redis_url,
            "QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}",
            "PLAYBOOKS_DIR": str(PLAYBOOKS),
            "HEARTBEAT_INTERVAL": 1,
            "HEARTBEAT_TIMEOUT": 4,
            # No scheduled backups unless an instance asks: a test sees only its own
            # operations (the backup tests ask for them in the body).
            "BACKUP_SCHEDULE": "none",
            **settings,
        }
        self.data_dir.mkdir()
        # The service's SSH key, as set-up makes it: the worker refuses to start without.
        key = self.data_dir / "ssh" / "id_ed25519"
        key.parent.mkdir(mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        migrate.upgrade(self.database_url)
        self.app = create_app(self.settings)
        # A reading session (deferred BEGIN): it must never hold SQLite's write lock
        # while the worker works. Its few writes below happen before any worker runs.
        self.session = Session(get_db(self.app).engine, expire_on_commit=False)
        versions.load_default_catalogue(self.session)
        project = str(uuid.uuid4())
        self.api = ApiClient(self.app, tokens.create_token(self.session, project), project)
        # The same project's administrator: sees the instances' nodes.
        admin_token = tokens.create_token(self.session, project, is_admin=True)
        self.admin = ApiClient(self.app, admin_token, project)
        env = dict(os.environ, **{f"DBAAS_{k}": str(v) for k, v in self.settings.items()})
        self.env = env
        self.tmp_path = tmp_path
        self.worker = Worker(env, tmp_path / "worker.log")
        self.extra_workers: list[Worker] = []

    def add_worker(self) -> Worker:
        worker = Worker(self.env, self.tmp_path / f"worker-{len(self.extra_workers) + 2}.log")
        self.extra_workers.append(worker)
        worker.start()
        return worker

    def version_uri(self, name: str = "PostgreSQL 15") -> str:
        versions_list = self.api.get("/v1/types/postgres/versions").json["versions"]
        version = next(v for v in versions_list if v["name"] == name)
        return f"/v1/types/postgres/versions/{version['uuid']}"

    def create_instance(self, name: str, **sizes) -> dict:
        body = {
            "name": name,
            "cpu": 1,
            "ram": 1024,
            "disk_size": 8,
            "nodes_number": 1,
            "version": self.version_uri(),
        }
        answer = self.api.post("/v1/postgres/instances", json=dict(body, **sizes))
        assert answer.status_code == 201, answer.json
        return answer.json

    def served_instance(
        self, name: str, user: str, password: str, dbname: str, **sizes
    ) -> tuple[str, dict]:
        """An instance ACTIVE with a user owning a database, both ACTIVE: its path and
        its representation."""
        instance = self.create_instance(name, **sizes)
        path = f"/v1/postgres/instances/{instance['uuid']}"
        active = self.wait_status(path, "ACTIVE", timeout=600)
        owner = self.api.post(f"{path}/users", json={"name": user, "password": password}).json
        database = self.api.post(f"{path}/databases", json={"name": dbname, "owner": owner["uuid"]})
        self.wait_status(f"{path}/databases/{database.json['uuid']}", "ACTIVE", 180)
        return path, active

    def operations(self, instance: dict) -> list[dict]:
        return self.api.get(f"/v1/postgres/instances/{instance['uuid']}/operations").json

    def nodes(self, instance: dict) -> dict[str, dict]:
        """The instance's nodes as an administrator sees them, by name."""
        listed = self.admin.get(f"/v1/postgres/instances/{instance['uuid']}/nodes").json
        return {node["name"]: node for node in listed}

    def wait_operation(self, instance: dict, what: str, timeout: float, **wanted):
        """Until one of the instance's operations shows every field of ``wanted``."""

        def found():
            operations = self.operations(instance)
            return next((o for o in operations if wanted.items() <= o.items()), None)

        return self.wait_for(found, what, timeout)

    def wait_for(self, predicate, what: str, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.3)
        pytest.fail(
            f"timed out waiting for {what}\n--- worker log ---\n{self.worker.log()[-4000:]}"
        )

    def wait_status(self, path: str, status: str, timeout: float = 90) -> dict:
        def reached():
            body = self.api.get(path).json
            if body.get("status") == "ERROR" and status != "ERROR":
                pytest.fail(
                    f"{path} went ERROR waiting for {status}: {body.get('error')}"
                    f"{self.node_journals(path)}"
                )
            return body.get("status") == status and body

        return self.wait_for(reached, f"{path} to be {status}", timeout)

    def node_journals(self, path: str) -> str:
        """The cluster services' last journal lines on each node of the instance a path
        is under: why a node failed, in the failure's message (the nodes are gone after)."""
        parts = path.strip("/").split("/")
        if parts[:3] != ["v1", "postgres", "instances"] or len(parts) < 4:
            return ""
        listed = self.admin.get(f"/v1/postgres/instances/{parts[3]}/nodes").json
        key = self.data_dir / "ssh" / "id_ed25519"
        lines = []
        for node in listed if isinstance(listed, list) else []:
            if not node.get("address"):
                continue
            command = "journalctl --no-pager -n 40 -u etcd -u patroni -u dbaas-pgbackrest"
            try:
                shown = ssh(key, node["address"], command, check=False)
                lines.append(f"--- {node['name']} ---\n{shown.stdout}{shown.stderr}")
            except subprocess.TimeoutExpired:
                lines.append(f"--- {node['name']}: no answer ---")
        return "\n" + "\n".join(lines) if lines else ""

    def secret_places(self) -> dict[str, bytes]:
        """Everywhere the control plane keeps something, for a secrets search: its
        database rows, every Redis value, its files (runs, logs, keys; not the lab
        machines under nodes/) and the running worker's environment."""
        places = {}
        files = [
            p
            for p in self.data_dir.rglob("*")
            if "nodes" not in p.relative_to(self.data_dir).parts[:1]
        ]
        for path in [*files, *self.tmp_path.glob("worker*.log")]:
            if path.is_file():
                places[str(path)] = path.read_bytes()
        with sqlite3.connect(self.data_dir / "dbaas.db") as database:
            places["database dump"] = "\n".join(database.iterdump()).encode()
        places.update(redis_contents(redis.Redis.from_url(self.settings["REDIS_URL"])))
        if self.worker.process is not None:
            environ = Path(f"/proc/{self.worker.process.pid}/environ")
            places["worker environment"] = environ.read_bytes()
        return places

    def close(self) -> None:
        for worker in (self.worker, *self.extra_workers):
            worker.kill()
        # A killed worker's ansible-playbook may still run: stop it by its recorded PID.
        self.session.rollback()
        for operation in self.session.scalars(select(Operation)):
            stop_orphaned_run(operation.runner_pid, self.data_dir / "runs" / operation.uuid)
        self.session.close()
        get_db(self.app).engine.dispose()


def redis_contents(client) -> dict[str, bytes]:
    """Every value in Redis, RQ's zlib-compressed job data unpacked."""
    contents = {}
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key)]
        elif kind == b"hash":
            values = [*client.hgetall(key).keys(), *client.hgetall(key).values()]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"set":
            values = list(client.smembers(key))
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        else:
            values = [client.dump(key) or b""]
        unpacked = []
        for value in values:
            with contextlib.suppress(zlib.error):
                unpacked.append(zlib.decompress(value))
        contents[f"redis {key!r}"] = b"\n".join([*values, *unpacked])
    return contents
