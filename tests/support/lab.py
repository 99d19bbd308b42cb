"""A throw-away lab for role tests: its own bridge and subnet, its own SSH key, its
own state directory; removed afterwards even when the test fails."""

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from core import nspawn_node, tls
from jobs import inputs
from jobs.events import RunTracker
from jobs.runner import run_playbook

REPOSITORY = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPOSITORY / "playbooks"
ROLES = REPOSITORY / "roles"
IMAGE = "debian-bookworm-pg15"


def ssh(
    key: Path, address: str, command: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run a command as root on a lab node (host keys change with every node: no check)."""
    options = [
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "LogLevel=ERROR",
        "BatchMode=yes",
        "ConnectTimeout=5",
    ]
    return subprocess.run(
        ["ssh", "-i", str(key), *(f"-o{option}" for option in options), f"root@{address}", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def lab_certificates(instance_uuid: str, nodes: list[dict], root: tls.Issued) -> dict:
    """The dbaas_tls the worker would hand over: the root's certificate, the instance's
    CA, one certificate per node."""
    instance_ca = tls.new_instance_ca(root, instance_uuid)
    issued = {
        n["name"]: tls.new_node_certificate(instance_ca, n["name"], n["address"]) for n in nodes
    }
    return {
        "ca_certificate": root.certificate,
        "instance_ca_certificate": instance_ca.certificate,
        "nodes": {name: {"certificate": i.certificate, "key": i.key} for name, i in issued.items()},
    }


def free_subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for third in range(100, 200):
        network = ipaddress.IPv4Network(f"172.30.{third}.0/24")
        if str(network) not in used and f"172.30.{third}." not in used:
            return network
    raise RuntimeError("no free 172.30.x.0/24 for a test lab")


class Lab:
    def __init__(self, tmp_path: Path, nodes: int):
        tag = secrets.token_hex(3)
        self.tmp_path = tmp_path
        self.bridge = f"dbt{tag}"
        self.network = free_subnet()
        hosts = list(self.network.hosts())
        self.state_dir = tmp_path / "nodes"
        self.key = tmp_path / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True
        )
        self.nodes = [
            {"name": f"t{tag}{n}", "address": str(hosts[n + 1]), "index": n} for n in range(nodes)
        ]
        self.instance_uuid = "5f0e3c1a-0000-4000-8000-" + tag * 2
        self.disk_size = 8
        self.image_cache_dir = "/var/cache/dbaas/images"
        self.runs = 0
        self.seen_processes: set[tuple[int, str]] = set()
        self.root = tls.new_root()
        self.tls = lab_certificates(self.instance_uuid, self.nodes, self.root)
        self.ca_file = tmp_path / "ca.pem"
        self.ca_file.write_text(self.tls["ca_certificate"])

    def remember_processes(self) -> None:
        """Note each node's init and nspawn (PID, start time) while they run."""
        for record in self.state_dir.glob("*/*.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid, started = record.read_text().split()
                self.seen_processes.add((int(pid), started))

    def instance(self, sync: int = 0) -> dict:
        """The dbaas_instance the worker would hand over for a 1-cpu, 1 GB instance."""
        return {
            "uuid": self.instance_uuid,
            "name": "lab",
            "cpu": 1,
            "ram": 1024,
            "disk_size": self.disk_size,
            "nodes_number": len(self.nodes),
            "sync_replica_number": sync,
            "effective_sync_replica_number": min(sync, max(len(self.nodes) - 1, 0)),
            "image": IMAGE,
        }

    def extravars(self, **overrides) -> dict:
        """The playbooks' contract (dbaas_*), as the worker hands it over."""
        variables = {
            "dbaas_nodes": self.nodes,
            "dbaas_instance": self.instance(),
            "dbaas_lab": {
                "network": str(self.network),
                "bridge": self.bridge,
                "bridge_address": str(next(self.network.hosts())),
                "control_addresses": [str(next(self.network.hosts()))],
                "prefix": self.network.prefixlen,
                "nodes_dir": str(self.state_dir),
                "image_cache_dir": self.image_cache_dir,
                "ssh_public_key": self.key.with_suffix(".pub").read_text(),
            },
            # A test's bridge goes with its last node (the service keeps its own).
            "dbaas_tls": self.tls,
            "node_nspawn_remove_bridge": True,
            "node_libvirt_remove_bridge": True,
        }
        variables.update(overrides)
        return variables

    def inventory(self) -> dict:
        hosts = {
            node["name"]: {
                "ansible_host": node["address"],
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null",
                "ansible_python_interpreter": "/usr/bin/python3",
            }
            for node in self.nodes
        }
        return {
            "all": {
                "children": {
                    inputs.CONTROL_GROUP: {
                        "hosts": {
                            "localhost": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                            }
                        }
                    },
                    inputs.NODES_GROUP: {"hosts": hosts},
                }
            }
        }

    def play(self, playbook: str, on_event=None, **overrides):
        self.runs += 1
        tracker = RunTracker()

        def feed(event: dict) -> bool:
            if on_event is not None:
                on_event(event)
            return tracker.feed(event)

        outcome = run_playbook(
            self.tmp_path / f"run-{self.runs}",
            PLAYBOOKS / playbook,
            self.inventory(),
            self.extravars(**overrides),
            roles_dir=ROLES,
            timeout=900,
            on_event=feed,
        )
        return outcome, tracker

    def ssh(self, node: dict, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return ssh(self.key, node["address"], command, check=check)

    # --- what is left on the host ---------------------------------------------------

    def leftovers(self) -> dict[str, list[str]]:
        state = str(self.state_dir)
        processes = [str(pid) for pid in self.seen_processes if _same_process(*pid)]
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                if state.encode() in cmdline.read_bytes():
                    processes.append(cmdline.parent.name)
        mounts = [line for line in Path("/proc/mounts").read_text().splitlines() if state in line]
        loops = [
            line
            for line in subprocess.run(
                ["losetup", "-a"], capture_output=True, text=True
            ).stdout.splitlines()
            if state in line
        ]
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        interfaces = [
            name
            for name in [self.bridge] + [f"vb-{n['name']}" for n in self.nodes]
            if f" {name}:" in links or f" {name}@" in links
        ]
        addresses = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
        network_prefix = str(self.network.network_address).rsplit(".", 1)[0] + "."
        files = [str(p) for p in self.state_dir.glob("*")] if self.state_dir.exists() else []
        return {
            "processes": processes,
            "mounts": mounts,
            "loop devices": loops,
            "interfaces": interfaces,
            "addresses": [a for a in addresses.stdout.splitlines() if network_prefix in a],
            "files": files,
            "cgroups": [
                str(group)
                for node in self.nodes
                for group in nspawn_node.cgroups(node["name"]).values()
                if group.exists()
            ],
            "nftables": [firewall_table(self.bridge)] if firewall_exists(self.bridge) else [],
        }

    def force_clean(self) -> None:
        """Last resort after a failed test: remove by hand what the playbook did not."""
        self.remember_processes()
        for pid, started in self.seen_processes:
            if _same_process(pid, started):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for node in self.nodes:
            detach_node(self.state_dir / node["name"])
            nspawn_node.remove_cgroups(node["name"])
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        remove_firewall(self.bridge)


def firewall_table(bridge: str) -> str:
    """The lab_firewall role's nftables table for a bridge."""
    return "dbaas_" + "".join(c if c.isalnum() else "_" for c in bridge)


def firewall_exists(bridge: str) -> bool:
    listed = subprocess.run(
        ["nft", "list", "table", "bridge", firewall_table(bridge)], capture_output=True
    )
    return listed.returncode == 0


def remove_firewall(bridge: str) -> None:
    subprocess.run(
        ["nft", "delete", "table", "bridge", firewall_table(bridge)], capture_output=True
    )


def _same_process(pid: int, started: str) -> bool:
    return nspawn_node.is_alive(pid) and nspawn_node.start_time(pid) == started


def detach_node(directory: Path) -> None:
    """Unmount a node's root and free its loop devices (after its init is gone)."""
    subprocess.run(["umount", "-l", str(directory / "merged")], capture_output=True)
    found = subprocess.run(
        ["losetup", "-j", str(directory / "data.img")], capture_output=True, text=True
    )
    for line in found.stdout.splitlines():
        subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True)


@contextlib.contextmanager
def lab_nodes(tmp_path: Path, nodes: int, provider: str = "nspawn", last_resort=None):
    """A lab of ``nodes`` nodes, removed by the playbook whatever the test's outcome,
    then by ``last_resort(lab)`` and force_clean for what a failed removal left."""
    lab = Lab(tmp_path, nodes=nodes)
    try:
        yield lab
    finally:
        lab.play("nodes_delete.yml", dbaas_provider=provider)
        if last_resort is not None:
            last_resort(lab)
        lab.force_clean()
