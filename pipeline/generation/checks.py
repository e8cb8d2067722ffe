"""The screen's filters: one small class each, with one method, `reason`, that returns None to keep a candidate
or why it is refused, `(code, detail)` (the shape of datatrove's filters). `pipeline.generation.filters.Screen`
runs them in order, the first refusal winning:

  schema          `Schema`: the object is not a valid chat example (`field: problem`)
  too-long        `Fits`: the example's JSON is over `MAX_EXAMPLE_CHARS`, so its record could not be read back
  (none)          `SystemPrompt` adds the task's system prompt to an example without one; it refuses nothing
  empty           `Empty`: no assistant reply, or an empty message
  tool-call       `ToolCalls`: a call to a function the project does not declare, or arguments that do not
                  satisfy its `parameters` JSON Schema, with the message, call and argument path
  too-short/long  `Length`: the non-system text is outside `generate.min_chars` … `generate.max_chars`
  blocklisted     `Blocklist`: it contains a phrase from `generate.blocklist`

A filter sees a `Draft` and remembers nothing of other candidates, so the screen may run them in another process.
It leaves out the duplicate index (`Screen.decide`, which needs every candidate so far) and reading the reply
(`pipeline.generation.parsing`).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from pipeline.config import CONFIG_NAME, Config
from pipeline.errors import InputError, Location
from pipeline.jsonl import MAX_LINE_BYTES
from pipeline.schema import Record, content_text, dump_example, normalize_text, parse_example, validation_messages
from pipeline.writes import dumps

Verdict = dict[str, Any]  # {} when accepted, else {"reason": {code, detail}, "neighbour"?, "similarity"?}
Reason = tuple[str, str]  # (code, detail): why a filter refuses a candidate
MAX_EXAMPLE_CHARS = MAX_LINE_BYTES // 16  # at most 4 bytes a character: a quarter of the longest line read back
MAX_DETAIL = 500


def dedup_text(example: dict[str, Any]) -> str:
    """The text compared for duplicates: every message but system ones, which all examples share."""
    return "\n".join(content_text(m.get("content")) for m in example.get("messages", []) if m.get("role") != "system")


def reject(code: str, detail: str, **extra: Any) -> Verdict:
    """The verdict refusing a candidate, its detail cut at `MAX_DETAIL`."""
    return {"reason": {"code": code, "detail": detail[:MAX_DETAIL]}, **extra}


@dataclass
class Screened:
    """An item after `Screen.prepare`: a rejection, or what `Screen.decide` needs to compare it with the
    candidates so far (its text, MinHash signature, id and nearest seed)."""

    example: dict[str, Any] | None
    verdict: Verdict  # a rejection, or {} until the duplicate index decides
    raw: str = ""  # the text an item that is not an example was found in
    value: Any = None  # an object that is not an example
    text: str = ""
    sig: Any = None
    id: str | None = None
    nearest: tuple[str, float] | None = None


@dataclass
class Draft:
    """A candidate as the filters see it: the object found in the reply, and the example `Schema` reads from it
    (empty until then), which later filters may complete."""

    value: Any
    example: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def text(self) -> str:
        """What the length, blocklist and duplicate checks look at (`dedup_text`), worked out once."""
        return dedup_text(self.example)


class Filter(ABC):
    """One check of the screen: `reason` is None to keep the draft, or why it is refused `(code, detail)`.
    `rejected` is what a refusal keeps: the example, unless a filter says otherwise."""

    @abstractmethod
    def reason(self, draft: Draft) -> Reason | None: ...

    def rejected(self, draft: Draft, reason: Reason) -> Screened:
        return Screened(draft.example, reject(*reason))


class Schema(Filter):
    """`schema`: the object is not a valid chat example. Otherwise the example, as it will be stored, is the
    draft's from here on."""

    def reason(self, draft: Draft) -> Reason | None:
        try:
            draft.example = dump_example(parse_example(draft.value))
        except ValidationError as exc:
            field, message = validation_messages(exc)[0]
            return "schema", f"{field}: {message}" if field else message
        return None

    def rejected(self, draft: Draft, reason: Reason) -> Screened:
        return Screened(None, reject(*reason), value=draft.value)


class Fits(Filter):
    """`too-long`: the example's JSON could not be read back from one line; the reject keeps that JSON as its raw
    text (cut to `RAW_KEEP`) instead of the example."""

    def reason(self, draft: Draft) -> Reason | None:
        if (size := len(dumps(draft.example))) > MAX_EXAMPLE_CHARS:
            return "too-long", f"the example's JSON has {size:,} characters, more than {MAX_EXAMPLE_CHARS:,}"
        return None

    def rejected(self, draft: Draft, reason: Reason) -> Screened:
        return Screened(None, reject(*reason), raw=dumps(draft.example))


