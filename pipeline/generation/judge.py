"""The judge before the humans: a model scores each generated candidate from 1 to 5 with a one-sentence reason.

The judge reads a rubric (`[judge] rubric`, by default the task's description and system prompt) and the
candidate's conversation, and answers `{"score": N, "reason": "..."}`, read by the same tolerant JSON reader as
generation's replies (`pipeline.generation.parsing`). Its requests are built like eval's pairwise judge's
(`pipeline.llm.judging.ask`: greedy, seeded) and go through the one client (`pipeline.llm`): cached, so judging
again sends nothing, and counted in the budget of the run that asks (at the judge model's price).

`judge_candidates` scores the candidates in `outputs/candidates.jsonl` that have no `judge_score` yet, writes
`judge_score` and `judge_reason` into their provenance (a reply with no readable score is recorded as
`judge_error`, and the candidate stays for the reviewers), rewriting the file atomically, and moves every
candidate scored below `min_score` to `rejected.jsonl` with reason `low-score`. `pipeline.review.judged` says how well the
scores predicted the reviewers' verdicts: ROC AUC (the Mann-Whitney statistic) and the acceptance rate per score.

Requests that open judge batches will answer are left to them (a candidate whose request one holds stays unscored
until `ftboot batch collect`), so nothing is paid for twice; sending and collecting those batches
(`ftboot judge --batch`) is `pipeline.generation.batch.judging`'s, which scores through `judge_candidates` too,
from the cache only (`send=False`). It leaves out pairwise comparison of systems (`pipeline.eval.judge`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.config import Config, Price
from pipeline.errors import RunError
from pipeline.generation.parsing import parse_json_reply
from pipeline.ledgers.batches import BatchLedger
from pipeline.llm.cache import ReplyCache
from pipeline.llm.client import Client, run_loop
from pipeline.llm.endpoint import resolve
from pipeline.llm.judging import ask, transcript
from pipeline.llm.limits import Budget
from pipeline.llm.local import MAX_CONCURRENCY, local_server, model_name
from pipeline.llm.request import Endpoint, PlannedRequest, Reply
from pipeline.project import Project
from pipeline.schema import Record, read_records
from pipeline.writes import Appender, write_jsonl

if TYPE_CHECKING:  # for annotations only: run imports this module (RunSettings.judge)
    from pipeline.generation.run import Outputs, RunSettings

JUDGE_SYSTEM = (
    "You rate one training example for fine-tuning a language model against a rubric. Reply with JSON "
    'only: {"score": <1 to 5>, "reason": "<one sentence>"}; 5 means ready to train on, 1 means useless.'
)
LOW_SCORE = "low-score"
FIELDS = ("judge_score", "judge_reason", "judge_error", "judge_model")
MAX_REASON = 300


def rubric(config: Config) -> str:
    if config.judge.rubric.strip():
        return config.judge.rubric.strip()
    task = config.task
    lines = [task.description.strip() or task.name]
    if task.system_prompt:
        lines.append(f"The assistant follows this system prompt: {task.system_prompt}")
    return "\n".join(lines)


def request_for(config: Config, endpoint: Endpoint, example: dict[str, Any]) -> PlannedRequest:
    text = (
        f"Rubric:\n{rubric(config)}\n\nExample:\n{transcript(example.get('messages') or [])}\n\n"
        "Score the example from 1 to 5 against the rubric, with a one-sentence reason."
    )
    return ask(endpoint, JUDGE_SYSTEM, text, config.judge.max_output_tokens)


@dataclass(frozen=True)
class Score:
    score: int | None  # None: the reply held no score, and `reason` says why
    reason: str


def _score(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5 else None


def read_score(reply: Reply) -> Score:
    """The score and reason in a judge's reply; never raises."""
    if reply.problem or not reply.choices:
        return Score(None, f"the reply is not a completion: {reply.problem or 'no choices'}")
    choice = reply.choices[0]
    if choice.problem or choice.refusal:
        return Score(None, f"the judge gave no answer: {(choice.problem or choice.refusal or '')[:200]}")
    for item in parse_json_reply(choice.text, choice.finish_reason):
        if isinstance(item.value, dict) and (score := _score(item.value.get("score"))) is not None:
            reason = item.value.get("reason")
            return Score(score, " ".join(reason.split())[:MAX_REASON] if isinstance(reason, str) else "")
    return Score(None, f"no score from 1 to 5 in the reply: {choice.text[:200]!r}")


