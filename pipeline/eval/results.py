"""The shapes eval writes and reads back: `eval.json`, the lines of `answers.jsonl` and of `human-pairs.jsonl`.

TypedDicts rather than classes because these are JSON documents that `ftboot eval --json` prints and that
`pipeline.eval.human` rewrites: the types name their keys for the reader and for mypy without changing a byte of
what is written. Computing the figures is `scores`', `judge`'s and `human`'s; rendering them is `report`'s.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Interval(TypedDict):
    """A mean with its 95% bootstrap interval `[low, high]`."""

    mean: float
    ci: list[float]


class Usage(TypedDict):
    """Tokens, latency percentiles and the price of 1,000 calls (None without a configured price)."""

    tokens_per_answer: float
    prompt_tokens: float
    latency_p50_s: float
    latency_p95_s: float
    cost_per_1k: float | None


class SystemScores(Usage):
    model: str
    shots: int
    fine_tuned: bool
    chrf: Interval
    rougeL: Interval
    checks_pass: float | None  # share of answers passing [eval.checks], None when none are configured


class Tally(TypedDict):
    """The first system's wins, ties and losses, and its score (win 1, tie 0.5) with its interval."""

    wins: int
    ties: int
    losses: int
    score: Interval | None


class JudgeTally(Tally):
    items: NotRequired[list[str]]  # test item ids, in the order of `outcomes`; `ftboot eval --json` leaves both out
    outcomes: NotRequired[list[str]]


class HumanTally(Tally):
    judgements: int
    judge_agreement: float | None


class Pairwise(TypedDict):
    judge: JudgeTally | None
    human: HumanTally | None


class Requests(TypedDict):
    sent: int
    cached: int


class EvalResult(TypedDict):
    """`eval.json`."""

    test_items: int
    test_file: str
    systems: dict[str, SystemScores]
    pairwise: dict[str, Pairwise]  # by "A vs B"
    requests: Requests
    verdict: NotRequired[str]  # set once every system is scored


class AnswerOrigin(TypedDict):
    """What an eval answer was asked for; recorded with it in answers.jsonl."""

    system: str
    item: str
    shots: list[str]


class AnswerRow(TypedDict):
    """One line of answers.jsonl (the origin keys only on answers of systems, not of the judge)."""

    request: str
    answer: str
    prompt_tokens: int | None  # None: the server did not say
    completion_tokens: int | None
    latency_s: float
    model: str
    endpoint: str
    at: str
    system: NotRequired[str]
    item: NotRequired[str]
    shots: NotRequired[list[str]]


class PairOrder(TypedDict):
    """One line of human-pairs.jsonl: which system a pushed task shows first."""

    pair: str
    item: str
    token: str
    first: str
    project_id: int


class Pushed(TypedDict):
    """What `pipeline.eval.human.push` did."""

    pair: str
    project_id: int
    pushed: int
    already: int
    url: str
