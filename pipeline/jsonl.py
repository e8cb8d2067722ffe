"""JSONL files read the way every stage needs them: streamed, each line located by its number, every bad line
named.

- `open_regular` opens a file only when it is a regular one (after following links), without ever blocking on
  a FIFO or reading a device, so a seed named `x.jsonl` that is a directory, a pipe or `/dev/zero` is an error.
- `read_jsonl` yields `(line_number, object)` and raises `InputError` naming file, line and, where there is one,
  field for: broken JSON, bytes that are not UTF-8, a line too long to be one example (found without reading it
  whole), nesting deeper than `MAX_DEPTH`, a duplicate key, a lone surrogate escape (`\\ud800`, which no UTF-8
  file can hold) and a line that is not a JSON object. Blank lines are skipped; a byte-order mark at the start
  is accepted with an `InputWarning`.

It leaves out writing (`pipeline.writes`: atomic writes, flushed appends, torn-line repair), the checks of a
parsed value (`pipeline.jsonvalue`) and what the objects mean (`pipeline.schema`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.errors import InputError, InputWarning, Location
from pipeline.jsonvalue import MAX_DEPTH, check_value, field_name, json_kind, printable, too_deep, walk

MAX_LINE_BYTES = 4 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: Path, shown: str | Path | None = None) -> BinaryIO:
    """`path` opened for binary reading; `InputError` unless it is (or links to) a regular file."""
    where = Location(shown or path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever before fstat could refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("does not exist", where) from None
    except OSError as exc:
        kind = "a directory" if exc.errno == errno.EISDIR else exc.strerror
        raise InputError(f"cannot be read ({kind})", where) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise InputError(f"is {kind}, not a regular file", where)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


class _DuplicateKey(Exception):
    pass


class _InvalidJSON(InputError):
    """Text that is not JSON at all: what a write killed half-way leaves as a file's last line."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _DuplicateKey
    return value


# One decoder each: `json.loads` with a hook would build a new decoder for every line.
_UNIQUE = json.JSONDecoder(object_pairs_hook=_unique_keys)

_DUPLICATE = object()  # the key under which `_marking_keys` notes an object's repeated key


def _marking_keys(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    value: dict[Any, Any] = {}
    for key, item in pairs:
        if key in value:
            value.setdefault(_DUPLICATE, key)
        value[key] = item
    return value


def parse_line(raw: bytes, where: Location) -> Any:
    """One JSONL line as a JSON object, or the located `InputError` saying why it cannot be one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})", where) from None
    try:
        value = _UNIQUE.decode(text)
    except json.JSONDecodeError as exc:
        raise _InvalidJSON(f"invalid JSON: {exc.msg} at column {exc.colno}", where) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", where) from None
    except _DuplicateKey:
        marked = json.loads(text, object_pairs_hook=_marking_keys)
        for path, node in walk(marked):
            if len(path) > MAX_DEPTH:
                raise too_deep(path, where) from None
            if isinstance(node, dict) and _DUPLICATE in node:
                key = node[_DUPLICATE]
                raise InputError(
                    f"duplicate key {printable(repr(key))}; a key may appear once",
                    Location(where.file, where.line, field_name((*path, key))),
                ) from None
        raise  # unreachable: `_marking_keys` marks what `_unique_keys` refused
    # The check walks the whole value, so it runs only when the line could fail it.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or _SURROGATE_ESCAPE.search(raw):
        check_value(value, where)
    if not isinstance(value, dict):
        raise InputError(f"must be a JSON object, not {json_kind(value)}", where)
    return value


def _skip_rest_of_line(handle: BinaryIO) -> int:
    """Read past the rest of an over-long line in blocks, keeping none of it; the bytes skipped."""
    skipped = 0
    while block := handle.readline(1 << 20):
        skipped += len(block)
        if block.endswith(b"\n"):
            break
    return skipped


def read_jsonl(
    path: Path,
    display: str | Path | None = None,
    tolerate_torn_tail: bool = False,
    on_error: Callable[[InputError], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
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
    with open_regular(path, shown) as handle:
        number = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            where = Location(shown, number)
            if number == 1 and raw.startswith(BOM):
                warnings.warn(
                    InputWarning("file starts with a byte-order mark (read as UTF-8 without it)", Location(shown)),
                    stacklevel=2,
                )
                raw = raw[len(BOM) :]
            if len(raw) > MAX_LINE_BYTES:
                size = len(raw) + (0 if raw.endswith(b"\n") else _skip_rest_of_line(handle))
                fail(
                    InputError(
                        f"line is {size / 1e6:.1f} MB; one example may be at most {MAX_LINE_BYTES // 2**20} MB", where
                    )
                )
                continue
            if not raw.strip():
                continue
            try:
                value = parse_line(raw, where)
            except _InvalidJSON as exc:
                if tolerate_torn_tail and not raw.endswith(b"\n"):
                    return
                fail(exc)
                continue
            except InputError as exc:
                fail(exc)
                continue
            yield number, value


def count_lines(path: Path) -> int:
    """Number of complete lines in a file (0 when it does not exist); cheap enough for `status`."""
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
