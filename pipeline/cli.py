"""The `ftboot` command line: one thin click command per stage. Commands parse options, call the library and
print; the library raises `pipeline.errors` types, which `FtbootGroup` turns into one line, a hint and an exit
code (0 success, 1 run-time failure, 2 bad input or usage). Set FTBOOT_DEBUG=1 for the traceback.

Heavy libraries (datasets, openai, label_studio_sdk, rich) are imported inside the commands so that
`ftboot --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from pipeline.errors import FtbootError


class FtbootGroup(click.Group):
    """A click group that reports the project's errors as messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FtbootError as exc:
            if os.environ.get("FTBOOT_DEBUG") == "1":
                raise
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to carry on where it stopped", err=True)
            ctx.exit(130)


def project_of(ctx: click.Context):  # -> pipeline.config.Project
    """The project for this invocation, loaded once."""
    from pipeline.config import find_project

    root = ctx.find_root()
    if "project" not in root.meta:
        root.meta["project"] = find_project(root.params.get("project"))
    return root.meta["project"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@click.group(cls=FtbootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FTBOOT_PROJECT",
    help="Project directory (default: the current directory; env FTBOOT_PROJECT).",
)
@click.version_option(package_name="ftboot")
def cli(project: Path | None) -> None:
    """Bootstrap a fine-tuning dataset from a handful of hand-written examples.

    \b
    The stages, in order:
      ftboot seeds check      validate the hand-written seeds
      ftboot generate         few-shot generate candidates from them
      ftboot review push      send candidates to Label Studio
      ftboot review pull      bring reviewers' verdicts and corrections back
      ftboot build            validate, dedup, split: train.jsonl, val.jsonl
      ftboot upload           start a fine-tuning job
    `ftboot status` says where the project stands and what to run next.
    """


@cli.command()
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


@cli.group()
def seeds() -> None:
    """Work with the hand-written seed examples in seeds/."""


@seeds.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
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


@cli.command()
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Build from this chat JSONL instead of seeds + accepted reviews.")
@click.option("--format", "fmt", type=click.Choice(["chat", "dpo"]), default="chat", show_default=True,
              help="chat: supervised set; dpo: preference set from reviewers' edits.")
@click.option("--target", help="Ruleset to validate against (default from ftboot.toml: openai).")
@click.option("--model", help="Target model, for its token limit (default from ftboot.toml).")
@click.option("--push-to-hub", "push_to_hub", metavar="REPO", help="Also push the DatasetDict to this Hub repo.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build(ctx: click.Context, input_path: Path | None, fmt: str, target: str | None, model: str | None,
          push_to_hub: str | None, as_json: bool) -> None:
    """Validate, deduplicate and split into outputs/train.jsonl and val.jsonl, with report.md and dataset/.

    \b
    Examples:
      ftboot build
      ftboot build --input my-examples.jsonl --model gpt-4.1-nano
      ftboot build --format dpo
    """
    from pipeline.build import build as run_build

    project = project_of(ctx)
    result = run_build(project, input_path=input_path, fmt=fmt, target=target, model=model, push_to_hub=push_to_hub)
    if as_json:
        echo_json(result.summary())
        return
    click.echo(result.text_summary())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
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
    click.echo(report.text())


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ftboot")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
