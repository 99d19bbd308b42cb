"""The RQ job: load an operation by id, wait for its turn, run its playbook, record
the outcome. The runner knows Ansible, the event mapper knows statuses."""

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import config, lifecycle
from core.config import DataDir
from core.database import writing_session
from core.models import Action, Instance, Operation, OperationStatus, Target, utcnow
from core.queue import JobQueue
from jobs import backups, events, inputs, nodes, providers, scheduling
from jobs.providers import PoolExhausted
from jobs.runner import run_playbook

log = logging.getLogger(__name__)

# One playbook per operation, from the configured playbooks directory.
PLAYBOOKS: dict[tuple[str, str], str] = {
    (Target.INSTANCE, Action.CREATE): "instance_create.yml",
    (Target.INSTANCE, Action.UPDATE): "instance_update.yml",
    (Target.INSTANCE, Action.DELETE): "instance_delete.yml",
    (Target.INSTANCE, Action.START): "nodes_start.yml",
    (Target.INSTANCE, Action.RESTORE): "instance_restore.yml",
    (Target.INSTANCE, Action.SWITCHOVER): "instance_switchover.yml",
    (Target.INSTANCE, Action.UPGRADE): "instance_upgrade.yml",
    (Target.USER, Action.CREATE): "user_create.yml",
    (Target.USER, Action.UPDATE): "user_update.yml",
    (Target.USER, Action.DELETE): "user_delete.yml",
    (Target.DATABASE, Action.CREATE): "database_create.yml",
    (Target.DATABASE, Action.DELETE): "database_delete.yml",
    (Target.BACKUP, Action.CREATE): "backup_create.yml",
    (Target.BACKUP, Action.DELETE): "backup_delete.yml",
    (Target.BACKUP, Action.VERIFY): "backup_verify.yml",
}


# A major upgrade that failed before its new cluster ran is undone by this one.
MAJOR_UPGRADE = "instance_major_upgrade.yml"
MAJOR_UPGRADE_UNDO = "instance_major_upgrade_undo.yml"


def playbook_for(operation: Operation) -> str:
    """The playbook an operation runs. A PUT that only grows the disk runs the online
    disk grow alone: nothing else of the cluster needs converging."""
    if lifecycle.is_major_upgrade(operation):
        return MAJOR_UPGRADE
    if (operation.target, operation.action) == (Target.INSTANCE, Action.UPDATE):
        changes = (operation.params or {}).get("changes") or {}
        if set(changes) == {"disk_size"}:
            return "disk_grow.yml"
    return PLAYBOOKS[(operation.target, operation.action)]


def run_operation(operation_uuid: str) -> str:
    settings = config.load()
    # A fresh engine per job: the worker forks a process per job, and pooled
    # connections must not cross a fork.
    with writing_session(settings["DATABASE_URL"]) as session:
        return _run(session, settings, operation_uuid)


def run_dir(settings: dict[str, Any], operation_uuid: str) -> Path:
    return DataDir.of(settings).runs / operation_uuid


def _claim(session: Session, operation_uuid: str) -> tuple[Operation | None, str]:
    operation = session.scalars(select(Operation).where(Operation.uuid == operation_uuid)).first()
    if operation is None:
        return None, "gone"
    if operation.status != OperationStatus.PENDING:
        # Delivered twice (outbox relay and API raced): the first delivery owns it.
        session.rollback()
        return None, f"already {operation.status}"
    instance = scheduling.lock_instance(session, operation.instance_id)
    reason = scheduling.blocker(session, operation, instance)
    if reason is not None:
        lifecycle.operation_parked(session, operation, reason)
        return None, "waiting"
    lifecycle.operation_started(session, operation)
    return operation, "started"


