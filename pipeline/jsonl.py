"""JSONL files the way every stage needs them: streamed reads that know their line numbers, atomic whole-file
writes, and crash-safe appends.

- `open_regular` opens a file only when it is a regular one (after following links), without ever blocking on
  a FIFO or reading a device, so a seed named `x.jsonl` that is a directory, a pipe or `/dev/zero` is an error.
- `read_jsonl` yields `(line_number, object)` and raises `InputError` naming file, line and, where there is one,
  field for: broken JSON, bytes that are not UTF-8, a line too long to be one example (found without reading it
  whole), nesting deeper than `MAX_DEPTH`, a duplicate key, a lone surrogate escape (`\\ud800`, which no UTF-8
  file can hold) and a line that is not a JSON object. Blank lines are skipped; a byte-order mark at the start
  is accepted with an `InputWarning`.
- `atomic_write` writes beside the target and renames over it, so a reader sees the old file or the new one,
  never half of either.
- `Appender` adds one line at a time, flushed, after cutting off a torn last line that a killed run left.

It does not validate what the objects mean; that is `pipeline.schema`'s job.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from pipeline.errors import InputError, InputWarning, Location

MAX_LINE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100  # a chat example with tools nests about 10 deep; 100 leaves room and keeps every walk shallow
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


def json_kind(value: Any) -> str:
    """A value's JSON type name, for messages: object, array, string, number, true/false, null."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def printable(text: str) -> str:
    """Text safe to print whatever it holds (a lone surrogate becomes its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


def walk(value: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, node) for every node of a parsed JSON value, without recursion (the value may be deep)."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack += [((*path, key), item) for key, item in reversed(node.items())]
        elif isinstance(node, list):
            stack += [((*path, i), item) for i, item in reversed(list(enumerate(node)))]


def field_name(path: Iterable[Any]) -> str:
    """('messages', 2, 'role') → 'messages[2].role'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{printable(str(part))}" if out else printable(str(part))
    return out


def _under(where: Location, path: Iterable[Any]) -> Location:
    """The location of the node at `path` in a value found at `where` (whose field, if any, is the value's)."""
    field = field_name(path)
    if where.field and field:
        field = where.field + ("" if field.startswith("[") else ".") + field
    return Location(where.file, where.line, field or where.field or None)


def too_deep(path: tuple[Any, ...], where: Location, max_depth: int = MAX_DEPTH) -> InputError:
    return InputError(f"nested deeper than {max_depth} levels", _under(where, path[:3]))


def check_value(value: Any, where: Location, max_depth: int = MAX_DEPTH) -> None:
    """Raise the located `InputError` for the first node of a parsed JSON value that no line could carry: one
    nested deeper than `max_depth`, or a key or text holding a lone surrogate (only an escape such as `\\ud800`
    makes one, and no UTF-8 file can hold it). Loops, no recursion, so no value can exhaust the stack here.
    Used for every line `read_jsonl` reads and for the parts of a Label Studio export a review keeps."""
    if _carried(value, max_depth):
        return
    for path, node in walk(value):  # in document order, to name the first problem
        if len(path) > max_depth:
            raise too_deep(path, where, max_depth)
        texts = [node] if isinstance(node, str) else list(node) if isinstance(node, dict) else []
        for text in texts:
            if not encodable(text):
                field = path if isinstance(node, str) else (*path, text)
                raise InputError(
                    "holds a lone surrogate escape (such as \\ud800), which is not text", _under(where, field)
                )
    raise AssertionError("unreachable: `_carried` refused only what the walk finds")


def _carried(value: Any, max_depth: int) -> bool:
    """Whether `check_value` passes the value: the same test without building paths, which is all that the
    values that pass need (nearly all of them; a review pull checks two per task)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and not encodable(node):
                return False
        elif isinstance(node, dict | list):
            if node and depth >= max_depth:
                return False
            for key in node if isinstance(node, dict) else ():
                if not key.isascii() and not encodable(key):
                    return False
            stack += [(item, depth + 1) for item in (node.values() if isinstance(node, dict) else node)]
    return True


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


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
