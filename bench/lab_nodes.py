"""Benchmark the nspawn lab: root image build and node boot times. Prints figures.

    .venv/bin/python -m bench.lab_nodes [--nodes 3] [--rebuild-image]

--rebuild-image builds the image into a scratch cache (a full debootstrap) instead of
reusing /var/cache/dbaas. Everything made is removed afterwards.
"""

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

from tests.support.lab import Lab


def wait_ssh(address: str, timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            socket.create_connection((address, 22), timeout=0.5).close()
            return time.monotonic() - started
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(address)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rebuild-image", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dbaas-bench-"))
    lab = Lab(work, nodes=args.nodes)
    try:
        if args.rebuild_image:
            lab.image_cache_dir = str(work / "images")
            started = time.monotonic()
            outcome, tracker = lab.play("nodes_create.yml", dbaas_nodes=[])
            assert outcome.status == "successful", tracker.failure
            print(f"root image build (debootstrap, uncached): {time.monotonic() - started:6.1f} s")

        started = time.monotonic()
        outcome, tracker = lab.play("nodes_create.yml")
        assert outcome.status == "successful", tracker.failure
        print(
            f"nodes_create, {args.nodes} nodes, image cached: {time.monotonic() - started:6.1f} s"
        )

        # Boot alone: stop the nodes, then start them again and time sshd's answer.
        outcome, _ = lab.play("nodes_delete.yml", node_nspawn_remove_bridge=False)
        started = time.monotonic()
        outcome, tracker = lab.play("nodes_create.yml")
        total = time.monotonic() - started
        assert outcome.status == "successful", tracker.failure
        ssh = [wait_ssh(node["address"]) for node in lab.nodes]
        print(
            f"nodes_create again from nothing: {total:6.1f} s (sshd answering at once: "
            f"{max(ssh):.2f} s after)"
        )

        started = time.monotonic()
        outcome, _ = lab.play("nodes_delete.yml")
        print(f"nodes_delete, {args.nodes} nodes: {time.monotonic() - started:6.1f} s")
        leftovers = {k: v for k, v in lab.leftovers().items() if v}
        print(f"left on the host after delete: {leftovers or 'nothing'}")
    finally:
        lab.play("nodes_delete.yml")
        lab.force_clean()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
