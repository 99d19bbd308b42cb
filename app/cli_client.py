"""`dbaas instances|users|databases ...`: the API from a shell (DBAAS_URL, DBAAS_TOKEN),
with a live progress line (the current Ansible task) while waiting."""

import functools
import json
import os
import sys
from pathlib import Path

import click

from app.client import ApiError, Client, with_login
from app.services.references import INSTANCES_PATH, PEM_MEDIA_TYPE

DEFAULT_URL = "http://127.0.0.1:8080"


def _client() -> Client:
    token = os.environ.get("DBAAS_TOKEN")
    if not token:
        raise click.UsageError("set DBAAS_TOKEN (make run prints one)")
    try:
        return Client(os.environ.get("DBAAS_URL", DEFAULT_URL), token)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def api_errors(command):
    """The API's message (and the fields it names) on stderr, exit 1: no traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApiError as error:
            click.echo(f"error {error.status}: {error}", err=True)
            sys.exit(1)
        except TimeoutError as error:
            click.echo(f"timed out: {error}", err=True)
            sys.exit(2)
        except OSError as error:
            click.echo(f"cannot reach the API: {error}", err=True)
            sys.exit(1)

    return wrapper


class ProgressLine:
    """One line rewritten in place on a terminal; each new state on its own line
    otherwise (logs, CI)."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, line: str) -> None:
        if line == self.last:
            return
        self.last = line
        if self.tty:
            width = 100
            click.echo("\r" + line[:width].ljust(width), nl=False, err=True)
        else:
            click.echo(line, err=True)

    def done(self) -> None:
        if self.tty and self.last:
            click.echo(err=True)


def _show(resource) -> None:
    click.echo(json.dumps(resource, indent=2))


def _table(rows: list[dict], columns: list[str]) -> None:
    for row in rows:
        click.echo("  ".join(str(row.get(column, "")) for column in columns))


def _wait(client: Client, path: str, instance: str, timeout: float, gone: bool = False):
    progress = ProgressLine()
    try:
        resource = client.wait(path, instance, timeout, progress, gone=gone)
    finally:
        progress.done()
    if resource is None:
        click.echo("deleted", err=True)
        return
    _show(resource)
    if resource["status"] == "ERROR":
        click.echo(f"failed: {(resource.get('error') or {}).get('message')}", err=True)
        sys.exit(1)


wait_option = click.option("--wait", "wait_", is_flag=True, help="Wait until it is done.")
timeout_option = click.option("--timeout", default=900.0, show_default=True, help="Seconds.")


# --- instances ----------------------------------------------------------------------


@click.group()
def instances() -> None:
    """PostgreSQL instances."""


def _backup_policy(fields: dict) -> dict:
    """--backup-schedule / --retention-days, taken out of the fields, as the body's part."""
    policy = {
        "schedule": fields.pop("backup_schedule", None),
        "retention_days": fields.pop("retention_days", None),
    }
    return {k: v for k, v in policy.items() if v is not None}


backup_options = (
    click.option(
        "--backup-schedule", type=click.Choice(["daily", "hourly", "none"]), help="Backups."
    ),
    click.option("--retention-days", type=int, help="Days of points kept restorable."),
)


def _with(options):
    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@instances.command("create")
