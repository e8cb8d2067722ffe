"""`ftboot init` and `ftboot status`: scaffold a project, and say where one stands and what to run next.

Scaffolding is `pipeline.project`'s and the counting `pipeline.status`'; this module prints their results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.common import echo_json, json_option, project_of

if TYPE_CHECKING:  # the library is imported inside the commands, so `ftboot --help` stays quick
    from pipeline.status import Status


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
        echo_json(status_json(report))
        return
    click.echo(status_text(report))


def size_advice(n: int) -> str:
    """What `n` examples mean for fine-tuning."""
    if n < 10:
        return f"{n} examples cannot be fine-tuned at all: providers need at least 10"
    if n < 50:
        return f"{n} examples is few: few-shot prompting with these as examples may serve better than fine-tuning"
    if n <= 100:
        return f"{n} examples is where fine-tuning gains usually start to show"
    return f"{n} examples: enough for fine-tuning to pay off on a focused task"


def next_step(report: Status) -> str:
    from pipeline.seeds import MIN_SEEDS
    from pipeline.status import Step

    return {
        Step.SEEDS: f"write at least {MIN_SEEDS} seeds in seeds/, then `ftboot seeds check`",
        Step.COLLECT: "`ftboot batch collect` once the open batches have finished",
        Step.GENERATE: "`ftboot generate` to grow the seeds into candidates",
        Step.REVIEW: "`ftboot review push`, review in Label Studio, then `ftboot review pull`",
        Step.BUILD: "`ftboot build`",
        Step.EVAL_TUNED: f"`ftboot eval` to see whether the fine-tuned {report.tuned} beats prompting",
        Step.EVAL_PROMPTING: (
            "`ftboot eval` to see whether prompting is already good enough, then `ftboot upload --dry-run`"
        ),
        Step.UPLOAD: "`ftboot upload --dry-run`, then `ftboot upload --wait`",
        Step.VERDICT: (
            f"read the verdict in {report.eval['report'] if report.eval else 'the eval report'}; "
            "rerun `ftboot eval` after new reviews"
        ),
        Step.FOLLOW: "`ftboot upload --status` to follow the job",
    }[report.step]


def notes(report: Status) -> list[str]:
    """What else the counts do not say: broken seeds, a stale set, the build's report, the eval, open batches."""
    out = []
    if report.seeds_error:
        out.append("the seeds have errors: `ftboot seeds check` lists them")
    if report.stale:
        out.append("train.jsonl is older than the seeds or the reviews: rebuild it")
    if report.report:
        charts = report.report["charts"]
        shown = f", with {len(charts)} charts in {report.charts_dir}/" if charts else ""
        out.append(f"build report: {report.report['report']}{shown}")
    if report.eval:
        older = " (older than test.jsonl: rerun it)" if report.eval["stale"] else ""
        out.append(f"eval: {report.eval['report']}{older}; verdict: {report.eval['verdict'] or 'none written'}")
    elif report.counts["test"]:
        out.append(f"eval: not run yet; {report.counts['test']:,} test items in {report.test_file}")
    if report.batches:
        listed = ", ".join(
            f"{'judge ' * (b['purpose'] == 'judge')}{b['batch_id'] or b['name']} {b['status']} "
            f"{b['completed']:,}/{b['requests']:,}"
            for b in report.batches
        )
        out.append(
            f"open batches: {len(report.batches)} with {sum(b['requests'] for b in report.batches):,} requests "
            f"({listed}); `ftboot batch collect` takes in the finished ones"
        )
    return out


def status_json(report: Status) -> dict[str, Any]:
    """`ftboot status --json`: the counts and what is known, the step as a code and in words."""
    return {
        "counts": report.counts,
        "step": report.step.value,
        "next": next_step(report),
        "advice": size_advice(report.available),
        "notes": notes(report),
        "open_batches": report.batches,
        "report": report.report,
        "eval": report.eval,
    }


def status_text(report: Status) -> str:
    """The count at each stage, then the notes, what the size means, and the next command."""
    width = max(len(k) for k in report.counts)
    lines = [f"{name:<{width}}  {n:>7,}" for name, n in report.counts.items()]
    lines += ["", *notes(report), size_advice(report.available), f"next: {next_step(report)}"]
    return "\n".join(lines)


COMMANDS = [init, status]
