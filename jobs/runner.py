"""ansible-runner, the only module that knows how a playbook is started.

Each operation gets a private data dir ``$DATA_DIR/runs/<operation>``: a generated
inventory, extravars in a 0600 file (never on a command line) removed after the run,
both written with every string ``!unsafe`` (jobs.unsafe: data, never a template),
and no runner artifacts left behind (they can hold task results): what stays is
``run.log``, the redacted lines the event mapper wrote.
"""

import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner

from jobs import unsafe

log = logging.getLogger(__name__)

# ansible-playbook from the same virtualenv as the worker, with its collections.
# (ansible-runner drops the playbook from the command when given `binary`: use PATH.)
VENV_BIN = str(Path(sys.executable).parent)


@dataclass(frozen=True)
class RunOutcome:
    status: str  # successful, failed, timeout or canceled
    rc: int | None
    stdout_tail: str  # last lines of the output, for errors no event explains


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


# The repository's ansible.cfg, the one SREs use by hand: pipelining, shared SSH
# connections with keepalives, forks. Its relative roles_path is overridden below.
ANSIBLE_CONFIG = Path(__file__).resolve().parents[1] / "ansible.cfg"


def run_playbook(
    run_dir: Path,
    playbook: Path,
    inventory: dict[str, Any],
    extravars: dict[str, Any],
    *,
    roles_dir: Path,
    timeout: float,
    on_event: Callable[[dict[str, Any]], None],
    should_cancel: Callable[[], bool] = lambda: False,
) -> RunOutcome:
    if not playbook.is_file():
        return RunOutcome("failed", None, f"playbook {playbook.name} is missing")
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(run_dir / "inventory" / "hosts.yml", unsafe.dump(inventory))
    extravars_file = run_dir / "env" / "extravars"
    _write_private(extravars_file, unsafe.dump(extravars))
    artifacts = run_dir / "artifacts"
    try:
        runner = ansible_runner.run(
            private_data_dir=str(run_dir),
            project_dir=str(playbook.parent),
            playbook=playbook.name,
            artifact_dir=str(artifacts),
            envvars={
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "ANSIBLE_CONFIG": str(ANSIBLE_CONFIG),
                "ANSIBLE_ROLES_PATH": str(roles_dir),
                "ANSIBLE_NOCOLOR": "True",
            },
            timeout=timeout,
            event_handler=lambda event: on_event(event) or False,
            cancel_callback=should_cancel,
            quiet=True,
            suppress_env_files=True,
        )
        tail = _tail(runner.stdout.read() if runner.stdout else "")
        return RunOutcome(runner.status, runner.rc, tail)
    finally:
        extravars_file.unlink(missing_ok=True)
        shutil.rmtree(artifacts, ignore_errors=True)


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(line for line in text.strip().splitlines()[-lines:] if line.strip())
