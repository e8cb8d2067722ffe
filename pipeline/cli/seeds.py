"""`ftboot seeds check`: validate the hand-written seeds and say how many there are.

The checking is `pipeline.seeds`'; this module only prints its result.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import echo_json, json_option, print_warnings, project_of


@click.group()
def seeds() -> None:
    """Work with the hand-written seed examples in seeds/."""


@seeds.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@json_option("the result")
@click.pass_context
def seeds_check(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Validate seed files (default: every seeds/*.jsonl and seeds/*.yaml).

    Reports every error as file:line: field: problem (exit 2) and warns about too few seeds, duplicates and
    a missing system prompt.

    \b
    Examples:
      ftboot seeds check
      ftboot seeds check seeds/support.yaml
    """
    from pipeline.seeds import check_seeds

    project = project_of(ctx)
    result = check_seeds(project, list(paths) or None)
    if as_json:
        echo_json({"seeds": len(result.records), "files": result.files, "warnings": result.warnings})
        return
    print_warnings(result.warnings)
    click.echo(f"{len(result.records)} seeds OK in {len(result.files)} file(s)")


COMMANDS = [seeds]
