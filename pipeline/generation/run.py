"""One generate run's settings and what it writes, shared by online and batch sending.

`Options` are what the command line asked for; `RunSettings` resolves them against the project (backend, model,
mode, the shot pool, the round, the planner, the target); `Outputs` is the one place a reply becomes candidate and
rejected lines, whether the reply came online or from a batch. Sending is left to `pipeline.generation.online` and
`pipeline.generation.batch`, which import this module and never each other.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import InputError, Location, RunError
from pipeline.generation.filters import Screen, Screened, ToolCalls, records_from_reply
from pipeline.generation.judge import Judge
from pipeline.generation.modes import resolve_mode
from pipeline.generation.planner import Planner
from pipeline.holdout import held_out_ids
from pipeline.llm.endpoint import resolve
from pipeline.llm.local import local_server, model_name
from pipeline.llm.request import Endpoint, PlannedRequest, Reply
from pipeline.project import Project, key_location
from pipeline.schema import Record, example_id, is_accepted, read_records
from pipeline.seeds import load_seeds
from pipeline.writes import Appender

DEFAULT_CAP = 10  # times the plan, when no --max-requests is given


@dataclass
class Options:
    """What the command line may override; None means the config's value."""

    n: int | None = None
    backend: str | None = None
    model: str | None = None
    mode: str | None = None
    pool: str = "seeds"
    concurrency: int | None = None
    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    judge: bool = False  # judge the candidates (also when [judge] enabled = true)
    min_score: int | None = None  # None: [judge] min_score


@dataclass
class Summary:
    round: int
    target: int
    backend: str
    model: str
    endpoint: str
    mode: str
    existing: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    planned: int = 0
    sent: int = 0
    cached: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    billed_unusable: int = 0  # attempts that may have been billed but brought no answer
    without_usage: int = 0  # answers that did not say what they used
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    elapsed: float = 0.0
    sending: float = 0.0  # seconds from the first request sent to the last answer
    stopped: str = ""
    error: RunError | None = None
    judge: dict[str, Any] | None = None  # the judge's passes added up (`pipeline.generation.judge.Judged.as_dict`)

    @property
    def total(self) -> int:
        """Candidates of this round, from this run and earlier ones."""
        return self.existing + self.accepted

    @property
    def requests_per_second(self) -> float:
        """Requests answered per second while sending (start-up, such as the local model's, left out)."""
        return self.sent / self.sending if self.sending else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "target": self.target,
            "candidates": self.total,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.reasons.most_common()),
            "backend": self.backend,
            "model": self.model,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "requests": {
                "planned": self.planned,
                "sent": self.sent,
                "cached": self.cached,
                "retries": self.retries,
                "errors": dict(self.errors),
                "billed_unusable": self.billed_unusable,
                "without_usage": self.without_usage,
            },
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": self.cost,
            "elapsed_s": round(self.elapsed, 2),
            "sending_s": round(self.sending, 2),
            "requests_per_s": round(self.requests_per_second, 1),
            "stopped": self.stopped,
            "judge": self.judge,
            "error": self.error.message if self.error else None,
        }


@dataclass
class Preview:
    request: PlannedRequest
    planned: int
    cached: int
    summary: Summary

    def prompt_text(self) -> str:
        if "prompt" in self.request.payload:
            return self.request.payload["prompt"]
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.request.payload["messages"])


def load_reviewed(project: Project) -> list[Record]:
    """Accepted and edited examples from outputs/reviewed.jsonl, for the shot pool; the held-out test examples
    are never shown."""
    held = held_out_ids(project)
    path = project.paths.reviewed
    shown = project.show(path)
    if not path.exists():
        raise InputError(
            "no reviewed examples yet: --pool reviewed needs them",
            Location(shown),
            hint="run `ftboot review push`, review, then `ftboot review pull`; or use --pool seeds",
        )
    records = [
        record
        for _, record in read_records(path, shown)
        if is_accepted(record.model_extra or {}) and example_id(record.example) not in held
    ]
    if not records:
        raise InputError(
            "no accepted reviews yet: --pool reviewed needs some",
            Location(shown),
            hint="accept some candidates in Label Studio and run `ftboot review pull`; or use --pool seeds",
        )
    return records


