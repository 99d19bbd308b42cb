"""An API user's instance on real lab machines: POST, wait for ACTIVE, a Patroni
cluster with its synchronous standby; DELETE, and nothing is left on the host."""

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from app.services.references import INSTANCES_PATH
from tests.e2e.conftest import new_lab_pipeline
from tests.support.cluster import Writer
from tests.support.lab import ssh

INSTANCES = INSTANCES_PATH


def port_open(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def service_ca() -> ssl.SSLContext:
    """Verifies the nodes as a client does, with the CA the API serves (the lab_pipeline
    fixture points libpq's PGSSLROOTCERT at it too)."""
    return ssl.create_default_context(cafile=os.environ["PGSSLROOTCERT"])


def patroni_cluster(address: str) -> dict:
    url = f"https://{address}:8008/cluster"
    with urllib.request.urlopen(url, timeout=5, context=service_ca()) as answer:
        return json.load(answer)


def host_leftovers(data_dir: Path, bridge: str) -> list[str]:
    nodes = str(data_dir / "nodes")
    left = [line for line in Path("/proc/mounts").read_text().splitlines() if nodes in line]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if nodes.encode() in cmdline.read_bytes():
                left.append(f"process {cmdline.parent.name}")
        except OSError:
            continue
    left += [str(path) for path in Path(nodes).glob("*")] if Path(nodes).exists() else []
    return left


def connect(host: str, user: str, password: str, dbname: str, **options):
    return psycopg.connect(
        host=host,
        port=5432,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=5,
        **options,
    )


@pytest.mark.parametrize("major", [15, 17, 18])
def test_three_nodes_one_sync_replica_users_databases_and_data(lab_pipeline, major):
    pipeline = lab_pipeline
    pipeline.worker.start()
    instance = pipeline.create_instance(
        "e2e",
        nodes_number=3,
        sync_replica_number=1,
        version=pipeline.version_uri(f"PostgreSQL {major}"),
    )
    path = f"{INSTANCES}/{instance['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    ips = active["ipsv4"]
    assert active["error"] is None
    assert len(ips) == 3
    assert active["connection_uri"] == (
        f"postgresql://{','.join(ip + ':5432' for ip in ips)}/postgres"
        "?target_session_attrs=read-write&sslmode=verify-full"
    )
    members = patroni_cluster(ips[0])["members"]
    assert sorted(m["role"] for m in members) == ["leader", "replica", "sync_standby"]

    # A user and a database it owns, through the API.
    password = "app-Secret-pass-1"
    user = pipeline.api.post(
        f"{path}/users", json={"name": "app_user", "password": password, "description": "app"}
    ).json
    database = pipeline.api.post(
        f"{path}/databases", json={"name": "app_db", "owner": user["uuid"]}
    ).json
    pipeline.wait_status(f"{path}/users/{user['uuid']}", "ACTIVE", timeout=180)
    pipeline.wait_status(f"{path}/databases/{database['uuid']}", "ACTIVE", timeout=180)

    # The user logs in on every node (the primary and both replicas), over TLS, on the
    # version's major ...
    for ip in ips:
        with connect(ip, "app_user", password, "app_db") as conn:
            assert conn.execute("select current_user").fetchone()[0] == "app_user"
            assert conn.execute("show server_version").fetchone()[0].startswith(f"{major}.")
            assert conn.pgconn.ssl_in_use
    # ... and not with a wrong password.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(ips[0], "app_user", password + "x", "app_db")

    # 1000 rows through the multi-host URI land on the primary and reach every node.
    with psycopg.connect(
        active["connection_uri"].replace("/postgres?", "/app_db?"),
        user="app_user",
        password=password,
        connect_timeout=5,
    ) as conn:
        conn.execute("create table t (n int primary key)")
        conn.execute("insert into t select generate_series(1, 1000)")
    for ip in ips:

        def replicated(ip=ip):
            with connect(ip, "app_user", password, "app_db") as conn:
                try:
                    return conn.execute("select count(*) from t").fetchone()[0] == 1000
                except psycopg.errors.UndefinedTable:
                    return False

        pipeline.wait_for(replicated, f"the rows on {ip}", 60)

    lose_the_primary_under_load(pipeline, instance, ips, password)
    # The switchover through the API on the oldest and the newest Patroni (3.0, 4.1);
    # on PostgreSQL 15 (Debian's point release), the minor rolling update, then on the
    # same instance the major upgrade in place 15 -> 17 and a refused 17 -> 18, undone.
    if major != 17:
        switch_over_through_the_api(pipeline, instance, ips, password)
    if major == 15:
        from tests.e2e.upgrades import roll_a_minor_update, upgrade_majors

        roll_a_minor_update(pipeline, path, ips, password)
        upgrade_majors(pipeline, path, ips, password)

    # Dropping the database, then its owner: the user can no longer log in.
    assert pipeline.api.delete(f"{path}/databases/{database['uuid']}").status_code == 204
    pipeline.wait_for(
        lambda: pipeline.api.get(f"{path}/databases/{database['uuid']}").status_code == 404,
        "the database to go",
        180,
    )
    assert pipeline.api.delete(f"{path}/users/{user['uuid']}").status_code == 204
    pipeline.wait_for(
        lambda: pipeline.api.get(f"{path}/users/{user['uuid']}").status_code == 404,
        "the user to go",
        180,
    )
    with pytest.raises(psycopg.OperationalError):
        connect(ips[0], "app_user", password, "postgres")

    # The user's password, used all along, is nowhere the control plane keeps things.
    places = pipeline.secret_places()
    assert [where for where, content in places.items() if password.encode() in content] == []
    assert any("/runs/" in where for where in places)  # the playbook runs were searched
    assert any(where.startswith("redis b'rq:job:") for where in places)

    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    for ip in ips:
        assert not port_open(ip, 5432)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []


def app_writer(ips: list[str], password: str, table: str = "w") -> Writer:
    """app_user writing into app_db's table (w), through the multi-host string."""
    return Writer(
        ips,
        lambda hosts: (
            f"host={','.join(hosts)} port=5432 dbname=app_db user=app_user "
            f"password={password} target_session_attrs=read-write "
            "connect_timeout=2 tcp_user_timeout=2000"
        ),
        table=table,
    )


def writing(pipeline, ips: list[str], password: str, table: str = "w") -> tuple[Writer, dict]:
    """app_writer started on a new table, once its first writes are in; and the leader
    (Patroni's member) they went to."""
    leader = next(m for m in patroni_cluster(ips[0])["members"] if m["role"] == "leader")
    with connect(leader["host"], "app_user", password, "app_db") as conn:
        conn.execute(
            sql.SQL("create table {} (n bigserial primary key)").format(sql.Identifier(table))
        )
    writer = app_writer(ips, password, table)
    writer.start()
    pipeline.wait_for(lambda: len(writer.committed) > 20, "the first writes", 30)
    return writer, leader


def lose_the_primary_under_load(pipeline, instance: dict, ips: list[str], password: str):
    """The primary's machine dies while a client writes: the worker sees its init end,
    fences it (its leader key removed from etcd) and the synchronous standby takes over
    in seconds; the instance stays ACTIVE with that node shown ERROR, the worker starts
    the machine again (it rejoins as a replica), and every committed row is there. The
    seconds without a write, and the longest pause across the rejoin, are printed."""
    path = f"{INSTANCES}/{instance['uuid']}"
    writer, leader = writing(pipeline, ips, password)
    try:
        init = pipeline.data_dir / "nodes" / leader["name"] / "init.pid"
        os.kill(int(init.read_text().split()[0]), signal.SIGKILL)
        killed_at = time.monotonic()
        pipeline.wait_for(
            lambda: (
                f"fenced: instance={instance['uuid']} node={leader['name']}"
                in pipeline.worker.log()
            ),
            "the worker to fence the dead leader",
            30,
        )
        # Writes resume on the synchronous standby, promoted once the key was gone.
        pipeline.wait_for(
            lambda: writer.first_write_elsewhere(leader["host"]), "writes on a new primary", 60
        )
        print(
            "fenced failover: first write on the new primary after "
            f"{writer.first_write_elsewhere(leader['host']) - killed_at:.1f} s"
        )
        pipeline.wait_for(
            lambda: (
                pipeline.nodes(instance)[leader["name"]]["status"] == "ERROR"
                or any(o["action"] == "start" for o in pipeline.operations(instance))
            ),
            "the dead node to show ERROR",
            30,
        )
        assert pipeline.api.get(path).json["status"] == "ACTIVE"
        rejoin_from = time.monotonic()
        pipeline.wait_for(
            lambda: pipeline.nodes(instance)[leader["name"]]["status"] == "ACTIVE",
            "the worker to start the node again",
            240,
        )
        assert pipeline.api.get(path).json["status"] == "ACTIVE"
        pipeline.wait_for(
            lambda: (
                len(patroni_cluster(ips[0])["members"]) == 3
                and all(
                    m["state"] in ("running", "streaming")
                    for m in patroni_cluster(ips[0])["members"]
                )
            ),
            "the old primary to rejoin",
            120,
        )
        time.sleep(5)  # writes go on while the sync standby may move to the rejoined node
        print(f"writes across the rejoin: longest pause {writer.longest_pause(rejoin_from):.2f} s")
    finally:
        committed = writer.finish()
    with psycopg.connect(
        instance_uri(pipeline, instance, "app_db"), user="app_user", password=password
    ) as conn:
        present = {n for (n,) in conn.execute("select n from w")}
    assert len(committed) > 20
    assert committed - present == set()


def switch_over_through_the_api(pipeline, instance: dict, ips: list[str], password: str):
    """POST .../switchover under a writer: to the asynchronous replica named by its
    address (made a sync standby first), then by default (to a sync standby). The
    instance stays ACTIVE, no committed row is lost; the pause is printed."""
    path = f"{INSTANCES}/{instance['uuid']}"
    members = patroni_cluster(ips[0])["members"]
    leader = next(m for m in members if m["role"] == "leader")
    asynchronous = next(m for m in members if m["role"] == "replica")
    refused = pipeline.api.post(f"{path}/switchover", json={"to": leader["host"]})
    assert refused.status_code == 422, refused.json
    assert "primary already" in refused.json["errors"]["to"][0]
    writer = app_writer(ips, password)
    writer.start()
    try:
        pipeline.wait_for(lambda: len(writer.committed) > 20, "the first writes", 30)
        for to, expected in ((asynchronous["host"], asynchronous["name"]), (None, None)):
            asked_at = time.monotonic()
            answer = pipeline.api.post(f"{path}/switchover", json={"to": to} if to else {})
            assert answer.status_code == 202, answer.json
            assert answer.json["action"] == "switchover"
            busy = pipeline.api.post(f"{path}/switchover", json={})
            assert busy.status_code == 409, busy.json
            operation = pipeline.wait_for(
                lambda uuid=answer.json["uuid"]: (
                    (found := pipeline.api.get(f"{path}/operations/{uuid}").json)["status"]
                    in ("SUCCEEDED", "FAILED")
                    and found
                ),
                "the switchover",
                180,
            )
            assert operation["status"] == "SUCCEEDED", operation["error"]
            assert pipeline.api.get(path).json["status"] == "ACTIVE"
            members = patroni_cluster(ips[0])["members"]
            new_leader = next(m for m in members if m["role"] == "leader")
            assert new_leader["name"] != leader["name"]
            if expected:
                assert new_leader["name"] == expected
            # The sync count is what the instance asked for, whoever leads.
            pipeline.wait_for(
                lambda: (
                    sum(m["role"] == "sync_standby" for m in patroni_cluster(ips[0])["members"])
                    == 1
                ),
                "one sync standby again",
                60,
            )
            print(
                f"switchover to {'the named replica' if to else 'a sync standby'}: longest "
                f"pause in writes {writer.longest_pause(asked_at):.2f} s"
            )
            leader = new_leader
    finally:
        committed = writer.finish()
    with psycopg.connect(
        instance_uri(pipeline, instance, "app_db"), user="app_user", password=password
    ) as conn:
        present = {n for (n,) in conn.execute("select n from w")}
    assert committed - present == set()


def instance_uri(pipeline, instance: dict, dbname: str) -> str:
    active = pipeline.api.get(f"{INSTANCES}/{instance['uuid']}").json
    return active["connection_uri"].replace("/postgres?", f"/{dbname}?") + "&connect_timeout=5"


def test_the_specs_manifest_one_node_one_sync_replica_survives_a_node_crash(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    instance = pipeline.create_instance(
        "demo-cluster", nodes_number=1, sync_replica_number=1, disk_size=15
    )
    path = f"{INSTANCES}/{instance['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    assert active["effective_sync_replica_number"] == 0
    [member] = patroni_cluster(active["ipsv4"][0])["members"]
    assert member["role"] == "leader"

    # The machine dies (SIGKILL to its init ends the whole node); the worker's
    # reconcile brings it back with its data disk, and PostgreSQL with it.
    [node_dir] = (pipeline.data_dir / "nodes").glob("*")
    init = int((node_dir / "init.pid").read_text().split()[0])
    os.kill(init, signal.SIGKILL)
    pipeline.wait_for(lambda: not port_open(active["ipsv4"][0], 5432), "the node to die", 30)
    pipeline.wait_operation(
        instance, "the reconcile's start operation", 180, action="start", status="SUCCEEDED"
    )
    assert pipeline.api.get(path).json["status"] == "ACTIVE"
    pipeline.wait_for(lambda: port_open(active["ipsv4"][0], 5432), "PostgreSQL to be back", 60)

    unreachable_node_fails_naming_it_and_the_retry_succeeds(pipeline, instance)
    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []


def unreachable_node_fails_naming_it_and_the_retry_succeeds(pipeline, instance: dict):
    """The node drops off the network (its link on the host side goes down): a user's
    creation fails naming the node; once it is back, asking again succeeds."""
    path = f"{INSTANCES}/{instance['uuid']}"
    [node] = pipeline.nodes(instance).values()
    link = f"vb-{node['name']}"
    subprocess.run(["ip", "link", "set", link, "down"], check=True)
    try:
        user = pipeline.api.post(f"{path}/users", json={"name": "late", "password": "Late-pw-1"})
        assert user.status_code == 201
        failed = pipeline.wait_status(f"{path}/users/{user.json['uuid']}", "ERROR", 180)
    finally:
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    assert failed["error"]["host"] == node["name"]
    assert "unreachable" in failed["error"]["message"]
    [operation] = [o for o in pipeline.operations(instance) if o["target"].endswith(failed["uuid"])]
    assert operation["status"] == "FAILED"
    assert operation["error"]["host"] == node["name"]

    retried = pipeline.api.put(f"{path}/users/{failed['uuid']}", json={"password": "Late-pw-2"})
    assert retried.status_code == 200
    pipeline.wait_status(f"{path}/users/{failed['uuid']}", "ACTIVE", 180)
    assert pipeline.nodes(instance)[node["name"]]["status"] == "ACTIVE"
    # PostgreSQL follows its address back (the node lost it with the link).
    pipeline.wait_for(lambda: port_open(node["address"], 5432), "PostgreSQL to listen again", 90)
    with connect(node["address"], "late", "Late-pw-2", "postgres") as conn:
        assert conn.execute("select current_user").fetchone()[0] == "late"


def test_a_version_whose_image_does_not_exist_fails_clearly(lab_pipeline):
    """An admin's mistake is refused by the API; a version whose recipe went away since
    (written before versions were checked) shows as the instance's error, and leaves
    nothing behind."""
    pipeline = lab_pipeline
    from app.services import tokens
    from core.models import Version

    admin = tokens.create_token(pipeline.session, pipeline.api.project_id, is_admin=True)
    pipeline.api.token = admin
    refused = pipeline.api.post(
        "/v1/types/postgres/versions",
        json={"name": "PostgreSQL 99", "image": "debian-nowhere-pg99"},
    )
    assert refused.status_code == 422
    assert "debian-nowhere-pg99" in refused.json["errors"]["image"][0]
    stale = Version(name="PostgreSQL 99", image="debian-nowhere-pg99")
    pipeline.session.add(stale)
    pipeline.session.commit()
    version = {"uuid": stale.uuid}
    pipeline.worker.start()
    answer = pipeline.api.post(
        INSTANCES,
        json={
            "name": "doomed",
            "cpu": 1,
            "ram": 1024,
            "disk_size": 8,
            "nodes_number": 3,
            "version": version["uuid"],
        },
    )
    path = f"{INSTANCES}/{answer.json['uuid']}"
    failed = pipeline.wait_status(path, "ERROR", timeout=120)
    assert "debian-nowhere-pg99" in failed["error"]["message"]
    assert failed["ipsv4"] == []  # its addresses went back to the pool
    [operation] = pipeline.operations(answer.json)
    assert operation["status"] == "FAILED"
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []
    assert not Path("/var/cache/dbaas/images/debian-nowhere-pg99").exists()


def switch_over(address: str, rest_password: str, leader: str, candidate: str) -> None:
    request = urllib.request.Request(
        f"https://{address}:8008/switchover",
        method="POST",
        data=json.dumps({"leader": leader, "candidate": candidate}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic "
            + base64.b64encode(f"dbaas:{rest_password}".encode()).decode(),
        },
    )
    urllib.request.urlopen(request, timeout=30, context=service_ca()).close()


def etcd_members(key: Path, address: str) -> int:
    listed = ssh(
        key,
        address,
        "ETCDCTL_API=3 ETCDCTL_CACERT=/etc/dbaas/tls/ca.pem ETCDCTL_CERT=/etc/dbaas/tls/node.pem"
        " ETCDCTL_KEY=/etc/dbaas/tls/etcd.key etcdctl --endpoints=https://127.0.0.1:2379"
        " member list",
    ).stdout
    return len(listed.strip().splitlines())


def test_update_grows_then_shrinks_nodes_disk_and_sync_keeping_the_data(lab_pipeline):
    from core import secrets as core_secrets
    from core.models import Instance

    pipeline = lab_pipeline
    pipeline.worker.start()
    instance = pipeline.create_instance("grow", nodes_number=1, sync_replica_number=0)
    path = f"{INSTANCES}/{instance['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    record = pipeline.session.query(Instance).filter_by(uuid=instance["uuid"]).one()
    credentials = core_secrets.credentials(pipeline.session, record, pipeline.settings)
    superuser = credentials["superuser"]
    pipeline.session.rollback()
    with connect(active["ipsv4"][0], "postgres", superuser, "postgres") as conn:
        conn.execute("create table kept (n int)")
        conn.execute("insert into kept select generate_series(1, 500)")

    # Up: 1 -> 3 nodes (etcd grows to 3 members), 8 -> 12 GB online, sync 0 -> 1, size.
    changed = pipeline.api.put(
        path,
        json={"disk_size": 12, "cpu": 2, "ram": 2048, "nodes_number": 3, "sync_replica_number": 1},
    )
    assert changed.status_code == 200
    assert changed.json["status"] == "IN_PROGRESS"
    grown = pipeline.wait_status(path, "ACTIVE", timeout=600)
    assert len(grown["ipsv4"]) == 3
    members = patroni_cluster(grown["ipsv4"][0])["members"]
    assert sorted(m["role"] for m in members) == ["leader", "replica", "sync_standby"]
    assert not any(m.get("pending_restart") for m in members)
    key = pipeline.data_dir / "ssh" / "id_ed25519"
    assert etcd_members(key, grown["ipsv4"][0]) == 3
    with psycopg.connect(
        grown["connection_uri"], user="postgres", password=superuser, connect_timeout=5
    ) as conn:
        assert conn.execute("select count(*) from kept").fetchone()[0] == 500
        assert conn.execute("show shared_buffers").fetchone()[0] == "512MB"
        assert conn.execute("show max_parallel_workers").fetchone()[0] == "2"
    for ip in grown["ipsv4"]:
        size = ssh(key, ip, "df -B1G --output=size /var/lib/postgresql | tail -1").stdout
        assert int(size) == 12

    # Down, with the leader on a leaving node: the nodes before the leader stay (if
    # the first node leads, the sync standby takes over first). The update has to move
    # the leadership off the leaving nodes before removing them.
    leader = next(m for m in members if m["role"] == "leader")
    target = leader
    if grown["ipsv4"].index(leader["host"]) == 0:
        target = next(m for m in members if m["role"] == "sync_standby")
        switch_over(leader["host"], credentials["rest"], leader["name"], target["name"])
        pipeline.wait_for(
            lambda: any(
                m["role"] == "leader" and m["name"] == target["name"]
                for m in patroni_cluster(grown["ipsv4"][0])["members"]
            ),
            "the switchover",
            60,
        )
    keep = grown["ipsv4"].index(target["host"])
    assert pipeline.api.put(path, json={"nodes_number": keep}).status_code == 200
    shrunk = pipeline.wait_status(path, "ACTIVE", timeout=600)
    assert shrunk["ipsv4"] == grown["ipsv4"][:keep]
    assert shrunk["effective_sync_replica_number"] == min(1, keep - 1)
    members = patroni_cluster(shrunk["ipsv4"][0])["members"]
    assert sorted(m["host"] for m in members) == sorted(shrunk["ipsv4"])
    assert [m["host"] for m in members if m["role"] == "leader"][0] in shrunk["ipsv4"]
    assert etcd_members(key, shrunk["ipsv4"][0]) == keep
    for ip in grown["ipsv4"][keep:]:
        assert not port_open(ip, 5432)
    assert len(list((pipeline.data_dir / "nodes").glob("*"))) == keep
    with psycopg.connect(
        shrunk["connection_uri"], user="postgres", password=superuser, connect_timeout=5
    ) as conn:
        assert conn.execute("select count(*) from kept").fetchone()[0] == 500
        conn.execute("insert into kept values (501)")

    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []


def test_restarting_the_worker_keeps_instances_reachable_and_work_going(lab_pipeline):
    """Ctrl-C on the worker, then a crash of it mid-run: the instance keeps serving,
    what was asked meanwhile is done once a worker runs again."""
    pipeline = lab_pipeline
    pipeline.worker.start()
    instance = pipeline.create_instance("steady", nodes_number=1)
    path = f"{INSTANCES}/{instance['uuid']}"
    [address] = pipeline.wait_status(path, "ACTIVE", timeout=600)["ipsv4"]

    pipeline.worker.interrupt()
    password = "steady-Pass-1"
    user = pipeline.api.post(f"{path}/users", json={"name": "app", "password": password}).json
    assert port_open(address, 5432)  # nodes do not depend on the worker
    pipeline.worker.start()
    pipeline.wait_status(f"{path}/users/{user['uuid']}", "ACTIVE", timeout=180)
    with connect(address, "app", password, "postgres") as conn:
        assert conn.execute("select current_user").fetchone() == ("app",)

    # A crash in the middle of a run: the next worker finds the dead run and redoes it.
    database = pipeline.api.post(
        f"{path}/databases", json={"name": "app_db", "owner": user["uuid"]}
    ).json
    pipeline.wait_operation(
        instance, "the database's run to start", 60, target_type="database", status="RUNNING"
    )
    pipeline.worker.kill()
    pipeline.worker.start()
    pipeline.wait_status(f"{path}/databases/{database['uuid']}", "ACTIVE", timeout=300)
    [operation] = [o for o in pipeline.operations(instance) if o["target_type"] == "database"]
    assert operation["attempts"] == 2
    with connect(address, "app", password, "app_db") as conn:
        assert conn.execute("select current_database()").fetchone() == ("app_db",)

    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []


def test_a_delete_during_a_three_node_create_stops_it_and_leaves_nothing(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    instance = pipeline.create_instance("doomed", nodes_number=3, sync_replica_number=1)
    path = f"{INSTANCES}/{instance['uuid']}"
    nodes_dir = pipeline.data_dir / "nodes"
    # Mid-create: machines booted, the cluster not there yet.
    pipeline.wait_for(
        lambda: len(list(nodes_dir.glob("*/init.pid"))) == 3, "the nodes to boot", 300
    )
    asked = time.monotonic()
    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    print(f"delete during the create: gone after {time.monotonic() - asked:.1f} s")
    assert "event=cancelled" in pipeline.worker.log()
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []
    assert pipeline.admin.get(f"{path}/nodes").status_code == 404


class Filler:
    """Rows of 1 kB into an unlogged table (no WAL to wait for) on a 1-node instance.
    How full the disk gets is counted from the rows: right after writing, `df` also
    counts XFS's speculative preallocation, which it gives back minutes later."""

    ROW_BYTES = 1170  # seven 1 kB rows to an 8 kB page

    def __init__(self, pipeline, instance: dict, password: str):
        self.uri = instance_uri(pipeline, instance, "big")
        self.password = password
        self.key = pipeline.data_dir / "ssh" / "id_ed25519"
        [self.address] = pipeline.api.get(f"{INSTANCES}/{instance['uuid']}").json["ipsv4"]
        self.used = self.df()[0]  # an empty cluster's, before any preallocation

    def df(self) -> tuple[int, int]:
        out = ssh(self.key, self.address, "df -B1 --output=used,size /var/lib/postgresql")
        used, size = out.stdout.splitlines()[-1].split()
        return int(used), int(size)

    def to(self, percent: int) -> None:
        size = self.df()[1]
        rows = max(0, (size * percent // 100 - self.used) // self.ROW_BYTES)
        with psycopg.connect(self.uri, user="filler", password=self.password) as conn:
            conn.execute("create unlogged table if not exists pad (filler text)")
            conn.execute(
                "insert into pad select repeat(md5(g::text), 31) from generate_series(1, %s) g",
                (rows,),
            )
        self.used += rows * self.ROW_BYTES


def test_a_filling_disk_grows_to_its_max_then_warns(tmp_path, redis_url, monkeypatch):
    with new_lab_pipeline(tmp_path, redis_url, monkeypatch, DISK_CHECK_INTERVAL=5) as pipeline:
        pipeline.worker.start()
        instance = pipeline.create_instance("filling", disk_size=8, max_disk_size=10)
        path = f"{INSTANCES}/{instance['uuid']}"
        pipeline.wait_status(path, "ACTIVE", timeout=600)
        password = "filler-Secret-1"
        user = pipeline.api.post(f"{path}/users", json={"name": "filler", "password": password})
        database = pipeline.api.post(
            f"{path}/databases", json={"name": "big", "owner": user.json["uuid"]}
        )
        pipeline.wait_status(f"{path}/databases/{database.json['uuid']}", "ACTIVE", 180)

        filler = Filler(pipeline, instance, password)
        filler.to(84)  # of 8 GB
        grown = pipeline.wait_for(
            lambda: (
                (shown := pipeline.api.get(path).json)["disk_size"] == 10
                and shown["status"] == "ACTIVE"
                and shown
            ),
            "the disk to grow to 10 GB",
            240,
        )
        assert grown["warnings"] == []
        [grow] = [o for o in pipeline.operations(instance) if o["action"] == "update"]
        assert grow["status"] == "SUCCEEDED"
        assert filler.df()[1] > 9.5 * 1024**3  # grown online (XFS keeps a little for itself)

        filler.to(84)  # of 10 GB: at its max
        warned = pipeline.wait_for(
            lambda: (shown := pipeline.api.get(path).json)["warnings"] and shown,
            "the warning at max_disk_size",
            180,
        )
        assert warned["disk_size"] == 10 and "max_disk_size (10 GB)" in warned["warnings"][0]
        assert warned["disk_usage"]["percent"] >= 80
        assert pipeline.api.delete(path).status_code == 204
        pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
