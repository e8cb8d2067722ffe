"""The generate stage: grow the seeds into candidates by few-shot prompting, until `--n` pass the filters.

It plans requests (`pipeline.generation.planner`), sends them through the one client (`pipeline.llm`) to the configured
OpenAI-compatible endpoint or to the bundled local model, turns each reply into records (`pipeline.generation.filters`) and
appends them, a flushed line at a time, to `outputs/candidates.jsonl` and `outputs/rejected.jsonl`.

A round is 1 for generation from the seeds; with `--pool reviewed` it is one more than the newest round among the
accepted reviews that join the shot pool. `--n` counts the candidates of the current round, including those of
earlier, interrupted runs. A rerun plans the same requests, the cache answers those already paid for, items
already written are skipped, so a killed run resumes without duplicates and pays again only for what was in flight.

Without `--max-requests` a run stops after ten times the planned number of requests, so a model whose every
answer is rejected cannot spend without end. Requests that open provider batches will answer are left to them
(`pipeline.generation.batch` sends and collects those). It leaves preference (DPO) pairs out.

Replies are screened by a worker process beside this one (`pipeline.generation.screening`); the first ones, which
the mode check watches, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from itertools import count

from pipeline.errors import RunError
from pipeline.generation.filters import Screened, unparsed
from pipeline.generation.judge import judge_generated
from pipeline.generation.modes import ModeCheck
from pipeline.generation.run import DEFAULT_CAP, Options, Outputs, Preview, RunSettings, Summary
from pipeline.generation.screening import Screening
from pipeline.ledgers.batches import BatchLedger
from pipeline.llm.cache import ReplyCache
from pipeline.llm.client import Client, run_loop
from pipeline.llm.limits import Budget, Pacer
from pipeline.llm.local import MAX_CONCURRENCY
from pipeline.llm.request import PlannedRequest, Reply
from pipeline.project import Project


def preview(project: Project, options: Options) -> Preview:
    """The first request and how many would be sent, without sending anything (--dry-run)."""
    stage = RunSettings(project, options)
    stage.summary.existing = stage.count_existing()
    planned = stage.planned(stage.summary.existing)
    cached = 0
    cache_path = project.paths.replies
    if cache_path.exists():
        with ReplyCache(cache_path) as cache:
            cached = sum(stage.planner.request(i).key in cache for i in range(planned))
    stage.summary.planned = planned
    return Preview(stage.planner.request(0), planned, cached, stage.summary)


def generate(project: Project, options: Options, progress: Callable[[Summary], None] | None = None) -> Summary:
    """Generate until `n` candidates of this round pass the filters, a budget stops the run, or it fails."""
    stage = RunSettings(project, options)
    gen, summary = project.config.generate, stage.summary
    started = time.monotonic()
    with ExitStack() as stack:
        outputs = stack.enter_context(Outputs(project, stage.seeds, stage.reviewed))
        check = ModeCheck(stage.mode, stage.model, stage.backend)
        mismatch: list[RunError] = []

        def taken(request: PlannedRequest, screened: list[Screened | None]) -> None:
            if check.watching and (error := check.settle(unparsed(screened))):
                mismatch.append(error)
            update()

        summary.existing = outputs.candidates_by_round[stage.round]
        summary.planned = stage.planned(summary.existing)
        if summary.total >= stage.target:
            summary.stopped = f"round {stage.round} already has {summary.total} candidates (--n {stage.target})"
            return summary
        judge = stage.judge()
        # by default the judge may also ask ten times the plan: about one request per candidate aimed for
        cap = options.max_requests or DEFAULT_CAP * (
            summary.planned + (stage.target - summary.existing if judge else 0)
        )
        budget = Budget(cap, options.max_tokens, options.max_cost, project.config.prices.get(stage.model), stage.model)
        if judge is not None:
            with budget.priced(judge.price, judge.model):
                pass  # an unpriced judge with --max-cost is refused before anything is sent
        # forked before the client starts threads; a local model answers a few times a second: no worker there
        screening = Screening(outputs, stage.label, taken, worker=stage.backend != "local")
        stack.callback(screening.close)
        endpoint = stage.endpoint(stack)
        if judge is not None:  # its key is checked before anything is sent; a local judge shares the local server
            judge_endpoint = judge.endpoint(
                stack, endpoint if stage.backend == "local" and options.model is None else None
            )
        cache = stack.enter_context(ReplyCache(project.paths.replies))
        concurrency = options.concurrency or gen.concurrency
        if stage.backend == "local":
            concurrency = min(concurrency, MAX_CONCURRENCY)
        client = Client(
            endpoint,
            cache,
            budget,
            Pacer(gen.requests_per_minute, gen.tokens_per_minute),
            concurrency=concurrency,
            timeout=gen.timeout,
            retries=gen.retries,
        )

        def update() -> None:
            stats = client.stats
            summary.accepted, summary.rejected, summary.reasons = outputs.accepted, outputs.rejected, outputs.reasons
            summary.sent, summary.cached, summary.retries, summary.errors = (
                stats.sent,
                stats.cached,
                stats.retries,
                stats.errors,
            )
            summary.billed_unusable, summary.without_usage = stats.billed_unusable, stats.without_usage
            summary.prompt_tokens, summary.completion_tokens = budget.prompt_tokens, budget.completion_tokens
            summary.cost, summary.elapsed, summary.sending = budget.cost, time.monotonic() - started, stats.sending
            if progress:
                progress(summary)

        def handle(request: PlannedRequest, reply: Reply, cached: bool) -> None:
            screening.put(request, reply, here=check.watching)  # the mode check's verdict comes before more are sent

        def expected(pending: int, rate: float, at_worker: float) -> float:
            """Accepted items once the `pending` requests (in flight, or answered and not yet handled) and the
            replies at the worker are taken in, each bringing per_request items at these acceptance rates."""
            return summary.total + (pending * rate + len(screening.queue) * at_worker) * stage.planner.m

        def want_more(pending: int) -> bool:
            if not mismatch and expected(pending, 1.0, 1.0) < stage.target:
                # Short of the target even if every reply brings per_request accepted items: taking the screened
                # ones in would not change the answer, and handling them is left to the handler, off the path
                # of this worker's next request.
                return True
            screening.take_ready()
            # Expect the acceptance rate seen so far. When the replies at the worker may reach the target by
            # themselves, or nothing else is pending (a no ends the run), decide with them taken in: a run then
            # stops as close to --n as screening here would.
            rate = (summary.accepted + 1) / (summary.accepted + summary.rejected + 1)
            if pending == 0 or expected(pending, rate, rate) < stage.target <= expected(pending, rate, 1.0):
                screening.take_ready(wait=len(screening.queue))
                rate = (summary.accepted + 1) / (summary.accepted + summary.rejected + 1)
            # what is in flight when the mode check fails is paid for: it is still handled and written
            return not mismatch and expected(pending, rate, rate) < stage.target

        outstanding = BatchLedger(project).outstanding(stage.planner.request(0).key)  # open batches will answer these
        requests = (stage.planner.request(i) for i in count() if i not in outstanding)
        run_loop(client.run(requests, want_more, handle))
        screening.take_ready(wait=len(screening.queue))
        update()
        summary.error = client.error or (mismatch[0] if mismatch else None)
        if judge is not None and summary.error is None and not client.stop_reason:
            summary.error = judge_generated(stage, judge, outputs, judge_endpoint, cache, budget, concurrency)
            update()
        if mismatch:
            summary.stopped = (
                f"stopped early: the replies do not fit {stage.mode} mode ({summary.total} of {stage.target} accepted)"
            )
        elif summary.total >= stage.target:
            summary.stopped = f"reached --n {stage.target}"
        elif client.stop_reason and options.max_requests is None and client.stop_reason.startswith("--max-requests"):
            summary.stopped = (
                f"stopped after {cap} requests (ten times the plan, the default limit) with "
                f"{summary.total} of {stage.target} accepted; set --max-requests to allow more"
            )
        elif client.stop_reason:
            summary.stopped = f"stopped: {client.stop_reason} with {summary.total} of {stage.target} accepted"
            if budget.requests == 0 and not summary.cached:
                summary.error = RunError(
                    f"{client.stop_reason} before the first request: one request may use up to "
                    f"{gen.max_output_tokens} output tokens",
                    hint="raise the limit, or lower max_output_tokens under [generate]",
                )
        elif client.error:
            summary.stopped = f"stopped by an error with {summary.total} of {stage.target} accepted"
        elif summary.judge and summary.judge["low_score"] and summary.total < stage.target:
            summary.stopped = (
                f"the judge moved {summary.judge['low_score']} low scores to rejected.jsonl: {summary.total} "
                f"of {stage.target} accepted; run the same command again to top up"
            )
        if summary.judge and summary.judge["stopped"]:
            summary.stopped += f"; the judge stopped: {summary.judge['stopped']} (`ftboot judge` scores the rest)"
    return summary