@click.option("--name", required=True)
@click.option("--version", "version", help="Version name or UUID (not with --restore-from).")
@click.option("--cpu", type=int, default=1, show_default=True)
@click.option("--ram", type=int, default=1024, show_default=True, help="MB.")
@click.option("--disk-size", type=int, default=8, show_default=True, help="GB.")
@click.option("--nodes", "nodes_number", type=int, default=1, show_default=True)
@click.option("--sync", "sync_replica_number", type=int, default=0, show_default=True)
@click.option("--description", default="")
@_with(backup_options)
@click.option("--restore-from", help="Start from this instance's backups (a deleted one's too).")
@click.option("--point-in-time", help="RFC 3339 (with --restore-from; default: the latest).")
@click.option("--backup", "from_backup", help="A backup's UUID (with --restore-from).")
@wait_option
@timeout_option
@api_errors
def instances_create(
    version, restore_from, point_in_time, from_backup, wait_, timeout, **fields
) -> None:
    """Create an instance, empty or restored from another's backups."""
    client = _client()
    body = dict(fields)
    policy = _backup_policy(body)
    if policy:
        body["backup"] = policy
    if restore_from:
        source = {"instance": restore_from}
        if point_in_time:
            source["point_in_time"] = point_in_time
        if from_backup:
            source["backup"] = from_backup
        body["restore_from"] = source
    elif point_in_time or from_backup:
        raise click.UsageError("--point-in-time and --backup go with --restore-from.")
    if version:
        body["version"] = client.version_uuid(version)
    elif not restore_from:
        raise click.UsageError("Give --version (or --restore-from).")
    instance = client.request("POST", INSTANCES_PATH, body)
    if wait_:
        path = f"{INSTANCES_PATH}/{instance['uuid']}"
        _wait(client, path, instance["uuid"], timeout)
    else:
        _show(instance)


@instances.command("list")
@api_errors
def instances_list() -> None:
    """Your instances: uuid, name, status, nodes, connection URI."""
    rows = _client().list(INSTANCES_PATH)
    _table(rows, ["uuid", "name", "status", "nodes_number", "connection_uri"])


@instances.command("show")
@click.argument("instance")
@api_errors
def instances_show(instance: str) -> None:
    _show(_client().get(f"{INSTANCES_PATH}/{instance}"))


@instances.command("ca")
@click.argument("instance")
@api_errors
def instances_ca(instance: str) -> None:
    """The CA certificate (PEM) that verifies the instance's nodes: `> ca.pem`."""
    click.echo(_client().text(f"{INSTANCES_PATH}/{instance}/ca", PEM_MEDIA_TYPE), nl=False)


@instances.command("uri")
@click.argument("instance")
@click.option("--user", help="Log in as this user.")
@click.option("--database", default="postgres", show_default=True)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False),
    help="The CA certificate's file, written if missing  [default: ~/.dbaas/ca-INSTANCE.pem]",
)
@api_errors
def instances_uri(instance: str, user: str | None, database: str, ca_file: str | None) -> None:
    """The instance's connection URI (always the primary, over verified TLS), for psql
    and drivers; no password in it: psql asks, or reads PGPASSWORD."""
    client = _client()
    found = client.get(f"{INSTANCES_PATH}/{instance}")
    uri = found.get("connection_uri")
    if not uri:
        raise ApiError(409, {"message": "the instance is not ACTIVE: no connection URI yet"})
    path = Path(ca_file or Path.home() / ".dbaas" / f"ca-{found['uuid']}.pem").absolute()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(client.text(f"{INSTANCES_PATH}/{found['uuid']}/ca", PEM_MEDIA_TYPE))
    click.echo(with_login(uri, user, database, sslrootcert=str(path)))


@instances.command("update")
@click.argument("instance")
@click.option("--cpu", type=int)
@click.option("--ram", type=int, help="MB.")
@click.option("--disk-size", type=int, help="GB (grows only).")
@click.option("--nodes", "nodes_number", type=int)
@click.option("--sync", "sync_replica_number", type=int)
@click.option("--description")
@_with(backup_options)
@wait_option
@timeout_option
@api_errors
def instances_update(instance: str, wait_, timeout, **fields) -> None:
    """Change an instance's size, nodes, sync count or backups."""
    client = _client()
    policy = _backup_policy(fields)
    body = {name: value for name, value in fields.items() if value is not None}
    if policy:
        body["backup"] = policy
    changed = client.request("PUT", f"{INSTANCES_PATH}/{instance}", body)
    if wait_:
        _wait(client, f"{INSTANCES_PATH}/{instance}", instance, timeout)
    else:
        _show(changed)


