"""The one place where a job's progress becomes state: ansible-runner events and run
outcomes are mapped here to operation progress and status, resource status and
error, and node status. No status is set anywhere else."""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Instance,
    Node,
    Operation,
    OperationStatus,
    Status,
    Target,
    utcnow,
)
from app.services import operations

log = logging.getLogger(__name__)

# The model of each kind of target: the inverse of operations.TARGETS, kept once.
MODELS = {target: model for model, target in operations.TARGETS.items()}
MESSAGE_MAX = 2000
REDACTED = "********"
# Secret-looking assignments in free text, whatever the job knew to redact.
_SECRET_PATTERNS = (
    # password=x, token: "x", PASSWORD 'x' (a quoted literal after a space)
    re.compile(
        r"(?i)(password|passwd|secret|token)(\s*[=:]\s*|\s+(?=['\"]))('[^']*'|\"[^\"]*\"|\S+)"
    ),
    re.compile(r"SCRAM-SHA-256\$[^\s'\"]+"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PATTERNS[1].sub(REDACTED, text)
    return _SECRET_PATTERNS[0].sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)


def _message_of(result: dict[str, Any]) -> str:
    if result.get("censored"):
        return "the task failed; its output is hidden (no_log)"
    output = (result.get("stderr") or result.get("stdout") or "").strip()
    if result.get("msg") == "non-zero return code" and output:
        # A command's own words say more than Ansible's.
        return f"{output.splitlines()[-1]} (exit {result.get('rc')})"
    for key in ("msg", "stderr", "reason", "stdout", "module_stderr", "module_stdout"):
        value = result.get(key)
        if value:
            return value if isinstance(value, str) else str(value)
    return "the task failed"


@dataclass
class RunTracker:
    """Folds a run's events into progress, first failure and per-host outcome.
    Pure: no database, so it is tested on recorded event streams.

    The failure shown is the first failed host's last failure: a failure a rescue
    caught gives way to the one that ended the host (the rescue's, with the reason)."""

    secrets: tuple[str, ...] = ()
    expected_tasks: int | None = None
    tasks_started: int = 0
    task: str | None = None
    host: str | None = None
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)  # per host, in order
    hosts: dict[str, str] = field(default_factory=dict)
    ansible_pid: int | None = None
    lines: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # "host: task" that changed something

    def feed(self, event: dict[str, Any]) -> bool:
        """Take one event; True when the progress shown to users changed."""
        if self.ansible_pid is None and event.get("pid"):
            self.ansible_pid = event["pid"]
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            self.tasks_started += 1
            self.task = data.get("task") or data.get("name")
            self.host = None
            self.lines.append(f"TASK {self.task}")
            return True
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                return False
            unreachable = kind == "runner_on_unreachable"
            message = _message_of(data.get("res") or {})
            if unreachable:
                message = f"host unreachable: {message}"
            failure = {
                "message": redact(message, self.secrets)[:MESSAGE_MAX],
                "task": data.get("task") or self.task,
                "host": data.get("host"),
            }
            self.lines.append(f"FAILED {failure['host']}: {failure['message']}")
            self.failures[data.get("host")] = failure  # a host keeps its place in order
            self.hosts[data.get("host")] = "unreachable" if unreachable else "failed"
            return True
        if kind in ("runner_on_ok", "runner_on_skipped"):
            self.host = data.get("host")
            if (data.get("res") or {}).get("changed"):
                self.changed.append(f"{self.host}: {data.get('task') or self.task}")
            return False
        if kind == "playbook_on_stats":
            for host in _hosts_in(data):
                if data.get("dark", {}).get(host):
                    self.hosts[host] = "unreachable"
                elif data.get("failures", {}).get(host):
                    self.hosts[host] = "failed"
                else:
                    self.hosts.setdefault(host, "ok")
            return False
        return False

    @property
    def failure(self) -> dict[str, Any] | None:
        return next(iter(self.failures.values()), None)

    def progress(self) -> dict[str, Any]:
        done = max(self.tasks_started - 1, 0)
        total = self.expected_tasks
        if total is not None:
            total = max(total, self.tasks_started)
        return {"done": done, "total": total, "task": self.task, "host": self.host}

    def error_for(self, status: str, stdout_tail: str = "") -> dict[str, Any]:
        """The error a failed run shows: its first failed task, else why it stopped."""
        if status == "timeout":
            return {
                "message": f"timed out during task {self.task!r}",
                "task": self.task,
                "host": self.host,
            }
        if status == "canceled":
            return {"message": "canceled", "task": self.task, "host": self.host}
        failure = self.failure
        if failure is not None:
            return failure
        detail = redact(stdout_tail, self.secrets)[:MESSAGE_MAX] or "no output"
        return {"message": f"ansible-playbook failed: {detail}", "task": self.task, "host": None}


def _hosts_in(stats: dict[str, Any]) -> set[str]:
    hosts: set[str] = set()
    for key in ("ok", "changed", "failures", "dark", "skipped", "processed", "rescued"):
        hosts.update((stats.get(key) or {}).keys())
    return hosts


# --- state in the database ---------------------------------------------------------


def target_of(session: Session, operation: Operation):
    model = MODELS[Target(operation.target)]
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
    if resource is not None and operation.target == Target.INSTANCE and not _is_restart(operation):
        resource.status = Status.IN_PROGRESS
    _log(operation, "started", attempt=operation.attempts)
    session.commit()


def progress_changed(session: Session, operation: Operation, tracker: RunTracker) -> None:
    operation.progress = tracker.progress()
    operation.heartbeat_at = utcnow()
    if tracker.ansible_pid and operation.runner_pid != tracker.ansible_pid:
        operation.runner_pid = tracker.ansible_pid
    session.commit()


def run_finished(
    session: Session, operation: Operation, tracker: RunTracker, status: str, stdout_tail: str
) -> None:
    """Map a finished run (successful, failed, timeout, canceled) to every status."""
    _nodes_from(session, operation, tracker.hosts)
    if status != "successful" and operation.target == Target.INSTANCE:
        _release_unbuilt_nodes(session, operation)
    if status == "successful":
        done = tracker.tasks_started
        operation.progress = dict(tracker.progress(), done=done, total=done)
        operation_succeeded(session, operation)
    else:
        operation_failed(session, operation, tracker.error_for(status, stdout_tail))


def _release_unbuilt_nodes(session: Session, operation: Operation) -> None:
    """Nodes no playbook ever reached have no machine: give their addresses back."""
    unbuilt = session.scalars(
        select(Node).where(Node.instance_id == operation.instance_id, Node.status == Status.NEW)
    )
    for node in unbuilt:
        session.delete(node)


def _nodes_from(session: Session, operation: Operation, hosts: dict[str, str]) -> None:
    if not hosts:
        return
    nodes = session.scalars(
        select(Node).where(Node.instance_id == operation.instance_id, Node.name.in_(hosts))
    )
    for node in nodes:
        node.status = Status.ACTIVE if hosts[node.name] == "ok" else Status.ERROR
        node.error = None if hosts[node.name] == "ok" else {"message": hosts[node.name]}


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
    elif resource is not None:
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
    if resource is not None:
        if operation.action == Action.DELETE:
            session.delete(resource)
        else:
            if operation.target == Target.INSTANCE:
                _forget_removed_nodes(resource)
            resource.status = Status.ACTIVE
            resource.error = None
    session.commit()


def _is_restart(operation: Operation) -> bool:
    return operation.target == Target.INSTANCE and operation.action == Action.START


def _forget_removed_nodes(instance) -> None:
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
