"""How varied a set of examples is, per generation round: distinct n-grams, mean pairwise similarity, and the
share of the configured topics the round covers.

- distinct-n: distinct word n-grams over all word n-grams of a group of texts (Li et al., 2016), words as
  `dedup` sees them (normalized, punctuation left out). The ratio falls as a corpus grows, so every round is
  measured on a sample of the same size, drawn with a fixed seed: rounds compare with each other and a rebuild
  gives the same figures.
- mean pairwise similarity: the Jaccard similarity of word 3-gram sets (the measure `dedup` holds against its
  near-duplicate threshold), averaged over every pair of a smaller fixed-seed sample.
- topic coverage: the share of `generate.topics` that at least one example of the round was asked about (the
  `topic` its provenance records). Seeds and --input files were asked about nothing, so they have no coverage.

It leaves out meaning: paraphrases with different words count as different, and whether an example really is
about the topic it was asked for is the reviewer's call. Charts and prose are `pipeline.build.charts` and
`pipeline.build.report`'s.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from pipeline.dedup import shingles, words

DISTINCT_SAMPLE = 500  # texts per round for distinct-n
PAIR_SAMPLE = 100  # texts per round for mean pairwise similarity (4,950 pairs)
SAMPLE_SEED = 0


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct word n-grams over all word n-grams of the texts (n-grams never cross two texts); None when the
    texts hold no n-gram at all."""
    return _distinct([words(text) for text in texts], n)


def _distinct(tokenized: list[list[str]], n: int) -> float | None:
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in tokenized:
        grams = list(zip(*(tokens[i:] for i in range(n)), strict=False))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def jaccard(a: set[Any], b: set[Any]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def mean_pairwise_similarity(texts: Sequence[str]) -> float | None:
    """The mean Jaccard similarity of the texts' word 3-gram sets over every pair; None below two texts."""
    sets = [shingles(text) for text in texts]
    pairs = [jaccard(a, b) for a, b in combinations(sets, 2)]
    return sum(pairs) / len(pairs) if pairs else None


def sample(items: Sequence[Any], size: int, seed: int = SAMPLE_SEED) -> list[Any]:
    """At most `size` of the items, the same ones for the same input and seed."""
    if len(items) <= size:
        return list(items)
    return random.Random(seed).sample(list(items), size)


def round_of(provenance: dict[str, Any]) -> str:
    """The group an example belongs to: `seeds`, `round N` for generated ones, `file` for --input lines."""
    source = provenance.get("source")
    if source == "generated":
        return f"round {provenance.get('round') or 1}"
    return "seeds" if source == "seed" else str(source or "unknown")


def round_order(name: str) -> tuple[int, int, str]:
    """Seeds first, then rounds by number, then the rest by name."""
    if name == "seeds":
        return (0, 0, name)
    if name.startswith("round ") and name[6:].isdigit():
        return (1, int(name[6:]), name)
    return (2, 0, name)


@dataclass
class RoundDiversity:
    """The figures of one round; `None` where the round has too little text to measure."""

    name: str
    examples: int
    distinct_1: float | None
    distinct_2: float | None
    pairwise_similarity: float | None
    topics: dict[str, int] = field(default_factory=dict)  # configured topic -> examples asked about it
    topic_coverage: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "round": self.name,
            "examples": self.examples,
            "distinct_1": self.distinct_1,
            "distinct_2": self.distinct_2,
            "pairwise_similarity": self.pairwise_similarity,
            "topic_coverage": self.topic_coverage,
            "topics": self.topics,
        }


def per_round(
    examples: Iterable[tuple[dict[str, Any], Any]], topics: Sequence[str], text: Callable[[Any], str] = str
) -> list[RoundDiversity]:
    """Diversity figures per round for (provenance, example) pairs; `text` gives an example's text, and is only
    called for the sampled ones. `topics` are the configured ones."""
    groups: dict[str, list[Any]] = {}
    asked: dict[str, Counter[str]] = {}
    for provenance, example in examples:
        name = round_of(provenance)
        groups.setdefault(name, []).append(example)
        if "topic" in provenance:
            asked.setdefault(name, Counter())[str(provenance["topic"])] += 1
    out = []
    for name in sorted(groups, key=round_order):
        group = groups[name]
        tokenized = [words(text(example)) for example in sample(group, DISTINCT_SAMPLE)]
        figures = RoundDiversity(
            name,
            len(group),
            _distinct(tokenized, 1),
            _distinct(tokenized, 2),
            mean_pairwise_similarity([text(example) for example in sample(group, PAIR_SAMPLE)]),
        )
        if topics and name in asked:
            figures.topics = {topic: asked[name][topic] for topic in topics}
            figures.topic_coverage = sum(1 for n in figures.topics.values() if n) / len(topics)
        out.append(figures)
    return out
