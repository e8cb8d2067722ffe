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

Screening a reply (parsing, schema, seed similarity, MinHash; `filters.screen_reply`, the code batch collect
runs in its workers too) takes about as much CPU as sending it, so at hundreds of requests a second one worker
process does it while this process sends, runs the duplicate index and writes, in the order the replies came
(`Screening`): the same records, ids and rejects as screening here would give. Replies go to it in batches over a
pipe and come back the same way, with no thread in this process: a `multiprocessing.Pool` spent about 0.5 ms of
this process's CPU per reply in its three threads and their locks. The worker is forked, not spawned, when the run
starts, before its client starts any thread: a spawned one re-imports the caller's `__main__`, which breaks a
script that calls `generate` without a `__main__` guard. It ignores Ctrl-C (this process stops the run) and ends
when this process does, killed or not (its pipes close), so no worker holds the project lock it inherited.
The first replies, which the mode check watches, are screened here, so an early stop sends no more than before;
the local backend, a few replies a second, has no worker.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from itertools import count
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from pipeline.errors import RunError
from pipeline.generation.filters import Screen, Screened, screen_reply, unparsed
from pipeline.generation.judge import judge_generated
from pipeline.generation.modes import ModeCheck
from pipeline.generation.run import DEFAULT_CAP, Options, Outputs, Preview, RunSettings, Summary
from pipeline.ledgers.batches import BatchLedger
from pipeline.llm.cache import ReplyCache
from pipeline.llm.client import Client, run_loop
from pipeline.llm.limits import Budget, Pacer
from pipeline.llm.local import MAX_CONCURRENCY
from pipeline.llm.request import PlannedRequest, Reply
from pipeline.project import Project

QUEUED = 2000  # replies handed to the worker and not taken in yet before a new one waits: memory stays flat
BATCH = 64  # replies held back while the worker screens others, before they go to it anyway


def _screened(screen: Screen, request: PlannedRequest, reply: Reply) -> list[Screened | None] | Exception:
    try:
        return screen_reply(request, reply, screen)
    except Exception as exc:  # raised in the run, where taking this reply in fails as it would have there
        return exc


def _read(tasks: Connection, inbox: queue.SimpleQueue[list[tuple[PlannedRequest, Reply]] | None]) -> None:
    # A thread of its own keeps the task pipe drained while the worker screens or waits to send its results, so
    # the run never blocks on a full pipe while the worker blocks on one the run is not reading.
    try:
        while True:
            inbox.put(tasks.recv())
    except (EOFError, OSError):
        inbox.put(None)  # the run closed its end, or ended, killed or not


def _serve(screen: Screen, tasks: Connection, results: Connection, theirs: tuple[Connection, Connection]) -> None:
    """The worker process: screen batches of replies and send back, per batch of batches it found waiting, the
    screened items (or the exception screening one raised), in the order the replies came."""
    for end in theirs:
        end.close()  # only the run holds its ends, so they close when it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the run handles it
    inbox: queue.SimpleQueue[list[tuple[PlannedRequest, Reply]] | None] = queue.SimpleQueue()
    threading.Thread(target=_read, args=(tasks, inbox), daemon=True).start()
    try:
        while (batch := inbox.get()) is not None:
            done = [_screened(screen, request, reply) for request, reply in batch]
            while True:  # the batches that came meanwhile go back in the same message
                try:
                    batch = inbox.get_nowait()
                except queue.Empty:
                    break
                if batch is None:
                    results.send(done)
                    return
                done += [_screened(screen, request, reply) for request, reply in batch]
            results.send(done)
    except OSError:
        return  # the run ended without waiting for these