class Judge:
    """Which model judges, and where: `[judge]`, else generation's backend and model, on the endpoint that
    `pipeline.llm.endpoint` resolves for every stage."""

    def __init__(
        self, project: Project, model: str | None = None, backend: str | None = None, override: bool = False
    ) -> None:
        """`backend`: the command line's (`override`), else the generation run's, which [judge] backend beats."""
        cfg, gen = project.config.judge, project.config.generate
        self.project = project
        self.backend = (backend if override and backend else None) or cfg.backend or backend or gen.backend
        if self.backend == "local":
            self.model, self.target = model_name(project.config.local), None
        else:
            self.target = resolve(project.config, "openai", model, cfg.model or gen.model)
            self.model = self.target.model
        self.price: Price | None = project.config.prices.get(self.model)

    def endpoint(self, stack: ExitStack, local: Endpoint | None = None) -> Endpoint:
        """The endpoint with its key; `local`: the bundled model's server when generation already started it."""
        if self.target is not None:
            return self.target.endpoint()
        if local is not None:
            return local

        log = self.project.paths.server_log
        return stack.enter_context(local_server(self.project.config.local, self.project.root, log))


@dataclass
class Judged:
    """One pass of the judge over candidates.jsonl."""

    model: str
    endpoint: str
    judged: int = 0  # candidates scored by this pass
    failed: int = 0  # replies with no readable score (recorded as judge_error)
    low_score: int = 0  # candidates moved to rejected.jsonl by this pass
    sent: int = 0
    cached: int = 0
    in_batches: int = 0  # requests left to open judge batches
    scores: Counter[int] = field(default_factory=Counter)
    stopped: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "judged": self.judged,
            "failed": self.failed,
            "low_score": self.low_score,
            "scores": {str(s): self.scores[s] for s in sorted(self.scores)},
            "requests": {"sent": self.sent, "cached": self.cached},
            "in_batches": self.in_batches,
            "stopped": self.stopped,
        }


def judge_candidates(
    project: Project,
    judge: Judge,
    endpoint: Endpoint,
    cache: ReplyCache,
    budget: Budget,
    concurrency: int,
    min_score: int | None,
    reject: Callable[[dict[str, Any]], None],
    send: bool = True,
) -> tuple[Judged, list[Record]]:
    """Score the unscored candidates, rewrite candidates.jsonl with the scores and without those below
    `min_score`, which go to `reject` (unless rejected.jsonl already holds them: a pass cut off between the two
    writes). Returns the pass and the candidates moved. A RunError from the client is raised after the scores
    received so far are written. `send=False`: only the replies the cache holds are read; nothing is sent."""
    path = project.paths.candidates
    result = Judged(judge.model, endpoint.label)
    if not path.exists():
        return result, []
    records = [record for _, record in read_records(path, project.show(path))]
    planned, requests = unscored(project.config, endpoint, records)
    held = BatchLedger(project).outstanding_keys() if send else set()  # open judge batches will answer these
    result.in_batches = sum(r.key in held and r.key not in cache for r in requests)
    requests = [r for r in requests if r.key in cache or (send and r.key not in held)]
    scores: dict[str, Score] = {}

    def handle(request: PlannedRequest, reply: Reply, cached: bool) -> None:
        for rid in planned[request.key]:
            scores[rid] = read_score(reply)

    gen = project.config.generate
    if endpoint.label == "local":
        concurrency = min(concurrency, MAX_CONCURRENCY)
    error = None
    if requests:
        client = Client(endpoint, cache, budget, concurrency=concurrency, timeout=gen.timeout, retries=gen.retries)
        with budget.priced(judge.price, judge.model):
            run_loop(client.run(iter(requests), lambda pending: True, handle))
        result.sent, result.cached, error = client.stats.sent, client.stats.cached, client.error
        result.stopped = client.stop_reason or ""
    moved = _apply(project, records, scores, min_score, reject, judge.model, result)
    if error:
        raise error
    return result, moved


