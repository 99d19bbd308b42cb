"""Backups' rules: where archives live, what the schedule takes next, which points can
be restored (the recovery window), and pgBackRest's own account (`info`) read back
into the records. pgBackRest is the authority: a backup it no longer lists (expired by
retention, removed by an SRE) is gone here too."""

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import secrets as core_secrets
from core.models import Archive, Backup, BackupKind, BackupSchedule, Instance, Status, utcnow

# How often each schedule takes a backup.
PERIODS = {BackupSchedule.DAILY: timedelta(days=1), BackupSchedule.HOURLY: timedelta(hours=1)}

# The repository of every stanza, on the nodes: a local path (lab, mounted filesystem)
# or an S3-compatible bucket; the stanza (the archive's uuid) keeps instances apart.
NODE_REPOSITORY_PATH = "/var/lib/pgbackrest"
# Another archive a new instance is restored from, shared read-only while it is made.
NODE_SOURCE_PATH = "/var/lib/pgbackrest-source"


def repository_kind(settings: dict[str, Any]) -> str | None:
    """s3, path, lab, or None when this service has nowhere to keep backups."""
    if settings.get("BACKUP_S3_BUCKET"):
        return "s3"
    if settings.get("BACKUP_PATH"):
        return "path"
    if settings.get("PROVIDER", "nspawn") == "nspawn":  # the default, as providers.load
        return "lab"
    return None


def no_repository_reason(settings: dict[str, Any]) -> str:
    return (
        f"No backup repository is configured for the {settings['PROVIDER']} provider: "
        "set DBAAS_BACKUP_S3_BUCKET (and the other DBAAS_BACKUP_S3_* settings) or "
        "DBAAS_BACKUP_PATH."
    )


def new_archive(
    instance: Instance, settings: dict[str, Any], schedule: str, retention_days: int
) -> Archive:
    passphrase = secrets.token_urlsafe(48)
    return Archive(
        uuid=instance.uuid,
        project_id=instance.project_id,
        instance=instance,
        instance_name=instance.name,
        version=instance.version,
        schedule=schedule,
        retention_days=retention_days,
        passphrase=core_secrets.cipher(settings).encrypt(passphrase.encode()),
    )


def passphrase(archive: Archive, settings: dict[str, Any]) -> str:
    return core_secrets.cipher(settings).decrypt(archive.passphrase).decode()


def is_live(archive: Archive) -> bool:
    """Its instance runs and archives: every moment up to now is (or, after the WAL
    switch a restore starts with, will be) in the archive."""
    instance = archive.instance
    return (
        instance is not None
        and instance.status == Status.ACTIVE
        and archive.archive_error is None
        and archive.recovery_latest is not None
    )


def window(archive: Archive, now: datetime | None = None) -> dict[str, datetime] | None:
    if archive.recovery_earliest is None or archive.recovery_latest is None:
        return None
    latest = (now or utcnow()) if is_live(archive) else archive.recovery_latest
    return {"earliest": archive.recovery_earliest, "latest": latest}


def expires_at(archive: Archive) -> datetime | None:
    """When a deleted instance's archive is removed."""
    if archive.deleted_at is None:
        return None
    return archive.deleted_at + timedelta(days=archive.retention_days)


def _finished(archive: Archive) -> list[Backup]:
    """Restorable backups on the instance's current history, oldest first."""
    return sorted(
        (
            b
            for b in archive.backups
            if b.status == Status.ACTIVE and b.finished_at and not b.superseded
        ),
        key=lambda b: b.finished_at,
    )


def base_for(archive: Archive, point: datetime | None) -> Backup | None:
    """The backup a point-in-time restore starts from: the newest of the current
    history finished by that point (by now, for the latest)."""
    before = [b for b in _finished(archive) if point is None or b.finished_at <= point]
    return before[-1] if before else None


def abandoned_range(archive: Archive, point: datetime) -> dict[str, str] | None:
    """The replaced stretch of history (an in-place restore's) this point is in."""
    for stretch in archive.abandoned or []:
        if datetime.fromisoformat(stretch["from"]) < point <= datetime.fromisoformat(stretch["to"]):
            return stretch
    return None


def restored_in_place(archive: Archive, point: datetime, now: datetime) -> None:
    """After an in-place restore to ``point``: the history after it was replaced. Its
    backups stay restorable as themselves only; its points no longer are."""
    for backup in archive.backups:
        if backup.finished_at and backup.finished_at > point:
            backup.superseded = True
    archive.abandoned = [
        *(archive.abandoned or []),
        {"from": point.isoformat(), "to": now.isoformat()},
    ]


def newest_full(archive: Archive) -> Backup | None:
    fulls = [b for b in _finished(archive) if b.kind == BackupKind.FULL]
    return fulls[-1] if fulls else None


def next_kind(archive: Archive, settings: dict[str, Any], now: datetime) -> str:
    """Full when there is none, or the last one is BACKUP_FULL_EVERY_DAYS old;
    differential (changes since that full) in between."""
    full = newest_full(archive)
    if full is None or now - full.finished_at >= timedelta(days=settings["BACKUP_FULL_EVERY_DAYS"]):
        return BackupKind.FULL
    return BackupKind.DIFF


