"""Ask each system every test prompt through the one client path, and keep the answers with their provenance.

Requests go through `pipeline.llm.client.Client` (cache first, bounded concurrency, retries, hard budget, pacing),
one client per endpoint: the systems on one endpoint send together, at the configured concurrency. `outputs/eval/answers.jsonl` gets one appended line per
(system, item): the answer, its tokens, the latency the caller saw, the request's cache key, the model, endpoint
and shots. A rerun answers from the reply cache, sends nothing it already paid for, and keeps the latency measured
when the answer was fetched. Judge requests use `ask` too, so they are cached and budgeted the same way.

It leaves what the answers are worth to `pipeline.eval.scores` and `pipeline.eval.judge`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from pipeline.errors import RunError
from pipeline.eval.results import AnswerOrigin, AnswerRow
from pipeline.jsonl import read_jsonl
from pipeline.llm.cache import ReplyCache
from pipeline.llm.client import Client, run_loop
from pipeline.llm.limits import Budget
from pipeline.llm.local import MAX_CONCURRENCY, local_server
from pipeline.llm.request import Endpoint, PlannedRequest, Reply
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.writes import Appender


class TimedClient(Client):
    """The client, noting how long each request took the caller to get, retries included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latency: dict[str, float] = {}

    async def send(self, request: PlannedRequest, billed: Callable[[bool], None] = lambda retry: None) -> Reply:
        started = time.monotonic()
        reply = await super().send(request, billed)
        self.latency[request.key] = time.monotonic() - started
        return reply


@dataclass
class Answers:
    """Answers by request key, with the totals of the run that produced them."""

    rows: dict[str, AnswerRow] = field(default_factory=dict)
    sent: int = 0
    cached: int = 0


@dataclass
class Asker:
    """One eval's sending: the reply cache, the local server once any system needs it, and answers.jsonl."""

    project: Project
    stack: ExitStack
    concurrency: int
    progress: Progress = quiet
    budget: Budget = field(default_factory=Budget)  # one for the whole eval: answers and judge alike
    _local: Endpoint | None = None

    def __post_init__(self) -> None:
        self.cache = self.stack.enter_context(ReplyCache(self.project.paths.replies))
        path = self.project.paths.answers
        path.parent.mkdir(parents=True, exist_ok=True)
        self.known: dict[str, AnswerRow] = (  # the lines of earlier runs, written by `ask` below
            {row["request"]: cast(AnswerRow, row) for _, row in read_jsonl(path, tolerate_torn_tail=True)}
            if path.exists()
            else {}
        )
        self.out = self.stack.enter_context(Appender(path))

    def local(self) -> Endpoint:
        if self._local is None:
            log = self.project.paths.server_log
            self._local = self.stack.enter_context(local_server(self.project.config.local, self.project.root, log))
        return self._local

    def ask(
        self,
        endpoint: Endpoint,
        requests: Iterable[PlannedRequest],
        step: str,
        total: int,
        provenance: Callable[[PlannedRequest], AnswerOrigin] | None = None,
    ) -> Answers:
        """Send `requests` to `endpoint`; every answer, recorded in answers.jsonl when `provenance` is given."""
        concurrency = self.concurrency
        if endpoint.label == "local":
            concurrency = min(concurrency, MAX_CONCURRENCY)
        # Systems sharing an endpoint share a client (their requests name their own models), so no system waits
        # for another's last answers; their costs are counted per system from the usage.
        client = TimedClient(endpoint, self.cache, self.budget, concurrency=concurrency)
        answers = Answers()

        def handle(request: PlannedRequest, reply: Reply, cached: bool) -> None:
            row = self.known.get(request.key)
            if row is None:
                fresh: AnswerRow = {
                    "request": request.key,
                    "answer": reply.choices[0].text if reply.choices else "",
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "latency_s": round(client.latency.get(request.key, 0.0), 4),
                    "model": request.model,
                    "endpoint": endpoint.label,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                if provenance:
                    fresh.update(provenance(request))
                    self.out.write(fresh)
                    self.known[request.key] = fresh
                row = fresh
            answers.rows[request.key] = row
            self.progress(step, len(answers.rows), total)

        run_loop(client.run(iter(list(requests)), lambda pending: True, handle))
        answers.sent, answers.cached = client.stats.sent, client.stats.cached
        if client.error:
            raise client.error
        if client.stop_reason:
            raise RunError(f"{step}: {client.stop_reason}", hint="answers so far are saved; rerun to carry on")
        return answers
