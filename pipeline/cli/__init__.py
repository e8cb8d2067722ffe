"""The `ftboot` command line: the root group, its error handling and the entry point. Each stage's commands live
in a module of their own (`seeds`, `generate`, `batch`, `review`, `build`, `upload`, `eval`, `status`); they
parse options, call the library and format what it returns. The library raises `pipeline.errors` types, which
`FtbootGroup` turns into one line, a hint and an exit code (0 success, 1 run-time failure, 2 bad input or
usage). Set FTBOOT_DEBUG=1 for the traceback.

Heavy libraries (datasets, openai, label_studio_sdk, rich) are imported inside the commands so that
`ftboot --help` stays fast.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.cli import batch, build, generate, judge, labelstudio, review, seeds, status, upload
from pipeline.cli import eval as eval_
from pipeline.cli.common import EXPORT_TARGETS, Writes, echo_json, print_warnings, progress_bar, project_of
from pipeline.errors import FtbootError, InputWarning

__all__ = [
    "EXPORT_TARGETS",
    "FtbootGroup",
    "Writes",
    "cli",
    "echo_json",
    "main",
    "print_warnings",
    "progress_bar",
    "project_of",
]


class FtbootGroup(click.Group):
    """A click group that reports the project's errors as messages, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", InputWarning)
                warnings.showwarning = _show_input_warning(warnings.showwarning)
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


def _show_input_warning(fallback: Callable[..., None]) -> Callable[..., None]:
    """A `warnings.showwarning` that prints the library's `InputWarning`s as `warning:` lines, others as before."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, InputWarning):
            click.secho(f"warning: {message}", fg="yellow", err=True)
        else:
            fallback(message, category, *args, **kwargs)

    return show


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
      ftboot batch send       or send the same requests as Batch API batches (about half price)
      ftboot review push      send candidates to Label Studio
      ftboot review pull      bring reviewers' verdicts and corrections back
      ftboot build            validate, dedup, split: train.jsonl, val.jsonl
      ftboot upload           start a fine-tuning job (Fireworks, Bedrock, Together, ...)
      ftboot export           or write it for TRL, axolotl, Unsloth or Vertex AI
    `ftboot status` says where the project stands and what to run next.
    """


for module in (seeds, generate, judge, batch, review, labelstudio, build, upload, eval_, status):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ftboot")


if __name__ == "__main__":  # pragma: no cover
    main()
