"""The data model every stage shares: the OpenAI chat fine-tuning line, the preference (DPO) line, and the
record envelope that every file under `outputs/` holds one of per line.

A record is `{id, schema_version, kind, example, provenance, ...}`; `id` is a hash of the normalized example, so
the same example keeps the same id through generate, review and build. Stages add their own keys beside these
(`reason` for rejections, `review` for verdicts, ...).

This module checks structure only (types, roles, unknown keys). Rules that depend on a fine-tuning target
(an assistant turn present, tool answers, token limits) live in `pipeline.rules`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from pipeline.errors import InputError, Location
from pipeline.jsonl import read_jsonl

SCHEMA_VERSION = 1
ROLES = ("system", "user", "assistant", "tool")


class _Strict(BaseModel):
    # strict: a JSON "yes" is not a boolean, "1" is not a weight; fine-tuning services would refuse them too.
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class FunctionCall(_Strict):
    name: str
    arguments: str

    @field_validator("arguments")
    @classmethod
    def _json_arguments(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"is not a JSON string ({exc.args[0].split(':')[0]})") from None
        except RecursionError:
            raise ValueError("is JSON nested too deep to read") from None
        return value


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    weight: int | None = None


class FunctionDef(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Strict):
    type: Literal["function"]
    function: FunctionDef


class ChatExample(_Strict):
    """One line of an OpenAI chat fine-tuning file."""

    messages: list[Message] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    parallel_tool_calls: bool | None = None


class PreferenceInput(_Strict):
    messages: list[Message] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    parallel_tool_calls: bool | None = None


class PreferenceExample(_Strict):
    """One line of an OpenAI preference (DPO) fine-tuning file: one prompt, a better and a worse answer."""

    input: PreferenceInput
    preferred_output: list[Message] = Field(min_length=1, max_length=1)
    non_preferred_output: list[Message] = Field(min_length=1, max_length=1)

    @field_validator("preferred_output", "non_preferred_output")
    @classmethod
    def _one_assistant(cls, value: list[Message]) -> list[Message]:
        if value[0].role != "assistant":
            raise ValueError("must be one assistant message")
        return value


Kind = Literal["chat", "preference"]
EXAMPLE_MODELS: dict[str, type[ChatExample] | type[PreferenceExample]] = {
    "chat": ChatExample,
    "preference": PreferenceExample,
}


class Envelope(BaseModel):
    """What every line in a stage output has, whatever its provenance. Stages may add keys of their own."""

    model_config = ConfigDict(extra="allow")

    id: str
    schema_version: int = SCHEMA_VERSION
    kind: Kind = "chat"
    example: dict[str, Any]


class Record(Envelope):
    """The envelope of one line in a stage output, its provenance free-form (a reader that checks it declares
    its own shape on an `Envelope`)."""

    provenance: dict[str, Any] = Field(default_factory=dict)


# --- parsing with located messages ------------------------------------------------------------------------


_UNION_TAG = re.compile(r"^(str|int|bool|float|none|[a-z-]+\[.*\]|[A-Z]\w*)$")


def loc_to_field(loc: tuple[int | str, ...]) -> str:
    """Pydantic's ('messages', 2, 'role') → 'messages[2].role'. Union branch names are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _UNION_TAG.match(part):
            out += f".{part}" if out else part
    return out


def _describe(error: ErrorDetails) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "literal_error" and error["loc"][-1] == "role":
        return f"{value!r} is not one of {', '.join(ROLES)}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{_must(error['msg'])} (got {type(value).__name__})"


def _must(msg: str) -> str:
    """Pydantic's "Input should be a valid integer" → "must be an integer"."""
    text = msg.replace("Input should be a valid ", "must be a ").replace("Input should be ", "must be ")
    return re.sub(r"\ba ([aeiou])", r"an \1", text)


