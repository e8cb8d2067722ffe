"""Build: validated, deduplicated, split fine-tuning files from the seeds and the accepted reviews.

The steps, each a small class with one `run(items, rejects) -> items` (the shape of datatrove's pipeline steps),
driven as a list: what a step refuses goes to `rejects` with its reason, and the next step gets what it kept.
  Validate   parse each example and apply the target's ruleset; refused ones get a reason
  Dedup      drop exact and near duplicates (MinHash), keeping the first, with the one it duplicates
  HoldOut    (chat builds from the project's own pool) draw the test set and refuse what is near it
  Split      a deterministic train/val split by a seeded hash of each id, marking each item's side
Then the set-level rules (enough examples, file size) are checked, and only then is anything written:
`train.jsonl` and `val.jsonl` (plain fine-tuning lines), `test.jsonl` (held-out reviewed examples drawn by
`pipeline.holdout`; no test example or near duplicate of one reaches train or val), `build-rejected.jsonl` (records with reasons),
`report.md` with its charts in `report-charts/` (`pipeline.build.report`), and `dataset/` (a Hugging Face
DatasetDict). They are written as one unit (`pipeline.buildset`):
staged together, stamped with one build id in `build.json`, and swapped in together; a build that fails or is
killed leaves the previous outputs as they were. `--format dpo` does the same for the preference set, with a `-dpo`
suffix on every output name.

It leaves out any judgement of quality beyond the rules: that is what review is for.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from pipeline.build.charts import Painter
from pipeline.config import Project
from pipeline.errors import InputError, InputErrors, Location
from pipeline.holdout import Draw
from pipeline.jsonl import dumps, read_jsonl, write_jsonl
from pipeline.paths import BuildSet
from pipeline.progress import Progress, quiet
from pipeline.rules import Ruleset, get_ruleset
from pipeline.schema import (
    Kind,
    Record,
    dump_example,
    example_text,
    is_accepted,
    make_record,
    parse_example,
    validation_messages,
)


def _counted(items: Iterable[BuildItem], step: str, total: int, progress: Progress) -> Iterator[BuildItem]:
    """Pass items through, telling `progress` how far a step has come every so often."""
    done = 0
    for done, item in enumerate(items, start=1):
        if done % 500 == 0:
            progress(step, done, total)
        yield item
    progress(step, done, total)


@dataclass
class BuildItem:
    """An example on its way through the build: its record, its token count once validated, and whether `Split`
    put it in the validation set."""

    record: Record
    tokens: int = 0
    val: bool = False


@dataclass
class Rejects:
    """Refused items with their reasons, in the order they were refused."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, item: BuildItem, code: str, detail: str, **extra: Any) -> None:
        self.reasons[code] += 1
        self.rows.append({**item.record.model_dump(), "reason": code, "detail": detail, **extra})


class Step(Protocol):
    """One step of the build: the items it keeps, in order; each item it refuses goes to `rejects` with a reason."""

    name: str  # what the progress display calls it

    def run(self, items: Iterable[BuildItem], rejects: Rejects) -> list[BuildItem]: ...


class Validate:
    name = "validate"

    def __init__(self, rules: Ruleset, model: str, kind: Kind) -> None:
        self.rules, self.model, self.kind = rules, model, kind

    def run(self, items: Iterable[BuildItem], rejects: Rejects) -> list[BuildItem]:
        from pipeline.tokens import TokenCounter

        counter = TokenCounter(self.model)
        kept = []
        for item in items:
            try:
                example = parse_example(item.record.example, self.kind)
            except ValidationError as exc:
                rejects.add(item, "schema", "; ".join(f"{f}: {m}" for f, m in validation_messages(exc)))
                continue
            item.tokens = counter.count(item.record.example)
            problems = self.rules.check_example(example, item.tokens, self.model)
            for problem in problems[:1]:
                rejects.add(item, problem.code, "; ".join(p.detail for p in problems))
            if not problems:
                kept.append(item)
        return kept


