"""Provisioning as an API user sees it: `dbaas serve` and `dbaas worker` on a scratch
data directory, lab nodes on a bridge and subnet of their own, HTTP through the CLI's
client. Prints JSON, in seconds: image build (cold, with --cold), create -> ACTIVE
(warm image), user, database, disk grow, delete; with --profile, the slowest tasks of
the same create run directly.

    .venv/bin/python -m bench.provision [--nodes 3] [--sync 1] [--cold] [--profile]

Everything made is removed afterwards (nodes, disks, bridge, scratch directories).
"""

import argparse
import json
import time
from pathlib import Path

from app.services.references import INSTANCES_PATH
from bench.service import instance_body, running_service, until_active
from tests.support.lab import Lab


def timed(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return round(time.monotonic() - started, 1), result


def cold_image_build(work: Path) -> float:
    """The root image from nothing (debootstrap) into a scratch cache."""
    lab = Lab(work / "cold", nodes=0)
    lab.image_cache_dir = str(work / "images")
    seconds, (outcome, tracker) = timed(lambda: lab.play("nodes_create.yml", dbaas_nodes=[]))
    assert outcome.status == "successful", tracker.failure
    return seconds


def slowest_tasks(work: Path, nodes: int, sync: int, top: int = 10) -> list[list]:
    """Where a create's time goes: the same playbook on a lab of its own, each task
    timed from its start to the next task's (tasks run on all nodes at once)."""
    from tests.support.cluster import cluster_vars

    lab = Lab(work / "profile", nodes=nodes)
    starts: list[tuple[str, float]] = []

    def on_event(event: dict) -> None:
        if event.get("event") in ("playbook_on_task_start", "playbook_on_stats"):
            name = (event.get("event_data") or {}).get("task") or "(end)"
            starts.append((name, time.monotonic()))

    try:
        outcome, tracker = lab.play(
            "instance_create.yml", on_event=on_event, **cluster_vars(lab, sync=sync)
        )
        assert outcome.status == "successful", tracker.failure
    finally:
        lab.play("nodes_delete.yml")
        lab.force_clean()
    durations: dict[str, float] = {}
    for (name, started), (_, ended) in zip(starts, starts[1:], strict=False):
        durations[name] = durations.get(name, 0) + ended - started
    ranked = sorted(durations.items(), key=lambda item: -item[1])[:top]
    return [[name, round(seconds, 1)] for name, seconds in ranked]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--sync", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="also time a root image build")
    parser.add_argument("--profile", action="store_true", help="also rank the create's tasks")
    args = parser.parse_args()

    figures: dict[str, object] = {"nodes": args.nodes, "sync_replicas": args.sync}
    with running_service("provision") as service:
        client, work = service.client, service.work
        if args.cold:
            (work / "cold").mkdir()
            figures["image_build_cold"] = cold_image_build(work)
        body = instance_body(client, nodes_number=args.nodes, sync_replica_number=args.sync)
        del body["backup"]  # the service's default policy, as a client's create gets
        instance = client.request("POST", INSTANCES_PATH, body)["uuid"]
        path = f"{INSTANCES_PATH}/{instance}"
        figures["create_to_active_warm"], _ = timed(lambda: until_active(client, path, instance))

        def user():
            created = client.request(
                "POST", f"{path}/users", {"name": "app", "password": "bench-Secret-1"}
            )
            return until_active(client, f"{path}/users/{created['uuid']}", instance)

        figures["user_create"], app_user = timed(user)

        def database():
            body = {"name": "app_db", "owner": app_user["uuid"]}
            created = client.request("POST", f"{path}/databases", body)
            return until_active(client, f"{path}/databases/{created['uuid']}", instance)

        figures["database_create"], _ = timed(database)

        def grow():
            client.request("PUT", path, {"disk_size": 12})
            return until_active(client, path, instance)

        figures["disk_grow_8_to_12"], _ = timed(grow)

        def delete():
            client.request("DELETE", path)
            return client.wait(path, instance, timeout=900, gone=True, interval=0.2)

        figures["delete"], _ = timed(delete)
        if args.profile:
            (work / "profile").mkdir()
            figures["slowest_create_tasks"] = slowest_tasks(work, args.nodes, args.sync)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
