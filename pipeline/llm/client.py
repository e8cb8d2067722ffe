"""The loop that sends planned requests (`pipeline.llm.request`) through the openai SDK.

`Client.run` keeps up to `concurrency` requests in flight and starts the next one the moment one finishes. It asks
the cache first, then the budget, then the pacer, then the network. The SDK's own retries are off: 429, 5xx,
timeouts, dropped connections and unreadable bodies are retried here, with exponential backoff and jitter, waiting
at least what a Retry-After header asks, and every retry is counted. An attempt that may have been billed (a
timeout or a dropped connection once the request was out, a 200 whose body is not JSON) is settled in the budget
at its worst case and its retry reserves anew, so such retries count against every limit; the stats count them
as `billed_unusable`. A request that still fails, a refused key or a refused request stops the run cleanly
(requests in flight finish) and is reported as a `RunError`.

Under the SDK runs aiohttp's connection pool, one kept connection per worker, without the httpx layers the SDK's
requests do not use (`pipeline.llm.sdk.client_for` builds it); the loop is uvloop's where it is installed
(`run_loop`).

It leaves streaming, tool calls and the provider Batch APIs out.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipeline.errors import RunError
from pipeline.llm.cache import ReplyCache
from pipeline.llm.limits import Budget, OverBudget, Pacer, Reservation
from pipeline.llm.request import Endpoint, PlannedRequest, Reply, reply_from_bytes
from pipeline.llm.sdk import client_for, post, retry_after, sdk_error

BACKOFF_BASE, BACKOFF_CAP = 0.5, 30.0
# One answer per turn kept a task always ready, so the loop polled its sockets without waiting, once per
# answer: at 2 s / 1,000 a fifth more CPU per request and 12-15 points of the rate. More per turn delays the
# sends of a burst behind the handling; 16 measured best of 1, 4, 8, 16, 64 and all.
HANDLED_PER_TURN = 16
# Net new objects between collections of the youngest generation during a run (default 700). What a request
# allocates is mostly freed by reference counting, but the run's live set grows by about 40 objects a request (the
# duplicate index, the records taken in): at 10,000 its collections took about a tenth of the run's CPU (1.25 s
# in 10,000 requests at 2 s / 1,000), in pauses of 20-100 ms; at 200,000, about 0.1 s.
GC_YOUNG = 200_000
T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on uvloop's event loop where uvloop is installed: at hundreds of requests a second
    asyncio's own loop is a good part of the client's CPU, uvloop's costs a fraction of it.

    What is alive when the run starts (modules, seeds, the filters' index) is frozen out of the cyclic garbage
    collector for its length, and young objects are collected less often: a full collection walks every object,
    and while it runs no answer is read and no request sent, so at 1,000 requests in flight each pause held up
    hundreds of them (about 5% of the rate at 2 s / 1,000). Nearly everything a request allocates is freed by
    reference counting; the cycles that remain are still collected."""
    import gc

    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], GC_YOUNG), *thresholds[1:])
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(main)
        return uvloop.run(main)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _failure(exc: BaseException) -> tuple[str, bool]:
    """A failed attempt's cause ("timeout" or "connection") and whether it may have been billed, read from the
    transport's own error at the root of the SDK's: the SDK's adapter files aiohttp's errors under httpx's
    names loosely (a connection dropped mid-answer comes out as a connect timeout). Anything else may have
    reached the server."""
    import aiohttp

    chain: BaseException | None = exc
    while chain is not None and not isinstance(chain, aiohttp.ClientError):
        chain = chain.__cause__
    if isinstance(chain, aiohttp.ClientConnectorError):
        return "connection", False  # refused or unreachable: the request never left
    if isinstance(chain, aiohttp.ConnectionTimeoutError):
        return "timeout", False  # no connection in time, from the pool or the network
    return ("timeout" if isinstance(chain, TimeoutError) else "connection"), True


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: a random wait in the upper half of base·2^attempt, capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class ClientStats:
    sent: int = 0  # requests answered by the endpoint
    cached: int = 0  # requests answered from the cache
    retries: int = 0
    billed_unusable: int = 0  # attempts that may have been billed but brought no answer (settled at worst case)
    without_usage: int = 0  # answers that did not say what they used (settled at worst case)
    errors: Counter[str] = field(default_factory=Counter)  # failed attempts by cause: 429, 500, timeout, ...
    first_sent: float | None = None  # time.monotonic() of the first request sent
    last_answer: float | None = None  # and of the last answer received

    @property
    def sending(self) -> float:
        """Seconds from the first request sent to the last answer: the window throughput is measured over."""
        return self.last_answer - self.first_sent if self.first_sent and self.last_answer else 0.0


class Client:
    def __init__(
        self,
        endpoint: Endpoint,
        cache: ReplyCache,
        budget: Budget,
        pacer: Pacer | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        retries: int = 6,
    ) -> None:
        self.endpoint, self.cache, self.budget = endpoint, cache, budget
        self.pacer = pacer or Pacer()
        self.concurrency, self.retries = concurrency, retries
        self.sdk = client_for(endpoint, retries=0, timeout=timeout, pool=concurrency)  # retried here, not by the SDK
        self.stats = ClientStats()
        self.in_flight = 0
        self.stop_reason: str | None = None
        self.error: RunError | None = None

    async def close(self) -> None:
        await self.sdk.close()

    async def send(self, request: PlannedRequest, billed: Callable[[bool], None] = lambda retry: None) -> Reply:
        """One request, retried on transient failures; RunError when it cannot get an answer. `billed(retry)` is
        called after each attempt that may have been billed without an answer (retry: whether one follows)."""
        import openai

        host = self.endpoint.label
        cause = ""
        for attempt in range(self.retries + 1):
            wait: float | None = None
            try:
                # The SDK's generic request keeps its auth, base URL, timeouts and typed errors; an already encoded
                # body skips its walk of the whole request (JSON schema included) through type transforms and
                # copies, which was most of the client's CPU time per request.
                raw = await post(self.sdk, f"/{request.endpoint}", request.encoded_body)
                return reply_from_bytes(request.endpoint, raw)
            except openai.APIStatusError as exc:
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    raise sdk_error(exc, host) from None
                cause, wait, lost = str(exc.status_code), retry_after(exc.response.headers), False
            except openai.APIConnectionError as exc:  # timeouts included
                cause, lost = _failure(exc)
            except ValueError:
                cause, lost = "malformed", True  # a 200 whose body is not JSON: the server did the work
            self.stats.errors[cause] += 1
            if lost:
                self.stats.billed_unusable += 1
                billed(attempt < self.retries)
            if attempt < self.retries:
                self.stats.retries += 1
                await asyncio.sleep(wait * random.uniform(1.0, 1.1) if wait is not None else backoff(attempt))
        raise RunError(
            f"a request to {host} still failed after {self.retries + 1} attempts (last: {cause})",
            hint="replies received so far are saved; rerun the same command to carry on",
        )

    async def run(
        self,
        requests: Iterator[PlannedRequest],
        want_more: Callable[[int], bool],
        handle: Callable[[PlannedRequest, Reply, bool], None],
    ) -> None:
        """Answer planned requests until `want_more(pending)` is false with nothing pending, the plan runs out,
        the budget says stop or a request fails for good. `handle(request, reply, cached)` gets each answer.

        Answers from the network are handled by one task, up to `HANDLED_PER_TURN` per turn of the event loop,
        after they are cached: a worker sends its next request first, so handling never delays the requests of a
        burst of answers by more than a few answers' handling. `pending` counts requests in flight and answers not
        yet handled."""
        self._wake = asyncio.Event()
        answers: deque[tuple[PlannedRequest, Reply]] = deque()
        arrived = asyncio.Event()

        def pending() -> int:
            return self.in_flight + len(answers)

        async def worker() -> None:
            while self.stop_reason is None and self.error is None:
                if not want_more(pending()):
                    if pending() == 0:
                        return
                    await self._until_one_finishes()
                    continue
                request = next(requests, None)
                if request is None:
                    return
                stored = self.cache.get(request.key)
                if stored is not None:
                    self.stats.cached += 1
                    handle(request, Reply.from_dict(stored), True)
                    await asyncio.sleep(0)  # let the other workers and the progress display run
                    continue
                reply = await self._fetch(request)
                if reply is not None:
                    answers.append((request, reply))
                    arrived.set()
            self._wake.set()

        async def handler() -> None:
            while True:
                while answers:
                    for _ in range(min(len(answers), HANDLED_PER_TURN)):
                        handle(*answers.popleft(), False)
                    self._wake.set()
                    await asyncio.sleep(0)
                arrived.clear()
                await arrived.wait()

        workers = asyncio.gather(*(worker() for _ in range(self.concurrency)))
        handling = asyncio.create_task(handler())
        try:
            racing: set[asyncio.Future[Any]] = {workers, handling}
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if handling.done():
                handling.result()  # the handler only ends by raising: a failure to write the outputs
            await workers
            while answers:
                handle(*answers.popleft(), False)
        finally:
            workers.cancel()
            handling.cancel()
            await asyncio.gather(workers, handling, return_exceptions=True)
            await self.close()

    async def _until_one_finishes(self) -> None:
        self._wake.clear()
        await self._wake.wait()

    async def _fetch(self, request: PlannedRequest) -> Reply | None:
        """Send one request within the budget; its reply, cached, or None when the run must stop."""
        max_tokens = int(request.params.get("max_tokens") or 0)
        while True:
            try:
                reserved = self.budget.reserve(request.prompt_estimate, max_tokens, request.model)
                break
            except OverBudget as refused:
                # Requests in flight hold worst-case reservations; what they really use may leave room for this one.
                if self.in_flight == 0:
                    self.stop_reason = str(refused)
                    return None
            await self._until_one_finishes()
            if self.stop_reason or self.error:
                return None

        reservation: Reservation | None = reserved  # None once a lost attempt settled it and no retry reserved anew

        def billed(retry: bool) -> None:
            # The lost attempt keeps its worst case; a retry is a new request against every limit.
            nonlocal reservation
            assert reservation is not None
            self.budget.settle(reservation, None, None)
            reservation = None
            if retry:
                reservation = self.budget.reserve(request.prompt_estimate, max_tokens, request.model)

        self.in_flight += 1
        try:
            await self.pacer.wait(reserved.tokens)
            self.stats.first_sent = self.stats.first_sent or time.monotonic()
            reply = await self.send(request, billed)
        except OverBudget as refused:
            self.stop_reason = self.stop_reason or str(refused)
            return None
        except RunError as exc:
            if reservation is not None:  # not settled by a last attempt that may have been billed
                self.budget.settle(reservation, 0, 0)
            self.error = self.error or exc
            return None
        finally:
            self.in_flight -= 1
        self.stats.sent += 1
        self.stats.last_answer = time.monotonic()
        self.cache.put(request.key, reply.to_dict())
        if reply.prompt_tokens is None or reply.completion_tokens is None:
            self.stats.without_usage += 1
        assert reservation is not None  # the last attempt answered, so it was never settled as lost
        self.budget.settle(reservation, reply.prompt_tokens, reply.completion_tokens)
        return reply
