"""A minor rolling update as an API user lives it: a 3-node PostgreSQL 15 instance
with one synchronous replica (through the API, a real worker) on the root image as
Debian's point release built it, a client writing one row every 20 ms through the
multi-host connection string, then POST .../upgrade {} (the newest packages of the
suite, node by node, a switchover before the primary's turn), and the same again with
nothing left to do; then the major upgrades in place, 15 -> 17 -> 18 (POST .../upgrade
naming the version: pg_upgrade), under the same writer (17 -> 18 may fail and be
undone here: see the README's upgrade limits).

Prints one JSON line per run: the seconds from the POST to the operation's end, the
PostgreSQL versions before and after, the longest pause in writes and every pause
over 0.5 s (seconds after the POST, length), the committed rows lost.

    .venv/bin/python -m bench.upgrade

Everything made is removed afterwards.
"""

import json
import time
from pathlib import Path

import psycopg

from bench.service import bench_conninfo, running_service, written_instance
from core import tls
from tests.support.cluster import Writer

PASSWORD = "bench-upgrade-1"  # noqa: S105 (a throwaway instance's)


def versions(ips: list[str], ca_file: str) -> list[str]:
    found = set()
    for ip in ips:
        with psycopg.connect(
            bench_conninfo([ip], PASSWORD, ca_file).replace(
                "target_session_attrs=read-write", "target_session_attrs=any"
            )
        ) as conn:
            found.add(conn.execute("show server_version").fetchone()[0].split()[0])
    return sorted(found)


def upgrade_under_writes(
    client, path: str, ips: list[str], ca_file: str, version: str | None = None
) -> dict:
    before = versions(ips, ca_file)
    writer = Writer(ips, lambda hosts: bench_conninfo(hosts, PASSWORD, ca_file), table="w")
    writer.start()
    time.sleep(2)
    asked_at = time.monotonic()
    body = {"version": client.version_uuid(version)} if version else {}
    operation = client.request("POST", f"{path}/upgrade", body)
    instance = path.rsplit("/", 1)[1]
    operation = client.wait_operation(instance, operation["uuid"], timeout=1800)
    took = time.monotonic() - asked_at
    time.sleep(2)
    committed = writer.finish()
    with psycopg.connect(bench_conninfo(ips, PASSWORD, ca_file)) as conn:
        present = {n for (n,) in conn.execute("select n from w")}
    return {
        "status": operation["status"],
        "seconds": round(took, 1),
        "versions_before": before,
        "versions_after": versions(ips, ca_file),
        "minutes": round(took / 60, 2),
        "longest_pause": round(writer.longest_pause(asked_at), 2),
        "pauses_over_half_a_second": [
            [round(at, 1), round(length, 2)] for at, length in writer.pauses(asked_at)
        ],
        "rows_committed": len(committed),
        "rows_lost": len(committed - present),
    }


def main() -> None:
    with running_service("upgrade") as service:
        ca_file = str(service.work / "ca.pem")
        Path(ca_file).write_text(tls.root_certificate({"DATA_DIR": str(service.data)}))
        path, ips = written_instance(service.client, PASSWORD)
        with psycopg.connect(bench_conninfo(ips, PASSWORD, ca_file)) as conn:
            conn.execute("create table w (n bigserial primary key)")
        for run in ("minor update", "minor update, nothing to do"):
            figures = upgrade_under_writes(service.client, path, ips, ca_file)
            print(json.dumps({"run": run, **figures}), flush=True)
        for version in ("PostgreSQL 17", "PostgreSQL 18"):
            figures = upgrade_under_writes(service.client, path, ips, ca_file, version)
            print(json.dumps({"run": f"major upgrade to {version}", **figures}), flush=True)


if __name__ == "__main__":
    main()
