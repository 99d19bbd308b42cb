"""Node records and lab addresses, on a real database."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import migrate
from app.database import make_engine, writer
from app.models import Node
from app.services import instances, versions
from jobs import nodes

PROJECT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.fixture
def session(tmp_path):
    url = f"sqlite:///{tmp_path / 'dbaas.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(writer(engine), expire_on_commit=False) as session:
        versions.load_default_catalogue(session)
        yield session
    engine.dispose()


def new_instance(session, name, nodes_number):
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
    return instances.create_instance(session, PROJECT, body)[0]


def test_nodes_get_distinct_addresses_across_instances(session):
    first = nodes.allocate(session, new_instance(session, "a", 3), "10.99.0.0/29")
    second = nodes.allocate(session, new_instance(session, "b", 2), "10.99.0.0/29")
    addresses = [n.address for n in first + second]
    assert addresses == ["10.99.0.2", "10.99.0.3", "10.99.0.4", "10.99.0.5", "10.99.0.6"]
    assert [n.index for n in first] == [1, 2, 3]
    assert all(len(n.name) == 12 for n in first + second)


def test_allocation_is_idempotent_and_grows(session):
    instance = new_instance(session, "a", 1)
    once = nodes.allocate(session, instance, "10.99.0.0/29")
    assert nodes.allocate(session, instance, "10.99.0.0/29") == once
    instance.nodes_number = 3
    session.commit()
    grown = nodes.allocate(session, instance, "10.99.0.0/29")
    assert grown[0] is once[0]
    assert len(grown) == 3


def test_an_exhausted_pool_says_so(session):
    nodes.allocate(session, new_instance(session, "a", 5), "10.99.0.0/29")
    with pytest.raises(nodes.PoolExhausted, match="10.99.0.0/29"):
        nodes.allocate(session, new_instance(session, "b", 1), "10.99.0.0/29")


def test_deleting_an_instance_releases_its_addresses(session):
    instance = new_instance(session, "a", 5)
    nodes.allocate(session, instance, "10.99.0.0/29")
    session.delete(instance)  # as a successful delete operation does
    session.commit()
    assert session.scalars(select(Node)).all() == []
    again = nodes.allocate(session, new_instance(session, "b", 5), "10.99.0.0/29")
    assert len(again) == 5


def test_shrinking_puts_the_last_nodes_in_the_leaving_group_and_forgets_them_after(session):
    from jobs import events, inputs

    instance = new_instance(session, "a", 4)
    allocated = nodes.allocate(session, instance, "10.99.0.0/29")
    assert [n.etcd_member for n in allocated] == [True, True, True, False]
    instance.nodes_number = 2
    session.commit()
    groups = inputs.inventory(instance, {"DATA_DIR": "/nowhere"})["all"]["children"]
    assert list(groups[inputs.NODES_GROUP]["hosts"]) == [n.name for n in allocated[:2]]
    assert list(groups[inputs.LEAVING_GROUP]["hosts"]) == [n.name for n in allocated[2:]]

    events._forget_removed_nodes(instance)
    session.commit()
    assert [n.name for n in instance.nodes] == [n.name for n in allocated[:2]]
    again = nodes.allocate(session, new_instance(session, "b", 2), "10.99.0.0/29")
    assert {n.address for n in again} == {n.address for n in allocated[2:]}  # given back


def test_a_disk_only_update_runs_the_disk_grow_alone():
    from app.models import Operation
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
    placed = nodes.allocate(session, instance, nodes.pool_for(settings))
    assert [(n.name, n.address) for n in placed] == [("db1", "10.0.0.11"), ("db2", "10.0.0.12")]
    with pytest.raises(nodes.PoolExhausted, match="all 2 static hosts are in use"):
        nodes.allocate(session, new_instance(session, "b", 1), nodes.pool_for(settings))

    reached = inputs.inventory(instance, settings)["all"]["children"][inputs.NODES_GROUP]
    assert reached["hosts"]["db1"]["ansible_user"] == "root"
    assert "ansible_become" not in reached["hosts"]["db1"]
    assert reached["hosts"]["db2"]["ansible_user"] == "admin"
    assert reached["hosts"]["db2"]["ansible_become"] is True
    assert reached["hosts"]["db2"]["data_disk_device"] == "/dev/sdb"
    # Host keys are checked: the first one seen is kept, a given one pinned.
    db1, db2 = sorted(instance.nodes, key=lambda n: n.name)
    pinned = inputs.known_hosts(settings, db1)
    assert reached["hosts"]["db1"]["ansible_ssh_common_args"] == (
        f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={pinned}"
    )
    assert "StrictHostKeyChecking=yes" in reached["hosts"]["db2"]["ansible_ssh_common_args"]
    inputs.pin_host_keys(instance, settings)
    assert inputs.known_hosts(settings, db2).read_text().startswith("10.0.0.12 ssh-ed25519 AAAA")
    assert not inputs.known_hosts(settings, db1).exists()

    hosts.write_text("- {address: 10.0.0.13}\n")
    with pytest.raises(nodes.PoolExhausted, match="must list hosts"):
        nodes.pool_for(settings)
    with pytest.raises(nodes.PoolExhausted, match="needs DBAAS_STATIC_HOSTS"):
        nodes.pool_for({"PROVIDER": "static"})


def test_the_libvirt_provider_uses_the_lab_network_and_the_instance_size(session, tmp_path):
    from app import config
    from jobs import inputs

    settings = config.load(
        {"PROVIDER": "libvirt", "DATA_DIR": str(tmp_path), "LIBVIRT_URI": "qemu:///session"}
    )
    instance = new_instance(session, "vm", 1)
    instance.cpu, instance.ram = 2, 2048
    [node] = nodes.allocate(session, instance, nodes.pool_for(settings))
    assert node.address == "172.30.213.2"  # the lab network's first free address
    variables = inputs.lab_variables(instance, settings)
    assert variables["node_libvirt_uri"] == "qemu:///session"
    assert (variables["node_libvirt_vcpus"], variables["node_libvirt_memory_mb"]) == (2, 2048)
