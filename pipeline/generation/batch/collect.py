"""`ftboot batch collect` and `read`: take a finished batch's answers in.

A finished batch's output and error files are downloaded, then its requests are walked in plan order: each
answer is found by its custom_id (the cache key), cached, and handed to `pipeline.generation.run.Outputs`, the code
online replies go through, so the candidates are what an online run would have written and collecting twice
adds nothing twice. For a large batch, worker processes plan the requests, read their answers and run the filters
that need no memory of other candidates (`filters.screen_reply`) a few blocks ahead, while this process runs
the duplicate index and writes, in order: the same records as one process would write, on every core. Requests without an answer are recorded as failed, by error code, for `--resubmit`. Costs
are priced at the configured batch prices and compared with the online ones. Finished judge batches (ledger
`purpose` "judge") are handed to `pipeline.generation.batch.judging.collect_judged`, after the generation ones. Sending is `pipeline.generation.batch.send`'s and `submit`'s,
wording the `Harvest` for a person `pipeline.cli.batch`'s.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.generation.batch.api import BatchAPI, BatchInfo
from pipeline.generation.batch.files import ResultIndex, outcome
from pipeline.generation.batch.send import costs, stage_of
from pipeline.generation.batch.submit import api_for, reconcile
from pipeline.generation.filters import Screen, Screened, screen_reply
from pipeline.generation.run import Options, Outputs, RunSettings
from pipeline.ledgers.batches import BatchLedger, Entry, expand, to_ranges
from pipeline.llm.cache import ReplyCache
from pipeline.llm.request import PlannedRequest, Reply
from pipeline.progress import Progress, quiet
from pipeline.project import Project, find_project

PARALLEL_FROM = 2000  # requests from which worker processes prepare them (starting one takes about a second)
WORKERS = min(4, os.cpu_count() or 1)  # on 2 cores, 2 workers keep this process (the duplicate index) busiest
BLOCK = 1000  # requests per task of a worker; at most WORKERS + 1 blocks wait in memory
MISSING = {
    "expired": "batch_expired",
    "cancelled": "batch_cancelled",
    "failed": "batch_failed",
}  # requests without a line


@dataclass
class Collected:
    """One finished batch or result file, as taken in."""

    name: str
    batch_id: str | None
    status: str
    requests: int
    answered: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by error code; "missing" = no line at all
    accepted: int = 0
    rejected: int = 0
    unmatched: int = 0  # lines for requests this plan does not have
    errors: list[str] = field(default_factory=list)
    purpose: str = "generate"  # or "judge": the candidate judge's requests (`pipeline.generation.batch.judging`)


@dataclass
class Harvest:
    model: str = ""
    batches: list[Collected] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    costs: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    judged: list[dict[str, Any]] = field(default_factory=list)  # a judging pass per judge model, from the cache

    @property
    def failed(self) -> int:
        """Failed generation requests (`batch resubmit` sends them again)."""
        return sum(sum(b.failed.values()) for b in self.batches if b.purpose == "generate")

    @property
    def judge_failed(self) -> int:
        """Failed judge requests (their candidates stay unscored until `ftboot judge` or `judge --batch`)."""
        return sum(sum(b.failed.values()) for b in self.batches if b.purpose == "judge")

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": [{**b.__dict__, "failed": dict(b.failed)} for b in self.batches],
            "waiting": self.waiting,
            "accepted": sum(b.accepted for b in self.batches),
            "rejected": sum(b.rejected for b in self.batches),
            "rejected_by_reason": dict(self.reasons.most_common()),
            "failed": self.failed,
            "judged": self.judged,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": self.costs,
            "notes": self.notes,
        }


@dataclass
class Prepared:
    """One request of a batch with its answer: a reply and its items through `filters.screen_reply`, or the
    failure's (code, message); code None for a request without a line that counts as no failure."""

    number: int
    request: PlannedRequest
    answer: Reply | tuple[str | None, str]
    screened: list[Screened | None] | None = None