class SystemPrompt(Filter):
    """Not a check: it puts the task's system prompt first in an example without one, so that what the filters
    after it see is what will be stored. It never refuses."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt

    def reason(self, draft: Draft) -> Reason | None:
        messages = draft.example["messages"]
        if messages[0]["role"] != "system":
            draft.example["messages"] = [{"role": "system", "content": self.prompt}, *messages]
        return None


class Empty(Filter):
    """`empty`: no assistant reply, or a message with neither text nor tool calls."""

    def reason(self, draft: Draft) -> Reason | None:
        messages = draft.example["messages"]
        if not any(m["role"] == "assistant" for m in messages):
            return "empty", "no assistant reply"
        for i, m in enumerate(messages):
            if not content_text(m.get("content")).strip() and not m.get("tool_calls"):
                return "empty", f"messages[{i}] has no text"
        return None


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


class ToolCalls(Filter):
    """`tool-call`: a call to a function the project does not declare, or arguments its `parameters` schema
    refuses. The declarations are `generate.tools` first, then the seeds' `tools` (the first definition of a name
    wins); each `parameters` schema is checked once, as JSON Schema draft 2020-12: an invalid one is an
    `InputError` located in the config or the seed that holds it."""

    def __init__(self, config: Config, seeds: list[Record]) -> None:
        from jsonschema import Draft202012Validator, SchemaError

        found = [
            (tool.model_dump(exclude_none=True), Location(CONFIG_NAME, None, f"generate.tools[{i}]"))
            for i, tool in enumerate(config.generate.tools)
        ]
        found += [
            (tool, Location(seed.provenance.get("file"), seed.provenance.get("line"), f"tools[{i}]"))
            for seed in seeds
            for i, tool in enumerate(seed.example.get("tools") or [])
        ]
        self.tools: list[dict[str, Any]] = []
        self.validators: dict[str, Any] = {}
        for tool, where in found:
            function = tool["function"]
            schema = function.get("parameters") or {}
            try:  # every definition, even one whose name is taken: a broken seed is reported, not skipped
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                field = f"{where.field}.function.parameters{_path(exc.absolute_path)}"
                raise InputError(
                    f"not a valid JSON Schema: {exc.message}",
                    Location(where.file, where.line, field),
                    hint="the parameters of a tool are a JSON Schema (draft 2020-12)",
                ) from None
            if function["name"] in self.validators:
                continue
            self.tools.append(tool)
            self.validators[function["name"]] = Draft202012Validator(schema)

    def reason(self, draft: Draft) -> Reason | None:
        from jsonschema.exceptions import best_match

        for i, message in enumerate(draft.example["messages"]):
            for j, call in enumerate(message.get("tool_calls") or []):
                name, where = call["function"]["name"], f"messages[{i}].tool_calls[{j}]"
                validator = self.validators.get(name)
                if validator is None:
                    declared = ", ".join(self.validators) or "none declared"
                    return "tool-call", f"{where}: {name!r} is not a declared function ({declared})"
                error = best_match(validator.iter_errors(json.loads(call["function"]["arguments"])))
                if error is not None:
                    return "tool-call", f"{where}: {name} arguments{_path(error.absolute_path)}: {error.message}"
        return None


class Length(Filter):
    """`too-short` / `too-long`: the non-system text is outside `generate.min_chars` … `generate.max_chars`."""

    def __init__(self, min_chars: int, max_chars: int) -> None:
        self.min_chars, self.max_chars = min_chars, max_chars

    def reason(self, draft: Draft) -> Reason | None:
        if (size := len(draft.text)) < self.min_chars:
            return "too-short", f"{size} characters, fewer than min_chars {self.min_chars}"
        if size > self.max_chars:
            return "too-long", f"{size} characters, more than max_chars {self.max_chars}"
        return None


class Blocklist(Filter):
    """`blocklisted`: the text holds a phrase of `generate.blocklist` (whole words, after `normalize_text`)."""

    def __init__(self, words: list[str]) -> None:
        self.pattern = re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})\b")

    def reason(self, draft: Draft) -> Reason | None:
        if hit := self.pattern.search(normalize_text(draft.text)):
            return "blocklisted", f"contains {hit.group(0)!r}"
        return None
