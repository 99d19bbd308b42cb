"""`dbaas`: serve the API, run the worker, manage tokens, versions and the schema."""

import logging
import os
import sys
import uuid
from typing import Any

import click

from app import migrate
from app.services import quotas, tokens, versions
from app.services.errors import ServiceError
from core import config as config_module
from core import images, tls
from core.config import DataDir
from core.database import writing_session


def _session(config: dict):
    return writing_session(config["DATABASE_URL"])


def _prepare(config: dict) -> None:
    """Migrate and load the default catalogue: serve and worker start ready."""
    migrate.upgrade(config["DATABASE_URL"])
    with _session(config) as session:
        versions.load_default_catalogue(session)
    tls.root(config)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """dbaas control plane."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        ctx.obj = config_module.load()
    except ValueError as exc:  # a setting the operator gave is wrong: say which
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Per process.")
@click.option(
    "--workers",
    default=min(os.cpu_count() or 1, 4),
    show_default="the cores, 4 at most",
    type=int,
    help="Processes sharing the listening socket.",
)
@click.pass_obj
def serve(config: dict, host: str, port: int, threads: int, workers: int) -> None:
    """Serve the API with a production WSGI server (waitress)."""
    from app import server

    data_dir = DataDir.of(config).root
    if not data_dir.is_dir() or not os.access(data_dir, os.W_OK):
        raise click.ClickException(
            f"the data directory {data_dir} does not exist or is not writable: prepare "
            f"this host with `make setup` (as root, DBAAS_DATA_DIR={data_dir})."
        )
    _prepare(config)
    server.serve(host, port, threads, workers)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.pass_obj
def worker(config: dict, burst: bool) -> None:
    """Run the job worker (RQ) and the outbox relay."""
    from jobs.worker import preflight, run

    problems = preflight(config)
    if problems:
        raise click.ClickException(
            "this host is not ready for the worker:\n  - "
            + "\n  - ".join(problems)
            + f"\nPrepare it with `make setup` (as root, DBAAS_DATA_DIR={config['DATA_DIR']})."
        )
    _prepare(config)
    run(config, burst=burst)


@main.group()
def token() -> None:
    """API tokens."""


def _duration(text: str | None) -> Any:
    """30d, 12h, 90m or 3600s."""
    from datetime import timedelta

    if text is None:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit() or int(number) <= 0:
        raise click.BadParameter(
            "a positive number and d, h, m or s: 30d", param_hint="--expires-in"
        )
    return timedelta(**{units[unit]: int(number)})


@token.command("create")
@click.option("--project", "project_id", help="Project UUID (a new one if omitted).")
@click.option("--admin", is_flag=True, help="May also manage the version catalogue.")
@click.option("--description", default="")
@click.option("--expires-in", help="Lifetime, e.g. 30d, 12h (default: never expires).")
@click.pass_obj
def token_create(
    config: dict, project_id: str | None, admin: bool, description: str, expires_in: str | None
) -> None:
    """Create a token; it is printed once, as the last line."""
    lifetime = _duration(expires_in)
    project_id = project_id or str(uuid.uuid4())
    try:
        project_id = str(uuid.UUID(project_id))
    except ValueError:
        raise click.BadParameter("not a UUID", param_hint="--project") from None
    migrate.upgrade(config["DATABASE_URL"])
    with _session(config) as session:
        record, secret = tokens.create_token_record(
            session, project_id, is_admin=admin, description=description, expires_in=lifetime
        )
        expiry = f", expires {_when(record.expires_at)}" if record.expires_at else ""
        click.echo(
            f"token {record.id}, project {project_id}{' (admin)' if admin else ''}{expiry}",
            err=True,
        )
    click.echo(secret)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


@token.command("list")
@click.pass_obj
def token_list(config: dict) -> None:
    """Every token: id, project, admin, created, last used, expiry (never the secret)."""
    from core.models import utcnow

    migrate.upgrade(config["DATABASE_URL"])
    now = utcnow()
    click.echo(f"{'ID':>4}  {'PROJECT':36}  ADMIN  {'CREATED':20}  {'LAST USED':20}  EXPIRES")
    with _session(config) as session:
        for record in tokens.list_tokens(session):
            state = _when(record.expires_at) if record.expires_at else "never"
            if record.revoked_at:
                state = f"revoked {_when(record.revoked_at)}"
            elif not tokens.is_usable(record, now):
                state = f"expired {state}"
            click.echo(
                f"{record.id:>4}  {record.project_id:36}  {'yes' if record.is_admin else 'no ':5}"
                f"  {_when(record.created_at):20}  {_when(record.last_used_at):20}  {state}"
            )


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_obj
def token_revoke(config: dict, token_id: int) -> None:
    """Refuse a token from now on (every API process within 10 s)."""
    migrate.upgrade(config["DATABASE_URL"])
    with _session(config) as session:
        if not tokens.revoke_token(session, token_id):
            raise click.ClickException(f"no token {token_id}")
    click.echo(f"token {token_id} revoked", err=True)


@main.group("versions")
def versions_group() -> None:
    """The version catalogue."""


@versions_group.command("list")
@click.pass_obj
def versions_list(config: dict) -> None:
    _prepare(config)
    with _session(config) as session:
        click.echo(f"{'UUID':<36}  {'NAME':<24} {'MAJOR':<5} {'SUITE':<9} IMAGE")
        for version in versions.list_versions(session):
            recipe = images.recipe(version.image)
            major, suite = (recipe.major, recipe.suite) if recipe else ("?", "?")
            flag = " (deprecated)" if version.deprecated else ""
            click.echo(
                f"{version.uuid}  {version.name:<24} {major:<5} {suite:<9} {version.image}{flag}"
            )


@versions_group.command("add")
@click.option("--name", required=True)
@click.option("--image", required=True)
@click.option("--description", default="")
@click.pass_obj
def versions_add(config: dict, name: str, image: str, description: str) -> None:
    from app.services.errors import ServiceError

    error = images.image_error(image)
    if error:
        raise click.BadParameter(error, param_hint="--image")
    _prepare(config)
    with _session(config) as session:
        try:
            version = versions.create_version(
                session, {"name": name, "image": image, "description": description}
            )
        except ServiceError as exc:
            click.echo(exc.message, err=True)
            sys.exit(1)
    click.echo(version.uuid)


@main.group()
def db() -> None:
    """The control plane's own database."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(config: dict) -> None:
    """Apply the schema migrations."""
    migrate.upgrade(config["DATABASE_URL"])
    click.echo("database schema is up to date", err=True)


