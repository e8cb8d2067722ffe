"""`ftboot init` and `ftboot status`: scaffold a project, and say where one stands and what to run next.

Scaffolding is `pipeline.project`'s and the counting `pipeline.status`'; this module prints their results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import echo_json, json_option, project_of


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Scaffold a new project: a commented ftboot.toml, an example seed file and outputs/.

    \b
    Example:
      ftboot init my-task && cd my-task && ftboot seeds check
    """
    from pipeline.project import init_project

    for path in init_project(directory):
        click.echo(f"created {path}")
    click.echo(f"next: edit {directory}/ftboot.toml and {directory}/seeds/, then `ftboot seeds check`")


@click.command()
@json_option("the counts")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the count at each stage and the next command to run.

    \b
    Example:
      ftboot status
    """
    from pipeline.status import project_status

    report = project_status(project_of(ctx))
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(status_text(report))


def status_text(report: Any) -> str:  # report: pipeline.status.Status
    """The count at each stage, then the notes, what the size means, and the next command."""
    width = max(len(k) for k in report.counts)
    lines = [f"{name:<{width}}  {n:>7,}" for name, n in report.counts.items()]
    lines += ["", *report.notes, report.advice, f"next: {report.next_step}"]
    return "\n".join(lines)


COMMANDS = [init, status]
