"""What TLS costs: a 3-node cluster with one sync replica built by the playbooks (its
create time printed), then pgbench on the primary's node against its own PostgreSQL over
127.0.0.1 (the one path that still admits a connection without TLS), with and without
TLS, once with connections kept and once with a new connection per transaction (where
the handshake shows). Prints JSON.

    .venv/bin/python -m bench.tls [--seconds 20] [--clients 4]

Everything made is removed afterwards.
"""

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from tests.support.cluster import CREDENTIALS, cluster_vars, wait_healthy
from tests.support.lab import lab_nodes

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"


def pgbench(lab, node: dict, arguments: str, sslmode: str = "prefer") -> str:
    environment = f"PGPASSWORD={CREDENTIALS['superuser']} PGSSLMODE={sslmode}"
    command = f"{environment} {PGBENCH} -h 127.0.0.1 -U postgres {arguments} postgres"
    return lab.ssh(node, command).stdout


def tps(output: str) -> float:
    return float(re.search(r"tps = ([0-9.]+)", output).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as work, lab_nodes(Path(work), 3) as lab:
        started = time.monotonic()
        outcome, tracker = lab.play("instance_create.yml", **cluster_vars(lab, sync=1))
        assert outcome.status == "successful", tracker.failure
        figures["instance_create_seconds"] = round(time.monotonic() - started, 1)
        leader = wait_healthy(lab, sync=1)
        primary = next(n for n in lab.nodes if n["name"] == leader)
        pgbench(lab, primary, "-i -q -s 10")
        run = f"-c {args.clients} -j 2 -T {args.seconds} -n"
        for kind, extra in (("kept", ""), ("new_connection_per_transaction", "-C")):
            for label, sslmode in (("without_tls", "disable"), ("with_tls", "require")):
                figures[f"tps_{kind}_{label}"] = tps(
                    pgbench(lab, primary, f"{extra} {run}", sslmode)
                )
        lab.play("nodes_delete.yml")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
