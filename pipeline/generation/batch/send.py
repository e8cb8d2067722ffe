"""`ftboot batch send`, `resubmit` and `write`: plan, size, write and send batch input files.

Planning is online generation's (`pipeline.generation.run.RunSettings`: the same planner, prompts, shots, sampling and cache
keys); requests the cache has answered and those open batches will answer are left out. `--n` counts accepted
candidates of the round: a batch is sized from the acceptance rate seen so far in the round (before 20 items,
`generate.acceptance_guess`), counting what open batches are expected to bring, so a later `--batch` tops up
what is still missing. `--max-requests`, `--max-tokens` and `--max-cost` cap a batch at its worst case, priced
at the configured batch prices.

Every input file is recorded in the ledger before any network call; uploading it, creating its batch and
finishing what a killed run left half-way are `pipeline.generation.batch.submit`'s. Collecting is
`pipeline.generation.batch.collect`'s; wording the outcome (`Sent`) for a person is `pipeline.cli.batch`'s.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from pipeline.config import Price
from pipeline.errors import InputError
from pipeline.generation.batch.files import Part, write_parts
from pipeline.generation.batch.submit import api_for, reconcile, send_entries
from pipeline.generation.run import Options, RunSettings
from pipeline.ledgers.batches import BatchLedger, BatchPlan, Entry, expand
from pipeline.llm.cache import ReplyCache
from pipeline.llm.limits import Budget, OverBudget
from pipeline.llm.request import PlannedRequest
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.schema import read_records

MIN_SEEN = 20


def costs(price: Price | None, prompt: int, output: int) -> dict[str, float | None]:
    """The cost of these tokens at batch and at online prices (None where a price is not configured)."""

    def at(rate_in: float | None, rate_out: float | None) -> float | None:
        return None if rate_in is None or rate_out is None else (prompt * rate_in + output * rate_out) / 1e6

    price = price or Price()
    batch, online = at(price.batch_input, price.batch_output), at(price.input, price.output)
    return {"batch": batch, "online": online, "saving": None if batch is None or online is None else online - batch}


@dataclass
class Sent:
    """The outcome of a planning command: the input files written and where they went."""

    model: str = ""
    target: int | None = None
    round: int | None = None
    existing: int = 0
    outstanding: int = 0  # requests in open batches of this plan
    rate: float | None = None
    rate_from: str = ""
    requests: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0  # estimated
    output_tokens: int = 0  # the whole output allowance
    costs: dict[str, float | None] = field(default_factory=dict)
    stopped: str = ""
    notes: list[str] = field(default_factory=list)
    unscored: int | None = None  # judge batches: candidates without a score, their distinct requests, and those
    distinct: int = 0  # of them the reply cache already answers (`ftboot judge` scores them without sending)
    cached: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "worst_case_tokens": {"prompt": self.prompt_tokens, "output": self.output_tokens}}


def _plan(stage: RunSettings) -> BatchPlan:
    first = stage.planner.request(0)
    return {
        "backend": stage.backend,
        "model": stage.model,
        "mode": stage.mode,
        "pool": stage.options.pool,
        "round": stage.round,
        "endpoint": first.endpoint,
        "host": stage.label,
        "fingerprint": first.key,
    }


def stage_of(project: Project, plan: BatchPlan) -> RunSettings:
    return RunSettings(
        project, Options(backend=plan["backend"], model=plan["model"], mode=plan["mode"], pool=plan["pool"])
    )


def _budget(project: Project, stage: RunSettings, options: Options) -> Budget:
    return batch_budget(project, stage.model, options.max_requests, options.max_tokens, options.max_cost)


def batch_budget(
    project: Project, model: str, max_requests: int | None, max_tokens: int | None, max_cost: float | None
) -> Budget:
    """A batch's budget, priced at `model`'s configured batch prices."""
    price = project.config.prices.get(model)
    batch = Price(input=price.batch_input, output=price.batch_output) if price else None
    if max_cost is not None and (batch is None or batch.input is None or batch.output is None):
        raise InputError(
            f"--max-cost in batch mode needs the batch price of {model!r}",
            hint=f'set batch_input and batch_output (USD per 1M tokens) under [prices."{model}"]',
        )
    return Budget(max_requests, max_tokens, max_cost, batch, model)


def _round_counts(project: Project, round_: int) -> tuple[int, int]:
    counts = []
    for path in (project.paths.candidates, project.paths.rejected):
        counts.append(
            sum(1 for _, record in read_records(path, project.show(path)) if record.provenance.get("round") == round_)
            if path.exists()
            else 0
        )
    return counts[0], counts[1]


def _choose(
    stage: RunSettings,
    numbers: Iterable[int],
    cache: ReplyCache,
    skip: set[int],
    wanted: int | None,
    budget: Budget,
    sent: Sent,
    progress: Progress,
) -> Iterator[tuple[int, PlannedRequest]]:
    """The requests to send: `numbers` less those skipped or cached, within `wanted` and the budget."""
    planned = ((number, stage.planner.request(number)) for number in numbers if number not in skip)
    return admit(planned, cache, wanted, budget, sent, progress)


def admit(
    requests: Iterable[tuple[int, PlannedRequest]],
    cache: ReplyCache,
    wanted: int | None,
    budget: Budget,
    sent: Sent,
    progress: Progress,
) -> Iterator[tuple[int, PlannedRequest]]:
    """The (number, request) pairs to send: those the cache has not answered, within `wanted` and the budget,
    counted in `sent`."""
    for number, request in requests:
        if wanted is not None and sent.requests >= wanted:
            return
        if request.key in cache:
            continue
        max_tokens = int(request.params.get("max_tokens") or 0)
        try:
            budget.reserve(request.prompt_estimate, max_tokens)
        except OverBudget as refused:
            sent.stopped = f"{refused}: the batch holds {sent.requests} requests"
            return
        sent.requests += 1
        sent.prompt_tokens += request.prompt_estimate
        sent.output_tokens += max_tokens
        if sent.requests % 1000 == 0:
            progress("planning", sent.requests, wanted)
        yield number, request


def _write(
    project: Project,
    ledger: BatchLedger,
    stage: RunSettings,
    chosen: Iterator[tuple[int, PlannedRequest]],
    sent: Sent,
    to: Path | None,
    dry_run: bool,
) -> list[Entry]:
    """Write the chosen requests as input files and record them; nothing is sent yet."""
    return write_inputs(
        project,
        ledger,
        _plan(stage),
        chosen,
        sent,
        to,
        dry_run,
        lambda part: {"purpose": "generate", "ranges": part.ranges},
    )


def write_inputs(
    project: Project,
    ledger: BatchLedger,
    plan: BatchPlan,
    chosen: Iterator[tuple[int, PlannedRequest]],
    sent: Sent,
    to: Path | None,
    dry_run: bool,
    fields: Callable[[Part], dict[str, Any]],
) -> list[Entry]:
    """Write the chosen requests as input files and record each in the ledger under `plan`, with what
    `fields(part)` says names its requests; nothing is sent yet. A dry run only counts them."""
    if dry_run:
        sum(1 for _ in chosen)
        return []
    name = f"ftboot-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    directory = project.paths.batches
    path_of = (
        (lambda n: to if n == 0 else to.with_name(f"{to.stem}-{n + 1}{to.suffix}"))
        if to
        else (lambda n: directory / f"{name}-{n + 1}.jsonl")
    )
    parts = write_parts(chosen, path_of)
    names = [f"{name}-{number + 1}" for number in range(len(parts))]
    for part_name, part in zip(names, parts, strict=True):
        ledger.append(
            "file" if to else "planned",
            part_name,
            plan=plan,
            **fields(part),
            count=part.count,
            bytes=part.bytes,
            sha256=part.sha256,
            input=project.show(part.path),
        )
        sent.files.append(
            {"name": part_name, "path": project.show(part.path), "requests": part.count, "bytes": part.bytes}
        )
    entries = ledger.entries()
    return [entries[part_name] for part_name in names]


def plan_batch(
    project: Project, options: Options, to: Path | None = None, dry_run: bool = False, progress: Progress = quiet
) -> Sent:
    """--batch (send), --batch-file (`to`: write only), or either with --dry-run (count and price only)."""
    stage, ledger = RunSettings(project, options), BatchLedger(project)
    if to is None and stage.backend != "openai":
        raise InputError(
            "--batch needs --backend openai: a Batch API is an OpenAI-compatible provider's",
            hint="write the requests with `ftboot batch write PATH` for an engine such as `vllm run-batch`",
        )
    api = api_for(project, stage.model) if to is None and not dry_run else None
    sent = Sent(
        stage.model, target=stage.target, round=stage.round, notes=reconcile(project, ledger, api) if api else []
    )
    outstanding = ledger.outstanding(stage.planner.request(0).key)
    accepted, rejected = _round_counts(project, stage.round)
    seen, m = accepted + rejected, stage.planner.m
    sent.rate, sent.rate_from = (
        (max(accepted / seen, 0.05), f"{seen} items seen in round {stage.round}")
        if seen >= MIN_SEEN
        else (project.config.generate.acceptance_guess, "generate.acceptance_guess")
    )
    sent.existing, sent.outstanding = accepted, len(outstanding)
    wanted = max(math.ceil((stage.target - accepted - len(outstanding) * m * sent.rate) / (m * sent.rate)), 0)
    if wanted == 0:
        sent.stopped = (
            f"nothing to plan: round {stage.round} has {accepted} candidates and open batches should bring "
            f"{round(len(outstanding) * m * sent.rate)} more (--n {stage.target})"
        )
    budget = _budget(project, stage, options)
    with ReplyCache(project.paths.replies) as cache:
        chosen = _choose(stage, count(), cache, outstanding, wanted, budget, sent, progress)
        entries = _write(project, ledger, stage, chosen, sent, to, dry_run)
    sent.costs = costs(project.config.prices.get(stage.model), sent.prompt_tokens, sent.output_tokens)
    if api:
        send_entries(project, ledger, api, entries)
        note_ids(ledger, sent)
    return sent


def note_ids(ledger: BatchLedger, sent: Sent) -> None:
    """The batch id and status of each file sent, in the summary."""
    entries = ledger.entries()
    for f in sent.files:
        f["batch_id"], f["status"] = entries[f["name"]].batch_id, entries[f["name"]].status


def resubmit(project: Project, options: Options, dry_run: bool = False, progress: Progress = quiet) -> Sent:
    """Send the failed and expired requests of collected batches again, those not answered or outstanding."""
    ledger, sent = BatchLedger(project), Sent()
    plans: dict[str, tuple[BatchPlan, set[int]]] = {}
    for entry in ledger.entries().values():
        if entry.status == "collected" and entry.failed:
            plans.setdefault(entry.plan["fingerprint"], (entry.plan, set()))[1].update(expand(entry.failed))
    for fingerprint, (plan, numbers) in plans.items():
        stage = stage_of(project, plan)
        api = None if dry_run else api_for(project, stage.model)
        if api:
            sent.notes += reconcile(project, ledger, api)
        budget = _budget(project, stage, options)
        with ReplyCache(project.paths.replies) as cache:
            chosen = _choose(
                stage, sorted(numbers), cache, ledger.outstanding(fingerprint), None, budget, sent, progress
            )
            entries = _write(project, ledger, stage, chosen, sent, None, dry_run)
        if api:
            send_entries(project, ledger, api, entries)
    note_ids(ledger, sent)
    sent.model = next(iter(plans.values()))[0]["model"] if plans else ""
    sent.costs = costs(project.config.prices.get(sent.model), sent.prompt_tokens, sent.output_tokens)
    return sent
