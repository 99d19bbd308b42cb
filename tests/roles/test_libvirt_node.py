"""A node as a libvirt domain, for real: the image's bootable disk (built once, then
cached), one node booted under qemu (software emulation on this host: no KVM) from the
repository's playbooks, reached over SSH with its data disk as /dev/vdb, grown online,
restarted after its machine died, deleted with nothing left. Slow: minutes."""

import subprocess
import time

import pytest

from jobs.providers.libvirt import DomainEvents
from tests.support.lab import lab_nodes

pytestmark = pytest.mark.slow

URI = "qemu:///system"


def virsh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=60)


def remove_domains(lab) -> None:
    for node in lab.nodes:  # by name: the domains are the test's own
        virsh("destroy", node["name"])
        virsh("undefine", node["name"])


@pytest.fixture
def lab(tmp_path):
    with lab_nodes(tmp_path, 1, provider="libvirt", last_resort=remove_domains) as lab:
        yield lab


def test_a_libvirt_node_boots_grows_and_vanishes(lab):
    [node] = lab.nodes
    created, tracker = lab.play("nodes_create.yml", dbaas_provider="libvirt")
    assert created.status == "successful", (tracker.failure, created.stdout_tail)

    domain_xml = lab.state_dir / node["name"] / "domain.xml"
    validated = subprocess.run(
        ["virt-xml-validate", str(domain_xml), "domain"], capture_output=True, text=True
    )
    assert validated.returncode == 0, validated.stderr + validated.stdout
    assert virsh("domstate", node["name"]).stdout.strip() == "running"

    assert lab.ssh(node, "hostname").stdout.strip() == node["name"]
    assert lab.ssh(node, "lsblk -dno NAME /dev/vdb").stdout.strip() == "vdb"
    mounted = lab.ssh(node, "findmnt -n -o SOURCE,FSTYPE /var/lib/postgresql").stdout
    assert mounted.split() == ["/dev/vdb", "xfs"]
    lab.ssh(node, "echo kept > /var/lib/postgresql/marker && sync")

    again, tracker = lab.play("nodes_create.yml", dbaas_provider="libvirt")
    assert again.status == "successful", tracker.failure
    assert tracker.changed == []

    lab.disk_size = 12
    grown, tracker = lab.play("disk_grow.yml", dbaas_provider="libvirt")
    assert grown.status == "successful", tracker.failure
    size = int(lab.ssh(node, "df -B1M --output=size /var/lib/postgresql | tail -1").stdout)
    assert 8 * 1024 < size <= 12 * 1024
    assert lab.ssh(node, "cat /var/lib/postgresql/marker").stdout == "kept\n"

    # The machine dies: libvirt's lifecycle event says so at once (fencing's proof, not a
    # poll); the worker's restart (nodes_start.yml) boots it again, disks kept.
    events = DomainEvents(URI)
    try:
        events.watch(node["name"])
        time.sleep(1)  # virsh subscribed
        assert events.gone(0.1) == []
        destroyed_at = time.monotonic()
        assert virsh("destroy", node["name"]).returncode == 0
        assert events.gone(10) == [node["name"]]
        assert time.monotonic() - destroyed_at < 5
    finally:
        events.close()
    started, tracker = lab.play("nodes_start.yml", dbaas_provider="libvirt")
    assert started.status == "successful", tracker.failure
    assert virsh("domstate", node["name"]).stdout.strip() == "running"
    assert lab.ssh(node, "cat /var/lib/postgresql/marker").stdout == "kept\n"

    deleted, tracker = lab.play("nodes_delete.yml", dbaas_provider="libvirt")
    assert deleted.status == "successful", tracker.failure
    assert node["name"] not in virsh("list", "--all", "--name").stdout.split()
    left = lab.leftovers()
    assert (left["interfaces"], left["addresses"], left["files"]) == ([], [], [])
