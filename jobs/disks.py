"""Disks that grow before they fill: the sweep measures each ACTIVE instance's data
disks; when the fullest reaches DISK_GROW_AT_PERCENT and the instance allows it
(max_disk_size), an ordinary update grows disk_size by a quarter (at least 1 GB, at
most max_disk_size, within the project's disk quota), online. At the maximum, the
instance shows a warning instead (core.models.Instance.warnings). A full disk stops
PostgreSQL: this is cheaper than a failover."""

import logging
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import lifecycle, operations, rules
from core.models import Action, Instance, Node, Quota, Status
from core.queue import JobQueue, enqueue
from jobs import inputs, providers
from jobs.providers import DATA_MOUNT, PoolExhausted, Provider

log = logging.getLogger(__name__)

_checked_at = [float("-inf")]


def ssh_disk_usage(provider: Provider, node: Node) -> tuple[int, int] | None:
    """(used, size) in bytes of the node's data disk, asked with `df` over SSH with the
    node's pinned host key; None when it does not answer."""
    connection = provider.connection(node.name)
    command = [
        "ssh",
        "-i",
        connection["ansible_ssh_private_key_file"],
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={inputs.known_hosts(provider.settings, node)}",
        f"{connection['ansible_user']}@{node.address}",
        f"df -B1 --output=used,size {DATA_MOUNT}",
    ]
    try:
        answer = subprocess.run(command, capture_output=True, text=True, timeout=20)
        used, size = answer.stdout.splitlines()[-1].split()
        return int(used), int(size)
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def measure(provider: Provider, instance: Instance) -> dict[str, Any] | None:
    """The fullest of the instance's data disks, or None if none could be read."""
    fullest = None
    for node in instance.nodes:
        if node.status != Status.ACTIVE or node.address is None:
            continue
        usage = provider.disk_usage(node) or ssh_disk_usage(provider, node)
        if usage is None or not usage[1]:
            continue
        used, size = usage
        percent = round(100 * used / size)
        if fullest is None or percent > fullest["percent"]:
            fullest = {
                "percent": percent,
                "used_gb": round(used / 1024**3, 2),
                "size_gb": round(size / 1024**3, 2),
                "node_index": node.index,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    return fullest


def _disk_room(session: Session, instance: Instance, settings: dict[str, Any]) -> int:
    """GB of data disk the project may still take (its quota less what it uses)."""
    quota = session.get(Quota, instance.project_id)
    limit = quota.disk if quota is not None and quota.disk is not None else settings["QUOTA_DISK"]
    used = session.scalar(
        select(func.coalesce(func.sum(Instance.disk_size * Instance.nodes_number), 0)).where(
            Instance.project_id == instance.project_id
        )
    )
    return limit - used


def grow_filling_disks(
    session: Session, settings: dict[str, Any], job_queue: JobQueue | None = None
) -> int:
    """Measure, record, and grow where due; at most every DISK_CHECK_INTERVAL seconds."""
    if time.monotonic() - _checked_at[0] < settings["DISK_CHECK_INTERVAL"]:
        return 0
    _checked_at[0] = time.monotonic()
    try:
        provider = providers.load(settings)
    except PoolExhausted:
        return 0
    grown = 0
    active = session.scalars(select(Instance).where(Instance.status == Status.ACTIVE)).all()
    session.commit()  # no transaction stays open while the nodes are asked
    for instance in active:
        usage = measure(provider, instance)
        session.refresh(instance)
        if usage is None or instance.status != Status.ACTIVE:
            session.commit()
            continue
        instance.disk_usage = usage
        due = (
            usage["percent"] >= rules.DISK_GROW_AT_PERCENT
            and instance.disk_size < instance.max_disk_size
            and operations.unfinished(session, instance) is None
        )
        new_size = rules.grown_disk_size(instance.disk_size, instance.max_disk_size)
        room = _disk_room(session, instance, settings)
        if due and (new_size - instance.disk_size) * instance.nodes_number > room:
            log.warning(
                "instance=%s disk %s%% full: its disk quota leaves no room",
                instance.uuid,
                usage["percent"],
            )
            due = False
        if not due:
            session.commit()
            continue
        operation = operations.record(
            session,
            instance,
            Action.UPDATE,
            {"changes": {"disk_size": [instance.disk_size, new_size]}, "automatic": True},
        )
        log.info(
            "instance=%s disk %s%% full: growing %s -> %s GB",
            instance.uuid,
            usage["percent"],
            instance.disk_size,
            new_size,
        )
        instance.disk_size = new_size
        instance.disk_usage = None  # measured on the smaller disk: the next sweep's counts
        lifecycle.change_asked(instance)
        session.commit()
        if job_queue is not None:
            enqueue(session, job_queue, operation)
        grown += 1
    return grown
