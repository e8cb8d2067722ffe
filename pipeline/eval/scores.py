"""What each answer is worth, and how sure we are: per-item scores, bootstrap intervals, checks, cost and speed.

- chrF (sacrebleu) and ROUGE-L F1 (rouge-score) of each answer against its reference, 0-100.
- A 95% percentile-bootstrap interval of a mean, and of a paired difference of means (the same resampled items
  for both systems, which is what a verdict between two systems needs), with numpy and a fixed seed.
- The checks of `[eval.checks]`: at most N words, a required regex, a JSON Schema the answer (parsed as JSON) must
  satisfy; an answer passes when it passes every configured check.
- Tokens per answer, latency p50/p95, and cost per 1,000 calls from the configured prices of the model.

It leaves judging answers against each other to `pipeline.eval.judge`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config import EvalChecks, Price
from pipeline.errors import InputError
from pipeline.eval.results import AnswerRow, Interval, Usage
from pipeline.project import Project, key_location

SEED = 20240601


def chrf_scores(answers: Sequence[str], references: Sequence[str]) -> list[float]:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    return [
        metric.sentence_score(answer, [reference]).score for answer, reference in zip(answers, references, strict=True)
    ]


def rouge_l_scores(answers: Sequence[str], references: Sequence[str]) -> list[float]:
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rougeL"])
    return [
        100 * scorer.score(reference, answer)["rougeL"].fmeasure
        for answer, reference in zip(answers, references, strict=True)
    ]


def _indexes(n: int, resamples: int) -> np.ndarray:
    return np.random.default_rng(SEED).integers(0, n, size=(resamples, n))


def bootstrap(values: Sequence[float], resamples: int) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of the mean of `values`."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return (float(data.mean()), float(data.mean())) if len(data) else (0.0, 0.0)
    means = data[_indexes(len(data), resamples)].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def paired_difference(a: Sequence[float], b: Sequence[float], resamples: int) -> tuple[float, tuple[float, float]]:
    """Mean of a - b item by item, and its 95% bootstrap interval."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(diff.mean()), bootstrap(diff, resamples)


def summary(values: Sequence[float], resamples: int) -> Interval:
    low, high = bootstrap(values, resamples)
    return {"mean": round(float(np.mean(values)), 2), "ci": [round(low, 2), round(high, 2)]}


@dataclass(frozen=True)
class Checks:
    """The configured checks, compiled once; `passes(answer)` is True when every one passes."""

    max_words: int | None
    regex: re.Pattern[str] | None
    schema: Any  # a jsonschema validator, or None

    @property
    def configured(self) -> bool:
        return self.max_words is not None or self.regex is not None or self.schema is not None

    def passes(self, answer: str) -> bool:
        if self.max_words is not None and len(answer.split()) > self.max_words:
            return False
        if self.regex is not None and not self.regex.search(answer):
            return False
        if self.schema is not None:
            try:
                return self.schema.is_valid(json.loads(answer))
            except ValueError:
                return False
        return True


def load_checks(project: Project, cfg: EvalChecks) -> Checks:
    """Compile `[eval.checks]`; a bad pattern or schema is an error located in ftboot.toml."""
    regex = None
    if cfg.regex is not None:
        try:
            regex = re.compile(cfg.regex)
        except re.error as exc:
            raise InputError(f"not a regular expression: {exc}", key_location(project, "eval.checks.regex")) from None
    validator = None
    if cfg.json_schema is not None:
        from jsonschema import SchemaError, validators

        where = key_location(project, "eval.checks.json_schema")
        schema: Any = cfg.json_schema
        if isinstance(schema, str):
            path = project.root / schema
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read the JSON schema {schema}: {exc}", where) from None
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise InputError(f"not a valid JSON Schema: {exc.message}", where) from None
        validator = cls(schema)
    return Checks(cfg.max_words, regex, validator)


def usage(rows: Sequence[AnswerRow], price: Price | None) -> Usage:
    """Tokens per answer, latency percentiles and the cost of 1,000 calls (None without a configured price)."""
    prompt = np.array([r["prompt_tokens"] for r in rows], dtype=float)
    completion = np.array([r["completion_tokens"] for r in rows], dtype=float)
    latency = np.array([r["latency_s"] for r in rows], dtype=float)
    cost = None
    if price is not None and price.input is not None and price.output is not None:
        cost = round(1000 * float(prompt.mean() * price.input + completion.mean() * price.output) / 1e6, 4)
    return {
        "tokens_per_answer": round(float(completion.mean()), 1),
        "prompt_tokens": round(float(prompt.mean()), 1),
        "latency_p50_s": round(float(np.percentile(latency, 50)), 3),
        "latency_p95_s": round(float(np.percentile(latency, 95)), 3),
        "cost_per_1k": cost,
    }
