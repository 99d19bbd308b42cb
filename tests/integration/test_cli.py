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
    rows = {line.split("  ")[1].strip(): line.split() for line in listed.splitlines()[1:]}
    assert rows["PostgreSQL 15"][-3:] == ["15", "bookworm", "debian-bookworm-pg15"]
    assert rows["PostgreSQL 17"][-3:] == ["17", "trixie", "debian-trixie-pg17"]
    assert rows["PostgreSQL 18"][-3:] == ["18", "forky", "debian-forky-pg18"]
    uuid = dbaas(env, "versions", "add", "--name", "PG 18 beta", "--image", "debian-forky-pg18")
    assert uuid.strip() in dbaas(env, "versions", "list")
    unknown = subprocess.run(
        [sys.executable, "-m", "app.cli", "versions", "add", "--name", "x", "--image", "deb-x"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert unknown.returncode != 0 and "No root image recipe 'deb-x'" in unknown.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--project", "nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_tokens_expire_are_listed_without_secrets_and_revoked(env):
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--expires-in", "30d"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    secret = created.stdout.strip().splitlines()[-1]
    token_id = created.stderr.split("token ", 1)[1].split(",")[0]
    assert "expires" in created.stderr
    listed = dbaas(env, "token", "list")
    assert secret not in listed and secret[6:] not in listed
    [line] = [row for row in listed.splitlines() if row.split()[0] == token_id]
    assert "never" not in line and "revoked" not in line
    dbaas(env, "token", "revoke", token_id)
    [line] = [row for row in dbaas(env, "token", "list").splitlines() if row.split()[0] == token_id]
    assert "revoked" in line
    assert dbaas(env, "token", "revoke", "999999", check=False).returncode == 1
    bad = dbaas(env, "token", "create", "--expires-in", "soon", check=False)
    assert bad.returncode == 2 and "--expires-in" in bad.stderr


def test_serve_answers_over_http(served):
    url, token = served
    request = urllib.request.Request(
        f"{url}/v1/types/postgres/versions/", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200
        assert b'"versions"' in answer.read()


def test_an_admin_sets_a_projects_quotas_and_the_defaults_back(env):
    project = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    dbaas(env, "db", "upgrade")
    shown = dbaas(env, "quotas", "set", project.upper(), "--instances", "2", "--ram", "4096")
    assert "instances         0 of 2" in shown and "ram               0 of 4096" in shown
    assert "cpu               0 of 128" in dbaas(env, "quotas", "show", project)
    back = dbaas(env, "quotas", "set", project, "--default", "ram")
    assert "ram               0 of 262144" in back and "instances         0 of 2" in back
    for bad in (["quotas", "set", "nope", "--nodes", "1"], ["quotas", "set", project]):
        refused = dbaas(env, *bad, check=False)
        assert refused.returncode == 2, refused.stderr
    refused = dbaas(env, "quotas", "set", project, "--default", "colour", check=False)
    assert refused.returncode == 1 and "Not a quota" in refused.stderr
