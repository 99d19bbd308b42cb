"""What a project may take (quotas) and what this host can hold (capacity), checked
when a create or a resize is asked: over a quota is 403 ``quota_exceeded`` naming the
limit, more than the host holds is 409 with the reason; nothing is recorded either way."""

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.services.errors import Conflict, Forbidden, Invalid
from core.models import Instance, Quota
from jobs import providers

# Limit -> (what it counts, its unit), in the order answers list them.
LIMITS = {
    "instances": ("instances", ""),
    "nodes": ("nodes", ""),
    "cpu": ("cores over all nodes", ""),
    "ram": ("RAM over all nodes", " MB"),
    "disk": ("data disk over all nodes", " GB"),
}


@dataclass(frozen=True)
class Usage:
    instances: int = 0
    nodes: int = 0
    cpu: int = 0
    ram: int = 0
    disk: int = 0

    @classmethod
    def of(cls, cpu: int, ram: int, disk_size: int, nodes_number: int) -> "Usage":
        """One instance's: each node has the instance's cores, RAM and disk."""
        n = nodes_number
        return cls(1, n, cpu * n, ram * n, disk_size * n)

    def __sub__(self, other: "Usage") -> "Usage":
        return Usage(**{f: getattr(self, f) - getattr(other, f) for f in LIMITS})

    def footprint(self) -> providers.Footprint:
        return providers.Footprint(
            nodes=max(self.nodes, 0), ram=max(self.ram, 0), disk=max(self.disk, 0)
        )


def usage(session: Session, project_id: str | None = None) -> Usage:
    """What a project's instances take (every project's, without one): all of them,
    whatever their status, until their delete has removed them."""
    n = Instance.nodes_number
    statement = select(
        func.count(Instance.id),
        func.coalesce(func.sum(n), 0),
        func.coalesce(func.sum(Instance.cpu * n), 0),
        func.coalesce(func.sum(Instance.ram * n), 0),
        func.coalesce(func.sum(Instance.disk_size * n), 0),
    )
    if project_id is not None:
        statement = statement.where(Instance.project_id == project_id)
    return Usage(*session.execute(statement).one())


def limits(session: Session, project_id: str, settings: dict[str, Any]) -> dict[str, int]:
    """The project's limits: an admin's, else the configured defaults."""
    quota = session.get(Quota, project_id)
    return {
        name: getattr(quota, name, None)
        if quota is not None and getattr(quota, name) is not None
        else settings[f"QUOTA_{name.upper()}"]
        for name in LIMITS
    }


def show(session: Session, project_id: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "limits": limits(session, project_id, settings),
        "usage": asdict(usage(session, project_id)),
    }


def set_limits(session: Session, project_id: str, changes: dict[str, int | None]) -> Quota:
    """An admin's limits for a project (None: back to the default). Projects are
    named by UUID, in the canonical form tokens carry."""
    try:
        project_id = str(uuid.UUID(project_id))
    except ValueError:
        raise Invalid("project", "Not a project UUID.") from None
    for name, value in changes.items():
        if name not in LIMITS:
            raise Invalid(name, "Not a quota.")
        if value is not None and value < 0:
            raise Invalid(name, "Must be 0 or more.")
    quota = session.get(Quota, project_id) or Quota(project_id=project_id)
    session.add(quota)
    for name, value in changes.items():
        setattr(quota, name, value)
    session.commit()
    return quota


# Any number: the advisory lock that makes quota and capacity checks one at a time.
_CHECKS_LOCK = 0x64626161


def _serialise(session: Session) -> None:
    """Two creates at once must not both fit in the room left for one. SQLite's writers
    are one at a time already (BEGIN IMMEDIATE); PostgreSQL's wait here until the first
    one's transaction has committed its record."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHECKS_LOCK})


def check(
    session: Session, project_id: str, settings: dict[str, Any], before: Usage, after: Usage
) -> None:
    """Refuse a change from `before` to `after` (one instance's usage) that would pass a
    quota (403) or that this host cannot hold (409). What only shrinks is never refused."""
    asked = after - before
    _serialise(session)
    used = usage(session, project_id)
    allowed = limits(session, project_id, settings)
    for name, (what, unit) in LIMITS.items():
        more = getattr(asked, name)
        if more > 0 and getattr(used, name) + more > allowed[name]:
            raise Forbidden(
                f"Quota exceeded: {name} ({what}): the project uses {getattr(used, name)}{unit} "
                f"of {allowed[name]}{unit} and this asks for {more}{unit} more.",
                error="quota_exceeded",
                limit=name,
                quota={"limit": allowed[name], "usage": getattr(used, name), "asked": more},
            )
    try:
        provider = providers.load(settings)
    except providers.PoolExhausted as exc:  # a static hosts file that cannot be read
        raise Conflict(f"This host cannot hold it: {exc}.", error="capacity") from None
    problem = provider.capacity_problem(usage(session).footprint(), asked.footprint())
    if problem is not None:
        raise Conflict(f"This host cannot hold it: {problem}.", error="capacity")
