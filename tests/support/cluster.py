"""A Patroni cluster on a throw-away lab, built by the repository's own playbooks, and
the tools to watch it fail over: shared by tests/roles and bench/failover.py."""

import json
import os
import signal
import socket
import ssl
import threading
import time
import urllib.request
from base64 import b64encode

import psycopg
from psycopg import sql

from tests.support.lab import Lab

CREDENTIALS = {
    "superuser": "t-su-" + os.urandom(6).hex(),
    "replication": "t-repl-" + os.urandom(6).hex(),
    "rest": "t-rest-" + os.urandom(6).hex(),
}


def cluster_vars(lab: Lab, sync: int = 1) -> dict:
    """What the worker would hand instance_create.yml for a 1-cpu, 1 GB instance."""
    return {
        "dbaas_instance": lab.instance(sync),
        "dbaas_credentials": CREDENTIALS,
        "dbaas_etcd_members": lab.nodes[:3],
    }


def rest(lab: Lab, address: str, path: str, method: str = "GET", body: dict | None = None):
    """Patroni's REST API over TLS; writes authenticate with the REST credential."""
    request = urllib.request.Request(f"https://{address}:8008{path}", method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
        token = b64encode(f"dbaas:{CREDENTIALS['rest']}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=lab.ca_file)
    with urllib.request.urlopen(request, timeout=5, context=context) as answer:
        content = answer.read()
    try:
        return json.loads(content)
    except ValueError:  # /switchover answers in plain text
        return {"text": content.decode(errors="replace")}


def superuser_conninfo(lab: Lab, dbname: str = "postgres", hosts: list[str] = ()) -> str:
    """The multi-host connection string a client uses: the primary, wherever it is."""
    hosts = ",".join(hosts or [n["address"] for n in lab.nodes])
    return (
        f"host={hosts} port=5432 dbname={dbname} user=postgres "
        f"password={CREDENTIALS['superuser']} target_session_attrs=read-write "
        f"connect_timeout=2 tcp_user_timeout=2000 sslmode=verify-full sslrootcert={lab.ca_file}"
    )


def wait_healthy(lab: Lab, sync: int = 1, timeout: float = 120) -> str:
    """The leader's name, once every member runs and the sync standbys are there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in lab.nodes:
            try:
                members = rest(lab, node["address"], "/cluster")["members"]
            except OSError:
                continue
            if (
                len(members) == len(lab.nodes)
                and all(m["state"] in ("running", "streaming") for m in members)
                and sum(m["role"] == "sync_standby" for m in members) == sync
                and sum(m["role"] == "leader" for m in members) == 1
            ):
                return next(m["name"] for m in members if m["role"] == "leader")
            break
        time.sleep(1)
    raise TimeoutError("the cluster did not become healthy")


def answering(addresses: list[str], port: int = 5432, timeout: float = 0.25) -> list[str]:
    """The addresses that accept a TCP connection now. libpq waits connect_timeout
    (2 s at least) on a vanished host before trying the next; a driver or proxy that
    probes first does not, and then the figures measure the cluster, not the client."""
    alive = []
    for address in addresses:
        try:
            socket.create_connection((address, port), timeout=timeout).close()
            alive.append(address)
        except OSError:
            continue
    return alive


class Writer(threading.Thread):
    """Writes one row every 20 ms into `table` (a bigserial `n`) on the read-write node
    among `addresses` (multi-host connection string over the nodes that answer), noting
    each committed row, when, and which server took it."""

    def __init__(self, addresses: list[str], conninfo, table: str = "t"):
        super().__init__(daemon=True)
        self.addresses = addresses
        self.conninfo = conninfo  # hosts -> libpq connection string
        self.table = table
        self.committed: list[tuple[int, float, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = None
        insert = sql.SQL(
            "insert into {} default values returning n, host(inet_server_addr())"
        ).format(sql.Identifier(self.table))
        while not self.stop.is_set():
            try:
                if conn is None:
                    hosts = answering(self.addresses) or self.addresses
                    conn = psycopg.connect(self.conninfo(hosts), autocommit=True)
                n, server = conn.execute(insert).fetchone()
                self.committed.append((n, time.monotonic(), server))
            except psycopg.Error:
                conn = None
                time.sleep(0.05)
            time.sleep(0.02)

    def first_write_after(self, moment: float) -> float | None:
        return min((t for _, t, _ in self.committed if t > moment), default=None)

    def first_write_elsewhere(self, address: str) -> float | None:
        return min((t for _, t, server in self.committed if server != address), default=None)

    def longest_pause(self, since: float) -> float:
        """The longest time between two commits after `since` (seconds)."""
        times = [t for _, t, _ in self.committed if t >= since]
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def pauses(self, since: float, over: float = 0.5) -> list[tuple[float, float]]:
        """Each gap between two commits after `since` longer than `over`: (when it
        began, seconds after `since`; how long it lasted)."""
        times = [t for _, t, _ in self.committed if t >= since]
        return [(a - since, b - a) for a, b in zip(times, times[1:], strict=False) if b - a > over]

    def finish(self) -> set[int]:
        """Stop writing; the rows it saw committed."""
        self.stop.set()
        self.join(10)
        return {n for n, _, _ in self.committed}


def init_pid(lab: Lab, name: str) -> int:
    return int((lab.state_dir / name / "init.pid").read_text().split()[0])


HOW = {
    "graceful stop": lambda pid: os.kill(pid, signal.SIGRTMIN + 3),  # systemd: poweroff
    "hard kill": lambda pid: os.kill(pid, signal.SIGKILL),
}


def lose_primary(lab: Lab, how: str, timeout: float = 90) -> dict:
    """Write continuously, lose the primary (switchover, graceful stop, hard kill),
    and measure: seconds to the first write on another node, rows committed, lost."""
    by_name = {n["name"]: n for n in lab.nodes}
    leader = wait_healthy(lab)
    old_address = by_name[leader]["address"]
    writer = Writer(
        [n["address"] for n in lab.nodes], lambda hosts: superuser_conninfo(lab, hosts=hosts)
    )
    writer.start()
    time.sleep(2)
    lost_at = time.monotonic()
    if how == "switchover":
        rest(lab, old_address, "/switchover", "POST", {"leader": leader})
    else:
        HOW[how](init_pid(lab, leader))
    deadline = lost_at + timeout
    while time.monotonic() < deadline and writer.first_write_elsewhere(old_address) is None:
        time.sleep(0.05)
    first = writer.first_write_elsewhere(old_address)
    time.sleep(1)
    committed = writer.finish()
    with psycopg.connect(superuser_conninfo(lab), autocommit=True) as conn:
        present = {row[0] for row in conn.execute("select n from t")}
    return {
        "scenario": how,
        "old_leader": leader,
        "seconds_to_first_write": None if first is None else round(first - lost_at, 1),
        "rows_committed": len(committed),
        "rows_lost": len(committed - present),
    }
