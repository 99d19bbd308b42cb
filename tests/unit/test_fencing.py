"""Fencing's parts that need no cluster: which machines count as gone, and the etcd
transaction that removes a dead leader's key and nobody else's."""

import base64
import subprocess
import sys
import time

import pytest

from core import nspawn_node
from core.config import load
from jobs.fencing import delete_if_value_txn, leader_key
from jobs.providers.libvirt import is_gone
from jobs.providers.nspawn import InitWatch


def decoded(value: str) -> str:
    return base64.b64decode(value).decode()


def test_the_leader_key_is_removed_only_while_the_dead_node_holds_it():
    txn = delete_if_value_txn(leader_key("4b1c"), "pg0123456789")
    [compare] = txn["compare"]
    assert decoded(compare["key"]) == "/service/4b1c/leader"
    assert (compare["result"], compare["target"]) == ("EQUAL", "VALUE")
    assert decoded(compare["value"]) == "pg0123456789"
    assert [decoded(op["request_delete_range"]["key"]) for op in txn["success"]] == [
        "/service/4b1c/leader"
    ]
    assert "failure" not in txn  # a key another node holds stays untouched


@pytest.mark.parametrize(
    ("event", "detail", "gone"),
    [
        (5, 1, True),  # stopped: destroyed
        (5, 2, True),  # stopped: crashed
        (5, 0, True),  # stopped: shut down
        (5, 5, True),  # stopped: failed
        (8, 0, True),  # crashed: the guest panicked
        # Alive elsewhere, saved to be resumed, paused, started: not proof of death.
        (5, 3, False),
        (5, 4, False),
        (3, 0, False),
        (2, 0, False),
    ],
)
def test_a_libvirt_domain_is_gone_only_when_stopped_or_crashed(event, detail, gone):
    assert is_gone(event, detail) is gone


def test_the_abi_numbers_are_libvirts():
    libvirt = pytest.importorskip("libvirt")  # installed by make setup-libvirt
    assert (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_CRASHED) == (5, 8)
    assert libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED == 1
    assert libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED == 3
    assert libvirt.VIR_DOMAIN_EVENT_CRASHED_PANICKED == 0


def fake_node(nodes_dir, name: str) -> subprocess.Popen:
    """A process standing for a node's init, recorded as nspawn_node records one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (nodes_dir / name).mkdir(exist_ok=True)
    pid = process.pid
    (nodes_dir / name / "init.pid").write_text(f"{pid} {nspawn_node.start_time(pid)}\n")
    return process


def test_a_nodes_init_ending_is_an_event_reported_once_per_incarnation(tmp_path):
    watch = InitWatch(tmp_path)
    first, other = fake_node(tmp_path, "pga"), fake_node(tmp_path, "pgb")
    try:
        watch.watch("pga")
        watch.watch("pgb")
        assert watch.gone(0.1) == []
        first.kill()
        started = time.monotonic()
        assert watch.gone(5) == ["pga"]
        assert time.monotonic() - started < 2  # an event, not a poll
        first.wait()
        watch.watch("pga")  # the same dead incarnation: not reported again
        assert watch.gone(0.1) == []
        again = fake_node(tmp_path, "pga")  # started again: watched anew
        watch.watch("pga")
        again.kill()
        again.wait()
        assert watch.gone(5) == ["pga"]
        watch.forget("pgb")
        other.kill()
        assert watch.gone(0.2) == []
    finally:
        for process in (first, other):
            process.kill()
        watch.close()


def test_a_node_whose_init_is_already_gone_is_reported_at_once(tmp_path):
    process = fake_node(tmp_path, "pgc")
    process.kill()
    process.wait()
    watch = InitWatch(tmp_path)
    watch.watch("pgc")
    assert watch.gone(0) == ["pgc"]
    watch.close()


def test_fencing_is_on_unless_turned_off(monkeypatch):
    assert load()["FENCING"] is True
    monkeypatch.setenv("DBAAS_FENCING", "off")
    assert load()["FENCING"] is False
    monkeypatch.setenv("DBAAS_FENCING", "maybe")
    with pytest.raises(ValueError, match="DBAAS_FENCING"):
        load()
