"""The one shape of a progress report: `progress(step, done, total)`, with `total` None while it is unknown.

Batch sending and collecting, build, review push and eval call one as they go; the command line's display
(`pipeline.cli.common.progress_bar`) is the one they are given there, and `quiet`, which reports nothing, is the
default for callers who want none. It leaves out an online generate run's live figures (rate, tokens, cost): that
run hands its whole `Summary` to its display, which shows more than a count.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int | None], None]


def quiet(step: str, done: int, total: int | None) -> None:
    """Report nothing."""
