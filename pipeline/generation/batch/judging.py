"""`ftboot judge --batch` and the judge's side of `ftboot batch collect`: the candidate judge through a provider's
Batch API, at its batch price.

Sending: the judge's requests for the candidates with no score yet (`pipeline.generation.judge.unscored`, the very
requests and cache keys of online judging), less those the cache has answered and those open judge batches hold,
within a budget priced at the judge model's batch prices, go out through generation's batch machinery
(`pipeline.generation.batch.send` and `submit`): input files recorded in the ledger before any network call, with `purpose`
"judge", the requests' cache keys and the `--min-score` to apply, and adopted by `reconcile` after a crash.

Collecting (`collect.collect` hands over the finished judge batches): each answered request's reply goes into the
reply cache, then the ordinary judging pass (`judge_candidates` with `send=False`) scores every unscored candidate
whose reply the cache holds, so scores, `judge_error`s and low-score rejects are online judging's, and a batch is
recorded as collected only after its scores are written. A failed or expired request leaves its candidate unscored
for a later `ftboot judge` or `ftboot judge --batch`.

It leaves out a judge resubmit (`ftboot judge --batch` again plans whatever is still unscored) and wording the
outcome for a person (`pipeline.cli`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.generation.batch.api import BatchAPI, BatchInfo
from pipeline.generation.batch.collect import MISSING, Collected, Harvest, download_results
from pipeline.generation.batch.files import ResultIndex, outcome
from pipeline.generation.batch.send import Sent, admit, batch_budget, costs, note_ids, write_inputs
from pipeline.generation.batch.submit import api_for, reconcile, send_entries
from pipeline.generation.judge import Judge, judge_candidates, unscored
from pipeline.ledgers.batches import BatchLedger, BatchPlan, Entry, expand
from pipeline.llm.cache import ReplyCache
from pipeline.llm.limits import Budget
from pipeline.llm.request import CHAT, Endpoint
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.schema import read_records
from pipeline.writes import Appender

FINGERPRINT = "judge"  # a judge entry's plan: its requests are named by `keys`, not by a generation plan's numbers


def plan_judge_batch(
    project: Project,
    backend: str | None = None,
    model: str | None = None,
    min_score: int | None = None,
    max_requests: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Sent:
    """`ftboot judge --batch [--dry-run]`: send the judge's requests for the unscored candidates as batches."""
    judge = Judge(project, model, backend, override=True)
    if judge.target is None:
        raise InputError(
            "judge --batch needs the openai backend: a Batch API is an OpenAI-compatible provider's",
            hint="add --backend openai, or judge online with `ftboot judge`",
        )
    ledger = BatchLedger(project)
    api = None if dry_run else api_for(project, judge.model)
    sent = Sent(judge.model, notes=reconcile(project, ledger, api) if api else [])
    target = judge.target
    # no key: requests are only planned and written with it, never sent
    endpoint = Endpoint(target.base_url, "", target.model, target.label)
    path = project.paths.candidates
    records = [record for _, record in read_records(path, project.show(path))] if path.exists() else []
    planned, requests = unscored(project.config, endpoint, records)
    held = ledger.outstanding_keys()
    fresh = [r for r in requests if r.key not in held]
    sent.outstanding = len(requests) - len(fresh)
    budget = batch_budget(project, judge.model, max_requests, max_tokens, max_cost)
    plan: BatchPlan = {
        "backend": "openai",
        "model": judge.model,
        "endpoint": CHAT,
        "host": target.label,
        "fingerprint": FINGERPRINT,
        "min_score": min_score if min_score is not None else project.config.judge.min_score,
    }

    def fields(part: Any) -> dict[str, Any]:
        return {"purpose": "judge", "ranges": [], "keys": [fresh[n].key for n in expand(part.ranges)]}

    with ReplyCache(project.paths.replies) as cache:
        cached = sum(r.key in cache for r in fresh)
        chosen = admit(enumerate(fresh), cache, None, budget, sent, progress)
        entries = write_inputs(project, ledger, plan, chosen, sent, None, dry_run, fields)
    sent.unscored, sent.distinct, sent.cached = sum(len(ids) for ids in planned.values()), len(requests), cached
    sent.costs = costs(project.config.prices.get(judge.model), sent.prompt_tokens, sent.output_tokens)
    if api:
        send_entries(project, ledger, api, entries)
        note_ids(ledger, sent)
    return sent


@dataclass
class _Pass:
    """The judge batches of one judge model and threshold, taken in, and their tokens."""

    taken: list[tuple[Entry, Collected, list[Path]]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


def _take_in(entry: Entry, index: ResultIndex, cache: ReplyCache, result: Collected, missing: str, into: _Pass) -> None:
    """Every answered request of a judge batch into the cache; the others counted as failed by error code."""
    for key in entry.keys:
        line = index.pop(key)
        answer = outcome(line, CHAT) if line is not None else (missing, "")
        if isinstance(answer, tuple):
            result.failed[answer[0]] += 1
            continue
        cache.put(key, answer.to_dict())
        result.answered += 1
        into.prompt_tokens += answer.prompt_tokens or 0
        into.completion_tokens += answer.completion_tokens or 0
    for key, line in index.rest():  # lines no request of this batch asked for: cached all the same
        answer = outcome(line, CHAT)
        if not isinstance(answer, tuple):
            cache.put(key, answer.to_dict())
        result.unmatched += 1


def collect_judged(
    project: Project, ledger: BatchLedger, api: BatchAPI, finished: list[tuple[Entry, BatchInfo]], harvest: Harvest
) -> None:
    """Take finished judge batches in: their replies into the cache, then one judging pass per judge model and
    threshold, from the cache only; each batch is recorded as collected once its scores are written."""
    passes: dict[tuple[str, int | None], _Pass] = {}
    with ExitStack() as stack:
        cache = stack.enter_context(ReplyCache(project.paths.replies))
        for entry, info in finished:
            result = Collected(entry.name, info.id, info.status, entry.count, errors=info.errors, purpose="judge")
            files = download_results(project, api, entry, info)
            into = passes.setdefault((entry.plan["model"], entry.plan.get("min_score")), _Pass())
            with ResultIndex(files, project.show) as index:
                _take_in(entry, index, cache, result, MISSING.get(info.status, "missing"), into)
            into.taken.append((entry, result, files))
        rejected = stack.enter_context(Appender(project.paths.rejected))
        for (model, threshold), taken in passes.items():
            judge = Judge(project, model, "openai", override=True)
            judged, _ = judge_candidates(
                project,
                judge,
                judge.endpoint(stack),
                cache,
                Budget(),  # answers from the cache cost nothing
                project.config.generate.concurrency,
                threshold,
                rejected.write,
                send=False,
            )
            harvest.judged.append(
                {
                    **judged.as_dict(),
                    "min_score": threshold,
                    "batches": [entry.name for entry, _, _ in taken.taken],
                    "tokens": {"prompt": taken.prompt_tokens, "completion": taken.completion_tokens},
                    "cost_usd": costs(project.config.prices.get(model), taken.prompt_tokens, taken.completion_tokens),
                }
            )
            for entry, result, files in taken.taken:
                ledger.append(
                    "collected",
                    entry.name,
                    batch_id=result.batch_id,
                    status=result.status,
                    answered=result.answered,
                    failed=[],  # nothing for `batch resubmit`: `judge --batch` plans the unscored candidates again
                    failures=dict(result.failed),
                    unmatched=result.unmatched,
                )
                for path in files:
                    path.unlink()
                harvest.batches.append(result)
