"""How well the candidate judge's 1-5 scores predicted the reviewers' verdicts: ROC AUC (Mann-Whitney, ties half)
and the acceptance rate per score, for `review pull`'s summary.

It reads scores from the reviewed lines' provenance or, for candidates judged after they were pushed, from
candidates.jsonl and rejected.jsonl. Scoring itself is `pipeline.generation.judge`'s job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, TypedDict

from pipeline.project import Project
from pipeline.schema import is_accepted, read_records


def roc_auc(positive: list[float], negative: list[float]) -> float | None:
    """The chance that a random accepted candidate scored higher than a random rejected one, ties counting half:
    the Mann-Whitney U over the product of the group sizes, which is the area under the ROC curve."""
    if not positive or not negative:
        return None
    below = Counter(negative)
    wins = sum(sum(n for s, n in below.items() if s < p) + 0.5 * below[p] for p in positive)
    return wins / (len(positive) * len(negative))


class ScoreRate(TypedDict):
    reviewed: int
    acceptance_rate: float


class JudgeAgreement(TypedDict):
    """How the judge's scores went with the reviewers' verdicts."""

    scored: int
    roc_auc: float | None  # None when every scored line had the same verdict
    per_score: dict[str, ScoreRate]  # by score, "1" to "5"


def agreement(reviewed: Iterable[dict[str, Any]], scores: dict[str, int]) -> JudgeAgreement | None:
    """How the judge's scores went with the reviewers' verdicts, over the reviewed lines whose candidate was
    scored (in its provenance, else in `scores` by candidate id: judged after it was pushed). None: none was."""
    pairs = []
    for row in reviewed:
        review = row.get("review") or {}
        score = (row.get("provenance") or {}).get("judge_score", scores.get(review.get("generated_id", "")))
        if isinstance(score, int) and not isinstance(score, bool):
            pairs.append((score, is_accepted(row)))
    if not pairs:
        return None
    auc = roc_auc([s for s, a in pairs if a], [s for s, a in pairs if not a])
    per_score: dict[str, ScoreRate] = {}
    for score in sorted({s for s, _ in pairs}):
        verdicts = [a for s, a in pairs if s == score]
        per_score[str(score)] = {"reviewed": len(verdicts), "acceptance_rate": round(sum(verdicts) / len(verdicts), 3)}
    return {"scored": len(pairs), "roc_auc": round(auc, 3) if auc is not None else None, "per_score": per_score}


def candidate_scores(project: Project) -> dict[str, int]:
    """Judge scores by candidate id, from candidates.jsonl and rejected.jsonl (low scores end up there)."""
    out: dict[str, int] = {}
    for path in (project.paths.candidates, project.paths.rejected):
        if path.exists():
            for _, record in read_records(path, project.show(path)):
                score = record.provenance.get("judge_score")
                if isinstance(score, int) and not isinstance(score, bool):
                    out.setdefault(record.id, score)
    return out
