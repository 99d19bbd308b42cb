"""POST /v1/postgres/instances/{uuid}/switchover: what is refused before any cluster is
asked, and what is refused when the cluster cannot be asked. (A real switchover: the
e2e tests; the choice of a candidate among members: tests/unit/test_patroni.py.)"""

import pytest

from core.models import Instance, Node, Status

INSTANCES = "/v1/postgres/instances"


def switchover(api, instance, body=None):
    return api.post(f"{INSTANCES}/{instance['uuid']}/switchover", json=body or {})


def with_nodes(db, instance: dict, addresses: list[str]) -> None:
    """The instance as a worker leaves it: ACTIVE, its nodes placed (in TEST-NET-1,
    where nothing answers)."""
    record = db.query(Instance).filter_by(uuid=instance["uuid"]).one()
    for index, address in enumerate(addresses, start=1):
        record.nodes.append(
            Node(index=index, name=f"pgtest{index}{address[-1]}", address=address, status="ACTIVE")
        )
    record.status = Status.ACTIVE
    db.commit()


def test_while_the_create_runs_it_is_409_naming_the_operation(api, instance):
    answer = switchover(api, instance)
    assert answer.status_code == 409
    assert "create" in answer.json["message"]


def test_another_projects_instance_is_404(other_api, instance, settle):
    settle()
    assert switchover(other_api, instance).status_code == 404


@pytest.mark.parametrize("to", ["pg-node-1", "300.1.1.1", "::1", 5, ""])
def test_to_must_be_an_ipv4_address(api, instance, settle, to):
    settle()
    answer = switchover(api, instance, {"to": to})
    assert answer.status_code == 422
    assert "to" in answer.json["errors"]


def test_unknown_fields_are_refused(api, instance, settle):
    settle()
    answer = switchover(api, instance, {"candidate": "192.0.2.2"})
    assert answer.status_code == 422


def test_an_address_not_of_the_instance_is_422(api, db, instance, settle):
    settle()
    with_nodes(db, instance, ["192.0.2.11", "192.0.2.12", "192.0.2.13"])
    answer = switchover(api, instance, {"to": "192.0.2.99"})
    assert answer.status_code == 422
    assert "not an address of this instance" in answer.json["errors"]["to"][0]


def test_a_cluster_that_does_not_answer_is_409_and_records_nothing(api, db, instance, settle):
    settle()
    with_nodes(db, instance, ["192.0.2.21", "192.0.2.22", "192.0.2.23"])
    answer = switchover(api, instance, {"to": "192.0.2.22"})
    assert answer.status_code == 409
    assert "does not answer" in answer.json["message"]
    operations = api.get(f"{INSTANCES}/{instance['uuid']}/operations").json
    assert [o["action"] for o in operations] == ["create"]
    assert api.get(f"{INSTANCES}/{instance['uuid']}").json["status"] == "ACTIVE"


def test_one_node_has_nothing_to_switch_over_to(api, instance_body, settle):
    one = api.post(INSTANCES, json=dict(instance_body, name="single", nodes_number=1)).json
    settle()
    answer = switchover(api, one)
    assert answer.status_code == 409
    assert "one node" in answer.json["message"]


def test_a_deleted_instance_is_409(api, instance, settle):
    settle()
    assert api.delete(f"{INSTANCES}/{instance['uuid']}").status_code == 204
    assert switchover(api, instance).status_code == 409
