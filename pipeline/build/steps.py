"""Build steps: what an example carries through the build, and the steps, each a small class with one
`run(items, rejects) -> items` (the shape of datatrove's pipeline steps): what a step refuses goes to `rejects`
with its reason, and the next step gets what it kept.
  Validate   parse each example and apply the target's ruleset; refused ones get a reason
  Dedup      drop exact and near duplicates (MinHash), keeping the first, with the one it duplicates
  HoldOut    (chat builds from the project's own pool) draw the test set and refuse what is near it
  Split      a deterministic train/val split by a seeded hash of each id, marking each item's side

It leaves out where the examples come from (`pipeline.build.inputs`), the order the steps run in, the set-level
rules and the writing of the outputs (`pipeline.build.run`), and any judgement of quality beyond the rules: that
is what review is for.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from pipeline.dedup import DuplicateIndex
from pipeline.holdout import Draw, draw, overlap
from pipeline.project import Project
from pipeline.rules import Ruleset
from pipeline.schema import Kind, Record, example_text, parse_example, validation_messages
from pipeline.tokens import TokenCounter


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
