"""Patroni's view of an instance's cluster, read from its REST API over TLS (the nodes'
certificates verified with the service's root): what a request checks before it asks
the cluster for a change (a switchover's candidate)."""

import json
import ssl
import urllib.request
from typing import Any

REST_PORT = 8008
# Patroni's maximum_lag_on_failover (bytes): a replica further behind is no candidate.
MAXIMUM_LAG = 1_048_576


def cluster(addresses: list[str], ca_certificate: str, timeout: float = 2.0) -> dict | None:
    """GET /cluster from the first node that answers; None if none does."""
    context = ssl.create_default_context(cadata=ca_certificate)
    for address in addresses:
        # An https URL of our own making (a node's address from the database).
        url = f"https://{address}:{REST_PORT}/cluster"
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:  # noqa: S310
                return json.load(answer)
        except (OSError, ValueError):
            continue
    return None


def leader(members: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((m for m in members if m.get("role") == "leader"), None)


def is_healthy_replica(member: dict[str, Any]) -> bool:
    """A replica Patroni would hand the leadership to: streaming (or running) and
    caught up within maximum_lag_on_failover, not tagged nofailover."""
    lag = member.get("lag", 0)
    return (
        member.get("role") in ("replica", "sync_standby", "quorum_standby")
        and member.get("state") in ("running", "streaming")
        and isinstance(lag, int)
        and lag <= MAXIMUM_LAG
        and not (member.get("tags") or {}).get("nofailover", False)
    )


def switchover_candidate(members: list[dict[str, Any]], to: str | None) -> tuple[dict | None, str]:
    """The member to hand the leadership to, or None with the reason. `to` is an
    address; without it, a synchronous standby (else the least lagging replica)."""
    healthy = [m for m in members if is_healthy_replica(m)]
    if to is not None:
        chosen = next((m for m in members if m.get("host") == to), None)
        if chosen is None:
            return None, f"{to} is not a node of this instance's cluster"
        if chosen.get("role") == "leader":
            return None, f"{to} is the primary already"
        if chosen not in healthy:
            return None, (
                f"{to} is not a healthy replica (role {chosen.get('role')}, "
                f"state {chosen.get('state')}, lag {chosen.get('lag')})"
            )
        return chosen, ""
    synchronous = [m for m in healthy if m.get("role") == "sync_standby"]
    chosen = (synchronous or sorted(healthy, key=lambda m: m.get("lag", 0)) or [None])[0]
    return chosen, "" if chosen else "no replica is healthy enough to take over"
