"""`dbaas instances|users|databases` against a real `dbaas serve` over HTTP (no worker:
what the client sends, shows and refuses, not provisioning; the e2e tests do that)."""

import json
from pathlib import Path

from tests.integration.conftest import dbaas


def client_env(env, served, **extra):
    url, token = served
    return {**env, "DBAAS_URL": url, "DBAAS_TOKEN": token, **extra}


def test_create_list_show_and_delete_through_the_client(env, served):
    env = client_env(env, served)
    created = json.loads(
        dbaas(
            env,
            "instances",
            "create",
            "--name",
            "shop",
            "--version",
            "PostgreSQL 15",
            "--nodes",
            "3",
            "--sync",
            "1",
            "--disk-size",
            "10",
        )
    )
    assert (created["status"], created["nodes_number"], created["disk_size"]) == ("NEW", 3, 10)
    instance = created["uuid"]
    assert f"{instance}  shop  NEW  3" in dbaas(env, "instances", "list")
    assert json.loads(dbaas(env, "instances", "show", instance))["uuid"] == instance

    password = "client-Secret-77"
    user = json.loads(
        dbaas(env, "users", "create", instance, "--name", "app", input=f"{password}\n{password}\n")
    )
    assert user["status"] == "NEW" and password not in json.dumps(user)
    # A new password is asked for, never taken from the command line.
    update = ["users", "update", instance, user["uuid"]]
    on_argv = dbaas(env, *update, "--password", "argv-Secret-1", check=False)
    assert on_argv.returncode == 2 and "argv-Secret-1" not in on_argv.stdout
    asked = dbaas(env, *update, "--password", input="new-Secret-88\nnew-Secret-88\n", check=False)
    assert "New password" in asked.stdout + asked.stderr
    assert "error 409" in asked.stderr  # its create is still pending: the PUT was sent
    assert dbaas(env, *update, check=False).returncode == 2  # nothing to change
    database = json.loads(
        dbaas(env, "databases", "create", instance, "--name", "app_db", "--owner", "app")
    )
    assert database["owner"].endswith(f"/users/{user['uuid']}")  # the name was resolved
    assert "app_db" in dbaas(env, "databases", "list", instance)

    # No worker runs here: waiting shows the state and gives up at the timeout.
    waited = dbaas(env, "instances", "wait", instance, "--timeout", "1", check=False)
    assert waited.returncode == 2
    # A switchover while the create waits is refused naming it; a bad --to, naming it.
    switched = dbaas(env, "instances", "switchover", instance, check=False)
    assert switched.returncode == 1 and "error 409" in switched.stderr, switched.stderr
    bad = dbaas(env, "instances", "switchover", instance, "--to", "node-2", check=False)
    assert bad.returncode == 1 and "error 422" in bad.stderr and "to" in bad.stderr
    # An upgrade likewise; a lower major by name is refused naming the version.
    upgraded = dbaas(env, "instances", "upgrade", instance, check=False)
    assert upgraded.returncode == 1 and "error 409" in upgraded.stderr, upgraded.stderr
    unknown = dbaas(
        env, "instances", "upgrade", instance, "--version", "PostgreSQL 99", check=False
    )
    assert unknown.returncode != 0 and "PostgreSQL 99" in unknown.stderr, unknown.stderr
    assert "NEW  create" in waited.stderr and "timed out" in waited.stderr

    not_yet = dbaas(env, "instances", "uri", instance, check=False)
    assert not_yet.returncode == 1 and "not ACTIVE" in not_yet.stderr

    # The CA that verifies the nodes, as PEM, to a file (the service's own root).
    pem = dbaas(env, "instances", "ca", instance)
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and pem.endswith(
        "-----END CERTIFICATE-----\n"
    )
    assert pem == (Path(env["DBAAS_DATA_DIR"]) / "tls" / "ca.pem").read_text()
    assert (
        dbaas(
            env, "instances", "ca", "00000000-0000-4000-8000-000000000000", check=False
        ).returncode
        == 1
    )

    # While its create is pending, a delete is accepted (the create is cancelled); a
    # second one is refused with the reason.
    assert dbaas(env, "instances", "delete", instance, check=False).returncode == 0
    refused = dbaas(env, "instances", "delete", instance, check=False)
    assert refused.returncode == 1
    assert "error 409" in refused.stderr and "being deleted" in refused.stderr


def create(env, served, *options: str):
    return dbaas(
        client_env(env, served), "instances", "create", "--name", "x", *options, check=False
    )


def test_bad_input_and_missing_token_are_clear_errors(env, served):
    refused = create(env, served, "--version", "PostgreSQL 15", "--cpu", "0")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error 422") and "cpu" in refused.stderr
    assert "Traceback" not in refused.stderr

    unknown = dbaas(client_env(env, served), "instances", "show", "nope", check=False)
    assert unknown.returncode == 1 and "error 404" in unknown.stderr

    no_version = create(env, served, "--version", "PG 99")
    assert no_version.returncode == 1 and "no version named 'PG 99'" in no_version.stderr

    stranger = dbaas(
        client_env(env, served, DBAAS_TOKEN="dbaas_forged"), "instances", "list", check=False
    )
    assert stranger.returncode == 1 and "error 401" in stranger.stderr

    env.pop("DBAAS_TOKEN", None)
    missing = dbaas(env, "instances", "list", check=False)
    assert missing.returncode == 2 and "DBAAS_TOKEN" in missing.stderr
