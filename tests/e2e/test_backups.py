"""Backups on real lab machines, through the API: WAL archived continuously, the
schedule's first backup, one on demand, the recovery window, a backup removed (into an
S3-compatible bucket); restores to a point, in place and after a delete; restores that
verify themselves."""

import subprocess
import time
from datetime import UTC, datetime

import psycopg
import pytest

from app.services.references import INSTANCES_PATH
from tests.e2e.conftest import lab_bridge_name, new_lab_pipeline
from tests.e2e.test_instances import connect, patroni_cluster
from tests.support.lab import free_subnet, ssh
from tests.support.s3 import make_bridge, s3_server


def superuser(pipeline, address: str):
    """Only to look inside a node: pgBackRest's account, as an SRE would read it."""
    key = pipeline.data_dir / "ssh" / "id_ed25519"
    return lambda command: ssh(key, address, command)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.fixture
def s3_lab_pipeline(tmp_path, redis_url, monkeypatch):
    """A lab whose repository is an S3-compatible bucket: moto's server, over TLS, on this
    host's address on the test's bridge."""
    network, bridge = free_subnet(), lab_bridge_name(tmp_path)
    try:
        address = make_bridge(bridge, network)
        with (
            s3_server(tmp_path, address) as s3,
            new_lab_pipeline(
                tmp_path, redis_url, monkeypatch, network=network, bridge=bridge, **s3.settings
            ) as pipeline,
        ):
            pipeline.s3 = s3
            yield pipeline
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def test_archiving_scheduled_and_on_demand_backups_and_the_window_in_s3(s3_lab_pipeline):
    pipeline = s3_lab_pipeline
    pipeline.worker.start()
    created = pipeline.create_instance(
        "backed-up", backup={"schedule": "daily", "retention_days": 3}
    )
    assert created["backup"] == {"schedule": "daily", "retention_days": 3}
    assert created["recovery_window"] is None
    path = f"{INSTANCES_PATH}/{created['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)

    # The schedule's first backup follows the create at once: a full one.
    def first_backup():
        listed = pipeline.api.get(f"{path}/backups").json
        return listed and listed[-1]["status"] == "ACTIVE" and listed[-1]

    first = pipeline.wait_for(first_backup, "the first scheduled backup", timeout=300)
    assert first["kind"] == "full" and first["scheduled"] is True
    assert first["size"] > 10_000_000  # an empty cluster is some 20 MB
    assert 0 < first["repository_size"] < first["size"]  # compressed
    assert first["wal_start"] and first["wal_stop"]
    assert parse(first["started_at"]) <= parse(first["finished_at"])

    # Rows written, then a differential backup on demand.
    node = superuser(pipeline, active["ipsv4"][0])
    node("su postgres -c \"psql -qc 'create table t as select generate_series(1, 50000) n'\"")
    answer = pipeline.api.post(f"{path}/backups", json={"kind": "diff"})
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "NEW"
    diff = pipeline.wait_status(f"{path}/backups/{answer.json['uuid']}", "ACTIVE", timeout=300)
    assert diff["kind"] == "diff" and diff["scheduled"] is False
    assert diff["wal_start"] > first["wal_stop"]

    # The window: from the first backup's end to now (WAL archived continuously).
    window = pipeline.api.get(path).json["recovery_window"]
    assert parse(window["earliest"]) == parse(first["finished_at"])
    assert (datetime.now(UTC) - parse(window["latest"])).total_seconds() < 5

    # pgBackRest's own account agrees: the stanza is the instance's, encrypted.
    info = node(f"su postgres -c 'pgbackrest --stanza={created['uuid']} --output=json info'")
    assert '"cipher":"aes-256-cbc"' in info.stdout.replace(" ", "")
    assert '"message":"ok"' in info.stdout.replace(" ", "")

    # The newest full backup cannot go; the diff can.
    refused = pipeline.api.delete(f"{path}/backups/{first['uuid']}")
    assert refused.status_code == 409, refused.json
    assert "newest full backup" in refused.json["message"]
    assert pipeline.api.delete(f"{path}/backups/{diff['uuid']}").status_code == 204
    pipeline.wait_for(
        lambda: pipeline.api.get(f"{path}/backups/{diff['uuid']}").status_code == 404,
        "the diff backup removed",
        timeout=120,
    )
    assert [b["uuid"] for b in pipeline.api.get(f"{path}/backups").json] == [first["uuid"]]

    # In the bucket: the instance's stanza alone, every object encrypted (OpenSSL's
    # salted format), the table's rows nowhere in clear.
    stored = pipeline.s3.objects()
    assert any(key.startswith(f"dbaas/backup/{created['uuid']}/") for key in stored)
    assert any(key.startswith(f"dbaas/archive/{created['uuid']}/") for key in stored)
    assert all(f"/{created['uuid']}/" in key for key in stored), sorted(stored)
    assert all(body.startswith(b"Salted__") for body in stored.values())

    # A new instance from the bucket's latest point holds the rows.
    answer = pipeline.api.post(
        INSTANCES_PATH,
        json={
            "name": "from-s3",
            "cpu": 1,
            "ram": 1024,
            "disk_size": 8,
            "restore_from": {"instance": created["uuid"]},
        },
    )
    assert answer.status_code == 201, answer.json
    clone = pipeline.wait_status(f"{INSTANCES_PATH}/{answer.json['uuid']}", "ACTIVE", timeout=600)
    counted = superuser(pipeline, clone["ipsv4"][0])(
        "su postgres -c \"psql -tAc 'select count(*) from t'\""
    )
    assert counted.stdout.strip() == "50000"


