"""`ftboot labelstudio install|start|status|add-reviewer|stop`: run a local Label Studio for the project.

The server is `pipeline.labelstudio`'s (its venv and database per user and version, the project's data dir);
this module prints what it returns. Syncing reviews with it is `pipeline.cli.review`'s.
"""

from __future__ import annotations

import os
from typing import Any

import click

from pipeline.cli.common import project_of


@click.group()
def labelstudio() -> None:
    """A local Label Studio for this project (data in .labelstudio/, its venv in a per-user cache).

    \b
    Examples:
      export $(ftboot labelstudio start | tail -2)   # sets LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY
      ftboot labelstudio status
      ftboot labelstudio stop
    """


def _data_dir(ctx: click.Context):  # -> pipeline.labelstudio.datadir.DataDir
    from pipeline.labelstudio.datadir import DataDir

    return DataDir.of(project_of(ctx).root)


def _note(line: str) -> None:
    click.echo(f"label-studio: {line}", err=True)


def _print_server(running: Any) -> None:
    click.echo(f"LABEL_STUDIO_URL={running.url}")
    click.echo(f"LABEL_STUDIO_API_KEY={running.api_key}")


@labelstudio.command("install")
def labelstudio_install() -> None:
    """Install Label Studio into its venv and migrate its database once (both cached per user).

    \b
    Example:
      ftboot labelstudio install
    """
    from pipeline.labelstudio.install import install, migrated_database

    migrated_database(install(_note), _note)


@labelstudio.command("start")
@click.option("--port", type=click.IntRange(1, 65535), envvar="LABEL_STUDIO_PORT", help="Port (default: a free one).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    envvar="LABEL_STUDIO_START_TIMEOUT",
    help="Seconds to wait for the server to answer.",
)
@click.option(
    "--database",
    "engine",
    type=click.Choice(["sqlite", "postgres"]),
    help="A new data dir's database (default sqlite; an existing data dir keeps its own).",
)
@click.option(
    "--dsn",
    envvar="FTBOOT_LABELSTUDIO_DSN",
    metavar="DSN",
    help="With --database postgres: an existing server's database (postgresql://user:pw@host:5432/db); "
    "without it ftboot runs a local cluster in the data dir. $FTBOOT_LABELSTUDIO_DSN keeps a "
    "password out of `ps`.",
)
@click.pass_context
def labelstudio_start(
    ctx: click.Context, port: int | None, timeout: float, engine: str | None, dsn: str | None
) -> None:
    """Start this project's Label Studio (or find it running) and print its URL and API key.

    \b
    Examples:
      export $(ftboot labelstudio start | tail -2)
      export $(ftboot labelstudio start --database postgres | tail -2)
    """
    from pipeline.labelstudio.server import start

    if dsn and engine == "sqlite":
        raise click.UsageError("--dsn goes with --database postgres")
    data = _data_dir(ctx)
    running = start(data, _note, port=port, timeout=timeout, engine=engine, dsn=dsn or None)
    _note(f"running at {running.url} (data in {running.state}, log in {data.path('server.log')})")
    _print_server(running)


@labelstudio.command("status")
@click.pass_context
def labelstudio_status(ctx: click.Context) -> None:
    """Print the URL and API key while the server runs; exit code 3 when it does not.

    \b
    Example:
      ftboot labelstudio status
    """
    from pipeline.labelstudio.server import status as server_status

    running = server_status(_data_dir(ctx))
    if running is None:
        _note("not running")
        ctx.exit(3)
    _note(f"running at {running.url} (data in {running.state})")
    _print_server(running)


@labelstudio.command("add-reviewer")
@click.argument("email")
@click.pass_context
def labelstudio_add_reviewer(ctx: click.Context, email: str) -> None:
    """Create a reviewer's account (a generated password, printed once) on $LABEL_STUDIO_URL, else this
    project's local server.

    \b
    Example:
      ftboot labelstudio add-reviewer ana@example.com
    """
    import secrets

    from pipeline.labelstudio.adapter import Server
    from pipeline.labelstudio.server import status as server_status

    project = project_of(ctx)
    running = None if os.environ.get("LABEL_STUDIO_URL") else server_status(_data_dir(ctx))
    server = Server(running.url, running.api_key, "the local server's key") if running else Server.connect(project)
    password = secrets.token_urlsafe(12)
    server.add_reviewer(email, password)
    click.echo(f"reviewer {email} added at {server.url}; password (shown only now): {password}")


@labelstudio.command("stop")
@click.pass_context
def labelstudio_stop(ctx: click.Context) -> None:
    """Stop this project's Label Studio (and the local PostgreSQL cluster it runs on, if any).

    \b
    Example:
      ftboot labelstudio stop
    """
    from pipeline.labelstudio.server import stop

    _note("stopped" if stop(_data_dir(ctx)) else "not running")


COMMANDS = [labelstudio]
