"""Every status transition, in one place: instances, nodes, users, databases and
operations. The API asks for changes here (``change_asked``), the worker reports what
its runs did (``operation_started`` ... ``operation_succeeded``), the reconcile what
it saw (``nodes_stopped``). Nothing else assigns a status."""

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import operations
from core.models import (
    Action,
    Archive,
    Backup,
    Instance,
    Node,
    Operation,
    OperationStatus,
    Status,
    Target,
    utcnow,
)

log = logging.getLogger("jobs.events")  # the log lines' name since the first release

# The model of each kind of target: the inverse of operations.TARGETS, kept once.
MODELS = {target: model for model, target in operations.TARGETS.items()}


def change_asked(resource) -> None:
    """An update or a delete the API accepted: the record shows it under way."""
    resource.status = Status.IN_PROGRESS
    resource.error = None


def operation_cancelled(operation: Operation, reason: str) -> None:
    """An operation made moot before it finished (its record is being deleted)."""
    operation.status = OperationStatus.FAILED
    operation.error = {"message": reason, "task": None, "host": None}
    operation.finished_at = utcnow()


def cancel_asked(operation: Operation) -> None:
    """A running operation made moot: its job stops its playbook (ansible-runner's
    cancel, noticed at the next heartbeat) and reports it with run_cancelled."""
    operation.cancel_requested = True


def run_cancelled(session: Session, operation: Operation, reason: str) -> None:
    """The job stopped the run as asked. The record keeps its status: what made the
    run moot (a delete) is the next change of it."""
    operation_cancelled(operation, reason)
    operation.runner_pid = None
    _log(operation, "cancelled", reason=reason)
    session.commit()


def nodes_stopped(nodes: list[Node]) -> None:
    """The reconcile found these machines stopped; a start operation follows."""
    for node in nodes:
        node.status = Status.ERROR
        node.error = {"message": "the machine stopped; the worker is starting it again"}


def target_of(session: Session, operation: Operation):
    model = MODELS[Target(operation.target)]
    if model is Backup:  # a backup belongs to its instance's archive
        return session.scalars(
            select(Backup)
            .join(Archive)
            .where(
                Archive.instance_id == operation.instance_id, Backup.uuid == operation.target_uuid
            )
        ).first()
    # Inside the operation's instance: a uuid alone names nothing for certain.
    instance_id = model.id if model is Instance else model.instance_id
    return session.scalars(
        select(model).where(
            instance_id == operation.instance_id, model.uuid == operation.target_uuid
        )
    ).first()


def operation_parked(session: Session, operation: Operation, reason: str) -> None:
    operation.parked = True
    operation.enqueued_at = None
    operation.progress = {"done": 0, "total": None, "task": reason, "host": None}
    _log(operation, "waiting", reason=reason)
    session.commit()


def operation_started(session: Session, operation: Operation) -> None:
    operation.status = OperationStatus.RUNNING
    operation.parked = False
    operation.started_at = utcnow()
    operation.heartbeat_at = operation.started_at
    operation.attempts += 1
    operation.progress = {"done": 0, "total": None, "task": None, "host": None}
    resource = target_of(session, operation)
    # An instance shows its provisioning; users and databases go NEW -> ACTIVE directly.
    # The reconcile's restart of stopped nodes is not a change asked for: the instance
    # keeps serving (Patroni failed over) and the nodes show the trouble.
    if resource is not None and _shows_progress(operation):
        resource.status = Status.IN_PROGRESS
    _log(operation, "started", attempt=operation.attempts)
    session.commit()


def release_unbuilt_nodes(session: Session, operation: Operation) -> None:
    """Nodes no playbook ever reached have no machine: give their addresses back."""
    unbuilt = session.scalars(
        select(Node).where(Node.instance_id == operation.instance_id, Node.status == Status.NEW)
    )
    for node in unbuilt:
        session.delete(node)


def nodes_reached(session: Session, operation: Operation, hosts: dict[str, str]) -> None:
    if not hosts:
        return
    nodes = session.scalars(
        select(Node).where(Node.instance_id == operation.instance_id, Node.name.in_(hosts))
    )
    for node in nodes:
        node.status = Status.ACTIVE if hosts[node.name] == "ok" else Status.ERROR
        node.error = None if hosts[node.name] == "ok" else {"message": hosts[node.name]}


# Operations that leave their resource as it was, serving, whatever their outcome (a
# major upgrade excepted: the cluster stops for it).
SERVING_THROUGHOUT = (Action.VERIFY, Action.SWITCHOVER, Action.UPGRADE)


