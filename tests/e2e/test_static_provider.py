"""The static provider: instances placed on machines that already exist. Two lab nodes
stand in for them (built beforehand, outside the API); the API's instance runs on them,
and its delete hands them back running, with their services stopped and disks wiped."""

import yaml

from core.images import ROLE_DEFAULTS
from tests.e2e.conftest import trust_service_ca
from tests.e2e.test_instances import INSTANCES, connect, patroni_cluster
from tests.support.lab import REPOSITORY, Lab
from tests.support.pipeline import Pipeline

# The bookworm recipe's Patroni, pinned over Debian's (see the root_image role's defaults).
[PATRONI_PIN] = [
    pin
    for pin in yaml.safe_load(ROLE_DEFAULTS.read_text())["root_image_recipes"][
        "debian-bookworm-pg15"
    ]["pip"]
    if pin.startswith("patroni==")
]


def test_an_instance_on_existing_machines_and_handed_back_clean(tmp_path, redis_url, monkeypatch):
    (tmp_path / "machines").mkdir()
    (tmp_path / "service").mkdir()
    machines = Lab(tmp_path / "machines", nodes=2)
    outcome, tracker = machines.play("nodes_create.yml")
    assert outcome.status == "successful", tracker.failure
    # One machine as a bare bookworm host has it: Debian's Patroni, not the recipe's pin
    # (installed by the create from the control host's wheels; the machine reaches no index).
    machines.ssh(
        machines.nodes[0], "python3 -m pip uninstall --yes --break-system-packages patroni"
    )
    hosts_file = tmp_path / "static-hosts.yml"
    hosts_file.write_text(
        yaml.safe_dump(
            [
                {"name": n["name"], "address": n["address"], "ssh_key": str(machines.key)}
                for n in machines.nodes
            ]
        )
    )
    pipeline = Pipeline(
        tmp_path / "service",
        redis_url,
        PLAYBOOKS_DIR=str(REPOSITORY / "playbooks"),
        PROVIDER="static",
        STATIC_HOSTS=str(hosts_file),
        CONTROL_ADDRESSES=machines.extravars()["dbaas_lab"]["bridge_address"],
        HEARTBEAT_TIMEOUT=60,
    )
    trust_service_ca(pipeline, tmp_path, monkeypatch)
    try:
        pipeline.worker.start()
        instance = pipeline.create_instance("placed", nodes_number=2, sync_replica_number=1)
        path = f"{INSTANCES}/{instance['uuid']}"
        active = pipeline.wait_status(path, "ACTIVE", timeout=600)
        assert sorted(active["ipsv4"]) == sorted(n["address"] for n in machines.nodes)
        roles = sorted(m["role"] for m in patroni_cluster(active["ipsv4"][0])["members"])
        assert roles == ["leader", "sync_standby"]
        for node in machines.nodes:
            version = machines.ssh(node, "patroni --version").stdout.split()
            assert version == ["patroni", PATRONI_PIN.partition("==")[2]], node

        # Every machine is taken: a second instance is refused at once, saying so.
        body = {"name": "no-room", "cpu": 1, "ram": 1024, "disk_size": 8, "nodes_number": 1}
        refused = pipeline.api.post(INSTANCES, json={**body, "version": pipeline.version_uri()})
        assert refused.status_code == 409, refused.json
        assert "static hosts are in use" in refused.json["message"]

        user = pipeline.api.post(
            f"{path}/users", json={"name": "app", "password": "placed-Pass-1"}
        ).json
        pipeline.wait_status(f"{path}/users/{user['uuid']}", "ACTIVE", timeout=180)
        with connect(active["ipsv4"][0], "app", "placed-Pass-1", "postgres") as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        # No lab bridge in front of a static machine: it filters its own ports.
        rules = machines.ssh(machines.nodes[0], "nft list table inet dbaas").stdout
        [guarded] = [line for line in rules.splitlines() if line.strip().endswith("drop")]
        assert all(port in guarded for port in ("22", "2379", "2380", "8008")), rules

        assert pipeline.api.delete(path).status_code == 204
        pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
        for node in machines.nodes:  # still running, handed back clean
            state = machines.ssh(
                node,
                "systemctl is-active patroni etcd dbaas-firewall; findmnt -n /var/lib/postgresql; "
                "blkid -o value -s TYPE /dev/vdb",
                check=False,
            ).stdout.split()
            assert state == ["inactive", "inactive", "inactive"], state
    finally:
        pipeline.close()
        machines.play("nodes_delete.yml")
        machines.force_clean()