class _Preparer:
    """Plans requests, finds their answers and screens them: all that needs no memory of other candidates."""

    def __init__(self, root: Path, options: Options, files: list[Path], missing: str | None) -> None:
        project = find_project(root)
        self.stage, self.missing = RunSettings(project, options), missing
        self.screen = Screen(project.config, self.stage.seeds)
        self.index = ResultIndex(files)

    def __call__(self, number: int) -> Prepared:
        request = self.stage.planner.request(number)
        line = self.index.pop(request.key)
        answer = outcome(line, request.endpoint) if line is not None else (self.missing, "")
        if isinstance(answer, tuple):
            return Prepared(number, request, answer)
        return Prepared(number, request, answer, screen_reply(request, answer, self.screen))


_worker: _Preparer | Exception | None = None  # in a worker process


def _start_worker(*args: Any) -> None:
    global _worker
    try:
        _worker = _Preparer(*args)
    except Exception as exc:  # raised with the first task: a pool restarts a failing initializer without end
        _worker = exc


def _prepare_block(numbers: list[int]) -> list[Prepared]:
    if isinstance(_worker, Exception):
        raise _worker
    assert _worker is not None
    return [_worker(n) for n in numbers]


def _prepared(
    project: Project, stage: RunSettings, numbers: list[int], files: list[Path], missing: str | None
) -> Iterator[Prepared]:
    """Each request of `numbers` prepared, in order. Many are prepared by worker processes, a few blocks ahead:
    planning and screening are most of collecting, and only the duplicate index has to go one at a time."""
    args = (project.root, stage.options, files, missing)
    blocks = [numbers[i : i + BLOCK] for i in range(0, len(numbers), BLOCK)]
    if len(numbers) < PARALLEL_FROM:
        preparer = _Preparer(*args)
        with preparer.index:
            for number in numbers:
                yield preparer(number)
        return
    import multiprocessing

    # spawn, not fork: a forked child would inherit the locks of whatever threads this process runs
    with multiprocessing.get_context("spawn").Pool(WORKERS, _start_worker, args) as pool:
        pending: deque[Any] = deque()
        for block in blocks:
            pending.append(pool.apply_async(_prepare_block, (block,)))
            if len(pending) > WORKERS:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()


def _take_in(
    project: Project,
    stage: RunSettings,
    numbers: list[int],
    index: ResultIndex,
    cache: ReplyCache,
    outputs: Outputs,
    result: Collected,
    harvest: Harvest,
    progress: Progress,
    missing: str | None,
) -> list[int]:
    """Answers in plan order into the cache and the outputs; returns the numbers that failed. A request without
    a line counts as failed with the code `missing` (None: not at all, for a file that answers only some)."""
    failed: list[int] = []
    before = outputs.accepted, outputs.rejected
    for done, item in enumerate(_prepared(project, stage, numbers, index.paths, missing), start=1):
        index.discard(item.request.key)
        if isinstance(item.answer, tuple):
            if item.answer[0] is not None:
                failed.append(item.number)
                result.failed[item.answer[0]] += 1
            continue
        cache.put(item.request.key, item.answer.to_dict())
        outputs.take(item.request, item.answer, stage.label, item.screened)
        result.answered += 1
        harvest.prompt_tokens += item.answer.prompt_tokens or 0
        harvest.completion_tokens += item.answer.completion_tokens or 0
        if done % 1000 == 0:
            progress("collecting", done, len(numbers))
    for key, line in index.rest():  # answers to requests of another plan: cached, so that plan finds them
        answer = outcome(line, stage.planner.request(0).endpoint)
        if not isinstance(answer, tuple):
            cache.put(key, answer.to_dict())
        result.unmatched += 1
    result.accepted, result.rejected = outputs.accepted - before[0], outputs.rejected - before[1]
    harvest.reasons = outputs.reasons
    return failed


def download_results(project: Project, api: BatchAPI, entry: Entry, info: BatchInfo) -> list[Path]:
    """A finished batch's output and error files, on disk under outputs/batches/."""
    return [
        api.download(file_id, project.paths.batches / f"{entry.name}-{kind}.jsonl")
        for kind, file_id in (("output", info.output_file_id), ("errors", info.error_file_id))
        if file_id
    ]