class Outputs:
    """outputs/candidates.jsonl and rejected.jsonl, open for appending: where every reply, online or from a batch,
    becomes records (`take`). The screen knows the seeds, the reviewed examples and every candidate written so
    far; the (request, item) pairs already written are skipped, so a reply taken twice adds nothing twice."""

    def __init__(self, project: Project, seeds: list[Record], reviewed: list[Record]) -> None:
        self._candidates = Appender(project.paths.candidates)
        self._rejected = Appender(project.paths.rejected)
        self.screen = Screen(project.config, seeds)
        for record in reviewed:
            self.screen.remember(record.id, record.example)
        self.written: set[tuple[str, int]] = set()
        self.candidates_by_round: Counter[int | None] = Counter()  # this run's included (None: a line without a round)
        self.rejected_by_round: Counter[int | None] = Counter()
        for path, is_candidate in ((self._candidates.path, True), (self._rejected.path, False)):
            for _, record in read_records(path, project.show(path)):
                provenance = record.provenance
                if isinstance(key := provenance.get("request"), str) and isinstance(
                    item := provenance.get("item"), int
                ):
                    self.written.add((key, item))
                if is_candidate:
                    self.screen.remember(record.id, record.example)
                (self.candidates_by_round if is_candidate else self.rejected_by_round)[provenance.get("round")] += 1
        self.accepted, self.rejected = 0, 0  # written by this run
        self.reasons: Counter[str] = Counter()
        self.new_ids: set[str] = set()  # candidates written by this run

    def take(
        self, request: PlannedRequest, reply: Reply, endpoint: str, screened: list[Screened | None] | None = None
    ) -> None:
        """Screen a reply's items and append them, each to the file it belongs in. `screened`: the items already
        through `filters.screen_reply`."""
        for record, accepted in records_from_reply(request, reply, self.screen, endpoint, self.written, screened):
            self.written.add((request.key, record.provenance["item"]))
            row = record.model_dump()  # a reject's reason is a key of its line, not a field of Record
            (self._candidates if accepted else self._rejected).write(row)
            (self.candidates_by_round if accepted else self.rejected_by_round)[request.meta["round"]] += 1
            if accepted:
                self.accepted += 1
                self.new_ids.add(record.id)
            else:
                self.rejected += 1
                self.reasons[row["reason"]["code"]] += 1

    def demote(self, row: dict[str, Any]) -> None:
        """A candidate the judge scored below --min-score, as the reject `pipeline.generation.judge` made of it."""
        self._rejected.write(row)
        round_ = row["provenance"].get("round")
        self.candidates_by_round[round_] -= 1
        self.rejected_by_round[round_] += 1
        self.rejected += 1
        self.reasons[row["reason"]["code"]] += 1
        if row["id"] in self.new_ids:
            self.accepted -= 1

    @contextmanager
    def rewriting(self) -> Iterator[None]:
        """candidates.jsonl closed, for `pipeline.generation.judge` to replace it, then open for appending again."""
        self._candidates.close()
        try:
            yield
        finally:
            self._candidates = Appender(self._candidates.path)

    def close(self) -> None:
        self._candidates.close()
        self._rejected.close()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunSettings:
    """One invocation's settings, shot pool and planner; shared by the dry run and the real run."""

    def __init__(self, project: Project, options: Options) -> None:
        gen = project.config.generate
        self.project, self.options = project, options
        self.backend = options.backend or gen.backend
        self.mode = resolve_mode(project.config, self.backend, options.mode)
        self.target = options.n or gen.n
        self.local_config = project.config.local
        if self.backend == "local":
            if options.model:  # for the local backend, --model names a GGUF file
                self.local_config = self.local_config.model_copy(update={"model_path": options.model})
            self.model, self.label = model_name(self.local_config), "local"
        else:
            remote = resolve(project.config, "openai", options.model, gen.model)
            self.model, self.label = remote.model, remote.label
        response_format = gen.response_format
        if response_format == "auto":
            response_format = "json_object" if self.backend == "local" else "json_schema"
        held = held_out_ids(project)  # seeds drawn into the test set (build.test_seeds) are never shots
        self.seeds = [seed for seed in load_seeds(project) if example_id(seed.example) not in held]
        if not self.seeds:
            raise InputError(
                "no seeds to generate from",
                Location(project.show(project.seeds_dir)),
                hint="write a few examples in seeds/ (`ftboot init` shows the format)",
            )
        self.reviewed = load_reviewed(project) if options.pool == "reviewed" else []
        self.round = 1 + max((int(r.provenance.get("round") or 1) for r in self.reviewed), default=0)
        tools = ToolCalls(project.config, self.seeds).tools
        if tools and self.mode == "completion":
            raise InputError(
                "tool-calling examples need chat mode; this run's mode is completion",
                key_location(project, "generate.tools")
                if gen.tools
                else Location(project.show(project.seeds_dir), None, "tools"),
                hint='set mode = "chat" under [generate] (or the backend\'s table), or pass --mode chat',
            )
        self.planner = Planner(
            project.config,
            mode=self.mode,
            model=self.model,
            scope=self.label,
            tools=tools,
            response_format=response_format,
            seeds=self.seeds,
            reviewed=self.reviewed,
            round_=self.round,
        )
        self.summary = Summary(self.round, self.target, self.backend, self.model, self.label, self.mode)
        self.min_score = options.min_score if options.min_score is not None else project.config.judge.min_score

    def judge(self) -> Judge | None:
        """The judge (`pipeline.generation.judge.Judge`) when this run asks for one, else None."""
        if not (self.options.judge or self.project.config.judge.enabled):
            return None
        return Judge(self.project, backend=self.backend)

    def count_existing(self) -> int:
        path = self.project.paths.candidates
        if not path.exists():
            return 0
        return sum(
            1
            for _, record in read_records(path, self.project.show(path))
            if record.provenance.get("round") == self.round
        )

    def planned(self, existing: int) -> int:
        return math.ceil(max(self.target - existing, 0) / self.planner.m)

    def endpoint(self, stack: ExitStack) -> Endpoint:
        if self.backend == "local":
            log = self.project.paths.server_log
            return stack.enter_context(local_server(self.local_config, self.project.root, log))
        return resolve(self.project.config, "openai", self.model).endpoint()
