"""A 3-node Patroni cluster with one synchronous replica, built by the playbooks an SRE
runs: its shape, its authentication, an SRE's plaintext password, running again, and
failover when the primary's node stops cleanly or dies. Everything is removed after."""

import secrets
import ssl
import urllib.error
import urllib.request

import psycopg
import pytest

from core import tls
from tests.support.cluster import (
    CREDENTIALS,
    cluster_vars,
    lose_primary,
    rest,
    superuser_conninfo,
    wait_healthy,
)
from tests.support.lab import Lab, lab_nodes


@pytest.fixture
def lab(tmp_path):
    with lab_nodes(tmp_path, 3) as lab:
        yield lab


def login(lab: Lab, address: str, user: str, password: str | None, **options):
    settings = {"dbname": "postgres", "sslmode": "verify-full", "sslrootcert": lab.ca_file}
    return psycopg.connect(
        host=address,
        port=5432,
        user=user,
        password=password,
        connect_timeout=5,
        **{**settings, **options},
    )


def tls_client(lab: Lab, certificate: tls.Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=lab.ca_file)
    if certificate is not None:
        directory = lab.tmp_path / secrets.token_hex(4)
        directory.mkdir()
        (directory / "cert.pem").write_text(certificate.certificate)
        (directory / "key.pem").write_text(certificate.key)
        context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def etcd_answers(lab: Lab, address: str, certificate: tls.Issued | None) -> bool:
    """Whether etcd's client port answers a request over TLS made with this client
    certificate (or none)."""
    url = f"https://{address}:2379/version"
    try:
        with urllib.request.urlopen(url, timeout=5, context=tls_client(lab, certificate)):
            return True
    except (OSError, ssl.SSLError):
        return False


def check_tls_and_authentication(lab: Lab) -> None:
    """Clients only over verified TLS; etcd only with this instance's certificates;
    Patroni's REST writes only with its credential."""
    address = lab.nodes[0]["address"]
    superuser = CREDENTIALS["superuser"]
    with login(lab, address, "postgres", superuser) as conn:
        (version,) = conn.execute(
            "select version from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
        assert version in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        login(lab, address, "postgres", superuser, sslmode="disable")
    # The certificate names the node: the same server under another name is refused.
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        login(lab, "wrong.example", "postgres", superuser, hostaddr=address)
    # A CA the client does not know: refused.
    other = lab.tmp_path / "other-ca.pem"
    other.write_text(tls.new_root().certificate)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        login(lab, address, "postgres", superuser, sslrootcert=other)

    own = lab.tls["nodes"][lab.nodes[1]["name"]]
    assert etcd_answers(lab, address, tls.Issued(own["certificate"], own["key"]))
    assert not etcd_answers(lab, address, None)
    # The same root, another instance's CA: what a node of another instance holds.
    stranger_ca = tls.new_instance_ca(lab.root, "another-instance")
    stranger = tls.new_node_certificate(stranger_ca, "stranger", "172.30.213.250")
    assert not etcd_answers(lab, address, stranger)

    request = urllib.request.Request(f"https://{address}:8008/restart", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5, context=tls_client(lab))
    assert refused.value.code == 401


def primary(lab: Lab):
    return psycopg.connect(superuser_conninfo(lab), autocommit=True)


def test_sync_cluster_shape_auth_reruns_and_failover(lab):
    variables = cluster_vars(lab, sync=1)
    outcome, tracker = lab.play("instance_create.yml", **variables)
    assert outcome.status == "successful", (tracker.failure, outcome.stdout_tail)

    # Running it again changes nothing.
    outcome, tracker = lab.play("instance_create.yml", **variables)
    assert outcome.status == "successful", tracker.failure
    assert tracker.changed == [], tracker.changed
    check_tls_and_authentication(lab)

    # One primary streaming to two replicas, one of them synchronous.
    with primary(lab) as conn:
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (False,)
        assert conn.execute("show password_encryption").fetchone() == ("scram-sha-256",)
        assert conn.execute("show synchronous_standby_names").fetchone()[0] != ""
        states = conn.execute("select state, sync_state from pg_stat_replication").fetchall()
        assert sorted(states) == [("streaming", "async"), ("streaming", "sync")]
        # A role whose password is stored as md5 cannot log in: scram-sha-256 only.
        conn.execute("set password_encryption = 'md5'")
        conn.execute("create role md5_user login password 'md5-Pass-1'")
    address = lab.nodes[0]["address"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(lab, address, "md5_user", "md5-Pass-1")
    # No trust: without a password nobody gets in, not even the superuser.
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        login(lab, address, "postgres", None)

    # An SRE's plaintext password: the role stores only a verifier made from it.
    password = "sre-Plain-pass-9"
    sre = {"pg_user_name": "sre_app", "pg_user_password": password}
    outcome, tracker = lab.play("user_create.yml", **sre)
    assert outcome.status == "successful", tracker.failure
    assert password not in outcome.stdout_tail + "\n".join(tracker.lines)
    with primary(lab) as conn:
        stored = conn.execute(
            "select rolpassword from pg_authid where rolname = 'sre_app'"
        ).fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$") and password not in stored
    outcome, tracker = lab.play("user_create.yml", **sre)
    assert outcome.status == "successful" and tracker.changed == []
    for node in lab.nodes:
        with login(lab, node["address"], "sre_app", password) as conn:
            assert conn.execute("select current_user").fetchone() == ("sre_app",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(lab, address, "sre_app", password + "x")

    # A write asked for while the primary moves lands on the new primary: the playbook
    # waits for a leader out of recovery and writes only over a read-write connection.
    old = wait_healthy(lab, sync=1)
    rest(lab, lab.nodes[0]["address"], "/switchover", "POST", {"leader": old})
    outcome, tracker = lab.play(
        "user_create.yml", pg_user_name="after_switch", pg_user_password=password
    )
    assert outcome.status == "successful", tracker.failure
    new = wait_healthy(lab, sync=1)
    assert new != old
    with primary(lab) as conn:
        assert conn.execute("select 1 from pg_roles where rolname = 'after_switch'").fetchone()

    # A role that still owns a database is not dropped, and the failure says why.
    owned = {"pg_database_name": "sre_db", "pg_database_owner": "sre_app"}
    outcome, tracker = lab.play("database_create.yml", **owned)
    assert outcome.status == "successful", tracker.failure
    outcome, tracker = lab.play("user_delete.yml", pg_user_name="sre_app")
    assert outcome.status == "failed"
    assert "cannot be dropped" in tracker.failure["message"]

    # Failover: every row committed before the primary's loss is still there.
    with primary(lab) as conn:
        conn.execute("create table t (n bigserial primary key)")
    for how in ("graceful stop", "hard kill"):
        figures = lose_primary(lab, how)
        print(figures)
        assert figures["seconds_to_first_write"] is not None, figures
        assert figures["rows_committed"] > 0
        assert figures["rows_lost"] == 0, figures
        outcome, tracker = lab.play("nodes_start.yml", **variables)
        assert outcome.status == "successful", tracker.failure
    assert CREDENTIALS["superuser"] not in "\n".join(tracker.lines)
