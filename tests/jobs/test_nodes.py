"""Node records and lab addresses, on a real database."""

import pytest
from sqlalchemy import select

from app import migrate
from app.services import instances, versions
from core import config
from core.database import writing_session
from core.models import Node
from jobs import nodes
from jobs.providers import PoolExhausted, nspawn, static

PROJECT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
LAB = nspawn.Nspawn({"LAB_NETWORK": "10.99.0.0/29", "DATA_DIR": "/nowhere"})


@pytest.fixture
def session(tmp_path):
    url = f"sqlite:///{tmp_path / 'dbaas.db'}"
    migrate.upgrade(url)
    with writing_session(url) as session:
        versions.load_default_catalogue(session)
        yield session


def new_instance(session, name, nodes_number, settings=None):
    version = versions.list_versions(session)[0]
    body = {
        "name": name,
        "cpu": 1,
        "ram": 1024,
        "disk_size": 8,
        "nodes_number": nodes_number,
        "sync_replica_number": 0,
        "version": version.uuid,
    }
    # The same settings (the same secret key) as the run's that reads its archive.
    return instances.create_instance(session, PROJECT, body, settings or config.load())[0]


def test_nodes_get_distinct_addresses_across_instances(session):
    first = nodes.allocate(session, new_instance(session, "a", 3), LAB)
    second = nodes.allocate(session, new_instance(session, "b", 2), LAB)
    addresses = [n.address for n in first + second]
    assert addresses == ["10.99.0.2", "10.99.0.3", "10.99.0.4", "10.99.0.5", "10.99.0.6"]
    assert [n.index for n in first] == [1, 2, 3]
    assert all(len(n.name) == 12 for n in first + second)


def test_allocation_is_idempotent_and_grows(session):
    instance = new_instance(session, "a", 1)
    once = nodes.allocate(session, instance, LAB)
    assert nodes.allocate(session, instance, LAB) == once
    instance.nodes_number = 3
    session.commit()
    grown = nodes.allocate(session, instance, LAB)
    assert grown[0] is once[0]
    assert len(grown) == 3


def test_an_exhausted_pool_says_so(session):
    nodes.allocate(session, new_instance(session, "a", 5), LAB)
    with pytest.raises(PoolExhausted, match="10.99.0.0/29"):
        nodes.allocate(session, new_instance(session, "b", 1), LAB)


def test_deleting_an_instance_releases_its_addresses(session):
    instance = new_instance(session, "a", 5)
    nodes.allocate(session, instance, LAB)
    session.delete(instance)  # as a successful delete operation does
    session.commit()
    assert session.scalars(select(Node)).all() == []
    again = nodes.allocate(session, new_instance(session, "b", 5), LAB)
    assert len(again) == 5


def test_shrinking_puts_the_last_nodes_in_the_leaving_group_and_forgets_them_after(session):
    from core import lifecycle
    from jobs import inputs

    instance = new_instance(session, "a", 4)
    allocated = nodes.allocate(session, instance, LAB)
    assert [n.etcd_member for n in allocated] == [True, True, True, False]
    instance.nodes_number = 2
    session.commit()
    groups = inputs.inventory(instance, LAB)["all"]["children"]
    assert list(groups[inputs.NODES_GROUP]["hosts"]) == [n.name for n in allocated[:2]]
    assert list(groups[inputs.LEAVING_GROUP]["hosts"]) == [n.name for n in allocated[2:]]

    lifecycle.forget_removed_nodes(instance)
    session.commit()
    assert [n.name for n in instance.nodes] == [n.name for n in allocated[:2]]
    again = nodes.allocate(session, new_instance(session, "b", 2), LAB)
    assert {n.address for n in again} == {n.address for n in allocated[2:]}  # given back


def test_a_disk_only_update_runs_the_disk_grow_alone():
    from core.models import Operation
    from jobs.operations import playbook_for

    def update(changes):
        return Operation(target="instance", action="update", params={"changes": changes})

    assert playbook_for(update({"disk_size": [8, 12]})) == "disk_grow.yml"
    assert playbook_for(update({"disk_size": [8, 12], "cpu": [1, 2]})) == "instance_update.yml"
    assert playbook_for(update({})) == "instance_update.yml"  # a retry converges all
    assert playbook_for(Operation(target="user", action="create")) == "user_create.yml"


