"""The rules of backups: pgBackRest's account folded into the records, the schedule,
the window, what may be deleted, what is verified."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from core import backups
from core.models import Archive, Backup, Base, Instance, Status, Version
from jobs.backups import s3_endpoint

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = {"BACKUP_FULL_EVERY_DAYS": 7, "BACKUP_VERIFY_EVERY_HOURS": 24}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def entry(label: str, kind: str, start: datetime, stop: datetime) -> dict:
    """One backup as `pgbackrest info --output=json` lists it."""
    return {
        "label": label,
        "type": kind,
        "timestamp": {"start": epoch(start), "stop": epoch(stop)},
        "info": {"size": 30_000_000, "repository": {"delta": 3_000_000, "size": 3_000_000}},
        "archive": {"start": "000000010000000000000004", "stop": "000000010000000000000004"},
    }


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


@pytest.fixture
def archive(session):
    version = Version(name="PostgreSQL 15", image="debian-bookworm-pg15")
    instance = Instance(
        project_id="p",
        name="i",
        cpu=1,
        ram=1024,
        disk_size=8,
        nodes_number=1,
        sync_replica_number=0,
        version=version,
        status=Status.ACTIVE,
    )
    archive = Archive(
        uuid="a" * 8,
        project_id="p",
        instance=instance,
        instance_name="i",
        version=version,
        passphrase=b"x",
        abandoned=[],
    )
    session.add(archive)
    session.commit()
    return archive


def report(archive, *entries, label=None, checked_at=None) -> dict:
    return {
        "info": [{"name": archive.uuid, "backup": list(entries)}],
        "label": label,
        "checked_at": checked_at,
    }


def test_info_fills_the_backup_taken_and_the_window(session, archive):
    taken = Backup(archive=archive, kind="full")
    session.add(taken)
    start, stop = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    checked = NOW.isoformat()
    backups.record_info(
        session,
        archive,
        report(archive, entry("L1F", "full", start, stop), label="L1F", checked_at=checked),
        taken,
    )
    assert (taken.label, taken.status, taken.size, taken.repository_size) == (
        "L1F",
        "ACTIVE",
        30_000_000,
        3_000_000,
    )
    assert taken.finished_at == stop
    assert archive.recovery_earliest == stop
    assert archive.recovery_latest == NOW
    # A running instance whose archiving works: every moment up to now.
    assert backups.window(archive, NOW + timedelta(hours=1))["latest"] == NOW + timedelta(hours=1)
    archive.archive_error = "permission denied"
    assert backups.window(archive, NOW + timedelta(hours=1))["latest"] == NOW


def test_a_backup_pgbackrest_no_longer_lists_is_gone_and_an_unknown_one_appears(session, archive):
    old = Backup(
        archive=archive,
        label="OLD",
        kind="full",
        status=Status.ACTIVE,
        finished_at=NOW - timedelta(days=9),
    )
    session.add(old)
    session.commit()
    sre = entry("SRE", "full", NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    backups.record_info(session, archive, report(archive, sre))
    session.commit()
    assert [(b.label, b.status) for b in archive.backups] == [("SRE", "ACTIVE")]
    assert archive.recovery_earliest == NOW - timedelta(hours=1)


def full(session, archive, label, finished, kind="full"):
    backup = Backup(
        archive=archive,
        label=label,
        kind=kind,
        status=Status.ACTIVE,
        started_at=finished - timedelta(minutes=1),
        finished_at=finished,
    )
    session.add(backup)
    session.commit()
    return backup


def test_the_schedule_takes_full_then_differential_backups(session, archive):
    assert backups.is_due(archive, NOW)  # the first one at once
    assert backups.next_kind(archive, SETTINGS, NOW) == "full"
    full(session, archive, "F1", NOW - timedelta(hours=2))
    assert not backups.is_due(archive, NOW)
    assert backups.is_due(archive, NOW + timedelta(days=1))
    assert backups.next_kind(archive, SETTINGS, NOW + timedelta(days=1)) == "diff"
    assert backups.next_kind(archive, SETTINGS, NOW + timedelta(days=7)) == "full"
    archive.schedule = "none"
    assert not backups.is_due(archive, NOW + timedelta(days=30))


def test_the_newest_full_backup_cannot_be_deleted(session, archive):
    first = full(session, archive, "F1", NOW - timedelta(days=2))
    second = full(session, archive, "F2", NOW - timedelta(days=1))
    diff = full(session, archive, "F2_D", NOW - timedelta(hours=1), kind="diff")
    assert "newest full" in backups.deletion_problem(second)
    assert backups.deletion_problem(first) is None
    assert backups.deletion_problem(diff) is None


def test_an_in_place_restore_supersedes_the_history_after_its_point(session, archive):
    before = full(session, archive, "F1", NOW - timedelta(hours=5))
    after = full(session, archive, "F2", NOW - timedelta(hours=1))
    point = NOW - timedelta(hours=3)
    backups.restored_in_place(archive, point, NOW)
    assert (before.superseded, after.superseded) == (False, True)
    assert backups.abandoned_range(archive, NOW - timedelta(hours=2)) is not None
    assert backups.abandoned_range(archive, NOW - timedelta(hours=4)) is None
    assert backups.base_for(archive, None) is before  # the latest point starts from F1
    assert backups.is_due(archive, NOW)  # the new history gets a backup of its own


def test_verification_follows_each_full_backup_failures_and_the_day(session, archive):
    first = full(session, archive, "F1", NOW - timedelta(hours=2))
    assert backups.verification_due(archive, SETTINGS, NOW) is first
    backups.verified(archive, first, {"ok": True, "seconds": 4.2, "recovered_to": None})
    assert archive.last_verified_restore["recovered_to"] == first.finished_at.isoformat()
    assert backups.verification_due(archive, SETTINGS, datetime.now(UTC)) is None
    archive.archive_error = "unable to open file"
    assert backups.verification_due(archive, SETTINGS, datetime.now(UTC)) is first
    backups.verified(archive, first, {"ok": False, "error": "unable to open file"})
    assert backups.verification_due(archive, SETTINGS, datetime.now(UTC)) is None
    later = datetime.now(UTC) + timedelta(hours=25)
    assert backups.verification_due(archive, SETTINGS, later) is first


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3.eu-west-1.amazonaws.com", ("s3.eu-west-1.amazonaws.com", 443)),
        ("https://10.0.0.1:9000", ("10.0.0.1", 9000)),
        ("minio.internal:9000/", ("minio.internal", 9000)),
        ("[fd00::1]:9000", ("fd00::1", 9000)),
    ],
)
def test_an_s3_endpoint_is_a_host_and_a_port(value, expected):
    assert s3_endpoint(value) == expected


@pytest.mark.parametrize("value", ["", "http://minio:9000", "minio:9000/bucket", "minio:port"])
def test_an_s3_endpoint_spoken_to_in_clear_or_with_a_path_is_refused(value):
    with pytest.raises(ValueError, match="DBAAS_BACKUP_S3_ENDPOINT"):
        s3_endpoint(value)