@main.group("quotas")
def quotas_group() -> None:
    """Projects' quotas (defaults: DBAAS_QUOTA_*)."""


def _project(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise click.BadParameter("not a UUID", param_hint="PROJECT") from None


def _print_quota(shown: dict) -> None:
    for name, limit in shown["limits"].items():
        click.echo(f"{name:10} {shown['usage'][name]:>8} of {limit}")


@quotas_group.command("set")
@click.argument("project")
@click.option("--instances", type=click.IntRange(min=0))
@click.option("--nodes", type=click.IntRange(min=0))
@click.option("--cpu", type=click.IntRange(min=0), help="Cores over all nodes.")
@click.option("--ram", type=click.IntRange(min=0), help="MB over all nodes.")
@click.option("--disk", type=click.IntRange(min=0), help="GB of data disk over all nodes.")
@click.option("--default", "defaults", multiple=True, help="Put this limit back to the default.")
@click.pass_obj
def quotas_set(config: dict, project: str, defaults: tuple[str, ...], **limits) -> None:
    """Set a project's limits; the others keep theirs."""
    project = _project(project)
    changes = {name: value for name, value in limits.items() if value is not None}
    changes.update({name: None for name in defaults})
    if not changes:
        raise click.UsageError("give at least one limit")
    with _session(config) as session:
        try:
            quotas.set_limits(session, project, changes)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        _print_quota(quotas.show(session, project, config))


@quotas_group.command("show")
@click.argument("project")
@click.pass_obj
def quotas_show(config: dict, project: str) -> None:
    """A project's usage and limits."""
    project = _project(project)
    with _session(config) as session:
        _print_quota(quotas.show(session, project, config))


@main.group()
def ca() -> None:
    """The service's certificate authority (clients verify nodes with it)."""


@ca.command("init")
@click.pass_obj
def ca_init(config: dict) -> None:
    """Make the root CA if there is none (its key encrypted with the secret key)."""
    existed = DataDir.of(config).ca_certificate.exists()
    tls.root(config)
    if not existed:
        click.echo(f"made the root CA {DataDir.of(config).ca_certificate}", err=True)


@ca.command("show")
@click.pass_obj
def ca_show(config: dict) -> None:
    """The root CA's certificate, PEM."""
    click.echo(tls.root_certificate(config), nl=False)


def _add_client_commands() -> None:
    from app.cli_client import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_add_client_commands()

if __name__ == "__main__":
    main()
