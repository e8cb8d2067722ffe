"""The pairwise LLM judge: for two systems, which answer of each item is better, asked twice with the order swapped.

The judge sees the task description, the conversation, the reference answer and the two answers as "A" and "B",
and answers with one word. Each item is judged in both orders; a system wins an item only when both orders pick
its answer, anything else is a tie, so a judge that prefers a position turns into ties instead of a false winner.
The result is wins, ties and losses of the first system, and its score (a win 1, a tie 0.5) with a bootstrap
interval. Requests go through the same cached, budgeted client as the answers.

It leaves human judgement to `pipeline.eval.human`.
"""

from __future__ import annotations

import re

from pipeline.config import Config
from pipeline.eval.results import AnswerRow, Tally
from pipeline.eval.scores import summary
from pipeline.eval.systems import EvalItem
from pipeline.llm.judging import ask, transcript
from pipeline.llm.request import Endpoint, PlannedRequest

JUDGE_SYSTEM = (
    "You judge which of two answers better fulfils a request, using the task description and the "
    "reference answer as the standard. Reply with one word: A, B or tie."
)
_WORD = re.compile(r"\b(A|B|tie)\b", re.IGNORECASE)


def verdict_of(text: str) -> str:
    """'A', 'B' or 'tie' from a judge's reply; anything unreadable counts as a tie."""
    found = _WORD.search(text)
    return found.group(1).upper() if found and found.group(1).lower() != "tie" else "tie"


def judge_request(config: Config, endpoint: Endpoint, item: EvalItem, first: str, second: str) -> PlannedRequest:
    text = (
        f"Task: {config.task.description.strip() or config.task.name}\n\n"
        f"Conversation:\n{transcript(item.prompt)}\n\nReference answer:\n{item.reference}\n\n"
        f"Answer A:\n{first}\n\nAnswer B:\n{second}\n\nWhich answer is better: A, B or tie?"
    )
    return ask(endpoint, JUDGE_SYSTEM, text, 8)


def pair_requests(
    config: Config, endpoint: Endpoint, items: list[EvalItem], a: list[str], b: list[str]
) -> list[tuple[PlannedRequest, PlannedRequest]]:
    """For each item, the judge's request with a's answer first and the one with b's answer first."""
    return [
        (judge_request(config, endpoint, item, x, y), judge_request(config, endpoint, item, y, x))
        for item, x, y in zip(items, a, b, strict=True)
    ]


def outcomes(pairs: list[tuple[PlannedRequest, PlannedRequest]], replies: dict[str, AnswerRow]) -> list[str]:
    """'win', 'tie' or 'loss' of the first system on each item: a win or loss only when both orders agree."""
    out = []
    for forward, swapped in pairs:
        one, two = verdict_of(replies[forward.key]["answer"]), verdict_of(replies[swapped.key]["answer"])
        out.append("win" if (one, two) == ("A", "B") else "loss" if (one, two) == ("B", "A") else "tie")
    return out


def tally(results: list[str], resamples: int) -> Tally:
    """Wins, ties, losses, and the first system's score (win 1, tie 0.5) with its interval."""
    points = [{"win": 1.0, "tie": 0.5, "loss": 0.0}[r] for r in results]
    return {
        "wins": results.count("win"),
        "ties": results.count("tie"),
        "losses": results.count("loss"),
        "score": summary(points, resamples) if points else None,
    }