def unscored(
    config: Config, endpoint: Endpoint, records: list[Record]
) -> tuple[dict[str, list[str]], list[PlannedRequest]]:
    """The judge's requests for the candidates with no score, one per distinct example, and the candidates each
    scores (request key -> candidate ids)."""
    planned: dict[str, list[str]] = {}
    requests: list[PlannedRequest] = []
    for record in records:
        if "judge_score" not in record.provenance:
            request = request_for(config, endpoint, record.example)
            if request.key not in planned:
                requests.append(request)
            planned.setdefault(request.key, []).append(record.id)
    return planned, requests


def run(
    project: Project,
    backend: str | None = None,
    model: str | None = None,
    min_score: int | None = None,
    concurrency: int | None = None,
    max_requests: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
) -> Judged:
    """`ftboot judge`: one pass over candidates.jsonl with its own budget."""
    judge = Judge(project, model, backend, override=True)
    budget = Budget(max_requests, max_tokens, max_cost, judge.price, judge.model)
    with ExitStack() as stack:
        endpoint = judge.endpoint(stack)
        cache = stack.enter_context(ReplyCache(project.paths.replies))
        rejected = stack.enter_context(Appender(project.paths.rejected))
        threshold = min_score if min_score is not None else project.config.judge.min_score
        judged, _ = judge_candidates(
            project,
            judge,
            endpoint,
            cache,
            budget,
            concurrency or project.config.generate.concurrency,
            threshold,
            rejected.write,
        )
    return judged


def judge_generated(
    stage: RunSettings,
    judge: Judge,
    outputs: Outputs,
    endpoint: Endpoint,
    cache: ReplyCache,
    budget: Budget,
    concurrency: int,
) -> RunError | None:
    """The judge's pass at the end of a generation run, in its budget: the low scores become rejects counted in
    the run's summary (`outputs.demote`), written while candidates.jsonl is closed for appending."""
    with outputs.rewriting():
        try:
            judged, _ = judge_candidates(
                stage.project, judge, endpoint, cache, budget, concurrency, stage.min_score, outputs.demote
            )
        except RunError as exc:
            return exc
    stage.summary.judge = judged.as_dict()
    # low scores among earlier runs' candidates of this round leave fewer than there were before this run
    stage.summary.existing = outputs.candidates_by_round[stage.round] - outputs.accepted
    return None


def _apply(
    project: Project,
    records: list[Record],
    scores: dict[str, Score],
    min_score: int | None,
    reject: Callable[[dict[str, Any]], None],
    model: str,
    result: Judged,
) -> list[Record]:
    rejected_path = project.paths.rejected
    already = (
        {
            r.id
            for _, r in read_records(rejected_path, project.show(rejected_path))
            if (r.model_extra or {}).get("reason", {}).get("code") == LOW_SCORE
        }
        if rejected_path.exists()
        else set()
    )
    kept, moved = [], []
    for record in records:
        if (got := scores.get(record.id)) is not None:
            provenance = {k: v for k, v in record.provenance.items() if k not in FIELDS}
            if got.score is None:
                provenance.update(judge_error=got.reason, judge_model=model)
                result.failed += 1
            else:
                provenance.update(judge_score=got.score, judge_reason=got.reason, judge_model=model)
                result.judged += 1
                result.scores[got.score] += 1
            record = record.model_copy(update={"provenance": provenance})
        score = record.provenance.get("judge_score")
        if min_score is not None and isinstance(score, int) and score < min_score:
            if record.id not in already:
                detail = (
                    f"judge score {score} below --min-score {min_score}: {record.provenance.get('judge_reason', '')}"
                )
                reject({**record.model_dump(), "reason": {"code": LOW_SCORE, "detail": detail[:500]}})
            moved.append(record)
        else:
            kept.append(record)
    result.low_score = len(moved)
    if scores or moved:
        write_jsonl(project.paths.candidates, (record.model_dump() for record in kept))
    return moved
