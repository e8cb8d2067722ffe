"""Files written so that a crash never leaves half of one, and JSON lines in one form.

- `atomic_write` writes beside the target and renames over it, so a reader sees the old file or the new one,
  never half of either; `write_jsonl` writes a whole JSONL file that way.
- `Appender` adds one line at a time, flushed, after cutting off a torn last line that a killed run left
  (`repair_torn_tail`).
- `dumps` is the one form of a JSON line (compact, UTF-8 kept readable).

It leaves out reading (`pipeline.jsonl`) and what the rows mean (`pipeline.schema`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on a clean exit it replaces `path`, on an error it disappears."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(obj: Any) -> str:
    """One JSON line, UTF-8 kept readable."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Write all rows atomically; returns how many."""
    count = 0
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(dumps(row) + "\n")
            count += 1
    return count


def repair_torn_tail(path: Path) -> bool:
    """Cut a last line that has no newline (a write killed half-way). Returns whether anything was cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return False
        size = handle.seek(0, os.SEEK_END)
        pos = size
        while pos > 0:
            step = min(65536, pos)
            handle.seek(pos - step)
            block = handle.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                handle.truncate(pos - step + cut + 1)
                return True
            pos -= step
        handle.truncate(0)
        return True


class Appender:
    """Append JSON lines one at a time, each flushed to the OS so a killed process loses at most the line it was
    writing (and `repair_torn_tail` removes that one on the next open)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired = repair_torn_tail(path)
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- held for appends until close()

    def write(self, row: Any) -> None:
        self._handle.write(dumps(row) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