def collect(project: Project, progress: Progress = quiet) -> Harvest:
    """--collect: read every open batch; take in the finished ones."""
    ledger, harvest = BatchLedger(project), Harvest()
    pending = ledger.open_entries()
    if not pending:
        harvest.notes.append("no open batches")
        return harvest
    api = api_for(project, pending[0].plan["model"])
    harvest.notes += reconcile(project, ledger, api)
    finished = []
    for entry in ledger.open_entries():
        info = api.retrieve(entry.batch_id or "")
        if (info.status, info.counts) != (entry.status, entry.counts):
            ledger.append("status", entry.name, batch_id=info.id, status=info.status, counts=info.counts)
        if info.done:
            finished.append((entry, info))
        else:
            harvest.waiting.append(
                {
                    "name": entry.name,
                    "purpose": entry.purpose,
                    "batch_id": info.id,
                    "status": info.status,
                    "requests": entry.count,
                    "completed": info.counts.get("completed", 0),
                }
            )
    judging = [(e, info) for e, info in finished if e.purpose == "judge"]
    finished = [(e, info) for e, info in finished if e.purpose != "judge"]
    stages = {e.plan["fingerprint"]: stage_of(project, e.plan) for e, _ in finished}
    harvest.model = next((e.plan["model"] for e in pending if e.purpose != "judge"), "")
    if finished:
        first = next(iter(stages.values()))
        reviewed = [r for s in stages.values() for r in s.reviewed]
        with (
            Outputs(project, first.seeds, reviewed) as outputs,
            ReplyCache(project.paths.replies) as cache,
        ):
            for entry, info in finished:
                result = Collected(entry.name, info.id, info.status, entry.count, errors=info.errors)
                files = download_results(project, api, entry, info)
                with ResultIndex(files, project.show) as index:
                    failed = _take_in(
                        project,
                        stages[entry.plan["fingerprint"]],
                        list(expand(entry.ranges)),
                        index,
                        cache,
                        outputs,
                        result,
                        harvest,
                        progress,
                        MISSING.get(info.status, "missing"),
                    )
                ledger.append(
                    "collected",
                    entry.name,
                    batch_id=info.id,
                    status=info.status,
                    answered=result.answered,
                    failed=to_ranges(failed),
                    failures=dict(result.failed),
                    unmatched=result.unmatched,
                    accepted=result.accepted,
                    rejected=result.rejected,
                )
                for path in files:
                    path.unlink()
                harvest.batches.append(result)
    if judging:
        from pipeline.generation.batch.judging import collect_judged  # which imports this module

        collect_judged(project, ledger, api, judging, harvest)
    harvest.costs = costs(project.config.prices.get(harvest.model), harvest.prompt_tokens, harvest.completion_tokens)
    return harvest


def collect_file(project: Project, options: Options, path: Path, progress: Progress = quiet) -> Harvest:
    """--collect-file: take in a result file produced elsewhere for requests this plan wrote with --batch-file."""
    stage, ledger = RunSettings(project, options), BatchLedger(project)
    harvest = Harvest(stage.model)
    fingerprint = stage.planner.request(0).key
    numbers = sorted(
        {n for e in ledger.entries().values() if e.plan["fingerprint"] == fingerprint for n in expand(e.ranges)}
    )
    result = Collected(path.name, None, "file", len(numbers))
    with (
        ResultIndex([path], project.show) as index,
        Outputs(project, stage.seeds, stage.reviewed) as outputs,
        ReplyCache(project.paths.replies) as cache,
    ):
        lines = len(index)
        _take_in(project, stage, numbers, index, cache, outputs, result, harvest, progress, None)
    result.requests = lines
    if result.unmatched:
        harvest.notes.append(
            f"{result.unmatched} lines answer requests this plan does not have: were --model, --mode "
            "and --pool the same as for `ftboot batch write`? (their answers are cached)"
        )
    harvest.batches.append(result)
    harvest.costs = costs(project.config.prices.get(harvest.model), harvest.prompt_tokens, harvest.completion_tokens)
    return harvest