def rows(address: str, password: str) -> list[int]:
    with connect(address, "app_user", password, "app_db") as conn:
        return [n for (n,) in conn.execute("select n from t order by n")]


def write(uri: str, password: str, numbers: range) -> None:
    with psycopg.connect(
        uri.replace("/postgres?", "/app_db?"), user="app_user", password=password
    ) as conn:
        conn.execute("create table if not exists t (n int primary key)")
        conn.execute(
            "insert into t select generate_series(%s::int, %s::int)",
            (numbers.start, numbers.stop - 1),
        )


def test_point_in_time_clone_in_place_restore_and_restore_after_delete(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    api = pipeline.api
    source = pipeline.create_instance("source", backup={"schedule": "daily"})
    path = f"{INSTANCES_PATH}/{source['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    password = "app-Secret-pass-1"
    user = api.post(f"{path}/users", json={"name": "app_user", "password": password}).json
    database = api.post(f"{path}/databases", json={"name": "app_db", "owner": user["uuid"]}).json
    pipeline.wait_status(f"{path}/databases/{database['uuid']}", "ACTIVE", timeout=180)
    pipeline.wait_for(
        lambda: any(b["status"] == "ACTIVE" for b in api.get(f"{path}/backups").json),
        "the first backup",
        timeout=300,
    )

    # Rows, the moment T, more rows.
    write(active["connection_uri"], password, range(1, 101))
    time.sleep(1)
    moment = datetime.now(UTC)
    time.sleep(1)
    write(active["connection_uri"], password, range(101, 201))

    # A new instance as of T, on two nodes: exactly the first rows, the old password.
    clone_body = {
        "name": "clone",
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": 2,
        "sync_replica_number": 1,
        "restore_from": {"instance": source["uuid"], "point_in_time": moment.isoformat()},
    }
    answer = api.post(INSTANCES_PATH, json=clone_body)
    assert answer.status_code == 201, answer.json
    clone_path = f"{INSTANCES_PATH}/{answer.json['uuid']}"
    clone = pipeline.wait_status(clone_path, "ACTIVE", timeout=900)
    for address in clone["ipsv4"]:
        pipeline.wait_for(lambda a=address: rows_or_none(a, password), f"rows on {address}", 120)
        assert rows(address, password) == list(range(1, 101))
    users = api.get(f"{clone_path}/users").json
    assert [(u["name"], u["status"]) for u in users] == [("app_user", "ACTIVE")]
    assert users[0]["uuid"] != user["uuid"]
    databases = api.get(f"{clone_path}/databases").json
    assert [(d["name"], d["status"], d["owner"].rsplit("/", 1)[-1]) for d in databases] == [
        ("app_db", "ACTIVE", users[0]["uuid"])
    ]
    # Its own archive, with the service's default policy (the tests' is "none").
    assert clone["backup"] == {"schedule": "none", "retention_days": 7}
    # A backup on demand is taken on its synchronous standby, not on the primary.
    taken = api.post(f"{clone_path}/backups", json={"kind": "full"})
    assert taken.status_code == 201, taken.json
    pipeline.wait_status(f"{clone_path}/backups/{taken.json['uuid']}", "ACTIVE", timeout=300)
    members = patroni_cluster(clone["ipsv4"][0])["members"]
    [standby] = [m["host"] for m in members if m["role"] == "sync_standby"]
    assert [a for a in clone["ipsv4"] if backed_up_on(pipeline, a)] == [standby]

    # The source itself back to T: a full backup first, then only the first rows.
    backups_before = len(api.get(f"{path}/backups").json)
    answer = api.post(f"{path}/restore", json={"point_in_time": moment.isoformat()})
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "IN_PROGRESS"
    restored = pipeline.wait_status(path, "ACTIVE", timeout=900)
    assert rows(restored["ipsv4"][0], password) == list(range(1, 101))
    assert len(api.get(f"{path}/backups").json) == backups_before + 1
    write(restored["connection_uri"], password, range(301, 311))

    # Deleted: its backups stay listed, and the latest point restores every row it held.
    assert api.delete(path).status_code == 204
    pipeline.wait_for(lambda: api.get(path).status_code == 404, "the source deleted", 300)
    kept = api.get(f"/v1/postgres/backups?instance={source['uuid']}").json
    assert kept and all(b["instance_deleted"] for b in kept)
    answer = api.post(
        INSTANCES_PATH,
        json=dict(
            clone_body,
            name="after-delete",
            nodes_number=1,
            restore_from={"instance": source["uuid"]},
        ),
    )
    assert answer.status_code == 201, answer.json
    revived = pipeline.wait_status(f"{INSTANCES_PATH}/{answer.json['uuid']}", "ACTIVE", timeout=900)
    assert rows(revived["ipsv4"][0], password) == [*range(1, 101), *range(301, 311)]


def backed_up_on(pipeline, address: str) -> bool:
    """Whether pgBackRest's backup command ran on this node (its log file is there)."""
    listing = superuser(pipeline, address)("ls /var/log/pgbackrest").stdout.split()
    return any(name.endswith("-backup.log") for name in listing)


def rows_or_none(address: str, password: str):
    try:
        return rows(address, password)
    except psycopg.Error:
        return None


def test_restores_verify_themselves_and_a_broken_repository_shows(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    api = pipeline.api
    created = pipeline.create_instance("verified", backup={"schedule": "daily"})
    path = f"{INSTANCES_PATH}/{created['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    node = superuser(pipeline, active["ipsv4"][0])
    node("su postgres -c \"psql -qc 'create table t as select generate_series(1, 10000) n'\"")

    # After the first full backup, the worker restores it somewhere throwaway and checks it.
    def verified():
        last = api.get(path).json["last_verified_restore"]
        return last if last and last["ok"] is not None else None

    last = pipeline.wait_for(verified, "a verified restore", timeout=600)
    assert last["ok"] is True, last
    assert last["error"] is None
    assert last["seconds"] > 0
    backups = api.get(f"{path}/backups").json
    assert last["backup"] == backups[0]["uuid"]
    print(f"\nverified restore of an empty instance: {last['seconds']} s")
    # Nothing of it is left on this host.
    assert not list((pipeline.data_dir / "verify").glob("*"))

    # The repository's files made unreadable (the directory itself is the playbooks' to
    # keep right): a backup fails naming it, and so does the check.
    repository = pipeline.data_dir / "backups" / created["uuid"]
    modes = {file: file.stat().st_mode for file in repository.rglob("*") if file.is_file()}
    for file in modes:
        file.chmod(0)
    try:
        answer = api.post(f"{path}/backups", json={})
        failed = pipeline.wait_status(f"{path}/backups/{answer.json['uuid']}", "ERROR", timeout=300)
        assert "Permission denied" in failed["error"]["message"], failed["error"]

        def failed_check():
            last = api.get(path).json["last_verified_restore"]
            return last if last and last["ok"] is False else None

        broken = pipeline.wait_for(failed_check, "a failed verification", timeout=300)
        assert "Permission denied" in broken["error"], broken
    finally:
        for file, mode in modes.items():
            file.chmod(mode)