def is_major_upgrade(operation: Operation) -> bool:
    return operation.action == Action.UPGRADE and (operation.params or {}).get("kind") == "major"


def _keeps_serving(operation: Operation) -> bool:
    return operation.action in SERVING_THROUGHOUT and not is_major_upgrade(operation)


def upgraded(session: Session, operation: Operation) -> None:
    """The cluster runs the major upgrade's new version (its run said so)."""
    instance = target_of(session, operation)
    if instance is not None:
        instance.version_id = operation.params["version_id"]


def upgrade_undone(session: Session, operation: Operation, undo_error: dict | None) -> None:
    """After a failed major upgrade (operation_failed recorded why), its undo's outcome:
    the instance back on its old version and ACTIVE, or ERROR saying both failures."""
    instance = target_of(session, operation)
    cause = (operation.error or {}).get("message", "")
    if undo_error is None:
        operation.error = {
            **(operation.error or {}),
            "message": f"{cause} The upgrade was undone: the instance runs "
            f"{operation.params.get('from_version')} as before.",
        }
        if instance is not None:
            instance.status = Status.ACTIVE
            instance.error = None
    elif instance is not None:
        instance.error = {
            **undo_error,
            "message": f"The upgrade failed ({cause}) and so did its undo: "
            f"{undo_error.get('message')}",
        }
    _log(operation, "undone" if undo_error is None else "undo failed")
    session.commit()


def operation_failed(session: Session, operation: Operation, error: dict[str, Any]) -> None:
    operation.status = OperationStatus.FAILED
    operation.error = error
    operation.finished_at = utcnow()
    operation.runner_pid = None
    resource = target_of(session, operation)
    if resource is not None and _is_restart(operation):
        for node in resource.nodes:
            if node.status != Status.ACTIVE:
                node.status = Status.ERROR
                node.error = error
    elif resource is not None and not _keeps_serving(operation):
        # A switchover or a minor update that failed leaves the cluster serving (the
        # update puts a node it stopped back first); asking again retries it.
        resource.status = Status.ERROR
        resource.error = error
    _log(operation, "failed", error=error.get("message"), task=error.get("task"))
    session.commit()


def operation_succeeded(session: Session, operation: Operation) -> None:
    operation.status = OperationStatus.SUCCEEDED
    operation.finished_at = utcnow()
    operation.runner_pid = None
    _log(operation, "succeeded")
    resource = target_of(session, operation)
    if resource is not None and operation.action != Action.VERIFY:
        if operation.action == Action.DELETE:
            session.delete(resource)
        else:
            if operation.target == Target.INSTANCE:
                forget_removed_nodes(resource)
            if is_major_upgrade(operation):
                upgraded(session, operation)
            resource.status = Status.ACTIVE
            resource.error = None
    session.commit()


def _shows_progress(operation: Operation) -> bool:
    """Instances show their provisioning and backups their taking; users and databases
    go NEW -> ACTIVE directly. Neither a restart of stopped nodes, a switchover, a
    minor update nor a verification changes what the instance is: it keeps serving,
    the backup stays what it was."""
    if operation.action == Action.START or _keeps_serving(operation):
        return False
    return operation.target == Target.INSTANCE or (
        operation.target == Target.BACKUP and operation.action == Action.CREATE
    )


def _is_restart(operation: Operation) -> bool:
    return operation.target == Target.INSTANCE and operation.action == Action.START


def forget_removed_nodes(instance) -> None:
    """Nodes beyond nodes_number were removed by the run: their addresses are free."""
    for node in [n for n in instance.nodes if n.index > instance.nodes_number]:
        instance.nodes.remove(node)


def operation_requeued(session: Session, operation: Operation, reason: str) -> None:
    operation.status = OperationStatus.PENDING
    operation.enqueued_at = None
    operation.parked = False
    operation.runner_pid = None
    operation.heartbeat_at = None
    operation.progress = {"done": 0, "total": None, "task": f"retrying: {reason}", "host": None}
    _log(operation, "requeued", reason=reason, attempts=operation.attempts)
    session.commit()


def _log(operation: Operation, event: str, **fields: Any) -> None:
    """One logfmt line per state change. Called inside the open transaction: the
    instance's uuid is read there, never by opening a new one."""
    extra = " ".join(f"{key}={value!r}" for key, value in fields.items())
    log.info(
        "operation=%s instance=%s target=%s target_uuid=%s action=%s event=%s %s",
        operation.uuid,
        operation.instance.uuid,
        operation.target,
        operation.target_uuid,
        operation.action,
        event,
        extra,
    )
