"""jobs.events on recorded ansible-runner event streams (tests/unit/event_streams)."""

import json
from pathlib import Path

import pytest

from jobs.events import REDACTED, RunTracker, redact

STREAMS = Path(__file__).parent / "event_streams"
SECRET = "s3cret-Value-42"


def replay(name: str, **kwargs) -> RunTracker:
    tracker = RunTracker(secrets=(SECRET,), **kwargs)
    for event in json.loads((STREAMS / f"{name}.json").read_text()):
        tracker.feed(event)
    return tracker


def test_success_stream():
    tracker = replay("success", expected_tasks=2)
    assert tracker.tasks_started == 2
    assert tracker.progress() == {"done": 1, "total": 2, "task": "Second task", "host": "localhost"}
    assert tracker.failure is None
    assert tracker.hosts == {"localhost": "ok"}
    assert tracker.ansible_pid


def test_failed_task_stream_takes_the_first_real_failure_and_redacts_it():
    tracker = replay("failed_task")
    assert tracker.failure == {
        "message": f"no image named no-such-image; password={REDACTED}",
        "task": "Reject the request",
        "host": "localhost",
    }
    assert tracker.hosts == {"localhost": "failed"}
    assert tracker.error_for("failed") == tracker.failure
    assert all(SECRET not in line for line in tracker.lines)


def test_unreachable_stream():
    tracker = replay("unreachable")
    assert tracker.failure["host"] == "node-a"
    assert tracker.failure["task"] == "Ping the node"
    assert tracker.failure["message"].startswith("host unreachable: ")
    assert tracker.hosts == {"node-a": "unreachable"}


def test_timeout_stream():
    tracker = replay("timeout")
    assert tracker.error_for("timeout") == {
        "message": "timed out during task 'Sleep for a long time'",
        "task": "Sleep for a long time",
        "host": None,
    }
    assert tracker.error_for("canceled")["message"] == "canceled"


def test_total_never_below_what_started():
    tracker = replay("success", expected_tasks=1)
    assert tracker.progress()["total"] == 2


def test_failure_without_a_task_event_uses_the_output():
    tracker = RunTracker(secrets=(SECRET,))
    error = tracker.error_for("failed", f"ERROR! the role 'x' was not found {SECRET}")
    assert error["message"].startswith("ansible-playbook failed: ERROR! the role 'x'")
    assert SECRET not in error["message"]


def test_no_log_output_is_not_shown():
    tracker = RunTracker()
    tracker.feed(
        {
            "event": "runner_on_failed",
            "event_data": {"host": "n1", "task": "Set the password", "res": {"censored": "x"}},
        }
    )
    assert "hidden (no_log)" in tracker.failure["message"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("password=hunter2 rest", f"password={REDACTED} rest"),
        ("PASSWORD 'hunter2'", f"PASSWORD {REDACTED}"),
        ('token: "abc def"', f"token: {REDACTED}"),
        ("role with SCRAM-SHA-256$4096:c2FsdA==$a:b here", f"role with {REDACTED} here"),
        ("nothing secret here", "nothing secret here"),
        (f"known {SECRET} value", f"known {REDACTED} value"),
    ],
)
def test_redact(text, expected):
    assert redact(text, (SECRET,)) == expected


def test_tasks_that_changed_something_are_listed():
    tracker = RunTracker()
    for changed in (True, False):
        tracker.feed(
            {
                "event": "runner_on_ok",
                "event_data": {
                    "host": "n1",
                    "task": f"task {changed}",
                    "res": {"changed": changed},
                },
            }
        )
    assert tracker.changed == ["n1: task True"]


def test_a_rescued_failure_gives_way_to_the_one_that_ended_the_host():
    tracker = replay("rescued")
    assert tracker.failure == {
        "message": "the step failed: it was told to",
        "task": "Fail with the reason",
        "host": "localhost",
    }
    assert tracker.error_for("failed") == tracker.failure
    assert tracker.hosts == {"localhost": "failed"}


def test_the_first_host_to_fail_is_the_one_shown():
    tracker = RunTracker()
    for host, message in (("a", "a first"), ("b", "b first"), ("a", "a last")):
        tracker.feed(
            {
                "event": "runner_on_failed",
                "event_data": {"host": host, "task": "t", "res": {"msg": message}},
            }
        )
    assert tracker.failure["host"] == "a"
    assert tracker.failure["message"] == "a last"


def test_after_a_success_progress_names_the_last_task_that_ran_not_a_skipped_one():
    tracker = RunTracker()
    stream = [
        ("playbook_on_task_start", {"task": "Create the role"}),
        ("runner_on_ok", {"task": "Create the role", "host": "pg1", "res": {"changed": True}}),
        ("runner_on_ok", {"task": "Create the role", "host": "pg2", "res": {}}),
        ("playbook_on_task_start", {"task": "Drop the role on the leader"}),
        ("runner_on_skipped", {"task": "Drop the role on the leader", "host": "pg1"}),
    ]
    for kind, data in stream:
        tracker.feed({"event": kind, "event_data": data})
    assert tracker.tasks_started == 2
    assert tracker.final_progress() == {
        "done": 1,
        "total": 1,
        "task": "Create the role",
        "host": "pg2",
    }


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        # pgBackRest: the cause is on the lines after its ERROR, the last ones only hint.
        (
            "WARN: something minor\n"
            "ERROR: [041]: unable to load info file '/r/backup.info':\n"
            "       FileOpenError: unable to open file '/r/backup.info': [13] Permission denied\n"
            "       HINT: has a stanza-create been performed?",
            "ERROR: [041]: unable to load info file '/r/backup.info': FileOpenError: unable to"
            " open file '/r/backup.info': [13] Permission denied"
            " HINT: has a stanza-create been performed? (exit 41)",
        ),
        ("psql: error: connection refused", "psql: error: connection refused (exit 41)"),
        ("starting\nno such table", "no such table (exit 41)"),
    ],
)
def test_a_commands_failure_is_told_from_its_error_line(stderr, expected):
    tracker = RunTracker()
    result = {"msg": "non-zero return code", "rc": 41, "stderr": stderr}
    tracker.feed(
        {"event": "runner_on_failed", "event_data": {"host": "n", "task": "t", "res": result}}
    )
    assert tracker.failure["message"] == expected
