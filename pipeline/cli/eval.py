"""`ftboot eval`, `eval push` and `eval pull`: ask every system the held-out test prompts and compare them, by
scores, an LLM judge and blind human judgements in Label Studio.

Evaluating is `pipeline.eval`'s; this module prints its results.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import EXISTING_FILE, echo_json, json_option, progress_bar, project_of


@click.group("eval", invoke_without_command=True)
@click.option("--systems", help="Comma-separated names of [eval.systems] tables (default: all).")
@click.option(
    "--test",
    "test_path",
    type=EXISTING_FILE,
    help="Evaluate on this chat JSONL instead of outputs/test.jsonl.",
)
@click.option(
    "--judge", metavar="MODEL", help="Judge each pair of systems with this model ('local' for the bundled one)."
)
@click.option("--limit", type=int, help="Only the first N test items.")
@click.option("--max-requests", type=click.IntRange(min=1), help="Stop before sending more requests than this.")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="Stop before spending more US dollars than this (every model priced).",
)
@json_option("the result")
@click.pass_context
def eval_(
    ctx: click.Context,
    systems: str | None,
    test_path: Path | None,
    judge: str | None,
    limit: int | None,
    max_requests: int | None,
    max_cost: float | None,
    as_json: bool,
) -> None:
    """Ask every [eval.systems] table the held-out test prompts; score, compare, and say whether fine-tuning paid off.

    \b
    Examples:
      ftboot eval
      ftboot eval --systems few-shot,fine-tuned --judge gpt-4.1 --json
      ftboot eval --test my-test.jsonl --limit 50
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.eval import Options, evaluate

    names = [n.strip() for n in systems.split(",") if n.strip()] if systems else None
    project = project_of(ctx)
    with progress_bar(disabled=as_json) as update:
        result = evaluate(project, Options(names, test_path, judge, limit, max_requests, max_cost), update)
    if as_json:
        for compared in result["pairwise"].values():
            if judged := compared["judge"]:  # the per-item detail is eval.json's; the human side has none
                judged.pop("items", None)
                judged.pop("outcomes", None)
        echo_json(result)
        return
    click.echo(
        f"{result['test_items']} test items; {result['requests']['sent']} requests sent, "
        f"{result['requests']['cached']} answered from the cache"
    )
    for name, row in result["systems"].items():
        click.echo(
            f"  {name:<16} chrF {row['chrf']['mean']:5.1f} {row['chrf']['ci']}  ROUGE-L {row['rougeL']['mean']:5.1f} "
            f"{row['rougeL']['ci']}  {row['tokens_per_answer']:.0f} tokens/answer  p50 {row['latency_p50_s']:.2f} s"
        )
    for pair, entry in result["pairwise"].items():
        if (judged := entry["judge"]) is None:  # a pair only human judges compared
            continue
        click.echo(f"  {pair}: judge {judged['wins']} wins / {judged['ties']} ties / {judged['losses']} losses")
    click.echo(
        f"verdict: {result['verdict']}\nwrote {project.show(project.paths.eval_md)} (with scores.png, cost-quality.png)"
    )


@eval_.command("push")
@click.option("--pair", required=True, metavar="A,B", help="The two systems of the last eval to compare.")
@json_option("the summary")
@click.pass_context
def eval_push(ctx: click.Context, pair: str, as_json: bool) -> None:
    """Make a blind pairwise Label Studio project of two systems' answers (random order, names hidden).

    \b
    Example:
      ftboot eval push --pair few-shot,fine-tuned
    """
    from pipeline.eval.human import push

    summary = push(project_of(ctx), pair)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"{summary['pair']}: pushed {summary['pushed']} tasks ({summary['already']} were there); judge them at "
        f"{summary['url']}\nthen: ftboot eval pull"
    )


@eval_.command("pull")
@json_option("the human results")
@click.pass_context
def eval_pull(ctx: click.Context, as_json: bool) -> None:
    """Read the human pairwise judgements back: win rates, and how often the LLM judge agrees with people.

    \b
    Example:
      ftboot eval pull
    """
    from pipeline.eval.human import pull

    project = project_of(ctx)
    results = pull(project)
    if as_json:
        echo_json(results)
        return
    for pair, human in results.items():
        agree = (
            "no judge run to compare"
            if human["judge_agreement"] is None
            else f"the LLM judge agrees on {100 * human['judge_agreement']:.0f}%"
        )
        click.echo(
            f"{pair}: humans {human['wins']} wins / {human['ties']} ties / {human['losses']} losses "
            f"over {human['judgements']} judgements; {agree}"
        )
    click.echo(f"updated {project.show(project.paths.eval_md)}")


COMMANDS = [eval_]
