"""The Ansible content as SREs and Vagrant use it: every playbook parses against both
inventories, the Vagrant inventory resolves to its three VMs, the Vagrantfile validates."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lab import REPOSITORY

VENV_BIN = Path(sys.executable).parent
PLAYBOOKS = sorted((REPOSITORY / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("inventory", ["lab", "vagrant"])
def test_every_playbook_parses_against_the_inventory(inventory):
    for playbook in PLAYBOOKS:
        checked = subprocess.run(
            [
                VENV_BIN / "ansible-playbook",
                "--syntax-check",
                "-i",
                f"inventories/{inventory}",
                str(playbook.relative_to(REPOSITORY)),
            ],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert checked.returncode == 0, (playbook.name, checked.stderr)


def test_the_vagrant_inventory_is_three_static_vms_reached_as_vagrant():
    listed = subprocess.run(
        [
            VENV_BIN / "ansible-inventory",
            "-i",
            "inventories/vagrant",
            "--list",
            "-e",
            "vagrant_provider=virtualbox",
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    inventory = json.loads(listed.stdout)
    assert inventory["nodes"]["hosts"] == ["vagrant-pg1", "vagrant-pg2", "vagrant-pg3"]
    assert inventory["control"]["hosts"] == ["localhost"]
    first = inventory["_meta"]["hostvars"]["vagrant-pg1"]
    assert first["dbaas_provider"] == "static" and first["ansible_user"] == "vagrant"


def test_the_vagrantfile_validates():
    validated = subprocess.run(
        ["vagrant", "validate"], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "validated successfully" in validated.stdout
