"""What a playbook is given: an inventory and extravars, built from the database by
id. Users' passwords exist here only as SCRAM verifiers."""

import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app import secrets as app_secrets
from app.models import Instance, Operation, Target
from jobs import nodes
from jobs.events import target_of

CONTROL_GROUP = "control"  # the host that builds machines: this one
NODES_GROUP = "nodes"  # the instance's PostgreSQL nodes
LEAVING_GROUP = "leaving"  # nodes beyond nodes_number: an update removes them


def ssh_key(settings: dict[str, Any]) -> Path:
    """The service's key for logging in to nodes (made by `make setup`)."""
    return Path(settings["DATA_DIR"]) / "ssh" / "id_ed25519"


def staying(instance: Instance) -> list:
    return sorted((n for n in instance.nodes if n.index <= instance.nodes_number), key=_index)


def leaving(instance: Instance) -> list:
    return sorted((n for n in instance.nodes if n.index > instance.nodes_number), key=_index)


def _index(node) -> int:
    return node.index


def _static_hosts(settings: dict[str, Any]) -> dict[str, dict]:
    if settings.get("PROVIDER", "nspawn") != "static":
        return {}
    return {host["name"]: host for host in nodes.load_static_hosts(settings["STATIC_HOSTS"])}


def known_hosts(settings: dict[str, Any], node) -> Path:
    """The node's own known_hosts: one file per node record, so a machine made anew
    (a new record) starts a new file, and no node's key can stand for another's."""
    return Path(settings["DATA_DIR"]) / "known_hosts" / node.uuid


def _host_key_options(node, host: dict, settings: dict[str, Any]) -> str:
    """The first key a node shows is recorded and enforced after (its machine is
    fresh from this service, on a private bridge); a static host's `host_key` in the
    hosts file is pinned from the start (pin_host_keys writes it)."""
    checking = "yes" if host.get("host_key") else "accept-new"
    path = shlex.quote(str(known_hosts(settings, node)))
    return f"-o StrictHostKeyChecking={checking} -o UserKnownHostsFile={path}"


def pin_host_keys(instance: Instance, settings: dict[str, Any]) -> None:
    """Before a run: the known_hosts directory, and the static hosts' given keys."""
    static = _static_hosts(settings)
    for node in instance.nodes:
        path = known_hosts(settings, node)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_key = static.get(node.name, {}).get("host_key")
        if host_key and node.address:
            line = f"{node.address} {host_key.strip()}\n"
            if not path.exists() or path.read_text() != line:
                path.write_text(line)


def _connection(node, static: dict[str, dict], settings: dict[str, Any]) -> dict[str, Any]:
    host = static.get(node.name, {})
    user = host.get("user", "root")
    variables = {
        "ansible_host": node.address,
        "ansible_user": user,
        "ansible_ssh_private_key_file": host.get("ssh_key", str(ssh_key(settings))),
        "ansible_ssh_common_args": _host_key_options(node, host, settings),
        "ansible_python_interpreter": "/usr/bin/python3",
        "dbaas_node_index": node.index,
    }
    if user != "root":
        variables["ansible_become"] = True
    if "data_device" in host:
        variables["data_disk_device"] = host["data_device"]
    return variables


def inventory(instance: Instance, settings: dict[str, Any]) -> dict[str, Any]:
    static = _static_hosts(settings)
    hosts = {
        node.name: _connection(node, static, settings) for node in instance.nodes if node.address
    }
    control = {
        "localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }
    }
    return {
        "all": {
            "children": {
                CONTROL_GROUP: {"hosts": control},
                NODES_GROUP: {
                    "hosts": {n.name: hosts[n.name] for n in staying(instance) if n.address}
                },
                LEAVING_GROUP: {
                    "hosts": {n.name: hosts[n.name] for n in leaving(instance) if n.address}
                },
            }
        }
    }


def lab_variables(instance: Instance, settings: dict[str, Any]) -> dict[str, Any]:
    """The lab providers' (nspawn, libvirt) role variables, from configuration."""
    network = ipaddress.IPv4Network(settings["LAB_NETWORK"])
    public_key = ssh_key(settings).with_suffix(".pub")
    return {
        "dbaas_lab_network": str(network),
        "root_image_name": instance.version.image,
        "root_image_cache_dir": settings["IMAGE_CACHE_DIR"],
        "node_nspawn_state_dir": str(Path(settings["DATA_DIR"]) / "nodes"),
        "node_nspawn_bridge": settings["LAB_BRIDGE"],
        "node_nspawn_bridge_address": str(next(network.hosts())),
        "node_nspawn_prefix": network.prefixlen,
        "node_nspawn_disk_gb": instance.disk_size,
        "node_nspawn_ssh_public_key": public_key.read_text() if public_key.exists() else "",
        # libvirt domains take the rest of the lab's settings from the above.
        "node_libvirt_uri": settings["LIBVIRT_URI"],
        "node_libvirt_vcpus": instance.cpu,
        "node_libvirt_memory_mb": instance.ram,
    }


def extravars(
    session: Session, operation: Operation, instance: Instance, settings: dict[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The playbook's variables, and the strings to redact from anything it reports."""
    variables: dict[str, Any] = {
        **lab_variables(instance, settings),
        "dbaas_provider": settings.get("PROVIDER", "nspawn"),
        "dbaas_data_dir": settings["DATA_DIR"],
        "dbaas_operation": {
            "uuid": operation.uuid,
            "action": operation.action,
            "target": operation.target,
            "params": operation.params,
        },
        "dbaas_instance": {
            "uuid": instance.uuid,
            "name": instance.name,
            "cpu": instance.cpu,
            "ram": instance.ram,
            "disk_size": instance.disk_size,
            "nodes_number": instance.nodes_number,
            "sync_replica_number": instance.sync_replica_number,
            "effective_sync_replica_number": instance.effective_sync_replica_number,
            "version": instance.version.name,
            "image": instance.version.image,
        },
        "dbaas_nodes": [
            {"name": n.name, "index": n.index, "address": n.address} for n in staying(instance)
        ],
        "dbaas_nodes_leaving": [
            {"name": n.name, "index": n.index, "address": n.address} for n in leaving(instance)
        ],
        "dbaas_etcd_members": [
            {"name": n.name, "address": n.address} for n in staying(instance) if n.etcd_member
        ],
    }
    credentials = app_secrets.credentials(session, instance, settings)
    variables["dbaas_credentials"] = credentials
    secrets: tuple[str, ...] = tuple(credentials.values())
    target = target_of(session, operation)
    if operation.target == Target.USER and target is not None:
        variables["dbaas_user"] = {
            "uuid": target.uuid,
            "name": target.name,
            "description": target.description,
            "password_verifier": target.password_verifier,
        }
        secrets += (target.password_verifier,)
    elif operation.target == Target.DATABASE and target is not None:
        variables["dbaas_database"] = {
            "uuid": target.uuid,
            "name": target.name,
            "description": target.description,
            "owner": target.owner.name,
        }
    return variables, secrets
