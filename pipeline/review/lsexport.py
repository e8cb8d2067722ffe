"""Reading a Label Studio JSON export (a file saved from the UI, or an export snapshot's download) into tasks that
`pipeline.review.pull` can settle without another check.

Every shape the review stage relies on is checked here: a list of tasks, each with an integer `id`, `data`
holding the candidate's id and a valid chat `example`, and `annotations` whose ids, results, choices, texts and
reviewers have the types Label Studio gives them. An export is one JSON document, not lines, so a problem is
located by file and field (`export.json: [3].annotations[0].result`). A UTF-8 byte-order mark is accepted and
reported. NaN, infinities, lone surrogates and nesting deeper than `MAX_DEPTH` are refused here (the last two by
`jsonvalue.check_value`, the walk every JSONL line gets), because a reviewed record holding them could not be written,
or read back, later.

It leaves out what the annotations mean (`pipeline.labelstudio.tasks.read_annotations`) and how tasks settle into
reviews (`pipeline.review.pull`).
"""

from __future__ import annotations

import codecs
import json
import math
import re
from pathlib import Path
from typing import Any, NotRequired

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from pipeline.errors import InputError, Location
from pipeline.jsonvalue import check_value
from pipeline.schema import parse_example, validation_messages

MAX_DEPTH = 64
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
HINT = "export with Label Studio's JSON format (not JSON-MIN or CSV) from the project `ftboot review push` made"


# strict: "12" is not a task id; extra keys are Label Studio's business. TypedDicts, not models: nothing is
# built from the check, which makes it twice as fast on a big export.
_SHAPE = ConfigDict(extra="ignore", strict=True)


@with_config(_SHAPE)
class _Value(TypedDict, total=False):
    text: list[str] | str | None
    choices: list[str] | None


@with_config(_SHAPE)
class _Item(TypedDict, total=False):
    from_name: str | None
    value: _Value


@with_config(_SHAPE)
class User(TypedDict, total=False):  # no underscore: a union branch's name must read as one (`schema.loc_to_field`)
    id: int | None
    email: str | None


@with_config(_SHAPE)
class _Annotation(TypedDict):
    id: int
    was_cancelled: NotRequired[bool | None]
    result: NotRequired[list[_Item] | None]
    completed_by: NotRequired[int | User | None]
    lead_time: NotRequired[float | None]
    updated_at: NotRequired[str | None]
    created_at: NotRequired[str | None]


@with_config(_SHAPE)
class _Provenance(TypedDict, total=False):
    shots: list[str | int] | None


@with_config(_SHAPE)
class _Data(TypedDict):
    candidate_id: str
    example: Any  # checked by `parse_example`, which names its fields
    provenance: NotRequired[_Provenance | None]


@with_config(_SHAPE)
class _Task(TypedDict):
    id: int
    project: NotRequired[int | None]
    data: _Data
    annotations: list[_Annotation]


_TASKS = TypeAdapter(list[_Task])


class _NotFinite(ValueError):
    pass


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


def _refuse_constant(text: str) -> float:
    raise _NotFinite(text)


def read_export(raw: bytes, shown: str | Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """The tasks of an export, checked; anything else raises one `InputError` naming `shown` and the field.
    A note about a byte-order mark goes to `notes`."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
        if notes is not None:
            notes.append(f"{shown}: file starts with a byte-order mark; read without it")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", Location(shown), hint=HINT
        ) from None
    try:
        tasks = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at column {exc.colno}", Location(shown, exc.lineno), hint=HINT) from None
    except _NotFinite as exc:
        raise InputError(f"holds the number {exc.args[0]}, which JSON has no room for", Location(shown)) from None
    except RecursionError:
        raise InputError(f"nested more than {MAX_DEPTH} deep; not a Label Studio export", Location(shown)) from None
    if not isinstance(tasks, list):
        raise InputError(f"must be a list of tasks (got {_kind(tasks)})", Location(shown), hint=HINT)
    if _ESCAPED_SURROGATE.search(text):  # only an escape can make one; most exports hold none: skip the walk
        check_values(tasks, Location(shown))
    try:
        _TASKS.validate_python(tasks)
    except ValidationError as exc:
        raise _first(validation_messages(exc), shown, "") from None
    for index, task in enumerate(tasks):
        data = task["data"]
        for key in ("example", "provenance"):  # the parts of a task that a reviewed record keeps
            check_values(data.get(key), Location(shown, field=f"[{index}].data.{key}"))
        try:
            parse_example(data["example"])
        except ValidationError as exc:
            raise _first(validation_messages(exc), shown, f"[{index}].data.example") from None
    return tasks


def _first(problems: list[tuple[str, str]], shown: str | Path, prefix: str) -> InputError:
    field, message = problems[0]
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return InputError(message + more, _at(Location(shown, field=prefix or None), field), hint=HINT)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def check_values(value: Any, where: Location) -> None:
    """Refuse lone surrogates (in keys or texts) and nesting deeper than `MAX_DEPTH`, naming the field under
    `where`: `jsonvalue.check_value` with an export's depth limit."""
    check_value(value, where, MAX_DEPTH)


def _at(where: Location, path: str) -> Location:
    return Location(where.file, where.line, ".".join(filter(None, [where.field, path])).replace(".[", "[") or None)
