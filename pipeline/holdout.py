"""The held-out test set: which human-made or human-reviewed examples are kept out of training, for `ftboot eval`.

A build draws a deterministic share (`build.test_fraction`, at least `build.test_min` when the pool holds twice
that) of the eligible examples: accepted or edited reviews, and seeds only with `build.test_seeds = true` (seeds
are what generation and few-shot prompts show as shots). The draw ranks examples by a seeded hash of their id, so
the same pool always gives the same test set. It is sticky: every example of the previous `outputs/test.jsonl`
stays in the test set, and a new build only adds to it as the pool grows, so scores stay comparable over time.

Examples are known by `example_id` of their content, so a test line read back from `test.jsonl` matches the same
example in the pool. The near-duplicate screen against the test set is the build's; where the file goes is too.
It leaves evaluation itself to `pipeline.eval`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from pipeline.config import BuildConfig
from pipeline.dedup import Duplicate, DuplicateIndex
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.schema import Record, example_id, example_text, is_accepted


def held_out_ids(project: Project) -> set[str]:
    """The ids of the examples in the current outputs/test.jsonl (empty when there is none)."""
    return {example_id(example) for example in previous_test(project)}


def previous_test(project: Project) -> list[dict[str, Any]]:
    path = project.paths.test
    if not path.exists():
        return []
    return [row for _, row in read_jsonl(path, project.show(path), tolerate_torn_tail=True)]


def eligible(record: Record, with_seeds: bool) -> bool:
    """Whether a person made or approved this example: an accepted or edited review, or (if allowed) a seed."""
    if is_accepted(record.model_dump()):
        return True
    return with_seeds and record.provenance.get("source") == "seed"


def target_size(pool: int, cfg: BuildConfig) -> int:
    """How many test examples a pool of `pool` eligible ones should give: the fraction, raised to the minimum
    only when at least twice the minimum is there, so a small pool still leaves most of itself for training."""
    share = math.ceil(pool * cfg.test_fraction) if cfg.test_fraction else 0
    if cfg.test_fraction and pool >= 2 * cfg.test_min:
        share = max(share, cfg.test_min)
    return share


@dataclass
class Draw:
    test: list[dict[str, Any]]  # the test examples, the sticky ones first, in file order
    kept: int  # how many came from the previous test.jsonl
    added: int  # how many this build drew


def draw(project: Project, records: list[Record]) -> Draw:
    """The test set for this build: the previous one plus new draws from `records` up to the target size."""
    cfg = project.config.build
    previous = previous_test(project)
    held = {example_id(example) for example in previous}
    pool = [r for r in records if eligible(r, cfg.test_seeds)]
    candidates = {example_id(r.example): r for r in pool}
    fresh = sorted(
        (key for key in candidates if key not in held),
        key=lambda key: hashlib.sha256(f"test:{cfg.seed}:{key}".encode()).hexdigest(),
    )
    wanted = max(0, target_size(len(candidates.keys() | held), cfg) - len(held))
    added = [candidates[key].example for key in fresh[:wanted]]
    return Draw(previous + added, len(previous), len(added))


def overlap(test: list[dict[str, Any]], records: list[Record], threshold: float) -> dict[int, Duplicate | None]:
    """The records (by position) that must stay out of train and val: a test example itself (None) or a near
    duplicate of one (the test example it is like)."""
    index = DuplicateIndex(threshold)
    held = set()
    for example in test:
        key = example_id(example)
        held.add(key)
        index.add(key, example_text(example))
    hits: dict[int, Duplicate | None] = {}
    for position, record in enumerate(records):
        if example_id(record.example) in held:
            hits[position] = None
        elif (duplicate := index.find(example_text(record.example))) is not None:
            hits[position] = duplicate
    return hits
