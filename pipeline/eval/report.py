"""`outputs/eval/eval.md` and its two charts: what an eval found, ending with the verdict; and eval.json beside them.

`scores.png` is a bar per system and score (chrF, ROUGE-L) with its 95% interval; `cost-quality.png` puts each
system at its cost per 1,000 calls (tokens per call when no price is configured) against its chrF. Both are drawn
with matplotlib's Agg backend, so no display is needed. The text and the images are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.eval.results import EvalResult, Interval, Tally
from pipeline.paths import OutputPaths
from pipeline.writes import atomic_write, dumps


def _charts(result: EvalResult, directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["systems"])
    figure, axes = plt.subplots(figsize=(1.6 + 1.4 * len(names), 3.6))
    width = 0.38
    rows = [result["systems"][n] for n in names]
    for offset, score, intervals in (
        (-width / 2, "chrf", [row["chrf"] for row in rows]),
        (width / 2, "rougeL", [row["rougeL"] for row in rows]),
    ):
        means = [i["mean"] for i in intervals]
        errors = [
            [m - i["ci"][0] for i, m in zip(intervals, means, strict=True)],
            [i["ci"][1] - m for i, m in zip(intervals, means, strict=True)],
        ]
        axes.bar([i + offset for i in range(len(names))], means, width, yerr=errors, capsize=4, label=score)
    axes.set_xticks(range(len(names)), names)
    axes.set_ylabel("score (0-100), 95% interval")
    axes.legend()
    figure.tight_layout()
    _save(figure, directory / "scores.png")

    priced = all(result["systems"][n]["cost_per_1k"] is not None for n in names)
    figure, axes = plt.subplots(figsize=(5, 3.6))
    for name in names:
        row = result["systems"][name]
        cost = row["cost_per_1k"]
        x = cost if priced and cost is not None else row["prompt_tokens"] + row["tokens_per_answer"]
        low, high = row["chrf"]["ci"]
        axes.errorbar(
            [x],
            [row["chrf"]["mean"]],
            yerr=[[row["chrf"]["mean"] - low], [high - row["chrf"]["mean"]]],
            fmt="o",
            capsize=4,
        )
        axes.annotate(name, (x, row["chrf"]["mean"]), textcoords="offset points", xytext=(6, 4))
    axes.set_xlabel("USD per 1,000 calls" if priced else "tokens per call (no prices configured)")
    axes.set_ylabel("chrF, 95% interval")
    figure.tight_layout()
    _save(figure, directory / "cost-quality.png")
    plt.close("all")


def _save(figure: Any, path: Path) -> None:
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)


def _ci(score: Interval | None) -> str:
    return f"{score['mean']:.1f} [{score['ci'][0]:.1f}, {score['ci'][1]:.1f}]" if score else "-"


def _counts(row: Tally | None) -> str:
    return f"{row['wins']} / {row['ties']} / {row['losses']}" if row else "-"


def render(result: EvalResult) -> str:
    lines = [
        "# Eval",
        "",
        f"{result['test_items']} test items from `{result['test_file']}`.",
        "",
        "## Scores against the reference (mean [95% interval])",
        "",
        "| system | model | shots | chrF | ROUGE-L | checks pass | tokens/answer | p50 s | p95 s | USD / 1k calls |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["systems"].items():
        checks = "-" if row["checks_pass"] is None else f"{100 * row['checks_pass']:.0f}%"
        cost = "-" if row["cost_per_1k"] is None else f"{row['cost_per_1k']:.4f}"
        lines.append(
            f"| {name} | `{row['model']}` | {row['shots']} | {_ci(row['chrf'])} | {_ci(row['rougeL'])} | {checks} | "
            f"{row['tokens_per_answer']:.0f} | {row['latency_p50_s']:.2f} | {row['latency_p95_s']:.2f} | {cost} |"
        )
    lines += ["", "![scores](scores.png) ![cost against quality](cost-quality.png)", ""]
    if result["pairwise"]:
        lines += [
            "## Pairwise",
            "",
            "A wins only when the judge picks it in both orders; score: win 1, tie 0.5.",
            "",
            "| pair | judge wins / ties / losses | judge score | humans wins / ties / losses | humans score | judge agrees with humans |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for pair, entry in result["pairwise"].items():
            judge, human = entry.get("judge"), entry.get("human")
            agreed = human["judge_agreement"] if human else None
            agree = "-" if agreed is None else f"{100 * agreed:.0f}%"
            lines.append(
                f"| {pair} | {_counts(judge)} | {_ci(judge['score'] if judge else None)} | {_counts(human)} | "
                f"{_ci(human['score'] if human else None)} | {agree} |"
            )
        lines.append("")
    lines += ["## Verdict", "", result["verdict"], ""]
    return "\n".join(lines)


def write(result: EvalResult, paths: OutputPaths) -> None:
    """eval.md and its charts, then eval.json, the result as data."""
    paths.eval.mkdir(parents=True, exist_ok=True)
    _charts(result, paths.eval)
    with atomic_write(paths.eval_md) as handle:
        handle.write(render(result))
    with atomic_write(paths.eval_json) as handle:
        handle.write(dumps(result) + "\n")
