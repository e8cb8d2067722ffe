"""`ftboot generate`: few-shot generate candidates online.

Generating is `pipeline.generation.online`'s; this module turns its summaries into a progress bar and a table.
Scoring candidates (`ftboot judge`) is `pipeline.cli.judge`'s. The `--batch`, `--collect`, `--resubmit`, `--batch-file` and
`--collect-file` flags are hidden aliases of `ftboot batch ...` (`pipeline.cli.batch`), kept for a release.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.batch import run_batch
from pipeline.cli.common import (
    EXISTING_FILE,
    Writes,
    echo_json,
    json_option,
    limit_options,
    n_option,
    plan_options,
    project_of,
)


@click.command(cls=Writes)
@n_option
@plan_options
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once (default 16).")
@limit_options
@click.option("--batch", is_flag=True, hidden=True, help="Alias of `ftboot batch send`.")
@click.option("--collect", is_flag=True, hidden=True, help="Alias of `ftboot batch collect`.")
@click.option("--resubmit", is_flag=True, hidden=True, help="Alias of `ftboot batch resubmit`.")
@click.option(
    "--batch-file",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,
    help="Alias of `ftboot batch write FILE`.",
)
@click.option(
    "--collect-file",
    type=EXISTING_FILE,
    hidden=True,
    help="Alias of `ftboot batch read FILE`.",
)
@click.option(
    "--judge",
    "judge",
    is_flag=True,
    help="Score every candidate 1-5 with the [judge] model (a judge_score for review).",
)
@click.option(
    "--min-score",
    type=click.IntRange(1, 5),
    help="With the judge: candidates scored below this become rejects (low-score).",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the first prompt and the planned number of requests; send nothing."
)
@json_option("the summary")
@click.pass_context
def generate(
    ctx: click.Context,
    n: int | None,
    backend: str | None,
    model: str | None,
    mode: str | None,
    pool: str,
    concurrency: int | None,
    max_requests: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    batch: bool,
    collect: bool,
    resubmit: bool,
    batch_file: Path | None,
    collect_file: Path | None,
    judge: bool,
    min_score: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Few-shot generate candidates from the seeds into outputs/candidates.jsonl (rejects: rejected.jsonl).

    Every reply is cached; a rerun, or a run after Ctrl-C or a crash, carries on without paying twice.
    `ftboot batch send` sends the same requests to the provider's Batch API instead, at about half the price;
    `ftboot batch collect` takes the answers in through the same filters.

    \b
    Examples:
      ftboot generate --n 20 --dry-run
      ftboot generate --n 20 --backend local
      OPENAI_API_KEY=... ftboot generate --backend openai --model gpt-4o-mini --mode chat --n 500 --max-cost 2
      ftboot generate --pool reviewed --n 200
    """
    from pipeline.generation.online import generate as run_generate
    from pipeline.generation.online import preview
    from pipeline.generation.run import Options

    project = project_of(ctx)
    options = Options(
        n=n,
        backend=backend,
        model=model,
        mode=mode,
        pool=pool,
        concurrency=concurrency,
        max_requests=max_requests,
        max_tokens=max_tokens,
        max_cost=max_cost,
        judge=judge or min_score is not None,
        min_score=min_score,
    )
    chosen = [
        name
        for name, on in (
            ("--batch", batch),
            ("--collect", collect),
            ("--resubmit", resubmit),
            ("--batch-file", batch_file),
            ("--collect-file", collect_file),
        )
        if on
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} do not go together: choose one")
    if chosen:
        if dry_run and chosen[0] in ("--collect", "--collect-file"):
            raise click.UsageError(f"--dry-run goes with --batch, --resubmit or --batch-file, not {chosen[0]}")
        action = {
            "--batch": "send",
            "--collect": "collect",
            "--resubmit": "resubmit",
            "--batch-file": "write",
            "--collect-file": "read",
        }[chosen[0]]
        run_batch(project, options, action, batch_file or collect_file, dry_run, as_json)
        return
    if dry_run:
        plan = preview(project, options)
        s = plan.summary
        line = (
            f"planned: {plan.planned} requests ({plan.cached} answered from the cache) for {s.target - s.existing} "
            f"more candidates in round {s.round}, {s.mode} mode, {s.model} at {s.endpoint}; nothing sent"
        )
        if as_json:
            echo_json(
                {
                    "prompt": plan.prompt_text(),
                    "planned_requests": plan.planned,
                    "cached": plan.cached,
                    "request": plan.request.body(),
                    **s.as_dict(),
                }
            )
            return
        click.echo(plan.prompt_text())
        click.echo(f"\n{line}")
        return
    with _GenerateProgress(enabled=not as_json) as progress:
        summary = run_generate(project, options, progress.update)
    if as_json:
        echo_json(summary.as_dict())
    else:
        _print_generate_summary(summary)
    if summary.error:
        raise summary.error


class _GenerateProgress:
    """A rich progress bar on stderr: candidates against the target, requests, rate, tokens, cost, rejects."""

    def __init__(self, enabled: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.bar: Any = None

    def __enter__(self) -> _GenerateProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("candidates"),
                BarColumn(bar_width=12),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task("generate", total=None, info="starting")
        return self

    def update(self, s: Any) -> None:
        if self.bar is None:
            return
        cost = f", ${s.cost:.4f}" if s.cost is not None else ""
        info = (
            f"{s.sent + s.cached} req, {s.requests_per_second:.3g}/s, {s.prompt_tokens + s.completion_tokens:,} tok"
            f"{cost}, {s.rejected} rejected"
        )
        self.bar.update(self.task, completed=s.total, total=s.target, info=info)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print_generate_summary(s: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"generate: round {s.round}, {s.model} at {s.endpoint} ({s.mode})", show_header=False)
    reasons = ", ".join(f"{code} {count}" for code, count in s.reasons.most_common())
    errors = ", ".join(f"{cause} {count}" for cause, count in s.errors.most_common())
    rows = [
        ("candidates", f"{s.total} of {s.target} ({s.accepted} new, {s.existing} before)"),
        ("rejected", f"{s.rejected}" + (f" ({reasons})" if reasons else "")),
        (
            "requests",
            f"{s.sent} sent, {s.cached} from the cache, {s.retries} retries"
            + (f" ({errors})" if errors else "")
            + (f"; {s.billed_unusable} possibly billed, no answer" if s.billed_unusable else ""),
        ),
        (
            "tokens",
            f"{s.prompt_tokens:,} prompt, {s.completion_tokens:,} output"
            + (
                f" (worst case counted for {s.billed_unusable + s.without_usage} without usage)"
                if s.billed_unusable + s.without_usage
                else ""
            ),
        ),
        ("cost", f"${s.cost:.4f}" if s.cost is not None else "unknown (no price configured for this model)"),
        ("time", f"{s.elapsed:.1f} s, {s.requests_per_second:.3g} requests/s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if s.judge:
        table.add_row(
            "judge",
            f"{s.judge['model']}: {s.judge['judged']} scored, {s.judge['failed']} without a score, "
            f"{s.judge['low_score']} low-score; {s.judge['requests']['sent']} requests sent",
        )
    console = Console()
    console.print(table)
    click.echo(s.stopped)
    if s.total:
        click.echo("next: ftboot review push")


COMMANDS = [generate]
