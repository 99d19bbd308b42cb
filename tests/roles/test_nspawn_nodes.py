"""Lab nodes from the real playbooks: two nspawn nodes from the root image, with data
disks, on a private bridge; reachable, talking to each other, growing online, and
leaving nothing behind when deleted."""

import contextlib
from pathlib import Path

import pytest

from tests.support.lab import lab_nodes


def descendants(pid: int) -> list[int]:
    """The process and all its descendants."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


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
        # systemd's own tracking groups are the node's too: two nodes' systemd never
        # manage one unit group (a unit started on both at once failed 219/CGROUP).
        assert f":name=systemd:/dbaas/{node['name']}/" in memberships
        group = Path("/sys/fs/cgroup/memory/dbaas") / node["name"]
        # Every process of the node, not only its init (sshd, journald, ...).
        confined = (group / "cgroup.procs").read_text().split()
        assert len(confined) > 3
        assert set(map(str, descendants(int(pid)))) <= set(confined)
        assert int((group / "memory.limit_in_bytes").read_text()) == 1024 * 1024 * 1024
        quota = Path("/sys/fs/cgroup/cpu/dbaas") / node["name"] / "cpu.cfs_quota_us"
        assert int(quota.read_text()) == 100_000
    first, second = lab.nodes
    for node in lab.nodes:
        # Born in its cgroups, the node's systemd runs every unit (none failed to attach).
        failed = lab.ssh(node, "systemctl --failed --no-legend --plain").stdout
        journal = lab.ssh(node, "journalctl -b --no-pager -n 30 -p warning").stdout
        assert failed.strip() == "", f"{failed}\n{journal}"

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
