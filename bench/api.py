"""API throughput and latency under the production server (`dbaas serve`, waitress) on
this host. Prints JSON: requests/s, p50 and p99 in ms, for GET of one instance, GET of
a list, and POST of an instance (recorded + queued, no worker runs).

    .venv/bin/python -m bench.api [--seconds 10] [--clients 4] [--workers 2]

The load comes from other processes on the same host (they compete for its cores).
Uses a scratch data directory (SQLite) and its own Redis queue, removed afterwards.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import redis

from app.services.references import INSTANCES_PATH
from bench.service import service_redis_url
from tests.support.services import free_port

INSTANCES = INSTANCES_PATH


def _request(conn, method: str, path: str, headers: dict, body: bytes | None = None) -> int:
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    return answer.status


def _client(port, token, method, path, version, seconds, results) -> None:
    """One keep-alive connection sending requests back to back for `seconds`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies, errors = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = None
        if method == "POST":
            name = "b" + uuid.uuid4().hex[:12]
            body = json.dumps(
                {"name": name, "version": version, "cpu": 1, "ram": 1024, "disk_size": 8}
            ).encode()
        started = time.perf_counter()
        status = _request(conn, method, path, headers, body)
        latencies.append(time.perf_counter() - started)
        errors += status >= 400
    results.put((latencies, errors))


def measure(label, port, token, method, path, version, seconds, clients) -> dict:
    results = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(
            target=_client, args=(port, token, method, path, version, seconds, results)
        )
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    latencies, errors = [], 0
    for _ in workers:
        some, failed = results.get()
        latencies += some
        errors += failed
    for worker in workers:
        worker.join()
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "request": label,
        "requests_per_s": round(len(latencies) / seconds),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "errors": errors,
    }


def dbaas(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4, help="client processes, keep-alive")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads per process")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="server processes")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="dbaas-bench-api-")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ, DBAAS_DATA_DIR=work, DBAAS_QUEUE_NAME=queue, DBAAS_REDIS_URL=service_redis_url()
    )
    port = free_port()
    token = dbaas(env, "token", "create").strip().splitlines()[-1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            "--threads",
            str(args.threads),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/docs", timeout=2).close()
                break
            except OSError:
                time.sleep(0.1)
        versions = json.load(
            urllib.request.urlopen(
                urllib.request.Request(base + "/v1/types/postgres/versions", headers=auth)
            )
        )["versions"]
        version = versions[0]["uuid"]
        conn = http.client.HTTPConnection("127.0.0.1", port)
        created = []
        for n in range(20):  # a list worth paging through
            body = json.dumps(
                {"name": f"seed{n}", "version": version, "cpu": 1, "ram": 1024, "disk_size": 8}
            ).encode()
            conn.request(
                "POST", INSTANCES, body=body, headers={**auth, "Content-Type": "application/json"}
            )
            created.append(json.loads(conn.getresponse().read())["uuid"])
        figures = {
            "server": f"dbaas serve: waitress, {args.workers} processes x {args.threads} threads",
            "clients": args.clients,
            "seconds": args.seconds,
            "cpus": os.cpu_count(),
            "results": [
                measure(
                    f"GET {INSTANCES}/{{uuid}}",
                    port,
                    token,
                    "GET",
                    f"{INSTANCES}/{created[0]}",
                    version,
                    args.seconds,
                    args.clients,
                ),
                measure(
                    f"GET {INSTANCES} (20)",
                    port,
                    token,
                    "GET",
                    INSTANCES,
                    version,
                    args.seconds,
                    args.clients,
                ),
                measure(
                    f"POST {INSTANCES}",
                    port,
                    token,
                    "POST",
                    INSTANCES,
                    version,
                    args.seconds,
                    args.clients,
                ),
            ],
        }
        print(json.dumps(figures, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
        redis.Redis.from_url(env["DBAAS_REDIS_URL"]).delete(f"rq:queue:{queue}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