class Dedup:
    name = "dedup"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def run(self, items: Iterable[BuildItem], rejects: Rejects) -> list[BuildItem]:
        from pipeline.dedup import DuplicateIndex

        index = DuplicateIndex(self.threshold)
        kept = []
        for item in items:
            duplicate = index.add_if_new(item.record.id, example_text(item.record.example))
            if duplicate is None:
                kept.append(item)
            elif duplicate.exact:
                rejects.add(item, "duplicate", f"same text as {duplicate.key}", neighbour=duplicate.key)
            else:
                rejects.add(
                    item,
                    "near-duplicate",
                    f"similarity {duplicate.similarity:.2f} to {duplicate.key}",
                    neighbour=duplicate.key,
                    similarity=duplicate.similarity,
                )
        return kept


class HoldOut:
    """Draw the test set (`pipeline.holdout`) and refuse its examples and their near duplicates, so that none of
    them reaches train or val. The draw is kept in `held` for the result."""

    name = "hold out"

    def __init__(self, project: Project) -> None:
        self.project = project
        self.held: Draw | None = None

    def run(self, items: Iterable[BuildItem], rejects: Rejects) -> list[BuildItem]:
        from pipeline.holdout import draw, overlap

        items = list(items)
        self.held = draw(self.project, [item.record for item in items])
        threshold = self.project.config.build.near_duplicate_threshold
        hits = overlap(self.held.test, [item.record for item in items], threshold)
        for position, duplicate in hits.items():
            if duplicate is not None:
                rejects.add(
                    items[position],
                    "near-test",
                    f"similarity {duplicate.similarity:.2f} to test example {duplicate.key}",
                    neighbour=duplicate.key,
                    similarity=duplicate.similarity,
                )
        return [item for position, item in enumerate(items) if position not in hits]


class Split:
    """Order by a hash of (seed, id) and cut, marking the items before the cut for validation; the same input and
    seed always give the same split. Near duplicates were removed before, so no near-duplicate pair can end up
    on both sides."""

    name = "split"

    def __init__(self, val_fraction: float, seed: int, min_train: int) -> None:
        self.val_fraction, self.seed, self.min_train = val_fraction, seed, min_train

    def run(self, items: Iterable[BuildItem], rejects: Rejects) -> list[BuildItem]:
        def rank(item: BuildItem) -> str:
            return hashlib.sha256(f"{self.seed}:{item.record.id}".encode()).hexdigest()

        ordered = sorted(items, key=rank)
        n_val = round(len(ordered) * self.val_fraction)
        n_val = max(0, min(n_val, len(ordered) - self.min_train)) if len(ordered) > self.min_train else 0
        for item in ordered[:n_val]:
            item.val = True
        return ordered


# --- inputs -------------------------------------------------------------------------------------------------


def _records_from(path: Path, shown: str, kind: Kind, raw: bool) -> list[Record]:
    """Records from a stage output (envelopes) or, with `raw`, from a plain fine-tuning JSONL. Structural
    errors stop the build (exit 2) before anything is written, all of them reported."""
    errors: list[InputError] = []
    records = []
    for line, value in read_jsonl(path, shown, on_error=errors.append, tolerate_torn_tail=not raw):
        try:
            if raw:
                example = parse_example(value, kind)
                records.append(
                    make_record(dump_example(example), {"source": "file", "file": shown, "line": line}, kind)
                )
            else:
                records.append(Record.model_validate(value))
        except ValidationError as exc:
            errors += [InputError(msg, Location(shown, line, f)) for f, msg in validation_messages(exc)]
    if errors:
        raise InputErrors(errors)
    if raw and not records:
        raise InputError("no examples in this file", Location(shown))
    return records


def load_inputs(project: Project, input_path: Path | None, kind: Kind) -> list[Record]:
    """What a build starts from: --input, or the seeds plus accepted reviews (chat), or preferences (dpo)."""
    if input_path is not None:
        return _records_from(input_path, project.show(input_path), kind, raw=True)
    if kind == "preference":
        path = project.paths.preferences
        if not path.exists():
            raise InputError(
                f"no {project.show(path)} yet", hint="`ftboot review pull` writes it from reviewers' edits"
            )
        return _records_from(path, project.show(path), kind, raw=False)
    from pipeline.seeds import load_seeds

    records = load_seeds(project)
    reviewed = project.paths.reviewed
    if reviewed.exists():
        records += [
            r for r in _records_from(reviewed, project.show(reviewed), kind, raw=False) if is_accepted(r.model_dump())
        ]
    return records


# --- the build ----------------------------------------------------------------------------------------------


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
    from pipeline.build.dataset import save_dataset
    from pipeline.build.report import write_report
    from pipeline.buildset import staged

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
