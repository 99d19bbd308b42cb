"""Backups on real lab machines, through the API: WAL archived continuously, the
schedule's first backup, one on demand, the recovery window, a backup removed."""

from datetime import UTC, datetime

from app.services.references import INSTANCES_PATH
from tests.support.lab import ssh


def superuser(pipeline, address: str):
    """Only to look inside a node: pgBackRest's account, as an SRE would read it."""
    key = pipeline.data_dir / "ssh" / "id_ed25519"
    return lambda command: ssh(key, address, command)


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_archiving_scheduled_and_on_demand_backups_and_the_window(lab_pipeline):
    pipeline = lab_pipeline
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