def is_due(archive: Archive, now: datetime) -> bool:
    """A scheduled backup is due: none is under way, and the last one (or, before any,
    the instance's creation) is a period old."""
    period = PERIODS.get(archive.schedule)
    if period is None or archive.deleted_at is not None:
        return False
    if any(b.status in (Status.NEW, Status.IN_PROGRESS) for b in archive.backups):
        return False
    taken = [b.started_at or b.created_at for b in archive.backups if not b.superseded]
    if not taken:
        return True  # the first one right away: the window opens with it
    restores = [datetime.fromisoformat(s["to"]) for s in archive.abandoned or []]
    if restores and max(taken) < max(restores):
        return True  # the history an in-place restore began gets a backup of its own
    return now - max(taken) >= period


def newest(archive: Archive) -> Backup | None:
    finished = _finished(archive)
    return finished[-1] if finished else None


def verification_due(archive: Archive, settings: dict[str, Any], now: datetime) -> Backup | None:
    """The backup to verify now, if one is due: the newest, after every new full backup
    and at least every BACKUP_VERIFY_EVERY_HOURS."""
    backup = newest(archive)
    if backup is None or archive.deleted_at is not None:
        return None
    last = archive.last_verified_restore
    if last is None:
        return backup
    if backup.kind == BackupKind.FULL and last.get("backup") != backup.uuid:
        return backup
    if archive.archive_error and last.get("ok"):
        return backup  # a backup failed since: can what is there still be restored?
    verified_at = datetime.fromisoformat(last["at"])
    if now - verified_at >= timedelta(hours=settings["BACKUP_VERIFY_EVERY_HOURS"]):
        return backup
    return None


def verified(archive: Archive, backup: Backup | None, result: dict[str, Any]) -> None:
    recovered = result.get("recovered_to")
    if recovered is None and result.get("ok") and backup is not None and backup.finished_at:
        recovered = backup.finished_at.isoformat()  # no transaction after the backup began
    archive.last_verified_restore = {
        "at": utcnow().isoformat(),
        "backup": backup.uuid if backup is not None else None,
        "recovered_to": recovered,
        "seconds": result.get("seconds"),
        "ok": bool(result.get("ok")),
        "error": result.get("error"),
    }


def deletion_problem(backup: Backup) -> str | None:
    """Why this backup cannot be removed, or None."""
    if backup.status in (Status.NEW, Status.IN_PROGRESS):
        return "The backup is still being taken."
    if backup.status == Status.ACTIVE and backup is newest_full(backup.archive):
        return (
            "This is the newest full backup: every point since it needs it "
            "(take another full backup first)."
        )
    return None


def _at(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def record_info(
    session: Session,
    archive: Archive,
    report: dict[str, Any],
    taken: Backup | None = None,
) -> None:
    """Fold a run's report into the records: ``info`` (pgBackRest's JSON for the
    stanza), ``label`` (of the backup just taken, for ``taken``) and ``checked_at``
    (when WAL was last confirmed archived)."""
    stanza = next((s for s in report.get("info") or [] if s.get("name") == archive.uuid), None)
    if stanza is None:
        return
    listed = {entry["label"]: entry for entry in stanza.get("backup") or []}
    if taken is not None and report.get("label") in listed:
        taken.label = report["label"]
    known = {b.label: b for b in archive.backups if b.label}
    for label, entry in listed.items():
        backup = known.get(label)
        if backup is None:  # taken outside the service (an SRE's pgbackrest backup)
            backup = Backup(archive=archive, label=label, status=Status.ACTIVE)
            session.add(backup)
        _fill(backup, entry)
    for label, backup in known.items():
        if label not in listed and backup.status == Status.ACTIVE:
            session.delete(backup)  # expired by retention, or removed
            archive.backups.remove(backup)
    stops = [_at(entry["timestamp"]["stop"]) for entry in listed.values()]
    archive.recovery_earliest = min(stops) if stops else None
    checked = report.get("checked_at")
    candidates = [t for t in (*stops, archive.recovery_latest) if t is not None]
    if checked:
        candidates.append(datetime.fromisoformat(checked))
    archive.recovery_latest = max(candidates) if candidates else None
    archive.archive_error = None


def _fill(backup: Backup, entry: dict[str, Any]) -> None:
    backup.kind = entry.get("type", backup.kind)
    backup.status = Status.ACTIVE
    backup.error = None
    backup.started_at = _at(entry["timestamp"]["start"])
    backup.finished_at = _at(entry["timestamp"]["stop"])
    info = entry.get("info") or {}
    backup.size = info.get("size")
    backup.repository_size = (info.get("repository") or {}).get("delta")
    archive = entry.get("archive") or {}
    backup.wal_start = archive.get("start")
    backup.wal_stop = archive.get("stop")


def archive_of(session: Session, instance: Instance) -> Archive | None:
    return session.scalars(select(Archive).where(Archive.instance_id == instance.id)).first()