@instances.command("restore")
@click.argument("instance")
@click.option("--point-in-time", required=True, help="RFC 3339, inside its recovery_window.")
@wait_option
@timeout_option
@api_errors
def instances_restore(instance: str, point_in_time: str, wait_, timeout) -> None:
    """Restore an instance in place as of a moment (a full backup is taken first)."""
    client = _client()
    path = f"{INSTANCES_PATH}/{instance}"
    restored = client.request("POST", f"{path}/restore", {"point_in_time": point_in_time})
    if wait_:
        _wait(client, path, instance, timeout)
    else:
        _show(restored)


@instances.command("upgrade")
@click.argument("instance")
@click.option(
    "--version",
    "version",
    help="Version name or UUID of a higher major (default: the newest packages of its own).",
)
@wait_option
@timeout_option
@api_errors
def instances_upgrade(instance: str, version: str | None, wait_, timeout) -> None:
    """Upgrade an instance: its packages node by node (it stays ACTIVE), or with
    --version to a higher major in place (pg_upgrade; IN_PROGRESS for minutes)."""
    client = _client()
    body = {"version": client.version_uuid(version)} if version else {}
    operation = client.request("POST", f"{INSTANCES_PATH}/{instance}/upgrade", body)
    _follow_operation(client, instance, operation, wait_, timeout)


@instances.command("switchover")
@click.argument("instance")
@click.option("--to", help="Address of the healthy replica to promote (default: a sync standby).")
@wait_option
@timeout_option
@api_errors
def instances_switchover(instance: str, to: str | None, wait_, timeout) -> None:
    """Hand the primary's role to a replica; the instance stays ACTIVE."""
    client = _client()
    body = {"to": to} if to else {}
    operation = client.request("POST", f"{INSTANCES_PATH}/{instance}/switchover", body)
    _follow_operation(client, instance, operation, wait_, timeout)


def _follow_operation(client: Client, instance: str, operation: dict, wait_, timeout) -> None:
    """Show an operation, or with --wait its progress until it ends (exit 1: FAILED)."""
    if wait_:
        progress = ProgressLine()
        try:
            operation = client.wait_operation(instance, operation["uuid"], timeout, progress)
        finally:
            progress.done()
    _show(operation)
    if operation["status"] == "FAILED":
        click.echo(f"failed: {(operation.get('error') or {}).get('message')}", err=True)
        sys.exit(1)


@instances.command("wait")
@click.argument("instance")
@timeout_option
@api_errors
def instances_wait(instance: str, timeout: float) -> None:
    """Wait until ACTIVE (exit 0) or ERROR (exit 1), showing the current task."""
    _wait(_client(), f"{INSTANCES_PATH}/{instance}", instance, timeout)


@instances.command("delete")
@click.argument("instance")
@wait_option
@timeout_option
@api_errors
def instances_delete(instance: str, wait_, timeout) -> None:
    """Delete an instance: its nodes, disks and data."""
    client = _client()
    client.request("DELETE", f"{INSTANCES_PATH}/{instance}")
    if wait_:
        _wait(client, f"{INSTANCES_PATH}/{instance}", instance, timeout, gone=True)


# --- users and databases -------------------------------------------------------------