class Screening:
    """Replies screened by a worker process and taken into `outputs` here, in the order they were put, whenever
    this process hands the worker a reply or the client asks whether to send more. A reply goes to an idle worker
    at once; those that come while it is busy go together when it sends back what it screened, the same way: no
    threads in this process, a few system calls per batch, and no more delay than the worker's own.
    Without a worker, every reply is screened here."""

    def __init__(
        self, outputs: Outputs, label: str, taken: Callable[[PlannedRequest, list[Screened | None]], None], worker: bool
    ) -> None:
        import multiprocessing

        self.outputs, self.label, self.taken = outputs, label, taken
        self.queue: deque[tuple[PlannedRequest, Reply]] = deque()  # handed over, not taken in yet
        self.unsent: list[tuple[PlannedRequest, Reply]] = []  # the queue's tail, not sent to the worker yet
        self.screened: deque[list[Screened | None] | Exception] = deque()  # the queue's head, screened
        self.worker: BaseProcess | None = None
        if worker:
            context = multiprocessing.get_context("fork")
            tasks, self.tasks = context.Pipe(duplex=False)
            self.results, results = context.Pipe(duplex=False)
            self.worker = context.Process(
                target=_serve, args=(outputs.screen, tasks, results, (self.tasks, self.results)), daemon=True
            )
            self.worker.start()
            tasks.close()
            results.close()

    def put(self, request: PlannedRequest, reply: Reply, here: bool = False) -> None:
        """Hand a reply to the worker; `here`: screen it in this process and take it in before returning."""
        if here or self.worker is None:
            self.take_ready(wait=len(self.queue))
            self._take(request, reply, screen_reply(request, reply, self.outputs.screen))
            return
        self.queue.append((request, reply))
        # The worker needs the request's endpoint and meta only; its prompt and parameters are not worth the copy.
        slim = PlannedRequest(request.endpoint, request.model, {}, {}, request.sample, request.scope, request.meta)
        self.unsent.append((slim, reply))
        if not self._at_worker() or len(self.unsent) >= BATCH:
            self._send()
        self.take_ready(wait=len(self.queue) - QUEUED)

    def take_ready(self, wait: int = 0) -> None:
        """Take in the screened replies at the head of the queue, waiting for the first `wait` of them."""
        if self.worker is None:
            return
        if self._at_worker() and self.results.poll():
            self._receive()
        if self.unsent and (wait > 0 or not self._at_worker()):
            self._send()
        while self.queue and (wait > 0 or self.screened):
            if not self.screened:
                self._receive()
            request, reply = self.queue.popleft()
            screened = self.screened.popleft()
            if isinstance(screened, Exception):
                raise screened
            self._take(request, reply, screened)
            wait -= 1

    def _at_worker(self) -> int:
        """Replies the worker has and has not sent back: while it has some, new ones wait to go as one batch."""
        return len(self.queue) - len(self.unsent) - len(self.screened)

    def _send(self) -> None:
        self.tasks.send(self.unsent)
        self.unsent = []

    def _receive(self) -> None:
        try:
            self.screened.extend(self.results.recv())
        except (EOFError, OSError):
            raise RunError(
                "the process that screens replies ended unexpectedly",
                hint="replies received so far are saved; rerun the same command to carry on",
            ) from None

    def _take(self, request: PlannedRequest, reply: Reply, screened: list[Screened | None]) -> None:
        self.outputs.take(request, reply, self.label, screened)
        self.taken(request, screened)

    def close(self) -> None:
        if self.worker is not None:
            self.tasks.close()
            self.results.close()
            self.worker.terminate()
            self.worker.join()


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

        def want_more(pending: int) -> bool:
            if not mismatch and summary.total + (pending + len(screening.queue)) * stage.planner.m < stage.target:
                # Short of the target even if every reply brings per_request accepted items: taking the screened
                # ones in would not change the answer, and handling them is left to the handler, off the path
                # of this worker's next request.
                return True
            # the client ends the run on a no with nothing pending: then decide with every reply taken in
            screening.take_ready(wait=len(screening.queue) if pending == 0 else 0)
            pending += len(screening.queue)
            if mismatch:  # what is in flight is paid for: it is still handled and written
                return False
            # Expect each request in flight or answered but not yet handled to bring per_request items at the
            # acceptance rate seen so far.
            rate = (summary.accepted + 1) / (summary.accepted + summary.rejected + 1)
            return summary.total + pending * stage.planner.m * rate < stage.target

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
