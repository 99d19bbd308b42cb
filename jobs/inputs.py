"""What a playbook is given: an inventory and extravars, built from the database by
id. Users' passwords exist here only as SCRAM verifiers."""

import sys
from typing import Any

from sqlalchemy.orm import Session

from app.models import Instance, Operation, Target
from jobs.events import target_of

CONTROL_GROUP = "control"  # the host that builds machines: this one
NODES_GROUP = "nodes"  # the instance's PostgreSQL nodes


def inventory(instance: Instance) -> dict[str, Any]:
    nodes = {
        node.name: {"ansible_host": node.address, "dbaas_node_index": node.index}
        for node in instance.nodes
        if node.address
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
                NODES_GROUP: {"hosts": nodes},
            }
        }
    }


def extravars(
    session: Session, operation: Operation, instance: Instance, data_dir: str
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The playbook's variables, and the strings to redact from anything it reports."""
    variables: dict[str, Any] = {
        "dbaas_data_dir": data_dir,
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
            {"name": n.name, "index": n.index, "address": n.address} for n in instance.nodes
        ],
    }
    secrets: tuple[str, ...] = ()
    target = target_of(session, operation)
    if operation.target == Target.USER and target is not None:
        variables["dbaas_user"] = {
            "uuid": target.uuid,
            "name": target.name,
            "description": target.description,
            "password_verifier": target.password_verifier,
        }
        secrets = (target.password_verifier,)
    elif operation.target == Target.DATABASE and target is not None:
        variables["dbaas_database"] = {
            "uuid": target.uuid,
            "name": target.name,
            "description": target.description,
            "owner": target.owner.name,
        }
    return variables, secrets
