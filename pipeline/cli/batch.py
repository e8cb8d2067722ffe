"""`ftboot batch send|collect|resubmit|write|read`: generate through a provider's Batch API (about half price,
answered within 24 h), or through batch files run by an engine ftboot does not call (`vllm run-batch`).

Planning, sending and collecting are `pipeline.generation.batch`'s; this module prints their results, those of
`ftboot judge --batch` (`print_sent`) and the judging passes of collected judge batches included.
`ftboot generate --batch`, `--collect`, `--resubmit`, `--batch-file` and `--collect-file` are hidden aliases
that call `run_batch` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pipeline.cli.common import (
    EXISTING_FILE,
    Writes,
    echo_json,
    json_option,
    limit_options,
    n_option,
    plan_options,
    progress_bar,
    project_of,
)

dry_run_option = click.option("--dry-run", is_flag=True, help="Count and price the requests; write and send nothing.")


def run_batch(project: Any, options: Any, action: str, path: Path | None, dry_run: bool, as_json: bool) -> None:
    """send, collect, resubmit, write or read: call the batch stage and print its summary."""
    from pipeline.generation.batch import collect, send

    with progress_bar(as_json) as progress:
        if action in ("collect", "resubmit"):
            harvest = collect.collect(project, progress) if not dry_run else None
            sent = send.resubmit(project, options, dry_run, progress) if action == "resubmit" else None
        elif action == "read":
            assert path is not None
            harvest, sent = collect.collect_file(project, options, path, progress), None
        else:
            harvest, sent = None, send.plan_batch(project, options, path, dry_run, progress)
    if as_json:
        echo_json(
            {
                **({"collected": harvest.as_dict()} if harvest else {}),
                **({"dry_run": dry_run, "planned": sent.as_dict()} if sent else {}),
            }
        )
        return
    for line in harvest_lines(harvest) if harvest else []:
        click.echo(line)
    for line in sent_lines(sent) + next_lines(sent, action, dry_run) if sent else []:
        click.echo(line)


def print_sent(sent: Any, dry_run: bool, as_json: bool) -> None:  # sent: pipeline.generation.batch.send.Sent
    """What `ftboot judge --batch` planned and sent, as `batch send` says it."""
    if as_json:
        echo_json({"dry_run": dry_run, "planned": sent.as_dict()})
        return
    for line in sent_lines(sent) + next_lines(sent, "send", dry_run):
        click.echo(line)


def next_lines(sent: Any, action: str, dry_run: bool) -> list[str]:
    """What to run after a planning command."""
    if dry_run:
        return ["dry run: nothing written or sent"]
    if action == "write" and sent.files:
        return [
            f"next: run it elsewhere (e.g. vllm run-batch -i {sent.files[0]['path']} -o results.jsonl --model {sent.model}), "
            "then `ftboot batch read results.jsonl` with the same --model, --mode and --pool"
        ]
    if sent.files:
        return ["next: ftboot batch collect  (a batch finishes within 24 h; `ftboot status` shows open batches)"]
    return []


def price_text(costs: dict[str, float | None], model: str) -> str:
    """A cost at batch prices, and the saving on the online price where both are configured."""
    batch, online = costs.get("batch"), costs.get("online")
    if batch is None:
        return f'cost unknown: set batch_input and batch_output under [prices."{model}"]'
    if online is None:
        return f"${batch:.4f} at batch prices"
    return f"${batch:.4f} at batch prices, ${online:.4f} online: ${online - batch:.4f} saved"


def sent_lines(sent: Any) -> list[str]:  # sent: pipeline.generation.batch.send.Sent
    """What a planning command did: the round's standing, the files written or sent, the worst-case cost."""
    from pipeline.generation.batch.submit import requests

    out = [*sent.notes]
    if sent.unscored is not None:
        out.append(
            f"{sent.unscored} candidates without a judge score: {sent.distinct} distinct requests, "
            f"{sent.outstanding} in open judge batches, {sent.cached} answered by the cache already "
            "(`ftboot judge` scores those without sending)"
        )
    if sent.target is not None:
        out.append(
            f"round {sent.round}: {sent.existing} of {sent.target} candidates, {sent.outstanding} requests in "
            f"open batches; acceptance {sent.rate:.2f} ({sent.rate_from})"
        )
    out.append(f"{requests(sent.requests)} planned" + (f" ({sent.stopped})" if sent.stopped else ""))
    for f in sent.files:
        where = f"batch {f['batch_id']} ({f['status']})" if f.get("batch_id") else f["path"]
        out.append(f"  {f['name']}: {requests(f['requests'])}, {f['bytes'] / 1e6:.2f} MB -> {where}")
    if sent.requests:
        out.append(
            f"worst case {sent.prompt_tokens:,} prompt + {sent.output_tokens:,} output tokens: "
            + price_text(sent.costs, sent.model)
        )
    return out


