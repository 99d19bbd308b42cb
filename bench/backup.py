"""Backups as an API user sees them, on a `pgbench -i -s 50` database (about 750 MB) in
a 2-node instance with one synchronous replica: a full backup's time and sizes (taken on
the standby), the WAL archive's lag under a write load, a restore
into a new instance (create -> ACTIVE, against an empty create), and the verification
of that backup (restored somewhere throwaway, pg_amcheck). Prints JSON, in seconds.

    .venv/bin/python -m bench.backup [--scale 50] [--load-seconds 60]

Everything made is removed afterwards (nodes, disks, bridge, backups, scratch).
"""

import argparse
import json
import shlex
import threading
import time

from app.services.references import INSTANCES_PATH
from bench.service import instance_body, running_service, until_active
from core.config import DataDir
from tests.support.lab import ssh

BIN = "/usr/lib/postgresql/15/bin"


def on_node(
    service, address: str, sql_or_command: str, sql: bool = True, timeout: float = 60
) -> str:
    key = DataDir(service.data).ssh_key
    command = f"psql -XAtqc {shlex.quote(sql_or_command)}" if sql else sql_or_command
    shell = f"su postgres -c {shlex.quote(command)}"
    return ssh(key, address, shell, timeout=timeout).stdout.strip()


def timed(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return round(time.monotonic() - started, 1), result


def archive_lag(service, address: str, seconds: int) -> dict:
    """pgbench writing for `seconds`; every second, how far the archive is behind: WAL
    files ready but not yet archived, and the age of the oldest of them."""
    load = threading.Thread(
        target=on_node,
        args=(service, address, f"{BIN}/pgbench -c 2 -T {seconds} -n postgres"),
        kwargs={"sql": False, "timeout": seconds + 60},
    )
    load.start()
    samples = []
    while load.is_alive():
        line = on_node(
            service,
            address,
            "select count(*), coalesce(extract(epoch from now() - min(modification)), 0)"
            " from pg_ls_dir('pg_wal/archive_status') f,"
            " pg_stat_file('pg_wal/archive_status/' || f) s where f like '%.ready'",
        )
        ready, age = line.split("|")
        samples.append((int(ready), float(age)))
        time.sleep(1)
    load.join()
    # Failures, with the last one's time: before the create made the stanza, PostgreSQL's
    # first archive attempts fail (and are retried); a failure under the load would not.
    archiver = ("archived", "failed", "last_failed_at", "measured_at")
    row = on_node(
        service,
        address,
        "select archived_count, failed_count, last_failed_time, now() from pg_stat_archiver",
    )
    # What the failed archive attempts said (pgBackRest's own log on the primary).
    errors = on_node(
        service,
        address,
        "grep -h ERROR /var/log/pgbackrest/ -r | cut -c1-300 | tail -n 3",
        sql=False,
    )
    return {
        "archive_errors": errors.splitlines(),
        "load_seconds": seconds,
        "max_files_waiting": max(s[0] for s in samples),
        "max_oldest_waiting_seconds": round(max(s[1] for s in samples), 1),
        "archiver": dict(zip(archiver, row.split("|"), strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--load-seconds", type=int, default=60)
    args = parser.parse_args()
    figures: dict[str, object] = {"pgbench_scale": args.scale}
    with running_service("backup") as service:
        client = service.client
        body = instance_body(client, cpu=2, ram=2048, nodes_number=2)
        created = client.request("POST", INSTANCES_PATH, body)
        path = f"{INSTANCES_PATH}/{created['uuid']}"
        figures["create_to_active"], active = timed(
            lambda: until_active(client, path, created["uuid"])
        )
        [address] = [
            a for a in active["ipsv4"] if on_node(service, a, "select pg_is_in_recovery()") == "f"
        ]
        figures["pgbench_init"], _ = timed(
            lambda: on_node(service, address, f"{BIN}/pgbench -i -q -s {args.scale}", False)
        )
        figures["database_bytes"] = int(
            on_node(service, address, "select pg_database_size('postgres')")
        )

        def backup():
            taken = client.request("POST", f"{path}/backups", {"kind": "full"})
            return until_active(client, f"{path}/backups/{taken['uuid']}", created["uuid"])

        figures["full_backup"], full = timed(backup)
        figures["backup_size"] = full["size"]
        figures["backup_repository_size"] = full["repository_size"]
        figures["archive_under_load"] = archive_lag(service, address, args.load_seconds)

        def verified():
            for _ in range(1800):
                last = client.get(path).get("last_verified_restore")
                if last and last.get("backup") == full["uuid"]:
                    return last
                time.sleep(1)
            raise TimeoutError("no verification of the full backup")

        last = verified()
        figures["verification_seconds"] = last["seconds"]
        figures["verification_ok"] = last["ok"]

        def restore():
            body = {
                "name": "restored",
                "cpu": 2,
                "ram": 2048,
                "disk_size": 8,
                "backup": {"schedule": "none"},
                "restore_from": {"instance": created["uuid"]},
            }
            clone = client.request("POST", INSTANCES_PATH, body)
            return until_active(client, f"{INSTANCES_PATH}/{clone['uuid']}", clone["uuid"])

        figures["restore_latest_to_new_instance"], clone = timed(restore)
        figures["restored_rows"] = int(
            on_node(service, clone["ipsv4"][0], "select count(*) from pgbench_accounts")
        )
        for instance in (clone["uuid"], created["uuid"]):
            client.request("DELETE", f"{INSTANCES_PATH}/{instance}")
            client.wait(f"{INSTANCES_PATH}/{instance}", instance, timeout=900, gone=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
