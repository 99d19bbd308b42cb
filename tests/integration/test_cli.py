"""The `dbaas` command as an operator uses it, and the real WSGI server."""

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.services import free_port


@pytest.fixture
def env(tmp_path, redis_url):
    return dict(os.environ, DBAAS_DATA_DIR=str(tmp_path), DBAAS_REDIS_URL=redis_url)


def dbaas(env, *args):
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_token_versions_and_upgrade(env):
    dbaas(env, "db", "upgrade")
    token = dbaas(env, "token", "create", "--project", "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    assert token.strip().splitlines()[-1].startswith("dbaas_")
    listed = dbaas(env, "versions", "list")
    assert "PostgreSQL 15" in listed and "debian-trixie-pg17" in listed
    uuid = dbaas(env, "versions", "add", "--name", "PostgreSQL 16", "--image", "debian-x-pg16")
    assert uuid.strip() in dbaas(env, "versions", "list")
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--project", "nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_serve_answers_over_http(env):
    port = free_port()
    token = dbaas(env, "token", "create").strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/types/postgres/versions/"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        for _ in range(100):
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    assert answer.status == 200
                    assert b'"versions"' in answer.read()
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("dbaas serve did not answer")
    finally:
        server.terminate()
        server.wait(timeout=10)
