"""Real ansible-runner runs of small playbooks against localhost (connection local):
success, a failing task, an unreachable host, a timeout, a cancel."""

import json
import stat
import threading
import time
from pathlib import Path

import pytest

from core.queue import JobQueue  # noqa: F401  (the worker's import path stays importable)
from jobs import inputs
from jobs.events import RunTracker
from jobs.runner import run_playbook
from tests.support.services import free_port

PLAYBOOKS = Path(__file__).parent / "playbooks" / "runner"
SECRET = "s3cret-Value-42"


def control_only(nodes=None):
    inventory = {
        "all": {
            "children": {
                inputs.CONTROL_GROUP: {"hosts": {"localhost": {"ansible_connection": "local"}}},
                inputs.NODES_GROUP: {"hosts": nodes or {}},
            }
        }
    }
    inventory["all"]["children"][inputs.CONTROL_GROUP]["hosts"]["localhost"][
        "ansible_python_interpreter"
    ] = __import__("sys").executable
    return inventory


def run(tmp_path, name, extravars=None, nodes=None, **kwargs):
    tracker = RunTracker(secrets=(SECRET,))
    outcome = run_playbook(
        tmp_path / "run",
        PLAYBOOKS / name,
        control_only(nodes),
        extravars or {},
        roles_dir=tmp_path,
        timeout=kwargs.pop("timeout", 120),
        on_event=tracker.feed,
        **kwargs,
    )
    return outcome, tracker


def test_success_reports_progress_and_leaves_no_artifacts(tmp_path):
    outcome, tracker = run(tmp_path, "ok.yml", {"greeting": "world"})
    assert outcome.status == "successful"
    assert outcome.rc == 0
    assert tracker.tasks_started == 2
    assert tracker.task == "Second task"
    assert tracker.failure is None
    assert tracker.hosts == {"localhost": "ok"}
    run_dir = tmp_path / "run"
    assert not (run_dir / "artifacts").exists()
    assert not (run_dir / "env" / "extravars").exists()
    inventory = run_dir / "inventory" / "hosts.yml"
    assert stat.S_IMODE(inventory.stat().st_mode) == 0o600


def test_failing_task_names_task_host_and_hides_the_secret(tmp_path):
    outcome, tracker = run(tmp_path, "fail.yml", {"image": "no-such-image", "secret_value": SECRET})
    assert outcome.status == "failed"
    assert tracker.failure["task"] == "Reject the request"
    assert tracker.failure["host"] == "localhost"
    assert "no image named no-such-image" in tracker.failure["message"]
    assert SECRET not in tracker.failure["message"]
    assert tracker.hosts == {"localhost": "failed"}
    # the task allowed to fail is not the error
    assert tracker.error_for("failed")["task"] == "Reject the request"


def test_unreachable_host(tmp_path):
    nodes = {
        "node-a": {
            "ansible_host": "127.0.0.1",
            "ansible_port": free_port(),
            "ansible_connection": "ssh",
            "ansible_user": "nobody",
        }
    }
    outcome, tracker = run(tmp_path, "nodes.yml", nodes=nodes)
    assert outcome.status == "failed"
    assert tracker.failure["host"] == "node-a"
    assert tracker.failure["message"].startswith("host unreachable")
    assert tracker.hosts == {"node-a": "unreachable"}


def test_timeout_stops_the_run(tmp_path):
    started = time.monotonic()
    outcome, tracker = run(tmp_path, "slow.yml", timeout=3)
    assert outcome.status == "timeout"
    assert time.monotonic() - started < 50
    error = tracker.error_for(outcome.status)
    assert error["message"].startswith("timed out during task 'Sleep for a long time'")


def test_cancel_stops_the_run(tmp_path):
    cancel = threading.Event()
    threading.Timer(2, cancel.set).start()
    outcome, tracker = run(tmp_path, "slow.yml", should_cancel=cancel.is_set)
    assert outcome.status == "canceled"
    assert tracker.error_for(outcome.status)["message"] == "canceled"


def test_missing_playbook_fails_clearly(tmp_path):
    tracker = RunTracker()
    outcome = run_playbook(
        tmp_path / "run",
        PLAYBOOKS / "nope.yml",
        control_only(),
        {},
        roles_dir=tmp_path,
        timeout=10,
        on_event=tracker.feed,
    )
    assert outcome.status == "failed"
    assert "nope.yml is missing" in tracker.error_for("failed", outcome.stdout_tail)["message"]


@pytest.mark.parametrize("name", ["ok.yml", "fail.yml"])
def test_extravars_never_reach_the_command_line(tmp_path, name):
    outcome, _ = run(tmp_path, name, {"greeting": SECRET, "image": "x", "secret_value": SECRET})
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


TEMPLATE_PAYLOADS = [
    "{{ lookup('pipe', 'touch MARKER') }}",
    "{% if true %}x{% endif %}",
    "{# a comment #}",
    "${HOME} $(touch MARKER) `touch MARKER`",
    "{{ 7 * 7 }} ünïcødé ✓ 'quotes' \"double\" \\ back\nnew line\ttab",
]


@pytest.mark.parametrize("payload", TEMPLATE_PAYLOADS)
def test_extravars_and_inventory_values_are_never_templated(tmp_path, payload):
    marker = tmp_path / "pwned"
    payload = payload.replace("MARKER", str(marker))
    out = tmp_path / "out.json"
    nodes_inventory = control_only()
    nodes_inventory["all"]["children"][inputs.CONTROL_GROUP]["hosts"]["localhost"]["host_value"] = (
        payload
    )
    tracker = RunTracker()
    outcome = run_playbook(
        tmp_path / "run",
        PLAYBOOKS / "literal.yml",
        nodes_inventory,
        {"payload": payload, "nested": {"list": [payload, 7, True]}, "out": str(out)},
        roles_dir=tmp_path,
        timeout=60,
        on_event=tracker.feed,
    )
    assert outcome.status == "successful", tracker.failure
    written = json.loads(out.read_text())
    assert written == {
        "payload": payload,
        "combined": f"before {payload} after",
        "nested": {"list": [payload, 7, True]},
        "host_value": payload,
    }
    assert not marker.exists()
