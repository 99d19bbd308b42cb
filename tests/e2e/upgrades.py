"""Upgrades of a running instance through the API, on real lab machines (run by the
3-node test of tests/e2e/test_instances.py on its PostgreSQL 15 instance)."""

import re
import time

import psycopg

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
