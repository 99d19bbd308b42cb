"""Two tenants' instances on one lab bridge, through the API: clients reach PostgreSQL
only over verified TLS with the CA the API serves; etcd and Patroni's REST API
authenticate; a node of one instance reaches only PostgreSQL's port of another (and
not as an internal role); each node is held to its instance's memory and CPU. Deleting
both leaves no filter rule and no cgroup."""

import json
import subprocess
import urllib.error
import urllib.request

import psycopg
import pytest

from core import nspawn_node
from tests.e2e.test_instances import INSTANCES, connect, host_leftovers, service_ca
from tests.support.lab import firewall_exists

PROBE = """
import json, socket, sys
found = {}
for port in map(int, sys.argv[2:]):
    try:
        socket.create_connection((sys.argv[1], port), timeout=2).close()
        found[port] = True
    except OSError:
        found[port] = False
print(json.dumps(found))
"""


def reachable_from(init_pid: int, address: str, ports: list[int]) -> dict[int, bool]:
    """TCP connects from inside a node (its network namespace, entered by its init)."""
    probed = subprocess.run(
        ["nsenter", "-t", str(init_pid), "-n", "python3", "-c", PROBE, address]
        + [str(p) for p in ports],
        capture_output=True,
        text=True,
        check=True,
    )
    return {int(port): is_open for port, is_open in json.loads(probed.stdout).items()}


def init_of(pipeline, node_name: str) -> int:
    return int((pipeline.data_dir / "nodes" / node_name / "init.pid").read_text().split()[0])


def test_tls_authentication_isolation_and_limits_between_two_tenants(lab_pipeline, tmp_path):
    pipeline = lab_pipeline
    pipeline.worker.start()
    a = pipeline.create_instance("tenant-a", nodes_number=2, sync_replica_number=1, ram=1024)
    b = pipeline.create_instance("tenant-b", nodes_number=1, ram=768, cpu=1)
    a_path, b_path = f"{INSTANCES}/{a['uuid']}", f"{INSTANCES}/{b['uuid']}"
    a = pipeline.wait_status(a_path, "ACTIVE", timeout=600)
    b = pipeline.wait_status(b_path, "ACTIVE", timeout=600)
    user = pipeline.api.post(f"{a_path}/users", json={"name": "app", "password": "Tls-pass-1"})
    pipeline.wait_status(f"{a_path}/users/{user.json['uuid']}", "ACTIVE", 180)

    # The CA as a client gets it, then verify-full on every node.
    served = pipeline.api.get(f"{a_path}/ca")
    assert served.status_code == 200 and served.mimetype == "application/x-pem-file"
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(served.data)
    for address in a["ipsv4"]:
        with connect(
            address, "app", "Tls-pass-1", "postgres", sslmode="verify-full", sslrootcert=ca_file
        ) as conn:
            assert conn.execute(
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()"
            ).fetchone() == (True,)
    first = a["ipsv4"][0]
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(first, "app", "Tls-pass-1", "postgres", sslmode="disable")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(
            "db.example.com", "app", "Tls-pass-1", "postgres", hostaddr=first, sslrootcert=ca_file
        )
    with psycopg.connect(
        a["connection_uri"], user="app", password="Tls-pass-1", sslrootcert=str(ca_file)
    ) as conn:
        assert conn.execute("select not pg_is_in_recovery()").fetchone() == (True,)

    # etcd wants a client certificate of the instance; Patroni's writes want credentials.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"https://{first}:2379/version", timeout=5, context=service_ca())
    restart = urllib.request.Request(f"https://{first}:8008/restart", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(restart, timeout=5, context=service_ca())
    assert refused.value.code == 401

    # From tenant B's node: A's PostgreSQL answers, its internal ports do not ...
    [b_node] = pipeline.nodes(b).values()
    b_init = init_of(pipeline, b_node["name"])
    for address in a["ipsv4"]:
        assert reachable_from(b_init, address, [5432, 2379, 2380, 8008, 8432, 22]) == {
            5432: True,
            2379: False,
            2380: False,
            8008: False,
            8432: False,
            22: False,
        }
    # ... while A's nodes reach each other's, and the control host reaches everything.
    a_nodes = list(pipeline.nodes(a).values())
    a_init = init_of(pipeline, a_nodes[0]["name"])
    assert reachable_from(a_init, a_nodes[1]["address"], [2379, 2380, 8008, 8432, 22]) == {
        2379: True,
        2380: True,
        8008: True,
        8432: True,
        22: True,
    }
    # ... and the internal roles are refused from anywhere but A's nodes and this host.
    superuser_check = subprocess.run(
        [
            "nsenter",
            "-t",
            str(b_init),
            "-n",
            "psql",
            "-w",
            "-c",
            "select 1",
            f"host={first} user=postgres dbname=postgres sslmode=require connect_timeout=5",
        ],
        capture_output=True,
        text=True,
        env={"PGPASSWORD": "not-needed-to-be-refused"},
    )
    assert superuser_check.returncode != 0
    assert "rejects connection" in superuser_check.stderr, superuser_check.stderr

    # Each node is held to its instance's size.
    for node, ram in ((a_nodes[0], 1024), (b_node, 768)):
        group = nspawn_node.cgroups(node["name"])
        limit = int((group["memory"] / "memory.limit_in_bytes").read_text())
        assert limit == ram * 1024 * 1024
        assert int((group["cpu"] / "cpu.cfs_quota_us").read_text()) == 100_000
        assert (
            str(init_of(pipeline, node["name"])) in (group["memory"] / "cgroup.procs").read_text()
        )

    assert firewall_exists(pipeline.bridge)
    for path in (a_path, b_path):
        assert pipeline.api.delete(path).status_code == 204
    for path in (a_path, b_path):
        pipeline.wait_for(lambda p=path: pipeline.api.get(p).status_code == 404, "the delete", 300)
    assert not firewall_exists(pipeline.bridge)
    for node in (*a_nodes, b_node):
        assert not any(g.exists() for g in nspawn_node.cgroups(node["name"]).values())
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []
