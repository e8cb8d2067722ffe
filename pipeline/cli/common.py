"""What the command modules share: the project of an invocation, the lock-taking `Writes` command class, JSON
and warning output, the transient progress display, and the options several commands take alike.

It leaves the commands themselves to the modules of `pipeline.cli`, one per stage.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline.progress import Progress

# Kept here (not imported from pipeline.export) so that `ftboot --help` imports nothing heavy.
EXPORT_TARGETS = ["trl", "axolotl", "unsloth", "vertex"]

F = TypeVar("F", bound=Callable[..., Any])


class Writes(click.Command):
    """A command that writes the project's outputs: it runs holding the project lock (`pipeline.lock`), except
    with --dry-run, which writes nothing. A second writer stops naming the first, or waits with --wait-lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(
            click.Option(
                ["--wait-lock"], is_flag=True, help="If another command is writing this project, wait for it to finish."
            )
        )

    def invoke(self, ctx: click.Context) -> Any:
        from pipeline.lock import project_lock

        wait = ctx.params.pop("wait_lock")
        if ctx.params.get("dry_run"):
            return super().invoke(ctx)
        with project_lock(project_of(ctx).outputs, ctx.command_path, wait):
            return super().invoke(ctx)


def project_of(ctx: click.Context):  # -> pipeline.project.Project
    """The project for this invocation, loaded once."""
    from pipeline.project import find_project

    root = ctx.find_root()
    if "project" not in root.meta:
        root.meta["project"] = find_project(root.params.get("project"))
    return root.meta["project"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@contextmanager
def progress_bar(disabled: bool) -> Iterator[Progress]:
    """A transient rich progress display on stderr with one bar per step; yields the `Progress` it shows."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=disabled or not console.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator, applied in the order given (as they show in --help)."""

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# An existing file named on the command line (--input, --test, --from-file, ...).
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def json_option(what: str) -> Callable[[F], F]:
    """`--json`, which prints `what` (e.g. "the summary") as JSON instead of text."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def format_option(help: str) -> Callable[[F], F]:
    """`--format chat|dpo`: the supervised set or the preference set; `help` says what each means here."""
    return click.option(
        "--format", "fmt", type=click.Choice(["chat", "dpo"]), default="chat", show_default=True, help=help
    )


n_option = click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    help="Accepted candidates to aim for in this round (default from ftboot.toml).",
)
plan_options = _options(
    click.option(
        "--backend",
        type=click.Choice(["local", "openai"]),
        help="local: the bundled offline model; openai: any OpenAI-compatible endpoint.",
    ),
    click.option("--model", help="Model name for --backend openai; a GGUF file for --backend local."),
    click.option(
        "--mode",
        type=click.Choice(["chat", "completion"]),
        help="chat for instruction-tuned models, completion for base models.",
    ),
    click.option(
        "--pool",
        type=click.Choice(["seeds", "reviewed"]),
        default="seeds",
        show_default=True,
        help="reviewed: accepted reviews join the seeds as shots (a new round).",
    ),
)
limit_options = _options(
    click.option("--max-requests", type=click.IntRange(min=1), help="Stop before sending more requests than this."),
    click.option(
        "--max-tokens", type=click.IntRange(min=1), help="Stop before prompt + output tokens could pass this."
    ),
    click.option(
        "--max-cost",
        type=click.FloatRange(min=0),
        help='Stop before the cost in USD could pass this (needs [prices."model"]).',
    ),
)
