"""The eval stage: does the fine-tune beat prompting? The same held-out prompts through every configured system.

`evaluate` resolves the systems (`systems`), asks each one every test prompt through the one client path
(`answer`), scores the answers against the references with bootstrap intervals, checks, cost and speed
(`scores`), lets an LLM judge compare each pair of systems in both orders (`judge`), decides the verdict from the
intervals (`verdict`) and writes `outputs/eval/eval.md` with its charts (`report`) and `eval.json`. It returns the
result as the data `ftboot eval --json` prints.

Human judgement in Label Studio is `pipeline.eval.human`'s; formatting for the terminal is the CLI's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Project
from pipeline.errors import InputError, Location

Progress = Callable[[str, int, int], None]


@dataclass
class Options:
    systems: list[str] | None = None
    test: Path | None = None
    judge: str | None = None  # a model name, or "local"
    limit: int | None = None


def _judge_endpoint(project: Project, model: str, asker: Any) -> Any:
    from pipeline.eval.systems import System, endpoint_of

    cfg = project.config.eval.judge
    if model == "local" or (cfg.backend == "local" and not model):
        return asker.local()
    system = System("judge", "openai", model or cfg.model, cfg.base_url or project.config.openai.base_url,
                    cfg.api_key_env or project.config.openai.api_key_env, 0, False)
    return endpoint_of(system, None)


def evaluate(project: Project, options: Options, progress: Progress | None = None) -> dict[str, Any]:
    from pipeline.eval import judge as judging
    from pipeline.eval.answer import Asker
    from pipeline.eval.report import write
    from pipeline.eval.scores import chrf_scores, load_checks, paired_difference, rouge_l_scores, summary, usage
    from pipeline.eval.systems import endpoint_of, load_items, request_for, resolve
    from pipeline.eval.verdict import Side, decide
    from pipeline.holdout import held_out_ids
    from pipeline.jsonl import atomic_write, dumps
    from pipeline.schema import example_id
    from pipeline.seeds import load_seeds

    cfg = project.config.eval
    if options.limit is not None and options.limit < 1:
        raise InputError("must be at least 1", Location("--limit"))
    systems = resolve(project, options.systems)
    checks = load_checks(project, cfg.checks)
    test_path = options.test or project.output("test.jsonl")
    items = load_items(test_path, project.show(test_path), options.limit)
    held = held_out_ids(project) | {item.id for item in items}
    pool = [(s.id, s.example) for s in load_seeds(project) if example_id(s.example) not in held] \
        if any(s.shots for s in systems) else []
    references = [item.reference for item in items]
    result: dict[str, Any] = {"test_items": len(items), "test_file": project.show(test_path), "systems": {},
                              "pairwise": {}, "requests": {"sent": 0, "cached": 0}}
    answers: dict[str, list[str]] = {}
    item_scores: dict[str, list[float]] = {}
    with ExitStack() as stack:
        asker = Asker(project, stack, cfg.concurrency, progress)
        for system in systems:
            endpoint = asker.local() if system.backend == "local" else endpoint_of(system, None)
            requests = [request_for(system, endpoint, item, n, pool, cfg.max_output_tokens) for n, item in enumerate(items)]
            got = asker.ask(endpoint, requests, system.name, len(requests),
                            lambda r, name=system.name: {"system": name, "item": r.meta["item"], "shots": r.meta["shots"]})
            result["requests"]["sent"] += got.sent
            result["requests"]["cached"] += got.cached
            rows = [got.rows[r.key] for r in requests]
            answers[system.name] = [row["answer"] for row in rows]
            item_scores[system.name] = chrf_scores(answers[system.name], references)
            result["systems"][system.name] = {
                "model": system.model, "shots": system.shots, "fine_tuned": system.fine_tuned,
                "chrf": summary(item_scores[system.name], cfg.resamples),
                "rougeL": summary(rouge_l_scores(answers[system.name], references), cfg.resamples),
                "checks_pass": (round(sum(map(checks.passes, answers[system.name])) / len(items), 3)
                                if checks.configured else None),
                **usage(rows, project.config.prices.get(system.model))}
        if options.judge is not None:
            endpoint = _judge_endpoint(project, options.judge, asker)
            for a, b in itertools.combinations([s.name for s in systems], 2):
                pairs = judging.pair_requests(project.config, endpoint, items, answers[a], answers[b])
                got = asker.ask(endpoint, [r for pair in pairs for r in pair], f"judge {a} vs {b}", 2 * len(pairs))
                result["requests"]["sent"] += got.sent
                result["requests"]["cached"] += got.cached
                outcomes = judging.outcomes(pairs, got.rows)
                result["pairwise"][f"{a} vs {b}"] = {"judge": {**judging.tally(outcomes, cfg.resamples),
                                                               "items": [item.id for item in items], "outcomes": outcomes},
                                                     "human": None}

    def side(name: str) -> Side:
        row = result["systems"][name]
        return Side(name, row["fine_tuned"], row["cost_per_1k"])

    ranked = sorted(result["systems"], key=lambda n: -result["systems"][n]["chrf"]["mean"])
    tuned = [n for n in ranked if result["systems"][n]["fine_tuned"]]
    candidate = tuned[0] if tuned else ranked[0]
    others = [n for n in ranked if n != candidate and not (tuned and result["systems"][n]["fine_tuned"])] or \
        [n for n in ranked if n != candidate]
    if others:
        _, interval = paired_difference(item_scores[candidate], item_scores[others[0]], cfg.resamples)
        result["verdict"] = decide(side(candidate), side(others[0]), interval, len(items), cfg.margin)
    else:
        result["verdict"] = f"only one system ({candidate}): nothing to compare it with"
    directory = project.output("eval")
    write(result, directory)
    with atomic_write(directory / "eval.json") as handle:
        handle.write(dumps(result) + "\n")
    return result
