"""What a playbook is given: an inventory and extravars, built from the database by
id. Users' passwords exist here only as SCRAM verifiers."""

import shlex
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core import images, lifecycle, tls
from core import secrets as core_secrets
from core.config import DataDir
from core.lifecycle import target_of
from core.models import Instance, Operation, Target, Version
from jobs import backups
from jobs.providers import Provider

CONTROL_GROUP = "control"  # the host that builds machines: this one
NODES_GROUP = "nodes"  # the instance's PostgreSQL nodes
LEAVING_GROUP = "leaving"  # nodes beyond nodes_number: an update removes them
# The running instance a new one is restored from: its WAL is archived up to now first.
RESTORE_SOURCE_GROUP = "restore_source"


def staying(instance: Instance) -> list:
    return sorted((n for n in instance.nodes if n.index <= instance.nodes_number), key=_index)


def leaving(instance: Instance) -> list:
    return sorted((n for n in instance.nodes if n.index > instance.nodes_number), key=_index)


def _index(node) -> int:
    return node.index


def known_hosts(settings: dict[str, Any], node) -> Path:
    """The node's own known_hosts: one file per node record, so a machine made anew
    (a new record) starts a new file, and no node's key can stand for another's."""
    return DataDir.of(settings).known_hosts / node.uuid


def _host_key_options(node, provider: Provider) -> str:
    """The first key a node shows is recorded and enforced after (its machine is
    fresh from this service, on a private bridge); a key the provider knows
    beforehand (a static host's `host_key`) is pinned from the start (pin_host_keys)."""
    checking = "yes" if provider.host_key(node.name) else "accept-new"
    path = shlex.quote(str(known_hosts(provider.settings, node)))
    return f"-o StrictHostKeyChecking={checking} -o UserKnownHostsFile={path}"


def pin_host_keys(instance: Instance, provider: Provider) -> None:
    """Before a run: the known_hosts directory, and the host keys known beforehand."""
    for node in instance.nodes:
        path = known_hosts(provider.settings, node)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        host_key = provider.host_key(node.name)
        if host_key and node.address:
            line = f"{node.address} {host_key}\n"
            if not path.exists() or path.read_text() != line:
                path.write_text(line)


def _connection(node, provider: Provider) -> dict[str, Any]:
    return {
        "ansible_host": node.address,
        **provider.connection(node.name),
        "ansible_ssh_common_args": _host_key_options(node, provider),
        "ansible_python_interpreter": "/usr/bin/python3",
        "dbaas_node_index": node.index,
    }


def inventory(
    instance: Instance, provider: Provider, source: Instance | None = None
) -> dict[str, Any]:
    hosts = {node.name: _connection(node, provider) for node in instance.nodes if node.address}
    source_hosts = {
        node.name: _connection(node, provider)
        for node in (source.nodes if source is not None else [])
        if node.address and node.index <= source.nodes_number
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
                RESTORE_SOURCE_GROUP: {"hosts": source_hosts},
            }
        }
    }


def extravars(
    session: Session,
    operation: Operation,
    instance: Instance,
    provider: Provider,
    undo: bool = False,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The playbook's variables, and the strings to redact from anything it reports.
    Only ``dbaas_*`` variables: the contract docs/architecture.md describes; the
    playbooks map them to their roles' inputs. A major upgrade's run is given the new
    version as the instance's (its nodes are built on that image) and the old one in
    ``dbaas_upgrade``; its undo (`undo`), the instance as it is recorded."""
    settings = provider.settings
    variables: dict[str, Any] = {
        "dbaas_provider": provider.name,
        "dbaas_data_dir": settings["DATA_DIR"],
        "dbaas_lab": {
            "image_cache_dir": settings["IMAGE_CACHE_DIR"],
            **provider.lab_variables(instance),
        },
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
    if lifecycle.is_major_upgrade(operation):
        target = session.get(Version, operation.params["version_id"])
        variables["dbaas_upgrade"] = {
            "from_image": instance.version.image,
            "from_version": instance.version.name,
            "to_image": target.image,
            "to_version": target.name,
            "to_major": images.recipe(target.image).major,
        }
        if not undo:
            variables["dbaas_instance"].update(version=target.name, image=target.image)
    backup, binds, backup_secrets = backups.variables(session, operation, instance, settings)
    if backup:
        restore = backup.pop("restore", None)
        variables["dbaas_backup"] = backup
        variables["dbaas_lab"]["binds"] = binds
        if restore is not None:
            variables["dbaas_restore"] = restore
    credentials = core_secrets.credentials(session, instance, settings)
    variables["dbaas_credentials"] = credentials
    secrets: tuple[str, ...] = (*credentials.values(), *backup_secrets)
    placed = [n for n in staying(instance) if n.address]
    if placed:
        certificates = tls.instance_certificates(session, instance, placed, settings)
        variables["dbaas_tls"] = certificates
        # Whole keys, and each line of them: a message may quote a part.
        for issued in certificates["nodes"].values():
            secrets += (issued["key"], *tls.key_lines(issued["key"]))
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
