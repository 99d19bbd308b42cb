"""Backups: an instance's archive (schedule, retention), its backups listed, taken on
demand and removed; the project's backups, those of deleted instances included."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.services import operations
from app.services.children import refuse_if_instance_deleted
from app.services.errors import Conflict, Invalid, NotFound
from app.services.references import canonical_uuid, parse_instance
from core import backups, lifecycle
from core.models import Action, Archive, Backup, BackupKind, BackupSchedule, Instance, Status


def policy_for_new_instance(
    instance: Instance, policy: dict[str, Any] | None, settings: dict[str, Any]
) -> Archive | None:
    """The archive a new instance gets (none where the service has no repository)."""
    policy = policy or {}
    schedule = policy.get("schedule", settings["BACKUP_SCHEDULE"])
    if backups.repository_kind(settings) is None:
        if policy.get("schedule", BackupSchedule.NONE) != BackupSchedule.NONE:
            raise Invalid("backup", backups.no_repository_reason(settings))
        return None
    retention = policy.get("retention_days", settings["BACKUP_RETENTION_DAYS"])
    return backups.new_archive(instance, settings, schedule, retention)


def change_policy(instance: Instance, policy: dict[str, Any], settings: dict[str, Any]) -> None:
    """Schedule and retention: records only (each backup run configures pgBackRest
    anew, and its expire applies the retention)."""
    archive = instance.archive
    if archive is None:
        if policy.get("schedule", BackupSchedule.NONE) != BackupSchedule.NONE:
            raise Invalid("backup", backups.no_repository_reason(settings))
        return
    for field, value in policy.items():
        setattr(archive, field, value)


def of_instance(instance: Instance) -> Select:
    return select(Backup).join(Archive).where(Archive.instance_id == instance.id)


def of_project(project_id: str, instance_uuid: str | None = None) -> Select:
    statement = select(Backup).join(Archive).where(Archive.project_id == project_id)
    if instance_uuid is not None:
        uuid = canonical_uuid(instance_uuid)
        if uuid is None:
            raise Invalid("instance", "Not an instance uuid.")
        statement = statement.where(Archive.uuid == uuid)
    return statement


def get(session: Session, instance: Instance, uuid: str) -> Backup:
    backup = session.scalars(
        of_instance(instance).where(Backup.uuid == canonical_uuid(uuid))
    ).first()
    if backup is None:
        raise NotFound("No such backup.")
    return backup


def create_backup(
    session: Session, instance: Instance, data: dict[str, Any], settings: dict[str, Any]
) -> tuple[Backup, Any]:
    refuse_if_instance_deleted(session, instance)
    archive = instance.archive
    if archive is None:
        raise Conflict(backups.no_repository_reason(settings))
    if instance.status == Status.ERROR:
        raise Conflict("The instance is in ERROR: repair it (PUT) before backing it up.")
    kind = data.get("kind", BackupKind.FULL)
    if kind != BackupKind.FULL and backups.newest_full(archive) is None:
        raise Invalid("kind", f"A {kind} backup needs a full one first; none is taken yet.")
    backup = Backup(archive=archive, kind=kind)
    return operations.created(session, backup, None)


def new_backup(session: Session, archive: Archive) -> Backup:
    """The full backup an in-place restore takes first (its operation takes it)."""
    backup = Backup(archive=archive, kind=BackupKind.FULL)
    session.add(backup)
    session.flush()
    return backup


def delete_backup(session: Session, backup: Backup) -> Any:
    problem = backups.deletion_problem(backup)
    if problem is not None:
        raise Conflict(problem)
    if backup.label is None:  # never taken (its run failed): nothing in the repository
        session.delete(backup)
        session.commit()
        return None
    operations.refuse_if_busy(session, backup)
    operation = operations.record(session, backup, Action.DELETE)
    lifecycle.change_asked(backup)
    session.commit()
    return operation


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_problem(archive: Archive, point) -> str | None:
    window = backups.window(archive)
    if window is None:
        return "The instance has no backup yet: there is nothing to restore."
    if point is None:
        return None
    if not window["earliest"] <= point <= window["latest"]:
        return (
            f"{_stamp(point)} is outside the recovery window: "
            f"{_stamp(window['earliest'])} to {_stamp(window['latest'])}."
        )
    stretch = backups.abandoned_range(archive, point)
    if stretch is not None:
        return (
            f"{_stamp(point)} is in a stretch of history an in-place restore replaced "
            f"({stretch['from']} to {stretch['to']}): restore one of the backups taken "
            "then (restore_from.backup) instead."
        )
    if backups.base_for(archive, point) is None:
        return f"No backup of the instance's current history ends before {_stamp(point)}."
    return None


def restore_plan(archive: Archive, point=None, backup: Backup | None = None) -> dict[str, Any]:
    """What a restore asks of the worker: the archive, the backup it starts from, and
    where recovery stops: that backup's end (``immediate``, on the backup's own
    history), a point in time, or (neither) the latest archived moment."""
    if backup is not None:
        return {"archive": archive.uuid, "backup": backup.label, "immediate": True}
    base = backups.base_for(archive, point)
    return {
        "archive": archive.uuid,
        "backup": base.label,
        "point_in_time": None if point is None else point.isoformat(),
    }


def restore_source(
    session: Session, project_id: str, asked: dict[str, Any], settings: dict[str, Any]
) -> tuple[Archive, dict[str, Any]]:
    """The archive a new instance is restored from (a deleted instance's too, within its
    retention), and the restore's plan; 422 naming the field otherwise."""
    uuid = parse_instance(asked["instance"])
    archive = session.scalars(
        select(Archive).where(Archive.project_id == project_id, Archive.uuid == uuid)
    ).first()
    if archive is None or backups.repository_kind(settings) is None:
        raise Invalid("restore_from.instance", "No such instance, or its backups are gone.")
    if "backup" in asked:
        backup = session.scalars(
            select(Backup).where(
                Backup.archive_id == archive.id,
                Backup.uuid == canonical_uuid(asked["backup"]),
                Backup.status == Status.ACTIVE,
            )
        ).first()
        if backup is None:
            raise Invalid("restore_from.backup", "No such backup of that instance.")
        return archive, restore_plan(archive, backup=backup)
    point = asked.get("point_in_time")
    problem = window_problem(archive, point)
    if problem is not None:
        field = "restore_from.point_in_time" if point is not None else "restore_from.instance"
        raise Invalid(field, problem, recovery_window=_window_body(archive))
    return archive, restore_plan(archive, point)


def _window_body(archive: Archive) -> dict[str, str] | None:
    window = backups.window(archive)
    return window and {key: _stamp(value) for key, value in window.items()}
