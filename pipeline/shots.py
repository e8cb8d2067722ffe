"""Which shots a request shows: k distinct examples out of a pool, rotating so that across many requests every
example is shown about equally often and the same request number always draws the same shots.

Shared by generation (the planner's few-shot prompts) and eval (a k-shot system's prompts). What the shots look
like in a prompt is each stage's own business.
"""

from __future__ import annotations

import functools
import random


@functools.lru_cache(maxsize=16)
def _shuffled(n: int, salt: str, epoch: int) -> tuple[int, ...]:
    order = list(range(n))
    random.Random(f"{salt}:{epoch}").shuffle(order)
    return tuple(order)


@functools.lru_cache(maxsize=16)
def _pass(n: int, k: int, salt: str, epoch: int) -> tuple[int, ...]:
    """One shuffled pass over the pool whose first k-1 items avoid the previous pass's last k-1, so that a window
    across the two never meets an item twice. Only middle items are swapped in, so every pass's tail stays its
    plain shuffle and the passes need not be computed in order."""
    order = list(_shuffled(n, salt, epoch))
    if epoch == 0 or k < 2:
        return tuple(order)
    previous_tail = set(_shuffled(n, salt, epoch - 1)[n - (k - 1) :])
    middle = range(k - 1, n - (k - 1))
    for head in range(k - 1):
        if order[head] in previous_tail:
            swap = next((q for q in middle if order[q] not in previous_tail), None)
            if swap is None:  # a pool barely larger than k: `rotation` skips the repeat instead
                break
            order[head], order[swap] = order[swap], order[head]
    return tuple(order)


def rotation(n: int, draw: int, k: int, salt: str = "shots") -> list[int]:
    """k distinct indices out of n for draw number `draw`: window `draw` of a stream of shuffled passes, so every
    index is drawn once per pass."""
    if k >= n:
        shift = draw % n if n else 0
        return [(j + shift) % n for j in range(n)]
    picked: list[int] = []
    position = draw * k
    while len(picked) < k:
        epoch, offset = divmod(position, n)
        index = _pass(n, k, salt, epoch)[offset]
        if index not in picked:
            picked.append(index)
        position += 1
    return picked
