"""The build run: validated, deduplicated, split fine-tuning files from the seeds and the accepted reviews.

`build` reads the inputs (`pipeline.build.inputs`) and drives the steps (`pipeline.build.steps`) as a list, each
getting what the one before kept. Then the set-level rules (enough examples, file size) are checked, and only
then is anything written: `train.jsonl` and `val.jsonl` (plain fine-tuning lines), `test.jsonl` (held-out
reviewed examples drawn by `pipeline.holdout`; no test example or near duplicate of one reaches train or val),
`build-rejected.jsonl` (records with reasons), `report.md` with its charts in `report-charts/`
(`pipeline.build.report`), and `dataset/` (a Hugging Face DatasetDict). They are written as one unit
(`pipeline.buildset`): staged together, stamped with one build id in `build.json`, and swapped in together; a
build that fails or is killed leaves the previous outputs as they were. `--format dpo` does the same for the
preference set, with a `-dpo` suffix on every output name.

It leaves out what each step checks (`pipeline.build.steps`) and the text shown for a result (the CLI).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.build.charts import Painter
from pipeline.build.dataset import save_dataset
from pipeline.build.inputs import load_inputs
from pipeline.build.report import write_report
from pipeline.build.steps import BuildItem, Dedup, HoldOut, Rejects, Split, Step, Validate
from pipeline.buildset import staged
from pipeline.errors import InputError
from pipeline.holdout import Draw
from pipeline.paths import BuildSet
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.rules import Ruleset, get_ruleset
from pipeline.schema import Kind
from pipeline.writes import dumps, write_jsonl


def _counted(items: Iterable[BuildItem], step: str, total: int, progress: Progress) -> Iterator[BuildItem]:
    """Pass items through, telling `progress` how far a step has come every so often."""
    done = 0
    for done, item in enumerate(items, start=1):
        if done % 500 == 0:
            progress(step, done, total)
        yield item
    progress(step, done, total)


@dataclass
class BuildResult:
    inputs: int
    train: list[BuildItem]
    val: list[BuildItem]
    rejects: Rejects
    epochs: int
    price: float | None
    paths: dict[str, str]
    model: str
    target: str
    held: Draw | None = None  # the test set, for chat builds from the project's own pool
    from_input: bool = False  # built from an --input file, not from the project's seeds and reviews
    diversity: list[dict[str, Any]] = field(default_factory=list)  # per round, set when the report is written

    @property
    def train_tokens(self) -> int:
        return sum(item.tokens for item in self.train)

    @property
    def billed_tokens(self) -> int:
        return self.train_tokens * self.epochs

    @property
    def cost(self) -> float | None:
        return None if self.price is None else self.billed_tokens * self.price / 1e6

    def token_stats(self) -> dict[str, int]:
        counts = sorted(item.tokens for item in self.train + self.val)
        if not counts:
            return {}
        return {
            "min": counts[0],
            "median": int(statistics.median(counts)),
            "p90": counts[int(0.9 * (len(counts) - 1))],
            "max": counts[-1],
            "total": sum(counts),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": self.model,
            "inputs": self.inputs,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.held.test) if self.held else None,
            "rejected": dict(self.rejects.reasons),
            "tokens": self.token_stats(),
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens,
            "cost_usd": self.cost,
            "diversity": self.diversity,
            "outputs": self.paths,
        }


def build(
    project: Project,
    input_path: Path | None = None,
    fmt: str = "chat",
    target: str | None = None,
    model: str | None = None,
    progress: Progress = quiet,
) -> BuildResult:
    cfg = project.config.build
    kind: Kind = "preference" if fmt == "dpo" else "chat"
    rules = get_ruleset(target or cfg.target)
    model = model or cfg.model
    with Painter() as painter:  # its worker imports matplotlib while this process validates
        result = _build(project, input_path, kind, rules, model, progress, painter)
    return result


def _build(
    project: Project,
    input_path: Path | None,
    kind: Kind,
    rules: Ruleset,
    model: str,
    progress: Progress,
    painter: Painter,
) -> BuildResult:
    cfg = project.config.build
    records = load_inputs(project, input_path, kind)
    rejects = Rejects()
    hold_out = HoldOut(project) if kind == "chat" and input_path is None else None
    steps: list[Step] = [
        Validate(rules, model, kind),
        Dedup(cfg.near_duplicate_threshold),
        *([hold_out] if hold_out else []),
        Split(cfg.val_fraction, cfg.seed, rules.min_examples),
    ]
    items = [BuildItem(r) for r in records]
    for step in steps:
        items = step.run(_counted(items, step.name, len(items), progress), rejects)
    train = [item for item in items if not item.val]
    val = [item for item in items if item.val]
    train_lines = [dumps(item.record.example) + "\n" for item in train]
    problems = rules.check_set(len(train), sum(len(line.encode()) for line in train_lines))
    if problems:
        detail = "; ".join(p.detail for p in problems)
        raise InputError(
            f"cannot build a {rules.name} set: {detail}",
            hint=f"{sum(rejects.reasons.values())} examples were refused; nothing was written",
        )
    price = project.config.prices.get(model)
    result = BuildResult(
        len(records),
        train,
        val,
        rejects,
        rules.default_epochs(len(train)),
        price.training if price else None,
        {},
        model,
        rules.name,
        hold_out.held if hold_out else None,
        from_input=input_path is not None,
    )
    _write(project, result, train_lines, kind == "preference", painter)
    return result


def _write(project: Project, result: BuildResult, train_lines: list[str], dpo: bool, painter: Painter) -> None:
    """Write every output into one staging directory, which `buildset.staged` swaps in as one unit; the report's
    charts are drawn into it too, so a killed build never leaves another build's charts beside the report."""
    built = project.paths.build(dpo)
    result.paths = {name: project.show(path) for name, path in built.entries(result.held is not None).items()}
    with staged(project.outputs, built.manifest) as stage:
        files = BuildSet(stage, dpo)  # the same names, staged
        # the charts are drawn by the painter's worker while the files below are written
        finish_report = write_report(project, result, files.report, files.charts, painter)
        files.train.write_text("".join(train_lines), encoding="utf-8")
        write_jsonl(files.val, (item.record.example for item in result.val))
        write_jsonl(files.rejected, result.rejects.rows)
        if result.held is not None:
            write_jsonl(files.test, result.held.test)
        save_dataset(files.dataset, [i.record.example for i in result.train], [i.record.example for i in result.val])
        finish_report()
