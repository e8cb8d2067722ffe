"""Reading examples out of what a model wrote, tolerantly, item by item.

A reply becomes a list of `ParsedItem`s in the order they appear, each either an object to validate or a problem (a
short code and a detail) that becomes a line of `rejected.jsonl`. Nothing is dropped silently except prose.

- JSON replies (chat mode): any prose around the JSON, code fences, one object holding `{"examples": [...]}`, a
  bare list, or several objects one after another (JSONL); trailing commas are forgiven. When the reply was cut
  off, the complete examples before the cut are kept and the cut-off one is a `truncated` item.
- Numbered replies (completion mode): `### Example N` blocks with `USER:`/`ASSISTANT:`/`SYSTEM:` turns closed by
  `### END`; only the numbers that were asked for count, and text after the last `### END` is ignored.

Both take any text and never raise: JSON that Python cannot read (nested deeper than `MAX_DEPTH`, a number of
thousands of digits) or that holds a lone UTF-16 surrogate, which no file can store, is an `unparseable` item.

Whether an object is a valid example is not decided here (see `pipeline.generation.filters`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.generation.planner import END, ROLE_LABELS, header

_DECODER = json.JSONDecoder()
_START = re.compile(r"[{\[]")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_CONTAINER_KEY = re.compile(r'\{\s*"(\w+)"\s*:\s*\[')
_HEADER = re.compile(r"^###\s*Example\s+([0-9]{1,9})\s*$", re.MULTILINE)
_TURN = re.compile(rf"^({'|'.join(ROLE_LABELS.values())}):[ \t]?(.*)$")
_ROLE_OF = {label: role for role, label in ROLE_LABELS.items()}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
MAX_DEPTH = 32  # an example with tool calls nests 7 deep; far deeper is no example, and risks Python's stack


@dataclass(frozen=True)
class ParsedItem:
    """One thing found in a reply: an object to validate, or a problem `(code, detail)`; `raw` is the text a
    problem was found in, or a numbered block's text."""

    value: Any = None
    problem: tuple[str, str] | None = None
    raw: str = ""


def _span_end(text: str, start: int) -> int | None:
    """The index after the bracket that closes the one at `start`, or None when the text ends first."""
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _flatten(value: Any) -> list[ParsedItem]:
    """A decoded JSON value → example candidates: a container's items, a list's items, or the object itself.
    Their `raw` is left empty: the object itself is what a rejection shows."""
    if isinstance(value, dict) and "messages" not in value:
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:  # {"examples": [...]} or any other single list of them
            value = lists[0]
    if isinstance(value, list):
        return [item for v in value for item in _flatten(v)]
    if isinstance(value, dict):
        return [ParsedItem(value)]
    return [
        ParsedItem(
            problem=("not-an-example", f"a JSON {type(value).__name__} where an example object belongs"),
            raw=json.dumps(value, ensure_ascii=False),
        )
    ]


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        if children and depth >= MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _decoded(value: Any, span: str) -> list[ParsedItem]:
    """The example candidates of a decoded JSON value, or the problem that keeps it from being stored."""
    # Fewer opening brackets than MAX_DEPTH cannot nest deeper: counting them is far cheaper than the walk.
    if span.count("{") + span.count("[") >= MAX_DEPTH and _too_deep(value):
        return [ParsedItem(problem=("unparseable", f"JSON nested more than {MAX_DEPTH} levels deep"), raw=span)]
    if _SURROGATE_ESCAPE.search(span):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return [
                ParsedItem(
                    problem=("unparseable", "a string holds a lone UTF-16 surrogate, which is not text"), raw=span
                )
            ]
    return _flatten(value)


def parse_json_reply(text: str, finish_reason: str | None = "stop") -> list[ParsedItem]:
    """Every example object in a reply, with a problem item for each part that cannot be read."""
    items: list[ParsedItem] = []
    position = 0
    end: int | None
    while (found := _START.search(text, position)) is not None:
        start = found.start()
        try:
            value, end = _DECODER.raw_decode(text, start)
            items += _decoded(value, text[start:end])
            position = end
            continue
        except json.JSONDecodeError as exc:
            error = exc.msg
        except (ValueError, RecursionError) as exc:
            # Valid JSON Python refuses: stepping inside would meet the same again, so the whole span is one item.
            end = _span_end(text, start)
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            items.append(
                ParsedItem(problem=("unparseable", f"JSON Python cannot read ({reason})"), raw=text[start:end])
            )
            if end is None:
                break
            position = end
            continue
        end = _span_end(text, start)
        if end is not None:
            chunk = text[start:end]
            try:
                items += _decoded(json.loads(_TRAILING_COMMA.sub(r"\1", chunk)), chunk)
                position = end
                continue
            except (ValueError, RecursionError):
                pass
        # A container that is cut off or broken somewhere: step inside it and read its examples one by one.
        container = _CONTAINER_KEY.match(text, start)
        if text[start] == "[" or (container and container.group(1) != "messages"):
            position = container.end() if container else start + 1
            continue
        if end is None:
            reason = "the reply hit the output limit" if finish_reason == "length" else "the JSON ends unclosed"
            items.append(ParsedItem(problem=("truncated", reason), raw=text[start:]))
            break
        items.append(ParsedItem(problem=("unparseable", f"invalid JSON: {error}"), raw=text[start:end]))
        position = end
    return items


def _turns(block: str) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = []
    for line in block.splitlines():
        turn = _TURN.match(line)
        if turn:
            messages.append({"role": _ROLE_OF[turn.group(1)], "content": turn.group(2)})
        elif messages:
            messages[-1]["content"] += "\n" + line
    for message in messages:
        message["content"] = message["content"].strip()
    return messages


def parse_numbered(text: str, first: int, count: int, finish_reason: str | None = "stop") -> list[ParsedItem]:
    """Examples `first` … `first+count-1` of a continued numbered pattern (the prompt ended with `first`'s header)."""
    full = f"{header(first)}\n{text}"
    marks = list(_HEADER.finditer(full))
    items: list[ParsedItem] = []
    for index, mark in enumerate(marks):
        number = int(mark.group(1))
        if not first <= number < first + count:
            continue
        is_last = index + 1 == len(marks)
        block = full[mark.end() : marks[index + 1].start() if not is_last else len(full)]
        closed = END in block
        block = block.split(END, 1)[0]
        if not closed and is_last and finish_reason == "length":
            items.append(
                ParsedItem(
                    problem=("truncated", "the reply hit the output limit inside this example"), raw=block.strip()
                )
            )
            continue
        messages = _turns(block)
        if not messages:
            items.append(
                ParsedItem(
                    problem=("unparseable", f"example {number} has no USER:/ASSISTANT: turns"), raw=block.strip()
                )
            )
            continue
        items.append(ParsedItem({"messages": messages}, raw=block.strip()))
    return items
