"""Upgrades of a running instance through the API, on real lab machines (run by the
3-node test of tests/e2e/test_instances.py on its PostgreSQL 15 instance)."""

import re
import time

import psycopg
from psycopg import sql

from tests.e2e.test_instances import connect, instance_uri, patroni_cluster, writing

UPDATES_DIR = "/var/cache/dbaas/images/.debian-bookworm-pg15.debs"


def server_versions(ips: list[str], password: str) -> dict[str, str]:
    versions = {}
    for ip in ips:
        with connect(ip, "app_user", password, "app_db") as conn:
            versions[ip] = conn.execute("show server_version").fetchone()[0].split()[0]
    return versions


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def newest_postgresql_15(directory: str) -> str | None:
    """The version of the postgresql-15 package the update downloaded (apt keeps only
    the current candidate after its autoclean), e.g. '15.20'."""
    from pathlib import Path

    found = [
        match.group(1)
        for deb in Path(directory).glob("postgresql-15_*.deb")
        if (match := re.match(r"postgresql-15_(\d+\.\d+)-", deb.name))
    ]
    return max(found, key=as_tuple, default=None)


def upgrade_and_wait(pipeline, path: str, timeout: float = 900) -> tuple[dict, set[str]]:
    """POST .../upgrade {}, then poll until it ends; the instance's statuses seen."""
    answer = pipeline.api.post(f"{path}/upgrade", json={})
    assert answer.status_code == 202, answer.json
    assert answer.json["action"] == "upgrade"
    busy = pipeline.api.post(f"{path}/upgrade", json={})
    assert busy.status_code == 409, busy.json
    seen: set[str] = set()

    def finished():
        seen.add(pipeline.api.get(path).json["status"])
        found = pipeline.api.get(f"{path}/operations/{answer.json['uuid']}").json
        return found["status"] in ("SUCCEEDED", "FAILED") and found

    return pipeline.wait_for(finished, "the upgrade", timeout), seen


def roll_a_minor_update(pipeline, path: str, ips: list[str], password: str) -> None:
    """POST .../upgrade {} under a writer: the operation succeeds with the instance seen
    only ACTIVE, every node runs the suite's newest PostgreSQL 15 (the version apt
    downloaded), the leader moved off its node, no committed row is lost; asked again,
    nobody is switched over. The time and the pauses in writes are printed."""
    before = server_versions(ips, password)
    writer, leader = writing(pipeline, ips, password, table="u")
    try:
        asked_at = time.monotonic()
        operation, statuses = upgrade_and_wait(pipeline, path)
        took = time.monotonic() - asked_at
        assert operation["status"] == "SUCCEEDED", operation["error"]
        time.sleep(2)  # writes after the last node's return
        pauses = writer.pauses(asked_at)
        longest = writer.longest_pause(asked_at)
    finally:
        committed = writer.finish()
    assert statuses == {"ACTIVE"}

    newest = newest_postgresql_15(UPDATES_DIR)
    assert newest is not None
    after = server_versions(ips, password)
    assert set(after.values()) == {newest}, after
    members = patroni_cluster(ips[0])["members"]
    assert sorted(m["role"] for m in members) == ["leader", "replica", "sync_standby"]
    if as_tuple(newest) > as_tuple(before[leader["host"]]):
        assert next(m for m in members if m["role"] == "leader")["name"] != leader["name"]
    instance = {"uuid": path.rsplit("/", 1)[1]}
    with psycopg.connect(
        instance_uri(pipeline, instance, "app_db"), user="app_user", password=password
    ) as conn:
        present = {n for (n,) in conn.execute("select n from u")}
    assert len(committed) > 100
    assert committed - present == set()
    print(
        f"minor update {sorted(set(before.values()))} -> {newest}: {took:.1f} s, "
        f"longest pause in writes {longest:.2f} s, pauses over 0.5 s "
        f"{[(round(at, 1), round(length, 2)) for at, length in pauses]}"
    )

    # Again: every node is up to date, nothing is stopped, nobody is switched over.
    leader = next(m for m in members if m["role"] == "leader")
    asked_at = time.monotonic()
    operation, statuses = upgrade_and_wait(pipeline, path)
    assert operation["status"] == "SUCCEEDED", operation["error"]
    assert statuses == {"ACTIVE"}
    members = patroni_cluster(ips[0])["members"]
    assert next(m for m in members if m["role"] == "leader")["name"] == leader["name"]
    assert server_versions(ips, password) == after
    print(f"minor update again (nothing to do): {time.monotonic() - asked_at:.1f} s")


