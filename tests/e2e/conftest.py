"""End to end: the API (test client), a real worker process, the repository's own
playbooks, and real lab nodes on a bridge and subnet of the test's own. Whatever the
outcome, the test's nodes, mounts, loop devices and bridge are removed."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core import tls
from tests.support.lab import REPOSITORY, detach_node, free_subnet, remove_firewall
from tests.support.pipeline import Pipeline

NSPAWN_NODE = REPOSITORY / "core" / "nspawn_node.py"


def remove_lab(data_dir: Path, bridge: str) -> None:
    for node in sorted((data_dir / "nodes").glob("*")):
        subprocess.run([sys.executable, str(NSPAWN_NODE), "stop", str(node)], capture_output=True)
        detach_node(node)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    remove_firewall(bridge)


def trust_service_ca(pipeline: Pipeline, tmp_path: Path, monkeypatch) -> None:
    """Every libpq connection of the test verifies the node, as the connection URI
    asks, with the service's CA (made here as set-up makes it; the API serves it)."""
    ca_file = tmp_path / "client-ca.pem"
    ca_file.write_text(tls.root(pipeline.settings).certificate)
    monkeypatch.setenv("PGSSLROOTCERT", str(ca_file))
    monkeypatch.setenv("PGSSLMODE", "verify-full")


@contextmanager
def new_lab_pipeline(tmp_path, redis_url, monkeypatch, **settings) -> Iterator[Pipeline]:
    network = settings.pop("network", None) or free_subnet()
    bridge = settings.pop("bridge", None) or lab_bridge_name(tmp_path)
    pipeline = Pipeline(
        tmp_path,
        redis_url,
        PLAYBOOKS_DIR=str(REPOSITORY / "playbooks"),
        LAB_NETWORK=str(network),
        LAB_BRIDGE=bridge,
        HEARTBEAT_TIMEOUT=60,
        **settings,
    )
    pipeline.network = network
    pipeline.bridge = bridge
    trust_service_ca(pipeline, tmp_path, monkeypatch)
    try:
        yield pipeline
    finally:
        pipeline.close()
        remove_lab(pipeline.data_dir, bridge)


def lab_bridge_name(tmp_path: Path) -> str:
    return f"dbe{tmp_path.name[-6:].replace('_', '')[:6]}"


@pytest.fixture
def lab_pipeline(tmp_path, redis_url, monkeypatch):
    with new_lab_pipeline(tmp_path, redis_url, monkeypatch) as pipeline:
        yield pipeline