def _children(kind: str, columns: list[str]) -> click.Group:
    """list, show, wait and delete for an instance's users or databases."""

    @click.group(name=kind, help=f"An instance's {kind}.")
    def group() -> None:
        pass

    @group.command("list")
    @click.argument("instance")
    @api_errors
    def list_(instance: str) -> None:
        _table(_client().list(f"{INSTANCES_PATH}/{instance}/{kind}"), columns)

    @group.command("show")
    @click.argument("instance")
    @click.argument("uuid")
    @api_errors
    def show(instance: str, uuid: str) -> None:
        _show(_client().get(f"{INSTANCES_PATH}/{instance}/{kind}/{uuid}"))

    @group.command("wait")
    @click.argument("instance")
    @click.argument("uuid")
    @timeout_option
    @api_errors
    def wait(instance: str, uuid: str, timeout: float) -> None:
        _wait(_client(), f"{INSTANCES_PATH}/{instance}/{kind}/{uuid}", instance, timeout)

    @group.command("delete")
    @click.argument("instance")
    @click.argument("uuid")
    @wait_option
    @timeout_option
    @api_errors
    def delete(instance: str, uuid: str, wait_, timeout) -> None:
        client = _client()
        path = f"{INSTANCES_PATH}/{instance}/{kind}/{uuid}"
        client.request("DELETE", path)
        if wait_:
            _wait(client, path, instance, timeout, gone=True)

    return group


def _create_child(client: Client, instance: str, kind: str, body: dict, wait_, timeout):
    created = client.request("POST", f"{INSTANCES_PATH}/{instance}/{kind}", body)
    if wait_:
        _wait(client, f"{INSTANCES_PATH}/{instance}/{kind}/{created['uuid']}", instance, timeout)
    else:
        _show(created)


users = _children("users", ["uuid", "name", "status", "description"])
databases = _children("databases", ["uuid", "name", "status", "owner"])
backups = _children("backups", ["uuid", "kind", "status", "finished_at", "size", "repository_size"])


@backups.command("create")
@click.argument("instance")
@click.option("--kind", type=click.Choice(["full", "diff", "incr"]), default="full")
@wait_option
@timeout_option
@api_errors
def backups_create(instance: str, kind: str, wait_, timeout):
    """Take a backup now."""
    _create_child(_client(), instance, "backups", {"kind": kind}, wait_, timeout)


@users.command("create")
@click.argument("instance")
@click.option("--name", required=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="DBAAS_USER_PASSWORD",
    help="Asked for when not given (or DBAAS_USER_PASSWORD); sent once, kept as a verifier.",
)
@click.option("--description", default="")
@wait_option
@timeout_option
@api_errors
def users_create(instance: str, name: str, password: str, description: str, wait_, timeout):
    """Create a PostgreSQL user (role that can log in)."""
    body = {"name": name, "password": password, "description": description}
    _create_child(_client(), instance, "users", body, wait_, timeout)


@users.command("update")
@click.argument("instance")
@click.argument("uuid")
@click.option(
    "--password",
    "new_password",
    is_flag=True,
    help="Change the password: asked for (or DBAAS_USER_PASSWORD), never an argument.",
)
@click.option("--description", help="A new description ('' clears it).")
@wait_option
@timeout_option
@api_errors
def users_update(instance: str, uuid: str, new_password: bool, description, wait_, timeout):
    """Change a user's password or description."""
    client = _client()
    body = {} if description is None else {"description": description}
    if new_password:
        body["password"] = os.environ.get("DBAAS_USER_PASSWORD") or click.prompt(
            "New password", hide_input=True, confirmation_prompt=True
        )
    if not body:
        raise click.UsageError("Give --password or --description.")
    path = f"{INSTANCES_PATH}/{instance}/users/{uuid}"
    changed = client.request("PUT", path, body)
    if wait_:
        _wait(client, path, instance, timeout)
    else:
        _show(changed)


@databases.command("create")
@click.argument("instance")
@click.option("--name", required=True)
@click.option("--owner", required=True, help="The owning user's name or UUID.")
@click.option("--description", default="")
@wait_option
@timeout_option
@api_errors
def databases_create(instance: str, name: str, owner: str, description: str, wait_, timeout):
    """Create a database owned by one of the instance's users."""
    client = _client()
    body = {"name": name, "owner": client.user_uuid(instance, owner), "description": description}
    _create_child(client, instance, "databases", body, wait_, timeout)


COMMANDS = (instances, users, databases, backups)
