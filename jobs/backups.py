"""The worker's side of backups: what the playbooks are told about an instance's
repository, what their runs report folded into the records, the schedule, and the
removal of deleted instances' archives once their retention has passed."""

import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import backups, lifecycle, operations, rules
from core.config import DataDir
from core.models import (
    Action,
    Archive,
    Backup,
    Database,
    Instance,
    Operation,
    OperationStatus,
    Status,
    Target,
    User,
    utcnow,
)

log = logging.getLogger(__name__)


def s3_endpoint(value: str) -> tuple[str, int]:
    """DBAAS_BACKUP_S3_ENDPOINT as pgBackRest takes it: a host and a port (443 unless
    named); `https://` may lead it. An endpoint is spoken to over TLS only."""
    text = value.strip()
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        port = parts.port or 443
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.path.strip("/"):
        raise ValueError(f"DBAAS_BACKUP_S3_ENDPOINT is not host[:port] over TLS: {value!r}")
    return parts.hostname, port


def repository(settings: dict[str, Any], kind: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The repository as the nodes reach it, and its secrets."""
    if kind == "s3":
        endpoint, port = s3_endpoint(settings["BACKUP_S3_ENDPOINT"])
        ca_file = settings["BACKUP_S3_CA_FILE"]
        return {
            "type": "s3",
            "endpoint": endpoint,
            "port": port,
            "bucket": settings["BACKUP_S3_BUCKET"],
            "region": settings["BACKUP_S3_REGION"],
            "key": settings["BACKUP_S3_KEY"],
            "key_secret": settings["BACKUP_S3_KEY_SECRET"],
            # The CA, as text: the nodes get a copy (the file is the control host's).
            "ca": Path(ca_file).read_text() if ca_file else "",
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
    plan = (operation.params or {}).get("restore")
    if plan and operation.target == Target.INSTANCE:
        source = session.scalars(select(Archive).where(Archive.uuid == plan["archive"])).first()
        restore, source_secrets = _restore(settings, kind, source, plan, archive)
        backup["restore"] = restore
        secrets = (*secrets, *source_secrets)
        if kind == "lab" and source is not archive:
            binds.append(
                {
                    "source": str(lab_directory(settings, source)),
                    "target": backups.NODE_SOURCE_PATH,
                    "read_only": True,
                }
            )
    return backup, binds, (passphrase, *secrets)


# pgBackRest's labels: a full backup's, or a differential or incremental one's.
_LABEL = re.compile(r"\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?")


def _restore(
    settings: dict[str, Any], kind: str, source: Archive, plan: dict[str, Any], own: Archive
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What a restore reads: the source's stanza (its own for a restore in place), where
    it is, its passphrase, the backup and the point."""
    if not _LABEL.fullmatch(plan["backup"] or ""):
        raise ValueError(f"not a pgBackRest backup label: {plan['backup']!r}")
    where, secrets = repository(settings, kind)
    if kind == "lab" and source is not own:
        where = {"type": "posix", "path": backups.NODE_SOURCE_PATH}
    passphrase = backups.passphrase(source, settings)
    point = plan.get("point_in_time")
    return {
        "stanza": source.uuid,
        "repository": where,
        "passphrase": passphrase,
        "backup": plan["backup"],
        # PostgreSQL's own timestamp syntax, in UTC.
        "point_in_time": point
        and datetime.fromisoformat(point).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00"),
        "immediate": bool(plan.get("immediate")),
    }, (passphrase, *secrets)


def restore_source(session: Session, operation: Operation) -> Instance | None:
    """The running instance a new one is restored from: its WAL is archived up to now
    first (its nodes join the run as the restore_source group)."""
    plan = (operation.params or {}).get("restore")
    if not plan or (operation.target, operation.action) != (Target.INSTANCE, Action.CREATE):
        return None
    source = session.scalars(select(Archive).where(Archive.uuid == plan["archive"])).first()
    instance = source.instance if source is not None else None
    if instance is None or instance.status != Status.ACTIVE:
        return None
    return instance


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
        elif operation.action == Action.RESTORE:  # the full backup it took first
            first = (operation.params or {}).get("backup_first")
            taken = next((b for b in archive.backups if b.uuid == first), None)
        backups.record_info(session, archive, account, taken)
    elif error is not None and operation.target == Target.BACKUP:
        # A backup that could not be taken: the archive may not be reachable either, so
        # the window stops at what was last confirmed.
        archive.archive_error = error["message"]
    plan = (operation.params or {}).get("restore")
    if operation.action == Action.RESTORE and plan and not error:
        point = datetime.fromisoformat(plan["point_in_time"])
        backups.restored_in_place(archive, point, utcnow())
    if (operation.target, operation.action) == (Target.INSTANCE, Action.DELETE) and not error:
        archive.deleted_at = utcnow()
    if (operation.target, operation.action) == (Target.BACKUP, Action.VERIFY):
        result = report.get("dbaas_verify") or {
            "ok": False,
            "error": (error or {}).get("message", "the verification did not report"),
        }
        backups.verified(archive, lifecycle.target_of(session, operation), result)
    restored = report.get("dbaas_restored")
    if restored is not None and not error:
        records_from_restored(session, archive.instance, restored)


def records_from_restored(session: Session, instance: Instance, restored: dict[str, Any]) -> None:
    """The instance's users and databases become what its restored data holds: the same
    names, verifiers and comments (so the old passwords log in), ACTIVE. A record the
    data does not have goes; one it has is updated; a new one gets a new uuid."""
    users = {
        u.name: u for u in session.scalars(select(User).where(User.instance_id == instance.id))
    }
    databases = {
        d.name: d
        for d in session.scalars(select(Database).where(Database.instance_id == instance.id))
    }
    found_users = {
        row["name"]: row
        for row in restored.get("users") or []
        if not rules.user_name_error(row["name"])
    }
    found_databases = {
        row["name"]: row
        for row in restored.get("databases") or []
        if row["owner"] in found_users and not rules.database_name_error(row["name"])
    }
    for name in set(databases) - set(found_databases):
        session.delete(databases.pop(name))
    session.flush()  # a role goes after the databases it owned
    for name in set(users) - set(found_users):
        session.delete(users.pop(name))
    for name, row in found_users.items():
        user = users.get(name) or User(instance_id=instance.id, name=name)
        user.password_verifier = row["verifier"]
        user.description = row["description"]
        user.status, user.error = Status.ACTIVE, None
        users[name] = user
        session.add(user)
    session.flush()
    for name, row in found_databases.items():
        database = databases.get(name) or Database(instance_id=instance.id, name=name)
        database.owner_id = users[row["owner"]].id
        database.description = row["description"]
        database.status, database.error = Status.ACTIVE, None
        session.add(database)
    skipped = {r["name"] for r in restored.get("databases") or []} - set(found_databases)
    if skipped:
        log.info(
            "instance=%s restored databases without a tenant owner: %s", instance.uuid, skipped
        )


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
        if operations.unfinished(session, archive.instance) or _busy(session, archive):
            continue
        if not backups.is_due(archive, now):
            recorded += _verify_if_due(session, settings, archive, now)
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


def _busy(session: Session, archive: Archive) -> bool:
    """A backup, removal or verification of the archive already waiting or running."""
    return (
        session.scalar(
            select(Operation.id).where(
                Operation.instance_id == archive.instance_id,
                Operation.target == Target.BACKUP,
                Operation.status.in_(OperationStatus.unfinished()),
            )
        )
        is not None
    )


def _verify_if_due(session: Session, settings: dict[str, Any], archive: Archive, now) -> int:
    if backups.repository_kind(settings) != "lab":
        return 0  # the check restores on this host, from the lab's repository
    backup = backups.verification_due(archive, settings, now)
    if backup is None:
        return 0
    operations.record(session, backup, Action.VERIFY)
    session.commit()
    log.info("instance=%s verification of backup %s recorded", archive.uuid, backup.uuid)
    return 1


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
