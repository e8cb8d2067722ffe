"""`report.md`: what a build did, in a form a person reads before paying for a fine-tuning job.

Counts at each step with the reasons for every refusal, tokens per example and in total, the epochs the
provider picks by default, the billed training tokens, and a cost only when the config sets a price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.build import BuildResult


def render_report(result: BuildResult) -> str:
    refused = sum(result.rejects.reasons.values())
    kept = len(result.train) + len(result.val)
    lines = [
        "# Build report",
        "",
        f"Target `{result.target}`, model `{result.model}`.",
        "",
        "## Counts",
        "",
        "| step | examples |",
        "|---|---:|",
        f"| inputs | {result.inputs} |",
        f"| refused | {refused} |",
        f"| kept | {kept} |",
        f"| train | {len(result.train)} |",
        f"| validation | {len(result.val)} |",
        "",
    ]
    if result.held is not None:
        near = result.rejects.reasons.get("near-test", 0)
        lines[-1:-1] = [f"| test (held out) | {len(result.held.test)} |"]
        lines += ["## Held-out test set", "",
                  f"`test.jsonl` holds {len(result.held.test)} human-reviewed examples for `ftboot eval`: "
                  f"{result.held.kept} kept from the previous build, {result.held.added} drawn now. None of them is "
                  f"in train or val, and {near} near duplicate{'s' if near != 1 else ''} of them "
                  f"{'were' if near != 1 else 'was'} kept out too; `generate --pool reviewed` never shows them as shots.", ""]
    if refused:
        lines += ["## Refused, by reason", "", "| reason | examples |", "|---|---:|"]
        lines += [f"| {code} | {n} |" for code, n in result.rejects.reasons.most_common()]
        lines += ["", f"Each refused example is in `{result.paths.get('build-rejected', 'build-rejected.jsonl')}` with its reason.", ""]
    stats = result.token_stats()
    if stats:
        lines += ["## Tokens per example", "", "| min | median | p90 | max | total |", "|---:|---:|---:|---:|---:|",
                  f"| {stats['min']} | {stats['median']} | {stats['p90']} | {stats['max']} | {stats['total']:,} |", ""]
    cost = (f"${result.cost:,.2f} at ${result.price}/M training tokens (from ftboot.toml)" if result.cost is not None
            else f"not shown: set `[prices.\"{result.model}\"] training = …` in ftboot.toml")
    lines += [
        "## Training",
        "",
        f"- training tokens per epoch: {result.train_tokens:,}",
        f"- epochs the provider picks by default for {len(result.train)} examples: {result.epochs}",
        f"- billed training tokens: {result.billed_tokens:,}",
        f"- estimated cost: {cost}",
        "",
    ]
    return "\n".join(lines)
