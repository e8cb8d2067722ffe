"""`report.md`: what a build did, in a form a person reads before paying for a fine-tuning job.

Counts at each step with the reasons for every refusal, tokens per example and in total, the epochs the
provider picks by default, the billed training tokens, and a cost only when the config sets a price. Beside it,
in `report-charts/`, the charts `pipeline.build.charts` draws, linked from the report by relative path; and in it the
diversity of each round (`pipeline.build.diversity`).

A build from the project (not `--input`) also reads what generation and review recorded: the reasons in
`outputs/rejected.jsonl`, and the verdicts in `outputs/reviewed.jsonl` per round and per seed shown as a shot.
It leaves out the candidates nobody has reviewed yet, and any figure about the fine-tuned model (eval's job).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.build.charts import ChartData, Drawn, Painter, Rate
from pipeline.build.diversity import DISTINCT_SAMPLE, PAIR_SAMPLE, RoundDiversity, per_round, round_of
from pipeline.errors import InputError
from pipeline.project import Project
from pipeline.schema import ACCEPTED_VERDICTS, Record, example_text, read_records
from pipeline.seeds import load_seeds

if TYPE_CHECKING:  # for annotations only: the build's run imports this module to write the report
    from pipeline.build.run import BuildResult


def chart_data(project: Project, result: BuildResult) -> ChartData:
    """The figures of the charts: from the build's items, and from the stage files unless it read --input."""
    kept = result.train + result.val
    data = ChartData(
        tokens=[item.tokens for item in kept],
        build_rejects=result.rejects.reasons.copy(),
        seed_similarity=[
            float(s) for item in kept if (s := item.record.provenance.get("nearest_seed_similarity")) is not None
        ],
    )
    if result.from_input:
        return data
    rejected = project.paths.rejected
    if rejected.exists():
        for _, record in read_records(rejected, project.show(rejected)):
            data.generation_rejects[_field(record, "reason", "code") or "unknown"] += 1
    reviewed = project.paths.reviewed
    if reviewed.exists():
        labels = _seed_labels(project)
        for _, record in read_records(reviewed, project.show(reviewed)):
            accepted = _field(record, "review", "verdict") in ACCEPTED_VERDICTS
            data.review_by_round.setdefault(round_of(record.provenance), Rate()).add(accepted)
            shots = record.provenance.get("shots")
            for shot in shots if isinstance(shots, list) else []:
                data.review_by_seed.setdefault(labels.get(str(shot), f"review {str(shot)[:8]}"), Rate()).add(accepted)
    return data


def _field(record: Record, key: str, inner: str) -> str | None:
    """`record.key.inner` as a string, None when a stage line lacks it (the stage that wrote it checks its shape)."""
    outer = (record.model_extra or {}).get(key)
    value = outer.get(inner) if isinstance(outer, dict) else None
    return None if value is None else str(value)


def _seed_labels(project: Project) -> dict[str, str]:
    """Seed id -> `file:line`, the name a person knows a seed by; empty when the seeds do not load."""
    try:
        return {r.id: f"{Path(r.provenance['file']).name}:{r.provenance['line']}" for r in load_seeds(project)}
    except InputError:
        return {}


def diversity(project: Project, result: BuildResult) -> list[RoundDiversity]:
    return per_round(
        ((item.record.provenance, item.record.example) for item in result.train + result.val),
        project.config.generate.topics,
        example_text,
    )


def write_report(
    project: Project, result: BuildResult, report: Path, charts: Path, painter: Painter
) -> Callable[[], None]:
    """Start drawing the charts into the directory `charts`; the returned function waits for them and writes the
    report, which links them, to `report`. Both must be siblings in a place the caller swaps in as one."""
    drawing = painter.draw(charts, chart_data(project, result))
    result.diversity = [d.as_dict() for d in diversity(project, result)]

    def finish() -> None:
        report.write_text(render_report(result, drawing(), charts.name), encoding="utf-8")

    return finish


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _diversity_lines(rounds: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Diversity, per round",
        "",
        "| round | examples | distinct-1 | distinct-2 | mean pairwise similarity | topics covered |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['round']} | {r['examples']:,} | {_ratio(r['distinct_1'])} | {_ratio(r['distinct_2'])} | "
        f"{_ratio(r['pairwise_similarity'])} | {_percent(r['topic_coverage'])} |"
        for r in rounds
    ]
    lines += [
        "",
        f"distinct-n: distinct word n-grams over all of them, on a fixed sample of up to {DISTINCT_SAMPLE:,} "
        "examples per round (higher is more varied). Mean pairwise similarity: word 3-gram Jaccard over every pair "
        f"of a fixed sample of up to {PAIR_SAMPLE:,} (lower is more varied). Topics covered: the share of "
        "`generate.topics` the round was asked about; – for seeds, files, and a config without topics.",
        "",
    ]
    for r in rounds:
        missing = [topic for topic, n in r["topics"].items() if not n]
        if missing:
            lines += [f"- {r['round']} has no example about: {', '.join(missing)}"]
    return lines + ([""] if lines[-1] else [])


def _chart_lines(drawn: Drawn, folder: str) -> list[str]:
    lines = ["## Charts", ""]
    for chart in drawn.charts:
        lines += [f"![{chart.title}]({folder}/{chart.file})", ""]
    lines += [f"- not drawn: {title.lower()} ({why})" for title, why in drawn.skipped.items()]
    return lines + ([""] if drawn.skipped else [])


def render_report(result: BuildResult, drawn: Drawn, charts_folder: str) -> str:
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
        lines += [
            "## Held-out test set",
            "",
            f"`test.jsonl` holds {len(result.held.test)} human-reviewed examples for `ftboot eval`: "
            f"{result.held.kept} kept from the previous build, {result.held.added} drawn now. None of them is "
            f"in train or val, and {near} near duplicate{'s' if near != 1 else ''} of them "
            f"{'were' if near != 1 else 'was'} kept out too; `generate --pool reviewed` never shows them as shots.",
            "",
        ]
    if refused:
        lines += ["## Refused, by reason", "", "| reason | examples |", "|---|---:|"]
        lines += [f"| {code} | {n} |" for code, n in result.rejects.reasons.most_common()]
        lines += [
            "",
            f"Each refused example is in `{result.paths.get('build-rejected', 'build-rejected.jsonl')}` with its reason.",
            "",
        ]
    stats = result.token_stats()
    if stats:
        lines += [
            "## Tokens per example",
            "",
            "| min | median | p90 | max | total |",
            "|---:|---:|---:|---:|---:|",
            f"| {stats['min']} | {stats['median']} | {stats['p90']} | {stats['max']} | {stats['total']:,} |",
            "",
        ]
    cost = (
        f"${result.cost:,.2f} at ${result.price}/M training tokens (from ftboot.toml)"
        if result.cost is not None
        else f'not shown: set `[prices."{result.model}"] training = …` in ftboot.toml'
    )
    lines += [
        "## Training",
        "",
        f"- training tokens per epoch: {result.train_tokens:,}",
        f"- epochs the provider picks by default for {len(result.train)} examples: {result.epochs}",
        f"- billed training tokens: {result.billed_tokens:,}",
        f"- estimated cost: {cost}",
        "",
    ]
    if result.diversity:
        lines += _diversity_lines(result.diversity)
    lines += _chart_lines(drawn, charts_folder)
    return "\n".join(lines)