def validation_messages(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs for a pydantic error, one per field, in a user's words.

    A union (content: string or list of parts) fails once per branch; when one branch got further into the
    value, its deeper error is the useful one, otherwise the branches' expectations are joined.
    """
    errors = [(loc_to_field(tuple(e["loc"])), e) for e in exc.errors(include_url=False)]
    fields = [f for f, _ in errors]
    by_field: dict[str, list[ErrorDetails]] = {}
    for field, error in errors:
        deeper = any(other.startswith(field + ".") or other.startswith(field + "[") for other in fields)
        if not (deeper and error["type"].endswith("_type")):
            by_field.setdefault(field, []).append(error)
    out = []
    for field, errs in by_field.items():
        expected = [e["msg"].removeprefix("Input should be a valid ") for e in errs if e["type"].endswith("_type")]
        if len(expected) > 1:
            out.append(
                (
                    field,
                    f"{_must('Input should be a valid ' + ' or '.join(expected))} (got {type(errs[0].get('input')).__name__})",
                )
            )
        else:
            out.append((field, _describe(errs[0])))
    return out


Shape = TypeVar("Shape", bound=BaseModel)


def check_shape(model: type[Shape], row: Any, where: Location) -> Shape:
    """A line read from a stage file as `model`; a located `InputError` naming its first wrong field otherwise."""
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        field, message = validation_messages(exc)[0]
        raise InputError(message, Location(where.file, where.line, field or None)) from None


def read_records(path: Path, shown: str | Path) -> Iterator[tuple[int, Record]]:
    """The records of a stage output (a torn last line skipped), each line checked to be one."""
    for line, row in read_jsonl(path, shown, tolerate_torn_tail=True):
        yield line, check_shape(Record, row, Location(shown, line))


def parse_example(data: Any, kind: Kind = "chat") -> ChatExample | PreferenceExample:
    """Validate a raw example; raises pydantic's ValidationError (see `validation_messages`)."""
    return EXAMPLE_MODELS[kind].model_validate(data)


def dump_example(example: BaseModel) -> dict[str, Any]:
    """The example as it goes into a fine-tuning file: no null keys."""
    return example.model_dump(exclude_none=True)


# --- ids and text -----------------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """The form two texts are compared in: NFKC, case-folded, whitespace collapsed."""
    # str.split() splits at the same whitespace as the regex \s+ (both use Py_UNICODE_ISSPACE), three times faster.
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def content_text(content: str | list[Any] | None) -> str:
    """Message content as plain text, whether a string or a list of text parts (dicts or models)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p["text"] if isinstance(p, dict) else p.text for p in content)


def _messages(example: dict[str, Any]) -> list[dict[str, Any]]:
    if "input" in example:  # a preference line
        return [*example["input"]["messages"], *example["preferred_output"]]
    return example["messages"]


def example_text(example: dict[str, Any]) -> str:
    """The message texts of an example, one per line, for duplicate detection. System messages are left out:
    a project shares one system prompt, which would make every pair of examples look alike."""
    return "\n".join(content_text(m.get("content")) for m in _messages(example) if m.get("role") != "system")


def example_id(example: dict[str, Any]) -> str:
    """A stable id: the hash of the example with its texts normalized, keys sorted."""

    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return normalize_text(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    blob = json.dumps(norm(example), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_record(
    example: dict[str, Any], provenance: dict[str, Any], kind: Kind = "chat", id: str | None = None, **extra: Any
) -> Record:
    """Wrap an example (already dumped to a dict) in the envelope every stage writes; `id`, when the caller has
    already computed `example_id(example)`."""
    return Record(id=id or example_id(example), kind=kind, example=example, provenance=provenance, **extra)


ACCEPTED_VERDICTS = ("accepted", "edited")


def is_accepted(row: dict[str, Any]) -> bool:
    """Whether a reviewed line (a dict, as read from reviewed.jsonl) was kept by its reviewers."""
    review = row.get("review")
    return isinstance(review, dict) and review.get("verdict") in ACCEPTED_VERDICTS


def last_assistant(example: dict[str, Any]) -> str:
    """The text of the final assistant turn (what a reviewer corrects, what DPO compares)."""
    for message in reversed(_messages(example)):
        if message.get("role") == "assistant":
            return content_text(message.get("content"))
    return ""
