"""Failover on a real 3-node lab cluster with one synchronous replica. Prints, for a
switchover, a graceful stop of the primary's node and a hard kill of it, the time from
the primary's loss to the first accepted write, and the committed rows lost.

    .venv/bin/python -m bench.failover

Writes go through the multi-host connection string (target_session_attrs=read-write),
one row every 20 ms. Everything made is removed afterwards.
"""

import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from base64 import b64encode
from pathlib import Path

import psycopg

from tests.roles.lab import Lab

CREDENTIALS = {
    "superuser": "bench-su-" + os.urandom(6).hex(),
    "replication": "bench-repl-" + os.urandom(6).hex(),
    "rest": "bench-rest-" + os.urandom(6).hex(),
}


def rest(address: str, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(f"http://{address}:8008{path}", method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
        token = b64encode(f"dbaas:{CREDENTIALS['rest']}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:
        content = answer.read()
    try:
        return json.loads(content)
    except ValueError:  # /switchover answers in plain text
        return {"text": content.decode(errors="replace")}


class Writer(threading.Thread):
    def __init__(self, conninfo: str):
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.committed: list[tuple[int, float, str]] = []  # row, when, on which server
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                n, server = conn.execute(
                    "insert into t default values returning n, host(inet_server_addr())"
                ).fetchone()
                self.committed.append((n, time.monotonic(), server))
            except psycopg.Error:
                conn = None
                time.sleep(0.05)
            time.sleep(0.02)


def init_pid(lab: Lab, name: str) -> int:
    return int((lab.state_dir / name / "init.pid").read_text().split()[0])


def wait_healthy(lab: Lab, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            members = rest(lab.nodes[0]["address"], "/cluster")["members"]
            if (
                len(members) == 3
                and all(m["state"] in ("running", "streaming") for m in members)
                and any(m["role"] == "sync_standby" for m in members)
            ):
                return next(m["name"] for m in members if m["role"] == "leader")
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError("cluster not healthy")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dbaas-failover-"))
    lab = Lab(work, nodes=3)
    instance = {
        "uuid": "5f0e3c1a-0000-4000-8000-00000000b3c4",
        "name": "bench",
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": 3,
        "sync_replica_number": 1,
        "effective_sync_replica_number": 1,
        "image": "debian-bookworm-pg15",
    }
    cluster_vars = {
        "dbaas_instance": instance,
        "dbaas_credentials": CREDENTIALS,
        "dbaas_etcd_members": lab.nodes,
    }
    try:
        outcome, tracker = lab.play("instance_create.yml", **cluster_vars)
        assert outcome.status == "successful", tracker.failure
        hosts = ",".join(n["address"] for n in lab.nodes)
        conninfo = (
            f"host={hosts} port=5432 dbname=postgres user=postgres "
            f"password={CREDENTIALS['superuser']} target_session_attrs=read-write "
            "connect_timeout=2 tcp_user_timeout=2000"
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("create table t (n bigserial primary key)")
        by_name = {n["name"]: n for n in lab.nodes}
        for scenario in ("switchover", "graceful stop", "hard kill"):
            leader = wait_healthy(lab)
            writer = Writer(conninfo)
            writer.start()
            time.sleep(2)
            lost_at = time.monotonic()
            if scenario == "switchover":
                rest(by_name[leader]["address"], "/switchover", "POST", {"leader": leader})
            elif scenario == "graceful stop":
                os.kill(init_pid(lab, leader), signal.SIGRTMIN + 3)
            else:
                os.kill(init_pid(lab, leader), signal.SIGKILL)
            old_address = by_name[leader]["address"]

            def on_new_primary(writer=writer, old_address=old_address):
                return [t for _, t, server in writer.committed if server != old_address]

            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not on_new_primary():
                time.sleep(0.05)
            first_write = min(on_new_primary()) - lost_at
            time.sleep(1)
            writer.stop.set()
            writer.join(10)
            committed = {n for n, _, _ in writer.committed}
            with psycopg.connect(conninfo, autocommit=True) as conn:
                present = {row[0] for row in conn.execute("select n from t")}
            print(
                f"{scenario:>13}: first write accepted {first_write:5.1f} s after the "
                f"primary's loss; rows committed {len(committed)}, lost "
                f"{len(committed - present)}"
            )
            if scenario != "switchover":
                outcome, tracker = lab.play("nodes_start.yml", **cluster_vars)
                assert outcome.status == "successful", tracker.failure
    finally:
        lab.play("nodes_delete.yml")
        lab.force_clean()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
