"""JSONL files the way every stage needs them: streamed reads that know their line numbers, atomic whole-file
writes, and crash-safe appends.

- `read_jsonl` yields `(line_number, object)` and raises `InputError` naming file and line for broken JSON,
  bytes that are not UTF-8 and lines too long to be one example. Blank lines are skipped.
- `atomic_write` writes beside the target and renames over it, so a reader sees the old file or the new one,
  never half of either.
- `Appender` adds one line at a time, flushed, after cutting off a torn last line that a killed run left.

It does not validate what the objects mean; that is `pipeline.schema`'s job.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError, Location

MAX_LINE_BYTES = 4 * 1024 * 1024


def read_jsonl(
    path: Path,
    display: str | Path | None = None,
    tolerate_torn_tail: bool = False,
    on_error: Callable[[InputError], None] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object) for each non-blank line.

    A bad line raises `InputError`, or, with `on_error`, is handed to it and skipped so that every bad line of
    a file can be reported. With `tolerate_torn_tail`, a last line without its newline that does not parse is
    taken for the remains of a killed write and skipped (stage outputs); otherwise it is an error like any other.
    """
    def fail(error: InputError) -> None:
        if on_error is None:
            raise error
        on_error(error)

    shown = display or path
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = Location(shown, number)
            if len(raw) > MAX_LINE_BYTES:
                fail(InputError(f"line is {len(raw) / 1e6:.1f} MB; one example may be at most {MAX_LINE_BYTES // 2**20} MB", where))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                fail(InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})", where))
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                if tolerate_torn_tail and not raw.endswith(b"\n"):
                    return
                fail(InputError(f"invalid JSON: {exc.msg} at column {exc.colno}", where))
                continue
            yield number, value


def count_lines(path: Path) -> int:
    """Number of complete lines in a file (0 when it does not exist); cheap enough for `status`."""
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


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
        self._handle = open(path, "a", encoding="utf-8")

    def write(self, row: Any) -> None:
        self._handle.write(dumps(row) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
