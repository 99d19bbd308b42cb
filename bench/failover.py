"""Losing the primary, as an API user lives it: a 3-node instance with one synchronous
replica (made through the API, with a real worker), a client writing one row every
20 ms through the multi-host connection string, and the primary lost four ways:

- hard kill, fenced: SIGKILL to the primary node's init; the worker sees the machine
  gone and removes its leader key at once (jobs/fencing.py);
- hard kill, ttl only: the same with the worker's fencing off (DBAAS_FENCING=off):
  Patroni waits for the dead leader's key to expire;
- graceful stop: the primary node powered off (systemd's SIGRTMIN+3);
- switchover through the API: POST .../switchover.

For each: seconds from the loss (or the POST) to the first write accepted on another
node, the committed rows lost, and the longest pause in writes. The machine is started
again by the worker between scenarios. Prints one JSON line per scenario.

    .venv/bin/python -m bench.failover

Everything made is removed afterwards.
"""

import argparse
import json
import os
import re
import signal
import time
from pathlib import Path

import psycopg

from bench.service import Service, bench_conninfo, running_service, written_instance
from core import patroni, tls
from tests.support.cluster import Writer

PASSWORD = "bench-failover-1"  # noqa: S105 (a throwaway instance's)
HOW = {
    "hard kill, fenced": signal.SIGKILL,
    "hard kill, ttl only": signal.SIGKILL,
    "graceful stop": signal.SIGRTMIN + 3,  # systemd: poweroff
}


def conninfo(hosts: list[str], ca_file: str) -> str:
    return bench_conninfo(hosts, PASSWORD, ca_file)


def leader(ips: list[str], ca_file: str) -> tuple[str, str]:
    """(node name, address) of the primary, as Patroni shows it."""
    members = patroni.cluster(ips, Path(ca_file).read_text())["members"]
    found = next(m for m in members if m["role"] == "leader")
    return found["name"], found["host"]


def healthy(service: Service, path: str, ips: list[str], ca_file: str) -> None:
    """Until the instance has no change under way and Patroni shows every member
    running with its sync standby (the node the last scenario lost, started again)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        operations = service.client.request("GET", f"{path}/operations")
        members = (patroni.cluster(ips, Path(ca_file).read_text()) or {}).get("members", [])
        if (
            not any(o["status"] in ("PENDING", "RUNNING") for o in operations)
            and len(members) == len(ips)
            and all(m["state"] in ("running", "streaming") for m in members)
            and any(m["role"] == "sync_standby" for m in members)
        ):
            time.sleep(5)  # the rejoined replica caught up, the sync standby settled
            return
        time.sleep(1)
    raise TimeoutError("the instance did not become whole again")


def lose_primary(service: Service, path: str, ips: list[str], ca_file: str, how: str) -> dict:
    name, address = leader(ips, ca_file)
    writer = Writer(ips, lambda hosts: conninfo(hosts, ca_file), table="w")
    writer.start()
    time.sleep(2)
    lost_at = time.monotonic()
    if how == "switchover through the API":
        service.client.request("POST", f"{path}/switchover", {})
    else:
        init = service.data / "nodes" / name / "init.pid"
        os.kill(int(init.read_text().split()[0]), HOW[how])
    deadline = lost_at + 90
    while time.monotonic() < deadline and writer.first_write_elsewhere(address) is None:
        time.sleep(0.05)
    first = writer.first_write_elsewhere(address)
    time.sleep(2)
    committed = writer.finish()
    with psycopg.connect(conninfo(ips, ca_file)) as conn:
        present = {n for (n,) in conn.execute("select n from w")}
    return {
        "scenario": how,
        "seconds_to_first_write": None if first is None else round(first - lost_at, 1),
        "longest_pause": round(writer.longest_pause(lost_at - 0.5), 2),
        "rows_committed": len(committed),
        "rows_lost": len(committed - present),
    }


def fence_seconds(service: Service, since: int) -> float | None:
    """How long the worker took from the machine's death to the leader key's removal."""
    found = re.findall(r"leader key removed in ([0-9.]+) s", service.worker_log()[since:])
    return float(found[-1]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fenced-rounds", type=int, default=1, help="hard kills with fencing")
    args = parser.parse_args()
    with running_service("failover") as service:
        client = service.client
        ca_file = str(service.work / "ca.pem")
        Path(ca_file).write_text(tls.root_certificate({"DATA_DIR": str(service.data)}))
        path, ips = written_instance(client, PASSWORD)
        with psycopg.connect(conninfo(ips, ca_file)) as conn:
            conn.execute("create table w (n bigserial primary key)")
        fenced = ["hard kill, fenced"] * args.fenced_rounds
        for how in (*fenced, *list(HOW)[1:], "switchover through the API"):
            healthy(service, path, ips, ca_file)
            if how == "hard kill, ttl only":
                service.restart_worker(FENCING="off")
            since = len(service.worker_log())
            figures = lose_primary(service, path, ips, ca_file, how)
            if how == "hard kill, fenced":
                figures["fenced_after"] = fence_seconds(service, since)
            print(json.dumps(figures), flush=True)
            if how == "hard kill, ttl only":
                service.restart_worker(FENCING="on")


if __name__ == "__main__":
    main()