def test_the_static_provider_places_nodes_on_listed_machines_one_each(session, tmp_path):
    from jobs import inputs

    hosts = tmp_path / "hosts.yml"
    hosts.write_text(
        "- {name: db1, address: 10.0.0.11}\n"
        "- {name: db2, address: 10.0.0.12, user: admin, data_device: /dev/sdb,\n"
        "   host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9ok}\n"
    )
    settings = {"PROVIDER": "static", "STATIC_HOSTS": str(hosts), "DATA_DIR": str(tmp_path)}
    instance = new_instance(session, "a", 2)
    provider = static.Static(settings)
    placed = nodes.allocate(session, instance, provider)
    assert [(n.name, n.address) for n in placed] == [("db1", "10.0.0.11"), ("db2", "10.0.0.12")]
    with pytest.raises(PoolExhausted, match="all 2 static hosts are in use"):
        nodes.allocate(session, new_instance(session, "b", 1), provider)

    reached = inputs.inventory(instance, provider)["all"]["children"][inputs.NODES_GROUP]
    assert reached["hosts"]["db1"]["ansible_user"] == "root"
    assert "ansible_become" not in reached["hosts"]["db1"]
    assert reached["hosts"]["db2"]["ansible_user"] == "admin"
    assert reached["hosts"]["db2"]["ansible_become"] is True
    assert reached["hosts"]["db2"]["dbaas_data_device"] == "/dev/sdb"
    # Host keys are checked: the first one seen is kept, a given one pinned.
    db1, db2 = sorted(instance.nodes, key=lambda n: n.name)
    pinned = inputs.known_hosts(settings, db1)
    assert reached["hosts"]["db1"]["ansible_ssh_common_args"] == (
        f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={pinned}"
    )
    assert "StrictHostKeyChecking=yes" in reached["hosts"]["db2"]["ansible_ssh_common_args"]
    inputs.pin_host_keys(instance, provider)
    assert inputs.known_hosts(settings, db2).read_text().startswith("10.0.0.12 ssh-ed25519 AAAA")
    assert not inputs.known_hosts(settings, db1).exists()

    hosts.write_text("- {address: 10.0.0.13}\n")
    with pytest.raises(PoolExhausted, match="must list hosts"):
        static.Static(settings)
    with pytest.raises(PoolExhausted, match="needs DBAAS_STATIC_HOSTS"):
        static.Static({"PROVIDER": "static"})


def test_the_libvirt_provider_uses_the_lab_network_and_the_instance_size(session, tmp_path):
    from core import config
    from core.models import Operation
    from jobs import inputs, providers

    settings = config.load(
        {"PROVIDER": "libvirt", "DATA_DIR": str(tmp_path), "LIBVIRT_URI": "qemu:///session"}
    )
    instance = new_instance(session, "vm", 1)
    instance.cpu, instance.ram = 2, 2048
    provider = providers.load(settings)
    [node] = nodes.allocate(session, instance, provider)
    assert node.address == "172.30.213.2"  # the lab network's first free address
    operation = session.scalars(select(Operation)).first()
    variables, _ = inputs.extravars(session, operation, instance, provider)
    assert variables["dbaas_provider"] == "libvirt"
    assert variables["dbaas_lab"]["libvirt_uri"] == "qemu:///session"
    assert variables["dbaas_lab"]["bridge_address"] == "172.30.213.1"
    assert (variables["dbaas_instance"]["cpu"], variables["dbaas_instance"]["ram"]) == (2, 2048)
    # The contract only: no role's own variable comes from the worker.
    assert all(name.startswith("dbaas_") for name in variables)


def test_a_runs_certificates_are_kept_renewed_for_a_new_address_and_never_stored_plain(
    session, tmp_path
):
    from core import tls
    from core.models import InstanceSecret, Operation
    from jobs import inputs, providers

    settings = config.load({"DATA_DIR": str(tmp_path)})
    instance = new_instance(session, "tls", 2, settings)
    provider = providers.load(settings)
    first, second = nodes.allocate(session, instance, provider)
    operation = session.scalars(select(Operation)).first()
    variables, redacted = inputs.extravars(session, operation, instance, provider)
    issued = variables["dbaas_tls"]
    assert issued["ca_certificate"] == (tmp_path / "tls" / "ca.pem").read_text()
    assert set(issued["nodes"]) == {first.name, second.name}
    key = issued["nodes"][first.name]["key"]
    assert key in redacted and all(line in redacted for line in tls.key_lines(key))

    # Again: the same files (a run again changes nothing on the nodes).
    again, _ = inputs.extravars(session, operation, instance, provider)
    assert again["dbaas_tls"] == issued

    # A node at another address gets a certificate that names it; the other keeps its own.
    first.address = "172.30.213.200"
    session.commit()
    moved, _ = inputs.extravars(session, operation, instance, provider)
    assert moved["dbaas_tls"]["nodes"][first.name] != issued["nodes"][first.name]
    assert moved["dbaas_tls"]["nodes"][second.name] == issued["nodes"][second.name]
    leaf = tls.Issued(**moved["dbaas_tls"]["nodes"][first.name]).leaf
    assert tls.still_good(
        tls.Issued(**moved["dbaas_tls"]["nodes"][first.name]), first.name, "172.30.213.200"
    )
    assert leaf.issuer == tls.Issued(moved["dbaas_tls"]["instance_ca_certificate"], "").leaf.subject

    stored = session.scalars(select(InstanceSecret.ciphertext)).all()
    assert stored and not any(b"PRIVATE KEY" in row or b"BEGIN" in row for row in stored)


def test_the_control_addresses_of_static_machines_are_addresses(tmp_path):
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("- {name: db1, address: 10.0.0.11}\n")
    settings = {"STATIC_HOSTS": str(hosts), "DATA_DIR": str(tmp_path)}
    given = static.Static({**settings, "CONTROL_ADDRESSES": " 10.0.0.1, 10.0.0.2 ,"})
    assert given.lab_variables(None) == {"control_addresses": ["10.0.0.1", "10.0.0.2"]}
    assert static.Static(settings).lab_variables(None) == {"control_addresses": []}
    for bad in ("10.0.0.1/0", "0.0.0.0/0 trust", "{{ x }}", "host.example"):
        with pytest.raises(PoolExhausted, match="DBAAS_CONTROL_ADDRESSES"):
            static.Static({**settings, "CONTROL_ADDRESSES": bad})
