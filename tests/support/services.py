"""Real services for the tests, started and stopped by PID: a private Redis, and
throw-away databases on the host's PostgreSQL (prepared by `make setup`)."""

import os
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import psycopg
import redis

POSTGRES_ADMIN_URL = os.environ.get(
    "DBAAS_TEST_POSTGRES_URL", "postgresql://root@/postgres?host=/var/run/postgresql"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(port: int | None = None):
    """A Redis of our own on a free loopback port, stopped by its PID afterwards."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is missing: run `make setup`")
    port = port or free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not answer")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def postgres_database():
    """A new database on the local PostgreSQL, dropped afterwards."""
    name = f"dbaas_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = POSTGRES_ADMIN_URL.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    try:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh(session) -> None:
    """End the session's snapshot and forget loaded rows: the next query reads anew."""
    session.rollback()
    session.expire_all()
