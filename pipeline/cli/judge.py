"""`ftboot judge`: score the candidates 1-5 with a judge model before the humans, online or through a Batch API
(`judge --batch`, collected by `ftboot batch collect`).

Judging is `pipeline.generation.judge`'s and batch judging `pipeline.generation.batch.judging`'s; this module
prints their summaries.
"""

from __future__ import annotations

from typing import Any

import click

from pipeline.cli.batch import print_sent
from pipeline.cli.common import Writes, echo_json, json_option, limit_options, progress_bar, project_of


@click.command("judge", cls=Writes)
@click.option(
    "--backend",
    type=click.Choice(["local", "openai"]),
    help="Where the judge runs (default: [judge] backend, else generation's).",
)
@click.option("--model", help="The judge model (default: [judge] model, else generation's).")
@click.option("--min-score", type=click.IntRange(1, 5), help="Candidates scored below this become rejects (low-score).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Requests in flight at once (default: generation's).")
@limit_options
@click.option(
    "--batch",
    "batch",
    is_flag=True,
    help="Send the requests as Batch API batches at the batch price and return; `ftboot batch collect` scores.",
)
@click.option("--dry-run", is_flag=True, help="With --batch: count and price the requests; write and send nothing.")
@json_option("the summary")
@click.pass_context
def judge_command(
    ctx: click.Context,
    backend: str | None,
    model: str | None,
    min_score: int | None,
    concurrency: int | None,
    max_requests: int | None,
    max_tokens: int | None,
    max_cost: float | None,
    batch: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Score the candidates in outputs/candidates.jsonl that have no judge score yet (1-5, with a reason).

    For candidates collected from a batch, or generated before the judge was on. Scores are cached: judging
    again sends nothing. The file is rewritten atomically; --min-score moves low scores to rejected.jsonl.
    With --batch the requests go to the provider's Batch API instead (--backend openai; --max-cost at the
    batch price), and `ftboot batch collect` applies the scores, --min-score included, once they are back.

    \b
    Examples:
      ftboot judge
      ftboot judge --model gpt-4.1 --min-score 3 --max-cost 1
      ftboot judge --batch --backend openai --model gpt-4.1 --min-score 3 --dry-run
      ftboot judge --batch --backend openai --model gpt-4.1 --min-score 3 --max-cost 1
      ftboot batch collect          (again later for the batches still open)
    """
    if dry_run and not batch:
        raise click.UsageError("--dry-run goes with --batch")
    if batch:
        from pipeline.generation.batch.judging import plan_judge_batch

        with progress_bar(as_json) as progress:
            sent = plan_judge_batch(
                project_of(ctx), backend, model, min_score, max_requests, max_tokens, max_cost, dry_run, progress
            )
        print_sent(sent, dry_run, as_json)
        return
    from pipeline.generation.judge import run

    judged = run(project_of(ctx), backend, model, min_score, concurrency, max_requests, max_tokens, max_cost)
    if as_json:
        echo_json(judged.as_dict())
    else:
        click.echo(judge_text(judged.as_dict()))


def judge_text(judged: dict[str, Any]) -> str:  # judged: pipeline.generation.judge.Judged.as_dict()
    """One judge pass: the scores given, the failures, the low scores moved, the requests."""
    scores = ", ".join(f"{s}: {n}" for s, n in judged["scores"].items())
    asked = judged["requests"]
    return (
        f"judge {judged['model']}: {judged['judged']} scored ({scores or 'none'}), {judged['failed']} without a "
        f"score, {judged['low_score']} moved to rejected.jsonl as low-score; {asked['sent']} requests sent, "
        f"{asked['cached']} from the cache"
        + (f", {judged['in_batches']} left to open judge batches" if judged["in_batches"] else "")
        + (f"; {judged['stopped']}" if judged["stopped"] else "")
    )


COMMANDS = [judge_command]
