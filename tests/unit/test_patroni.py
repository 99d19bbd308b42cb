"""Which member a switchover hands the leadership to, from Patroni's /cluster."""

from core.patroni import is_healthy_replica, switchover_candidate


def member(name, role, state="streaming", lag=0, host=None, **tags):
    return {
        "name": name,
        "role": role,
        "state": state,
        "lag": lag,
        "host": host or name,
        "tags": tags,
    }


CLUSTER = [
    member("a", "leader", "running", host="10.0.0.1"),
    member("b", "replica", lag=10, host="10.0.0.2"),
    member("c", "sync_standby", host="10.0.0.3"),
]


def test_the_default_is_the_synchronous_standby():
    chosen, reason = switchover_candidate(CLUSTER, None)
    assert chosen["name"] == "c" and reason == ""


def test_without_a_synchronous_standby_the_least_lagging_replica():
    members = [
        member("a", "leader", "running"),
        member("b", "replica", lag=900),
        member("c", "replica", lag=5),
    ]
    assert switchover_candidate(members, None)[0]["name"] == "c"


def test_a_named_healthy_replica_is_taken_even_if_asynchronous():
    chosen, _ = switchover_candidate(CLUSTER, "10.0.0.2")
    assert chosen["name"] == "b"


def test_refusals_name_why():
    assert "primary already" in switchover_candidate(CLUSTER, "10.0.0.1")[1]
    assert "not a node" in switchover_candidate(CLUSTER, "10.0.0.9")[1]
    stopped = [*CLUSTER[:2], member("c", "replica", "stopped", host="10.0.0.3")]
    chosen, reason = switchover_candidate(stopped, "10.0.0.3")
    assert chosen is None and "not a healthy replica" in reason and "stopped" in reason
    assert switchover_candidate([CLUSTER[0]], None) == (
        None,
        "no replica is healthy enough to take over",
    )


def test_a_healthy_replica_is_caught_up_running_and_may_fail_over():
    assert is_healthy_replica(member("b", "replica", "running"))
    assert not is_healthy_replica(member("b", "replica", lag=2 * 1024 * 1024))
    assert not is_healthy_replica(member("b", "replica", lag="unknown"))
    assert not is_healthy_replica(member("b", "replica", nofailover=True))
    assert not is_healthy_replica(member("b", "replica", "starting"))
    assert not is_healthy_replica(member("a", "leader", "running"))