def harvest_lines(harvest: Any) -> list[str]:  # harvest: pipeline.generation.batch.collect.Harvest
    """What collecting took in, batch by batch; what is still open; and what to run next."""
    from pipeline.generation.batch.submit import requests

    out = [*harvest.notes]
    for b in harvest.batches:
        failures = ", ".join(f"{code} {n}" for code, n in b.failed.most_common())
        what = ("judge " if b.purpose == "judge" else "") + (f"batch {b.batch_id} ({b.name})" if b.batch_id else b.name)
        out.append(
            f"{what}: {b.status}, {requests(b.requests)}, {b.answered:,} answered, {sum(b.failed.values()):,} failed"
            + (f" ({failures})" if failures else "")
            + (f", {b.unmatched} unmatched" if b.unmatched else "")
        )
        out += [f"  {error}" for error in b.errors]
    for judged in harvest.judged:
        from pipeline.cli.judge import judge_text  # which imports this module

        out.append(judge_text(judged))
        out.append(
            f"  tokens: {judged['tokens']['prompt']:,} prompt, {judged['tokens']['completion']:,} output; "
            + price_text(judged["cost_usd"], judged["model"])
        )
    if any(b.purpose == "generate" for b in harvest.batches):
        reasons = ", ".join(f"{code} {n}" for code, n in harvest.reasons.most_common())
        out.append(
            f"candidates: +{sum(b.accepted for b in harvest.batches)}, rejected {sum(b.rejected for b in harvest.batches)}"
            + (f" ({reasons})" if reasons else "")
        )
        out.append(
            f"tokens: {harvest.prompt_tokens:,} prompt, {harvest.completion_tokens:,} output; "
            + price_text(harvest.costs, harvest.model)
        )
    out += [
        f"still open: {'judge ' * (w['purpose'] == 'judge')}batch {w['batch_id']} ({w['name']}) {w['status']}, "
        f"{w['completed']} of {w['requests']} done"
        for w in harvest.waiting
    ]
    if harvest.failed and any(b.batch_id for b in harvest.batches):
        out.append(f"next: ftboot batch resubmit  ({harvest.failed:,} failed)")
    elif harvest.failed:
        out.append("next: write the missing requests again with the same `ftboot batch write` command")
    elif harvest.judge_failed:
        out.append(
            f"next: ftboot judge --batch, or `ftboot judge` online  ({harvest.judge_failed:,} judge requests failed: "
            "their candidates have no score yet)"
        )
    elif harvest.waiting:
        out.append("next: ftboot batch collect again later (a batch finishes within 24 h)")
    elif harvest.batches:
        out.append("next: ftboot review push")
    return out


def _options(**given: Any) -> Any:  # -> pipeline.generation.run.Options
    from pipeline.generation.run import Options

    return Options(**given)


@click.group()
def batch() -> None:
    """Generate at about half price through a Batch API, or through batch files run elsewhere.

    outputs/batches.jsonl records every batch; `ftboot status` shows the open ones. `batch collect` also
    takes in the judge's batches (`ftboot judge --batch`) and writes their scores.

    \b
    Examples:
      ftboot batch send --backend openai --model gpt-4o-mini --n 20000
      ftboot batch collect          (again later for the batches still open)
      ftboot batch resubmit
      ftboot batch write requests.jsonl --backend openai --model my-model --n 5000
      ftboot batch read results.jsonl --backend openai --model my-model
    """


@batch.command("send", cls=Writes)
@n_option
@plan_options
@limit_options
@dry_run_option
@json_option("the summary")
@click.pass_context
def batch_send(ctx: click.Context, dry_run: bool, as_json: bool, **given: Any) -> None:
    """Send the planned requests as Batch API batches and return; --backend openai only.

    A batch is sized from the round's acceptance rate so far, less what open batches should bring.

    \b
    Examples:
      ftboot batch send --backend openai --model gpt-4o-mini --n 20000 --dry-run
      ftboot batch send --backend openai --model gpt-4o-mini --n 20000 --max-cost 5
    """
    run_batch(project_of(ctx), _options(**given), "send", None, dry_run, as_json)


@batch.command("collect", cls=Writes)
@json_option("the summary")
@click.pass_context
def batch_collect(ctx: click.Context, as_json: bool) -> None:
    """Take in the answers of finished batches, through the same filters as online replies.

    \b
    Example:
      ftboot batch collect
    """
    run_batch(project_of(ctx), _options(), "collect", None, False, as_json)


@batch.command("resubmit", cls=Writes)
@limit_options
@dry_run_option
@json_option("the summary")
@click.pass_context
def batch_resubmit(ctx: click.Context, dry_run: bool, as_json: bool, **given: Any) -> None:
    """Collect, then send the failed and expired requests again as a new batch.

    \b
    Example:
      ftboot batch resubmit --max-requests 1000
    """
    run_batch(project_of(ctx), _options(**given), "resubmit", None, dry_run, as_json)


@batch.command("write", cls=Writes)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@n_option
@plan_options
@limit_options
@dry_run_option
@json_option("the summary")
@click.pass_context
def batch_write(ctx: click.Context, file: Path, dry_run: bool, as_json: bool, **given: Any) -> None:
    """Only write the Batch API input FILE (split at the size limits), for an engine such as `vllm run-batch`.

    \b
    Example:
      ftboot batch write requests.jsonl --backend openai --model my-model --mode completion --n 5000
    """
    run_batch(project_of(ctx), _options(**given), "write", file, dry_run, as_json)


@batch.command("read", cls=Writes)
@click.argument("file", type=EXISTING_FILE)
@plan_options
@json_option("the summary")
@click.pass_context
def batch_read(ctx: click.Context, file: Path, as_json: bool, **given: Any) -> None:
    """Take in a Batch API output FILE produced elsewhere (same --model, --mode and --pool as `batch write`).

    \b
    Example:
      ftboot batch read results.jsonl --backend openai --model my-model --mode completion
    """
    run_batch(project_of(ctx), _options(**given), "read", file, False, as_json)


COMMANDS = [batch]
