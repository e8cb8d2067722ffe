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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Price
from pipeline.errors import InputError, Location
from pipeline.eval import judge as judging
from pipeline.eval.answer import Asker
from pipeline.eval.report import write
from pipeline.eval.results import AnswerRow, EvalResult, Requests, SystemScores
from pipeline.eval.scores import chrf_scores, load_checks, paired_difference, rouge_l_scores, summary, usage
from pipeline.eval.systems import System, endpoint_of, load_items, request_for, resolve
from pipeline.eval.verdict import Side, decide
from pipeline.holdout import held_out_ids
from pipeline.llm.endpoint import resolve as resolve_endpoint
from pipeline.llm.limits import Budget
from pipeline.llm.local import model_name
from pipeline.llm.request import Endpoint, PlannedRequest
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.schema import example_id
from pipeline.seeds import load_seeds


@dataclass
class Options:
    systems: list[str] | None = None
    test: Path | None = None
    judge: str | None = None  # a model name, or "local"
    limit: int | None = None
    max_requests: int | None = None  # requests sent (answers and judge), not counting answers from the cache
    max_cost: float | None = None  # US dollars for answers and judge together, each model at its own price


def _judge_endpoint(project: Project, model: str, asker: Any) -> Any:
    cfg = project.config.eval.judge
    if model == "local" or (cfg.backend == "local" and not model):
        return asker.local()
    target = resolve_endpoint(project.config, "openai")
    system = System(
        "judge",
        "openai",
        model or cfg.model,
        cfg.base_url or target.base_url,
        cfg.api_key_env or target.key_env,
        0,
        False,
    )
    return endpoint_of(system, None)


def _budget(project: Project, options: Options, systems: list[Any]) -> Budget:
    """One budget for every request of the eval: each system's model and the judge's at their configured prices
    (`--max-cost` refuses to start without them), the bundled local model free."""
    judge = project.config.eval.judge
    local_judge = options.judge == "local" or (judge.backend == "local" and not options.judge)
    models = {s.model for s in systems if s.backend != "local"}
    if options.judge is not None and not local_judge:
        models.add(options.judge or judge.model)
    table: dict[str, Price | None] = {model: project.config.prices.get(model) for model in sorted(models)}
    if (local_judge and options.judge is not None) or any(s.backend == "local" for s in systems):
        table[model_name(project.config.local)] = Price(input=0, output=0)
    return Budget(options.max_requests, max_cost=options.max_cost, prices=table)


def _answer(
    asker: Any,
    systems: list[Any],
    items: list[Any],
    pool: list[tuple[str, dict[str, Any]]],
    max_tokens: int,
    counts: Requests,
) -> dict[str, list[AnswerRow]]:
    """Every system's answer rows, in item order; the systems on one endpoint are sent as one run."""
    planned: dict[str, list[PlannedRequest]] = {}
    by_endpoint: dict[tuple[str, str], tuple[Endpoint, list[PlannedRequest]]] = {}
    for system in systems:
        endpoint = asker.local() if system.backend == "local" else endpoint_of(system, None)
        planned[system.name] = [
            request_for(system, endpoint, item, n, pool, max_tokens) for n, item in enumerate(items)
        ]
        by_endpoint.setdefault((endpoint.base_url, endpoint.api_key), (endpoint, []))[1].extend(planned[system.name])
    replies: dict[str, AnswerRow] = {}
    for endpoint, requests in by_endpoint.values():
        got = asker.ask(
            endpoint,
            requests,
            f"answers from {endpoint.label}",
            len(requests),
            lambda r: {"system": r.meta["system"], "item": r.meta["item"], "shots": r.meta["shots"]},
        )
        replies.update(got.rows)
        counts["sent"] += got.sent
        counts["cached"] += got.cached
    return {name: [replies[r.key] for r in requests] for name, requests in planned.items()}


def _verdict(
    systems: dict[str, SystemScores], item_scores: dict[str, list[float]], resamples: int, margin: float
) -> str:
    """The candidate (the best fine-tuned system, else the best) against the best of the others, on chrF."""
    ranked = sorted(systems, key=lambda n: -systems[n]["chrf"]["mean"])
    tuned = [n for n in ranked if systems[n]["fine_tuned"]]
    candidate = tuned[0] if tuned else ranked[0]
    others = [n for n in ranked if n != candidate and not (tuned and systems[n]["fine_tuned"])] or [
        n for n in ranked if n != candidate
    ]
    if not others:
        return f"only one system ({candidate}): nothing to compare it with"
    _, interval = paired_difference(item_scores[candidate], item_scores[others[0]], resamples)
    side = {n: Side(n, systems[n]["fine_tuned"], systems[n]["cost_per_1k"]) for n in (candidate, others[0])}
    return decide(side[candidate], side[others[0]], interval, len(item_scores[candidate]), margin)


def evaluate(project: Project, options: Options, progress: Progress = quiet) -> EvalResult:
    cfg = project.config.eval
    if options.limit is not None and options.limit < 1:
        raise InputError("must be at least 1", Location("--limit"))
    systems = resolve(project, options.systems)
    checks = load_checks(project, cfg.checks)
    test_path = options.test or project.paths.test
    items = load_items(test_path, project.show(test_path), options.limit)
    held = held_out_ids(project) | {item.id for item in items}
    pool = (
        [(s.id, s.example) for s in load_seeds(project) if example_id(s.example) not in held]
        if any(s.shots for s in systems)
        else []
    )
    references = [item.reference for item in items]
    result: EvalResult = {
        "test_items": len(items),
        "test_file": project.show(test_path),
        "systems": {},
        "pairwise": {},
        "requests": {"sent": 0, "cached": 0},
    }
    answers: dict[str, list[str]] = {}
    item_scores: dict[str, list[float]] = {}
    with ExitStack() as stack:
        asker = Asker(project, stack, cfg.concurrency, progress, _budget(project, options, systems))
        answered = _answer(asker, systems, items, pool, cfg.max_output_tokens, result["requests"])
        for system in systems:
            rows = answered[system.name]
            answers[system.name] = [row["answer"] for row in rows]
            item_scores[system.name] = chrf_scores(answers[system.name], references)
            result["systems"][system.name] = {
                "model": system.model,
                "shots": system.shots,
                "fine_tuned": system.fine_tuned,
                "chrf": summary(item_scores[system.name], cfg.resamples),
                "rougeL": summary(rouge_l_scores(answers[system.name], references), cfg.resamples),
                "checks_pass": (
                    round(sum(map(checks.passes, answers[system.name])) / len(items), 3) if checks.configured else None
                ),
                **usage(rows, project.config.prices.get(system.model)),
            }
        if options.judge is not None:
            endpoint = _judge_endpoint(project, options.judge, asker)
            for a, b in itertools.combinations([s.name for s in systems], 2):
                pairs = judging.pair_requests(project.config, endpoint, items, answers[a], answers[b])
                got = asker.ask(endpoint, [r for pair in pairs for r in pair], f"judge {a} vs {b}", 2 * len(pairs))
                result["requests"]["sent"] += got.sent
                result["requests"]["cached"] += got.cached
                outcomes = judging.outcomes(pairs, got.rows)
                result["pairwise"][f"{a} vs {b}"] = {
                    "judge": {
                        **judging.tally(outcomes, cfg.resamples),
                        "items": [item.id for item in items],
                        "outcomes": outcomes,
                    },
                    "human": None,
                }

    result["verdict"] = _verdict(result["systems"], item_scores, cfg.resamples, cfg.margin)
    write(result, project.paths)
    return result
