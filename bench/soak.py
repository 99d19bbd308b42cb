"""Soak: N cycles in a row of create -> user -> database -> login -> delete through the
API with a real worker. Prints JSON: cycles, failures (must be 0), what the cycles left
on the host (processes, mounts, node directories, loop devices, veths: must be none) and the time
per cycle.

    .venv/bin/python -m bench.soak [--cycles 5] [--nodes 1]
"""

import argparse
import json
import secrets
import statistics
import subprocess
import time
from pathlib import Path

import psycopg

from app.client import with_login
from app.services.references import INSTANCES_PATH
from bench.service import running_service, until_active
from tests.e2e.test_instances import host_leftovers


def leftovers(data: Path, bridge: str) -> list[str]:
    """The e2e tests' check (mounts, processes, node directories), plus loop devices
    and the nodes' veths, which a soak should not leak either."""
    nodes = str(data / "nodes")
    left = host_leftovers(data, bridge)
    losetup = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    left += [f"loop {line}" for line in losetup.splitlines() if nodes in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left += [
        f"veth {line.split(':')[1].strip()}" for line in links.splitlines() if " vb-pg" in line
    ]
    return left


def cycle(client, nodes: int, n: int) -> None:
    body = {
        "name": f"soak-{n}",
        "version": client.version_uuid("PostgreSQL 15"),
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": nodes,
        "sync_replica_number": 1,
    }
    instance = client.request("POST", INSTANCES_PATH, body)["uuid"]
    path = f"{INSTANCES_PATH}/{instance}"
    active = until_active(client, path, instance)
    password = secrets.token_urlsafe(16)
    user = client.request("POST", f"{path}/users", {"name": "app", "password": password})
    until_active(client, f"{path}/users/{user['uuid']}", instance)
    database = client.request(
        "POST", f"{path}/databases", {"name": "app_db", "owner": user["uuid"]}
    )
    until_active(client, f"{path}/databases/{database['uuid']}", instance)
    uri = with_login(active["connection_uri"], "app", "app_db")
    with psycopg.connect(uri, password=password, connect_timeout=5) as conn:
        conn.execute("create table t as select generate_series(1, 100) n")
    client.request("DELETE", path)
    client.wait(path, instance, timeout=900, gone=True, interval=0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    durations, failures = [], []
    with running_service("soak") as service:
        for n in range(args.cycles):
            started = time.monotonic()
            try:
                cycle(service.client, args.nodes, n)
                durations.append(time.monotonic() - started)
            except Exception as exc:  # a soak counts failures, it does not stop at one
                failures.append(f"cycle {n}: {exc}")
        left = leftovers(service.data, service.bridge)
    report = {
        "cycles": args.cycles,
        "nodes": args.nodes,
        "failures": failures,
        "left_on_host": left,
        "seconds_per_cycle": {
            "median": round(statistics.median(durations), 1) if durations else None,
            "max": round(max(durations), 1) if durations else None,
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
