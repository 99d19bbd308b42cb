"""Upgrades of a running instance through the API, on real lab machines: a minor
rolling update under a writer (every node on the suite's newest packages, the instance
ACTIVE throughout, no committed row lost)."""

import re
import time

import psycopg

from tests.e2e.test_instances import (
    connect,
    host_leftovers,
    instance_uri,
    patroni_cluster,
    writing,
)

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


def test_a_minor_rolling_update_keeps_serving_and_loses_no_committed_row(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    password = "app-Secret-pass-1"
    path, active = pipeline.served_instance(
        "upgraded", "app_user", password, "app_db", nodes_number=3, sync_replica_number=1
    )
    ips = active["ipsv4"]
    before = server_versions(ips, password)
    writer, leader = writing(pipeline, ips, password)
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

    # Every node runs the suite's newest PostgreSQL 15, the leader moved off its node.
    newest = newest_postgresql_15(UPDATES_DIR)
    assert newest is not None
    after = server_versions(ips, password)
    assert set(after.values()) == {newest}, after
    members = patroni_cluster(ips[0])["members"]
    assert sorted(m["role"] for m in members) == ["leader", "replica", "sync_standby"]
    if as_tuple(newest) > as_tuple(before[leader["host"]]):
        assert next(m for m in members if m["role"] == "leader")["name"] != leader["name"]
    with psycopg.connect(
        instance_uri(pipeline, active, "app_db"), user="app_user", password=password
    ) as conn:
        present = {n for (n,) in conn.execute("select n from w")}
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

    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []
