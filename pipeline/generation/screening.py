"""Replies screened in a worker process while the run sends, and taken into the run's outputs in order.

Screening a reply (parsing, schema, seed similarity, MinHash; `filters.screen_reply`, the code batch collect
runs in its workers too) takes about as much CPU as sending it, so at hundreds of requests a second one worker
process does it while the run's process sends, runs the duplicate index and writes, in the order the replies came
(`Screening`): the same records, ids and rejects as screening here would give. Replies go to it in batches over a
pipe and come back the same way, with no thread in the run's process: a `multiprocessing.Pool` spent about 0.5 ms
of its CPU per reply in its three threads and their locks. The worker is forked, not spawned, when the run
starts, before its client starts any thread: a spawned one re-imports the caller's `__main__`, which breaks a
script that calls `generate` without a `__main__` guard. It ignores Ctrl-C (the run's process stops the run) and
ends when that process does, killed or not (its pipes close), so no worker holds the project lock it inherited.
The first replies, which the mode check watches, are screened in the run's process, so an early stop sends no more than before;
the local backend, a few replies a second, has no worker.

The duplicate index and the writing stay in the run's process (`pipeline.generation.run.Outputs.take`).
"""

from __future__ import annotations

import queue
import signal
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from pipeline.errors import RunError
from pipeline.generation.filters import Screen, Screened, screen_reply
from pipeline.generation.run import Outputs
from pipeline.llm.request import PlannedRequest, Reply

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
