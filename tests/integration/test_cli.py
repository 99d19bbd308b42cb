"""The `dbaas` command as an operator uses it, and the real WSGI server."""

import subprocess
import sys
import urllib.request

from tests.integration.conftest import dbaas


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


def test_serve_answers_over_http(served):
    url, token = served
    request = urllib.request.Request(
        f"{url}/v1/types/postgres/versions/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
        assert b'"versions"' in answer.read()
