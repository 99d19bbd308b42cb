"""Re-record the event streams the unit tests replay (run from the repository root):

    .venv/bin/python -m tests.unit.event_streams.record

Each stream is a real ansible-runner run of a playbook in tests/jobs/playbooks/runner,
reduced to the fields jobs.events reads."""

import json
import tempfile
from pathlib import Path

from jobs.runner import run_playbook
from tests.jobs.test_runner import PLAYBOOKS, SECRET, control_only
from tests.support.services import free_port

HERE = Path(__file__).parent
KEEP = (
    "task",
    "name",
    "host",
    "ignore_errors",
    "ok",
    "failures",
    "dark",
    "changed",
    "skipped",
    "processed",
)


def reduced(event: dict) -> dict:
    data = event.get("event_data") or {}
    kept = {key: data[key] for key in KEEP if key in data}
    result = data.get("res")
    if isinstance(result, dict):
        kept["res"] = {k: result[k] for k in ("msg", "censored", "unreachable") if k in result}
    return {"event": event.get("event"), "pid": event.get("pid"), "event_data": kept}


def record(name: str, playbook: str, extravars=None, nodes=None, **kwargs) -> None:
    events = []
    with tempfile.TemporaryDirectory() as directory:
        run_playbook(
            Path(directory),
            PLAYBOOKS / playbook,
            control_only(nodes),
            extravars or {},
            roles_dir=Path(directory),
            timeout=kwargs.get("timeout", 120),
            on_event=lambda event: events.append(reduced(event)),
        )
    (HERE / f"{name}.json").write_text(json.dumps(events, indent=1) + "\n")


if __name__ == "__main__":
    record("success", "ok.yml", {"greeting": "world"})
    record("failed_task", "fail.yml", {"image": "no-such-image", "secret_value": SECRET})
    unreachable = {
        "ansible_host": "127.0.0.1",
        "ansible_port": free_port(),
        "ansible_connection": "ssh",
        "ansible_user": "nobody",
    }
    record("unreachable", "nodes.yml", nodes={"node-a": unreachable})
    record("timeout", "slow.yml", timeout=3)
    record("rescued", "rescued.yml")
