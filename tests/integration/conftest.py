import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.services import free_port


@pytest.fixture
def env(tmp_path, redis_url):
    return dict(os.environ, DBAAS_DATA_DIR=str(tmp_path), DBAAS_REDIS_URL=redis_url)


def dbaas(env, *args, check: bool = True, input: str | None = None):
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        input=input,
    )
    if check:
        assert done.returncode == 0, done.stderr
        return done.stdout
    return done


@pytest.fixture
def served(env):
    """`dbaas serve` (waitress) on a free port: its URL and an admin token."""
    port = free_port()
    token = dbaas(env, "token", "create", "--admin").strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/docs", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("dbaas serve did not answer")
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=10)
