"""Failover on a real 3-node lab cluster with one synchronous replica. Prints, for a
switchover, a graceful stop of the primary's node and a hard kill of it, the time from
the primary's loss to the first accepted write, and the committed rows lost.

    .venv/bin/python -m bench.failover

Writes go through the multi-host connection string (target_session_attrs=read-write),
one row every 20 ms. Everything made is removed afterwards.
"""

import json
import shutil
import tempfile
from pathlib import Path

import psycopg

from tests.support.cluster import cluster_vars, lose_primary, superuser_conninfo
from tests.support.lab import lab_nodes


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="dbaas-failover-"))
    try:
        with lab_nodes(work, 3) as lab:
            variables = cluster_vars(lab, sync=1)
            outcome, tracker = lab.play("instance_create.yml", **variables)
            assert outcome.status == "successful", tracker.failure
            with psycopg.connect(superuser_conninfo(lab), autocommit=True) as conn:
                conn.execute("create table t (n bigserial primary key)")
            for scenario in ("switchover", "graceful stop", "hard kill"):
                print(json.dumps(lose_primary(lab, scenario)), flush=True)
                if scenario != "switchover":
                    outcome, tracker = lab.play("nodes_start.yml", **variables)
                    assert outcome.status == "successful", tracker.failure
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
