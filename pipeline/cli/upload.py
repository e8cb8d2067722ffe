"""`ftboot upload`: send the final set to a fine-tuning service and start the job, or follow one.

Planning, sending and following are `pipeline.upload`'s; this module prints their results.
"""

from __future__ import annotations

import json
from typing import Any

import click

from pipeline.cli.common import Writes, echo_json, format_option, json_option, project_of


@click.command(cls=Writes)
@click.option(
    "--provider", help="fireworks, bedrock, together, huggingface, openai or azure (from ftboot.toml; no default)."
)
@click.option("--model", help="The base model to fine-tune (default from ftboot.toml).")
@format_option("chat: train.jsonl and val.jsonl, supervised; dpo: the preference set from `build --format dpo`.")
@click.option(
    "--dry-run", is_flag=True, help="Validate and show what would be sent and its estimated cost; send nothing."
)
@click.option("--wait", is_flag=True, help="Follow the job until it succeeds, fails or is cancelled.")
@click.option(
    "--status",
    "status_of",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[JOB_ID]",
    help="Follow a job already started (default: the last one in outputs/uploads.jsonl).",
)
@click.option("--force", is_flag=True, help="Start a job even though these files and settings already have one.")
@json_option("the plan or the result")
@click.pass_context
def upload(
    ctx: click.Context,
    provider: str | None,
    model: str | None,
    fmt: str,
    dry_run: bool,
    wait: bool,
    status_of: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Send the final set to a fine-tuning service and start the job, or push the dataset to the Hugging Face Hub.

    The files are validated again against the provider's rules first; an invalid file is refused with the
    reasons and nothing is sent. Every upload and job is recorded in outputs/uploads.jsonl, never with a key.
    Ctrl-C while following stops following, not the job.

    \b
    Examples:
      ftboot upload --provider fireworks --dry-run
      ftboot upload --provider fireworks --wait
      ftboot upload --provider together --model meta-llama/Meta-Llama-3.1-8B-Instruct-Reference --wait
      ftboot upload --format dpo
      ftboot upload --status
    """
    from pipeline import upload as up

    project = project_of(ctx)
    if status_of is not None:
        job_provider, job_id = up.job_provider(project, status_of or None, provider)
        _follow(ctx, project, job_provider, job_id, as_json)
        return
    chosen = up.get_provider(project, provider)
    plan = up.plan_upload(project, chosen, model, fmt)
    if dry_run:
        first = up.first_line(chosen, plan)
        if as_json:
            echo_json({"dry_run": True, **plan.as_dict(), "first_line": first})
        else:
            click.echo(plan_text(plan))
            click.echo(f"first line  {json.dumps(first, ensure_ascii=False)}")
            click.echo("dry run: nothing was sent")
        return
    started = up.start_upload(project, chosen, plan, force)
    summary = {
        "provider": started.provider,
        "file_ids": started.file_ids,
        "reused": started.reused,
        "url": started.url,
        "job_id": started.job.id if started.job else None,
        "status": started.job.status if started.job else None,
    }
    if started.job is None:
        if as_json:
            echo_json(summary)
        else:
            click.echo(f"pushed {plan.train.examples} training examples to {started.url}")
        return
    if not as_json:
        reused = f" (reused the uploaded {', '.join(started.reused)} file)" if started.reused else ""
        click.echo(f"uploaded {', '.join(f'{r} {i}' for r, i in started.file_ids.items())}{reused}")
        click.echo(
            f"started job {started.job.id} at {chosen.label}: {plan.model}, {plan.method} ({started.job.status})"
        )
    if wait:
        _follow(ctx, project, chosen, started.job.id, as_json)
    elif as_json:
        echo_json(summary)
    else:
        click.echo(f"follow it with: ftboot upload --status {started.job.id}")


def _follow(ctx: click.Context, project: Any, provider: Any, job_id: str, as_json: bool) -> None:
    """Follow a job with a live status line; events are printed above it as they come."""
    from contextlib import nullcontext

    from rich.console import Console

    from pipeline.upload import follow

    console = Console(highlight=False, soft_wrap=True)
    # The live line only where it can be redrawn; a log gets the events and the final line.
    live = console.status(f"{job_id}: asking {provider.label}") if console.is_terminal else None
    update = None
    try:
        with live or nullcontext():
            for update in follow(project, provider, job_id):
                if not as_json:
                    for event in update.new_events:
                        console.print(
                            f"  {event.message}", markup=False, style="red" if event.level == "error" else None
                        )
                if live:
                    live.update(update_line(update))
    except KeyboardInterrupt:
        click.echo(
            f"stopped following; job {job_id} keeps running at {provider.label}. "
            f"Pick it up again with: ftboot upload --status {job_id}",
            err=True,
        )
        ctx.exit(130)
    assert update is not None
    job = update.job
    checkpoints = provider.checkpoints(job.id)
    if as_json:
        echo_json(
            {
                "job_id": job.id,
                "status": job.status,
                "fine_tuned_model": job.fine_tuned_model,
                "trained_tokens": job.trained_tokens,
                "train_loss": update.train_loss,
                "checkpoints": checkpoints,
            }
        )
        return
    click.echo(update_line(update))
    click.echo(f"job {job.id} succeeded: fine-tuned model {job.fine_tuned_model}")
    for point in checkpoints:
        click.echo(f"  checkpoint {point}")


def plan_text(plan: Any) -> str:  # plan: pipeline.plan.Plan
    """What an upload would send: the files, epochs, settings, billed tokens and the estimated cost."""
    lines = [f"provider    {plan.provider} (rules: {plan.target})", f"base model  {plan.model}, method {plan.method}"]
    for f in plan.files:
        lines.append(f"{f.role:<11} {f.shown}  {_size(f.bytes)}, {f.examples} examples, {f.tokens:,} tokens")
    if not plan.trains:
        return "\n".join(lines)
    how = f"auto: {plan.provider}'s default for {plan.train.examples} examples" if plan.epochs_auto else "configured"
    lines.append(f"epochs      {plan.epochs} ({how})")
    settings = ", ".join(f"{k}={v}" for k, v in plan.hyperparameters.items())
    lines.append(f"settings    {settings}" + (f", suffix={plan.suffix}" if plan.suffix else ""))
    lines.append(f"billed      {plan.billed_tokens:,} tokens (training tokens x epochs)")
    if plan.cost is None:
        lines.append(f"cost        unknown: no training price for {plan.model} under [prices] in ftboot.toml")
    else:
        cost = f"{plan.cost:,.2f}" if plan.cost >= 0.01 else f"{plan.cost:.4f}"
        lines.append(f"cost        ~${cost} at ${plan.price:g} per 1M training tokens (from ftboot.toml)")
    return "\n".join(lines)


def _size(n: int) -> str:
    """Bytes as B, KB, MB or GB (of 1024)."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def update_line(update: Any) -> str:  # update: pipeline.upload.Update
    """The one-line status: job, status, step and train loss so far, trained tokens at the end."""
    parts = [f"{update.job.id} {update.job.status}"]
    if update.step is not None:
        parts.append(f"step {update.step}")
    if update.train_loss is not None:
        parts.append(f"train loss {update.train_loss:.4f}")
    if update.job.trained_tokens:
        parts.append(f"{update.job.trained_tokens:,} trained tokens")
    return " | ".join(parts)


COMMANDS = [upload]
