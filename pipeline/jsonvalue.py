"""Parsed JSON values checked and named: the depth and lone-surrogate check that every JSONL line and the parts of a
Label Studio export a review keeps go through (`check_value`), a walk over a value without recursion, a node's
field name as messages show it (`messages[2].role`), and text made safe to print.

- `check_value` raises `InputError` at the first node nested deeper than `MAX_DEPTH` or holding a lone surrogate
  escape (`\\ud800`, which no UTF-8 file can hold), located at the value's file, line and field.

It leaves out reading bytes into values (`pipeline.jsonl`) and what the values mean (`pipeline.schema`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.errors import InputError, Location

MAX_DEPTH = 100  # a chat example with tools nests about 10 deep; 100 leaves room and keeps every walk shallow


def json_kind(value: Any) -> str:
    """A value's JSON type name, for messages: object, array, string, number, true/false, null."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def printable(text: str) -> str:
    """Text safe to print whatever it holds (a lone surrogate becomes its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
