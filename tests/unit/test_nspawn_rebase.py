"""A lab node's root moved onto another image and back (nspawn_node.py rebase,
restore, forget), on a state directory of a stopped node: the files each step keeps,
and runs interrupted halfway that are run again."""

from pathlib import Path

import pytest

from core import nspawn_node

OLD, NEW = Path("/images/debian-bookworm-pg15"), Path("/images/debian-trixie-pg17")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A node prepared on OLD: its upper layer with host keys, etcd data, configuration."""
    node = tmp_path / "node1"
    (node / "upper/etc/ssh").mkdir(parents=True)
    (node / "upper/etc/ssh/ssh_host_ed25519_key").write_text("host key")
    (node / "upper/var/lib/etcd").mkdir(parents=True)
    (node / "upper/var/lib/etcd/member").write_text("old etcd")
    (node / "work").mkdir()
    (node / "merged").mkdir()
    (node / "image").write_text(OLD.name + "\n")
    return node


def test_a_rebase_keeps_only_the_host_keys_and_sets_the_old_root_aside(state):
    assert nspawn_node.rebase(state, NEW) == "changed"
    assert nspawn_node.built_on(state) == NEW.name
    assert (state / "upper/etc/ssh/ssh_host_ed25519_key").read_text() == "host key"
    assert not (state / "upper/var/lib/etcd").exists()
    assert (state / f"upper.{OLD.name}/var/lib/etcd/member").read_text() == "old etcd"
    assert list((state / "work").iterdir()) == []
    assert nspawn_node.rebase(state, NEW) == "unchanged"


def test_restore_brings_the_old_root_back_and_forget_removes_a_kept_one(state):
    nspawn_node.rebase(state, NEW)
    (state / "upper/new-file").write_text("made on the new image")
    assert nspawn_node.restore(state, OLD) == "changed"
    assert nspawn_node.built_on(state) == OLD.name
    assert (state / "upper/var/lib/etcd/member").read_text() == "old etcd"
    assert not (state / "upper/new-file").exists()
    assert sorted(p.name for p in state.iterdir() if p.name.startswith("upper")) == ["upper"]
    assert nspawn_node.restore(state, OLD) == "unchanged"

    nspawn_node.rebase(state, NEW)
    assert nspawn_node.forget(state, "../etc") == "unchanged"
    assert nspawn_node.forget(state, NEW.name) == "unchanged"  # the root in use
    assert nspawn_node.forget(state, OLD.name) == "changed"
    assert not (state / f"upper.{OLD.name}").exists()
    with pytest.raises(SystemExit, match="kept no root"):
        nspawn_node.restore(state, OLD)


@pytest.mark.parametrize("stopped_after", ["marker", "set aside"])
def test_an_interrupted_rebase_finishes_when_run_again_or_is_undone(state, stopped_after):
    def interrupt(state):
        """The rebase's first steps, by hand, as a killed run leaves them."""
        fresh = state / "upper.new/etc/ssh"
        fresh.mkdir(parents=True)
        (fresh / "ssh_host_ed25519_key").write_text("host key")
        (state / "rebasing").write_text(NEW.name + "\n")
        if stopped_after == "set aside":
            (state / "upper").rename(state / f"upper.{OLD.name}")

    interrupt(state)
    assert nspawn_node.restore(state, OLD) == "changed"
    assert (state / "upper/var/lib/etcd/member").read_text() == "old etcd"
    assert not (state / "rebasing").exists() and not (state / "upper.new").exists()

    interrupt(state)
    assert nspawn_node.rebase(state, NEW) == "changed"
    assert nspawn_node.built_on(state) == NEW.name
    assert not (state / "upper/var/lib/etcd").exists()
    assert (state / f"upper.{OLD.name}/var/lib/etcd/member").read_text() == "old etcd"


def test_prepare_refuses_a_root_built_on_another_image(state):
    with pytest.raises(SystemExit, match="rebase it first"):
        nspawn_node.prepare(state, NEW, "node1", "10.0.0.2/24", 1, "ssh-ed25519 AAAA")
