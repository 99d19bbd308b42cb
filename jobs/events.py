"""ansible-runner's events read: a run's progress, the hosts it reached, its failure
told in one line, secrets redacted; the outcome handed to core.lifecycle, which sets
the statuses."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core import lifecycle
from core.models import (
    Operation,
    Target,
    utcnow,
)
from jobs import backups

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
# A command's error line: "ERROR: [041]: ...", "psql: error: ...", "FATAL: ...".
_ERROR_LINE = re.compile(r"(?i)^(\S+: )?(error|fatal)\b")


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
        # A command's own words say more than Ansible's: from its first error line on
        # (pgBackRest gives the cause there and hints after it), else its last line.
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        first = next((n for n, line in enumerate(lines) if _ERROR_LINE.match(line)), -1)
        return f"{' '.join(lines[first:])} (exit {result.get('rc')})"
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
    # Tasks that did something on some host (not skipped on all), and the last of them.
    tasks_ran: int = 0
    last_ran: tuple[str | None, str | None] = (None, None)  # (task, host)
    task_ran: bool = False
    task: str | None = None
    host: str | None = None
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)  # per host, in order
    hosts: dict[str, str] = field(default_factory=dict)
    ansible_pid: int | None = None
    lines: list[str] = field(default_factory=list)
    # What the playbook reported with set_stats (per_host: false), e.g. a backup's account.
    report: dict[str, Any] = field(default_factory=dict)
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
            self.task_ran = False
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
            if kind == "runner_on_ok":
                if not self.task_ran:
                    self.tasks_ran += 1
                    self.task_ran = True
                self.last_ran = (data.get("task") or self.task, self.host)
            if (data.get("res") or {}).get("changed"):
                self.changed.append(f"{self.host}: {data.get('task') or self.task}")
            return False
        if kind == "playbook_on_stats":
            self.report = data.get("artifact_data") or {}
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

    def final_progress(self) -> dict[str, Any]:
        """After a success: how many tasks ran, and the last one (not a skipped one)."""
        task, host = self.last_ran
        return {"done": self.tasks_ran, "total": self.tasks_ran, "task": task, "host": host}

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


# --- a run's outcome, handed to the lifecycle -----------------------------------


def progress_changed(session: Session, operation: Operation, tracker: RunTracker) -> None:
    operation.progress = tracker.progress()
    operation.heartbeat_at = utcnow()
    if tracker.ansible_pid and operation.runner_pid != tracker.ansible_pid:
        operation.runner_pid = tracker.ansible_pid
    session.commit()


CANCELLED_FOR_DELETE = "Cancelled: its record is being deleted."


def run_finished(
    session: Session, operation: Operation, tracker: RunTracker, status: str, stdout_tail: str
) -> None:
    """Map a finished run (successful, failed, timeout, canceled) to every status."""
    error = None if status == "successful" else tracker.error_for(status, stdout_tail)
    lifecycle.nodes_reached(session, operation, tracker.hosts)
    if status == "canceled":
        # Stopped for a delete, which removes every node, built or half-built: none
        # is given back here (a half-made machine would be left behind unknown).
        backups.run_reported(session, operation, tracker.report, error)
        lifecycle.run_cancelled(session, operation, CANCELLED_FOR_DELETE)
        return
    backups.run_reported(session, operation, tracker.report, error)
    if error is not None and operation.target == Target.INSTANCE:
        lifecycle.release_unbuilt_nodes(session, operation)
    if error is None:
        operation.progress = tracker.final_progress()
        lifecycle.operation_succeeded(session, operation)
    else:
        lifecycle.operation_failed(session, operation, error)
