"""The product as a user runs it, for benchmarks: `dbaas serve` and `dbaas worker` on a
scratch data directory, lab nodes on a bridge and subnet of their own, and the CLI's
HTTP client. Everything is removed on exit (processes by PID, nodes, bridge, files)."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from app.client import Client
from app.services.references import INSTANCES_PATH
from core import config
from core.config import DataDir
from tests.e2e.conftest import remove_lab
from tests.support.lab import free_subnet
from tests.support.services import free_port


@dataclass
class Service:
    client: Client
    work: Path
    data: Path
    bridge: str
    env: dict
    worker: subprocess.Popen

    def restart_worker(self, **settings: str) -> None:
        """The worker again, with DBAAS_<NAME> settings changed (a bench compares)."""
        self.worker.terminate()
        self.worker.wait(timeout=60)
        self.env.update({f"DBAAS_{name}": value for name, value in settings.items()})
        self.worker = _start_worker(self.env, self.work)

    def worker_log(self) -> str:
        return (self.work / "worker.log").read_text(errors="replace")


def _start_worker(env: dict, work: Path) -> subprocess.Popen:
    with open(work / "worker.log", "a") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=log, stderr=log
        )


def service_redis_url() -> str:
    """The Redis of `make setup` (its password is in the service's data dir), or
    DBAAS_REDIS_URL: the benchmarks' own data dirs hold no password."""
    data_dir = os.environ.get("DBAAS_DATA_DIR", str(Path(__file__).parents[1] / ".data"))
    return config.load({"DATA_DIR": data_dir})["REDIS_URL"]


def _require_redis() -> None:
    url = service_redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        sys.exit(f"Redis does not answer at {url}: run `make setup` first")


@contextlib.contextmanager
def running_service(prefix: str) -> Iterator[Service]:
    _require_redis()
    work = Path(tempfile.mkdtemp(prefix=f"dbaas-bench-{prefix}-"))
    data = work / "data"
    key = DataDir(data).ssh_key
    key.parent.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    bridge = f"dbb{uuid.uuid4().hex[:6]}"
    env = dict(
        os.environ,
        DBAAS_DATA_DIR=str(data),
        DBAAS_REDIS_URL=service_redis_url(),
        DBAAS_QUEUE_NAME=f"bench-{uuid.uuid4().hex[:8]}",
        DBAAS_LAB_NETWORK=str(free_subnet()),
        DBAAS_LAB_BRIDGE=bridge,
    )
    command = [sys.executable, "-m", "app.cli"]
    token = subprocess.run(
        [*command, "token", "create"], env=env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    port = free_port()
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    server = subprocess.Popen([*command, "serve", "--port", str(port)], **quiet)
    worker = _start_worker(env, work)
    client = Client(f"http://127.0.0.1:{port}", token)
    service = None
    try:
        for _ in range(100):
            try:
                client.get("/v1/types/postgres/versions")
                break
            except OSError:
                time.sleep(0.1)
        service = Service(client, work, data, bridge, env, worker)
        yield service
    finally:
        for process in (service.worker if service else worker, server):
            process.terminate()
            process.wait(timeout=30)
        remove_lab(data, bridge)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def until_active(client: Client, path: str, instance: str) -> dict:
    resource = client.wait(path, instance, timeout=900, interval=0.2)
    assert resource["status"] == "ACTIVE", resource.get("error")
    return resource


def instance_body(client: Client, **sizes) -> dict:
    """A benchmark's instance: PostgreSQL 15, 3 small nodes with one synchronous
    replica, no scheduled backups, unless `sizes` say otherwise."""
    return {
        "name": "bench",
        "version": client.version_uuid("PostgreSQL 15"),
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": 3,
        "sync_replica_number": 1,
        "backup": {"schedule": "none"},
        **sizes,
    }


def written_instance(client: Client, password: str, **sizes) -> tuple[str, list[str]]:
    """An instance (instance_body), a user `bench` owning a database `bench`, all
    ACTIVE: (its path, its addresses)."""
    created = client.request("POST", INSTANCES_PATH, instance_body(client, **sizes))
    path = f"{INSTANCES_PATH}/{created['uuid']}"
    ips = until_active(client, path, created["uuid"])["ipsv4"]
    user = client.request("POST", f"{path}/users", {"name": "bench", "password": password})
    until_active(client, f"{path}/users/{user['uuid']}", created["uuid"])
    database = client.request("POST", f"{path}/databases", {"name": "bench", "owner": user["uuid"]})
    until_active(client, f"{path}/databases/{database['uuid']}", created["uuid"])
    return path, ips


def bench_conninfo(hosts: list[str], password: str, ca_file: str) -> str:
    """The bench user's read-write connection through the multi-host string, verified."""
    return (
        f"host={','.join(hosts)} port=5432 dbname=bench user=bench password={password} "
        "target_session_attrs=read-write connect_timeout=2 tcp_user_timeout=2000 "
        f"sslmode=verify-full sslrootcert={ca_file}"
    )