def _run(session: Session, settings: dict[str, Any], operation_uuid: str) -> str:
    operation, outcome = _claim(session, operation_uuid)
    if operation is None:
        return outcome
    instance = session.get(Instance, operation.instance_id)
    try:
        provider = providers.load(settings)  # a static hosts file is read once, here
        if operation.target == Target.INSTANCE and operation.action != Action.DELETE:
            nodes.allocate(session, instance, provider)
    except PoolExhausted as exc:
        lifecycle.operation_failed(
            session, operation, {"message": str(exc), "task": None, "host": None}
        )
        return "failed"
    playbook = Path(settings["PLAYBOOKS_DIR"]) / playbook_for(operation)
    variables, secrets = inputs.extravars(session, operation, instance, provider)
    undo_variables = None
    if lifecycle.is_major_upgrade(operation):
        undo_variables, _ = inputs.extravars(session, operation, instance, provider, undo=True)
    inputs.pin_host_keys(instance, provider)
    host_inventory = inputs.inventory(
        instance, provider, backups.restore_source(session, operation)
    )
    directory = run_dir(settings, operation.uuid)
    tracker = events.RunTracker(secrets=secrets, expected_tasks=_expected_tasks(settings, playbook))
    session.commit()  # no transaction stays open while Ansible runs

    log_file = _open_log(directory)
    heartbeat = _Heartbeat(session.get_bind(), operation.id, settings["HEARTBEAT_INTERVAL"])

    def on_event(event: dict[str, Any]) -> None:
        before = len(tracker.lines)
        if tracker.feed(event):
            events.progress_changed(session, operation, tracker)
        for line in tracker.lines[before:]:
            log_file.write(line + "\n")
            log_file.flush()

    def run(directory: Path, playbook: Path, variables: dict[str, Any]):
        return run_playbook(
            directory,
            playbook,
            host_inventory,
            variables,
            roles_dir=Path(settings["ROLES_DIR"]),
            timeout=settings[f"RUN_TIMEOUT_{_timeout_kind(operation.action)}"],
            on_event=on_event,
            should_cancel=heartbeat.cancel_requested.is_set,
        )

    heartbeat.start()
    undo = None
    try:
        result = run(directory, playbook, variables)
        if undo_variables is not None and _undo_needed(result.status, tracker):
            log_file.write("--- the upgrade failed: undoing it ---\n")
            first, tracker = tracker, events.RunTracker(secrets=secrets)
            undo = run(directory / "undo", playbook.with_name(MAJOR_UPGRADE_UNDO), undo_variables)
            undo_tracker, tracker = tracker, first
    finally:
        heartbeat.stop()
        log_file.close()
    instance_id = operation.instance_id
    if lifecycle.is_major_upgrade(operation) and tracker.report.get("dbaas_upgraded"):
        lifecycle.upgraded(session, operation)  # whatever failed after, it runs the new major
    events.run_finished(session, operation, tracker, result.status, result.stdout_tail)
    if undo is not None:
        undone = undo.status == "successful"
        error = None if undone else undo_tracker.error_for(undo.status, undo.stdout_tail)
        lifecycle.upgrade_undone(session, operation, error)
    if result.status == "successful":
        _remember_expected_tasks(settings, playbook, tracker.tasks_started)
    scheduling.wake(session, JobQueue(settings["REDIS_URL"], settings["QUEUE_NAME"]), instance_id)
    return result.status


def _undo_needed(status: str, tracker: events.RunTracker) -> bool:
    """A failed major upgrade is undone unless a delete stopped it (the machines go
    anyway) or its new cluster already ran (and may have taken writes)."""
    return status not in ("successful", "canceled") and not tracker.report.get("dbaas_upgraded")


def _timeout_kind(action: str) -> str:
    return {
        "create": "CREATE",
        "update": "UPDATE",
        "delete": "DELETE",
        "start": "CREATE",
        "restore": "CREATE",
        "verify": "CREATE",
        "switchover": "UPDATE",
        "upgrade": "UPDATE",
    }[action]


def _open_log(directory: Path):
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open(directory / "run.log", "a", encoding="utf-8")  # noqa: SIM115 (closed in _run)


def _expected_file(settings: dict[str, Any]) -> Path:
    return DataDir.of(settings).runs / "expected-tasks.json"


def _expected_tasks(settings: dict[str, Any], playbook: Path) -> int | None:
    """Tasks the last successful run of this playbook started: the progress total."""
    try:
        return json.loads(_expected_file(settings).read_text()).get(playbook.name)
    except (OSError, ValueError):
        return None


def _remember_expected_tasks(settings: dict[str, Any], playbook: Path, tasks: int) -> None:
    path = _expected_file(settings)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[playbook.name] = tasks
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(known))
    temporary.replace(path)


class _Heartbeat:
    """Writes the operation's heartbeat while Ansible runs, and notices a cancel."""

    def __init__(self, bind, operation_id: int, interval: float) -> None:
        self.bind = bind
        self.operation_id = operation_id
        self.interval = interval
        self.cancel_requested = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with Session(self.bind) as session:
                    session.execute(
                        update(Operation)
                        .where(Operation.id == self.operation_id)
                        .values(heartbeat_at=utcnow())
                    )
                    cancel = session.scalar(
                        select(Operation.cancel_requested).where(Operation.id == self.operation_id)
                    )
                    session.commit()
                if cancel:
                    self.cancel_requested.set()
            except Exception:  # a missed beat is retried at the next interval
                log.exception("heartbeat of operation id %s failed", self.operation_id)