def pgbench(ips: list[str], password: str, *args: str) -> str:
    """The host's pgbench as app_user on app_db, over TLS, on the read-write node."""
    import os
    import subprocess

    environment = {
        **os.environ,
        "PGHOST": ",".join(ips),
        "PGUSER": "app_user",
        "PGPASSWORD": password,
        "PGDATABASE": "app_db",
        "PGTARGETSESSIONATTRS": "read-write",
        "PGSSLMODE": "verify-full",
    }
    ran = subprocess.run(
        ["pgbench", *args], env=environment, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    return ran.stdout + ran.stderr


def ask_upgrade(pipeline, path: str, version: str, timeout: float = 1800):
    """POST .../upgrade naming `version`; poll until it ends: the operation, and the
    instance's statuses seen meanwhile."""
    answer = pipeline.api.post(f"{path}/upgrade", json={"version": pipeline.version_uri(version)})
    assert answer.status_code == 202, answer.json
    seen: set[str] = set()

    def finished():
        seen.add(pipeline.api.get(path).json["status"])
        found = pipeline.api.get(f"{path}/operations/{answer.json['uuid']}").json
        return found["status"] in ("SUCCEEDED", "FAILED") and found

    return pipeline.wait_for(finished, f"the upgrade to {version}", timeout), seen


def rows_everywhere(pipeline, ips: list[str], password: str, expected: dict[str, int]) -> None:
    """Every node (the replicas rebuilt from the primary) holds every table's rows."""
    count = sql.SQL("select count(*) from {}")
    for ip in ips:

        def counted(ip=ip):
            with connect(ip, "app_user", password, "app_db") as conn:
                try:
                    return all(
                        conn.execute(count.format(sql.Identifier(table))).fetchone()[0] == rows
                        for table, rows in expected.items()
                    )
                except psycopg.Error:
                    return False

        pipeline.wait_for(counted, f"every row on {ip}", 120)


def upgrade_majors(pipeline, path: str, ips: list[str], password: str) -> None:
    """Major upgrades in place, on a pgbench -i -s 10 database. 15 -> 17 under a
    writer: the instance IN_PROGRESS then ACTIVE on 17, every row on every node, the
    user logs in, pgbench runs, no committed row lost. Then 17 -> 18 with a column
    pg_upgrade refuses (a tenant's regproc): the operation FAILED saying why, undone,
    the instance ACTIVE on 17 with every row. (A successful 17 -> 18 is not asserted:
    trixie's 17.12 can leave `pg_attver` column options that forky's 18.6 refuses, so
    pg_upgrade fails restoring the schema and the upgrade is undone; see the README.)"""
    pgbench(ips, password, "-i", "-s", "10", "-q")
    expected = {"pgbench_accounts": 1_000_000, "pgbench_branches": 10, "t": 1000}
    writer, _ = writing(pipeline, ips, password, table="m")
    try:
        asked_at = time.monotonic()
        operation, statuses = ask_upgrade(pipeline, path, "PostgreSQL 17")
        took = time.monotonic() - asked_at
        assert operation["status"] == "SUCCEEDED", operation["error"]
        time.sleep(3)
        longest = writer.longest_pause(asked_at)
    finally:
        committed = writer.finish()
    assert "IN_PROGRESS" in statuses
    on_major(pipeline, path, ips, password, 17, expected)
    leader = next(m for m in patroni_cluster(ips[0])["members"] if m["role"] == "leader")
    with connect(leader["host"], "app_user", password, "app_db") as conn:
        present = {n for (n,) in conn.execute("select n from m")}
    assert committed - present == set()
    print(
        f"major upgrade 15 -> 17 (3 nodes, pgbench scale 10): {took / 60:.1f} min, "
        f"writes unavailable {longest:.0f} s"
    )

    with connect(leader["host"], "app_user", password, "app_db") as conn:
        conn.execute("create table blocker (f regproc)")
        conn.execute("insert into blocker values ('now')")
    asked_at = time.monotonic()
    operation, _ = ask_upgrade(pipeline, path, "PostgreSQL 18")
    assert operation["status"] == "FAILED"
    message = operation["error"]["message"]
    assert "pg_upgrade --check refused" in message and "reg*" in message, message
    assert "undone" in message and "PostgreSQL 17 as before" in message, message
    on_major(pipeline, path, ips, password, 17, {**expected, "blocker": 1})
    print(
        f"major upgrade 17 -> 18 refused by pg_upgrade --check, undone: "
        f"{(time.monotonic() - asked_at) / 60:.1f} min"
    )


def on_major(pipeline, path: str, ips: list[str], password: str, major: int, expected) -> None:
    """The instance ACTIVE on `major` (its record and every server), with one leader, a
    sync standby and a replica holding every row; the user logs in; pgbench runs."""
    found = pipeline.api.get(path).json
    assert found["status"] == "ACTIVE", found["error"]
    assert found["version"] == pipeline.version_uri(f"PostgreSQL {major}")
    assert {v.split(".")[0] for v in server_versions(ips, password).values()} == {str(major)}
    rows_everywhere(pipeline, ips, password, expected)
    members = patroni_cluster(ips[0])["members"]
    assert sorted(m["role"] for m in members) == ["leader", "replica", "sync_standby"]
    ran = pgbench(ips, password, "-T", "3", "-c", "2")
    assert "number of failed transactions: 0" in ran, ran
