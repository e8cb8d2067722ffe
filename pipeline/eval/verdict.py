"""The verdict in the playbook's terms, decided from intervals, never from a single mean.

Two systems are compared on chrF by the paired bootstrap interval of their difference: the candidate (the best
fine-tuned system, else the best system) against the baseline (the best other one). Above zero: the candidate is
better; below zero: the baseline is; inside ±`eval.margin` points: as good, and then the cheaper per call wins;
otherwise the interval is too wide, and the number of items that would narrow it to the margin is estimated
(the width of an interval shrinks with the square root of the number of items).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Side:
    name: str
    fine_tuned: bool
    cost_per_1k: float | None


def _label(side: Side) -> str:
    return f"the fine-tune ({side.name})" if side.fine_tuned else f"the prompt ({side.name})"


def decide(candidate: Side, baseline: Side, diff_ci: tuple[float, float], items: int, margin: float) -> str:
    low, high = diff_ci
    shown = f"chrF difference {low:+.1f} to {high:+.1f}"
    if low > 0:
        if candidate.fine_tuned and not baseline.fine_tuned:
            return f"the fine-tune is better on quality ({candidate.name} over {baseline.name}, {shown})"
        return f"{candidate.name} is better on quality than {baseline.name} ({shown})"
    if high < 0:
        if candidate.fine_tuned and not baseline.fine_tuned:
            return f"the prompt is better than the fine-tune: keep prompting ({baseline.name} over {candidate.name}, {shown})"
        return f"{baseline.name} is better on quality than {candidate.name} ({shown})"
    if -margin <= low and high <= margin:
        cheap, dear = sorted(
            (candidate, baseline), key=lambda s: s.cost_per_1k if s.cost_per_1k is not None else math.inf
        )
        if cheap.cost_per_1k and dear.cost_per_1k and cheap.cost_per_1k < dear.cost_per_1k:
            return (
                f"{_label(cheap)} is as good (within the intervals) and {dear.cost_per_1k / cheap.cost_per_1k:.1f}× "
                f"cheaper per call than {_label(dear)}"
            )
        if candidate.fine_tuned and not baseline.fine_tuned:
            return f"the few-shot prompt ({baseline.name}) is as good as the fine-tune (within the intervals): keep prompting"
        return f"{candidate.name} and {baseline.name} are as good (within the intervals, {shown})"
    half_width = (high - low) / 2
    need = math.ceil(items * (half_width / margin) ** 2)
    return f"not enough test items to tell {candidate.name} from {baseline.name} (need about {need}, have {items})"
