"""Lab nodes from the real playbooks: two nspawn nodes from the root image, with data
disks, on a private bridge; reachable, talking to each other, growing online, and
leaving nothing behind when deleted."""

from pathlib import Path

import pytest

from core import nspawn_node
from tests.support.lab import lab_nodes


@pytest.fixture
def lab(tmp_path):
    with lab_nodes(tmp_path, 2) as lab:
        yield lab


def test_two_nodes_live_grow_and_vanish(lab):
    outcome, tracker = lab.play("nodes_create.yml")
    assert outcome.status == "successful", (tracker.failure, outcome.stdout_tail)
    lab.remember_processes()
    assert len(lab.seen_processes) == 4  # an init and an nspawn per node
    for node in lab.nodes:
        # The recorded init is the node's systemd, not nspawn's short-lived helper.
        pid = (lab.state_dir / node["name"] / "init.pid").read_text().split()[0]
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "systemd"
        # Its own cgroups, limited to the instance's size: 1 GB of memory, 1 core.
        memberships = Path(f"/proc/{pid}/cgroup").read_text()
        assert f":memory:/dbaas/{node['name']}" in memberships
        assert f":cpu:/dbaas/{node['name']}" in memberships or (
            f":cpu,cpuacct:/dbaas/{node['name']}" in memberships
        )
        group = Path("/sys/fs/cgroup/memory/dbaas") / node["name"]
        # Every process of the node, not only its init (sshd, journald, ...).
        confined = (group / "cgroup.procs").read_text().split()
        assert len(confined) > 3
        assert set(map(str, nspawn_node.descendants(int(pid)))) <= set(confined)
        assert int((group / "memory.limit_in_bytes").read_text()) == 1024 * 1024 * 1024
        quota = Path("/sys/fs/cgroup/cpu/dbaas") / node["name"] / "cpu.cfs_quota_us"
        assert int(quota.read_text()) == 100_000
    first, second = lab.nodes

    for node, other in ((first, second), (second, first)):
        assert lab.ssh(node, "hostname").stdout.strip() == node["name"]
        lab.ssh(node, f"ping -c 1 -W 2 {other['address']}")
        mounted = lab.ssh(node, "findmnt -n -o SOURCE,FSTYPE /var/lib/postgresql").stdout
        assert mounted.split() == ["/dev/vdb", "xfs"]
        lab.ssh(node, "echo kept > /var/lib/postgresql/marker && sync")

    # Running it again changes nothing.
    again, _ = lab.play("nodes_create.yml")
    assert again.status == "successful"

    before = int(lab.ssh(first, "df -B1M --output=size /var/lib/postgresql | tail -1").stdout)
    lab.disk_size = 12
    grown, tracker = lab.play("disk_grow.yml")
    assert grown.status == "successful", tracker.failure
    after = int(lab.ssh(first, "df -B1M --output=size /var/lib/postgresql | tail -1").stdout)
    assert before < 8 * 1024 < after <= 12 * 1024
    assert lab.ssh(first, "cat /var/lib/postgresql/marker").stdout == "kept\n"

    deleted, tracker = lab.play("nodes_delete.yml")
    assert deleted.status == "successful", tracker.failure
    assert lab.leftovers() == {
        "processes": [],
        "mounts": [],
        "loop devices": [],
        "interfaces": [],
        "addresses": [],
        "files": [],
        "cgroups": [],
        "nftables": [],
    }
    again, _ = lab.play("nodes_delete.yml")
    assert again.status == "successful"
