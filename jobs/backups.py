"""The worker's side of backups: what the playbooks are told about an instance's
repository, what their runs report folded into the records, the schedule, and the
removal of deleted instances' archives once their retention has passed."""

import logging
import shutil
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import backups, lifecycle, operations
from core.config import DataDir
from core.models import (
    Action,
    Archive,
    Backup,
    Instance,
    Operation,
    Status,
    Target,
    utcnow,
)

log = logging.getLogger(__name__)


def repository(settings: dict[str, Any], kind: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The repository as the nodes reach it, and its secrets."""
    if kind == "s3":
        return {
            "type": "s3",
            "endpoint": settings["BACKUP_S3_ENDPOINT"],
            "bucket": settings["BACKUP_S3_BUCKET"],
            "region": settings["BACKUP_S3_REGION"],
            "key": settings["BACKUP_S3_KEY"],
            "key_secret": settings["BACKUP_S3_KEY_SECRET"],
            "ca_file": settings["BACKUP_S3_CA_FILE"],
            "path": "/dbaas",
        }, (settings["BACKUP_S3_KEY_SECRET"],)
    if kind == "path":
        return {"type": "posix", "path": settings["BACKUP_PATH"]}, ()
    return {"type": "posix", "path": backups.NODE_REPOSITORY_PATH}, ()


def lab_directory(settings: dict[str, Any], archive: Archive):
    return DataDir.of(settings).backups / archive.uuid


def variables(
    session: Session, operation: Operation, instance: Instance, settings: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], tuple[str, ...]]:
    """``dbaas_backup`` (none when the instance has no archive or the service no
    repository), the lab's shared directories, and the strings to redact."""
    archive = instance.archive
    kind = backups.repository_kind(settings)
    if archive is None or kind is None:
        return {}, [], ()
    where, secrets = repository(settings, kind)
    passphrase = backups.passphrase(archive, settings)
    backup: dict[str, Any] = {
        "stanza": archive.uuid,
        "passphrase": passphrase,
        "retention_days": archive.retention_days,
        "repository": where,
    }
    if operation.target == Target.BACKUP:
        target = lifecycle.target_of(session, operation)
        if target is not None:
            backup["kind"] = target.kind
            backup["label"] = target.label
    binds = []
    if kind == "lab":
        binds.append({"source": str(lab_directory(settings, archive)), "target": where["path"]})
    return backup, binds, (passphrase, *secrets)


def run_reported(
    session: Session, operation: Operation, report: dict[str, Any], error: dict | None
) -> None:
    """A run's report (set_stats) and outcome, folded into the archive's records before
    the lifecycle sets the statuses."""
    archive = session.scalars(
        select(Archive).where(Archive.instance_id == operation.instance_id)
    ).first()
    if archive is None:
        return
    account = report.get("dbaas_backup_report")
    if account:
        taken = None
        if (operation.target, operation.action) == (Target.BACKUP, Action.CREATE):
            taken = lifecycle.target_of(session, operation)
        backups.record_info(session, archive, account, taken)
    elif error is not None and operation.target == Target.BACKUP:
        # A backup that could not be taken: the archive may not be reachable either, so
        # the window stops at what was last confirmed.
        archive.archive_error = error["message"]
    if (operation.target, operation.action) == (Target.INSTANCE, Action.DELETE) and not error:
        archive.deleted_at = utcnow()


def schedule_due(session: Session, settings: dict[str, Any]) -> int:
    """A backup for every ACTIVE instance whose schedule says one is due."""
    if backups.repository_kind(settings) is None:
        return 0
    now = utcnow()
    recorded = 0
    archives = session.scalars(
        select(Archive).join(Instance).where(Instance.status == Status.ACTIVE)
    ).all()
    for archive in archives:
        if not backups.is_due(archive, now) or operations.unfinished(session, archive.instance):
            continue
        backup = Backup(
            archive=archive, kind=backups.next_kind(archive, settings, now), scheduled=True
        )
        session.add(backup)
        session.flush()
        operations.record(session, backup, Action.CREATE)
        session.commit()
        log.info("instance=%s scheduled %s backup recorded", archive.uuid, backup.kind)
        recorded += 1
    return recorded


def purge_expired(session: Session, settings: dict[str, Any]) -> int:
    """Deleted instances' archives past their retention: records and (in the lab) the
    repository directory removed."""
    now = utcnow()
    purged = 0
    for archive in session.scalars(select(Archive).where(Archive.deleted_at.is_not(None))).all():
        expiry = backups.expires_at(archive)
        if expiry is None or (expiry > now and archive.backups):
            continue  # kept for its retention (an archive without a backup holds nothing)
        if backups.repository_kind(settings) == "lab":
            shutil.rmtree(lab_directory(settings, archive), ignore_errors=True)
        session.delete(archive)
        session.commit()
        log.info("archive=%s of a deleted instance removed", archive.uuid)
        purged += 1
    return purged
