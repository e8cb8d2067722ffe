"""From a model's reply to candidate and rejected records: the one function both online and batch replies go through.

`records_from_reply` parses a `Reply` (see `pipeline.generation.parsing`), runs each item through the `Screen`, and returns
records that carry the request's provenance. The screen works in two steps: `prepare` runs every filter that needs
no memory of other candidates (and may run in another process: `screen_reply`), `decide` compares with the
duplicate index, one item after another. The screen's filters, in order, each a short reason code:

  refusal         the model refused (a `refusal` field, or finish_reason `content_filter`)
  empty           no text at all, no assistant reply, or an empty message
  tool-call       a call to a function the project does not declare, or arguments that do not satisfy its
                  `parameters` JSON Schema (`ToolCalls`), with the message, call and argument path
  unparseable     no example could be read (also `truncated`: cut off by the output limit; `not-an-example`)
  schema          the object is not a valid chat example (`field: problem`)
  too-short/long  the non-system text is outside `generate.min_chars` … `generate.max_chars`
  blocklisted     it contains a phrase from `generate.blocklist`
  duplicate       the same text as a seed or an earlier candidate (near-duplicate: MinHash similarity at or over
                  `generate.near_duplicate_threshold`), with the neighbour's id and the similarity

An accepted candidate records its nearest seed and how much it copies it: the cosine of character n-gram TF-IDF
vectors (`pipeline.similarity`), high for a paraphrase of a seed and low for a new example. Quality beyond these checks is the reviewer's
call; token limits of a fine-tuning target are checked by `build`.

When the project declares tools (`generate.tools`, the seeds' `tools`), every candidate carries their definitions.

Whatever a reply holds, `records_from_reply` returns records and never raises (a reply whose body is not a
completion is one `unparseable` reject), and every record fits on a line that `jsonl.read_jsonl` reads back: an
example whose JSON is over `MAX_EXAMPLE_CHARS` is rejected as `too-long` without it, a reject keeps the first
`RAW_KEEP` characters of the text it was found in with the whole text's length in bytes and sha256, and a reason's
detail is cut at `MAX_DETAIL`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pipeline.config import CONFIG_NAME, Config
from pipeline.dedup import DuplicateIndex, signature
from pipeline.errors import InputError, Location
from pipeline.generation.parsing import ParsedItem, parse_json_reply, parse_numbered
from pipeline.jsonl import MAX_LINE_BYTES, dumps
from pipeline.llm.request import CHAT, PlannedRequest, Reply
from pipeline.schema import (
    Record,
    content_text,
    dump_example,
    example_id,
    make_record,
    normalize_text,
    parse_example,
    validation_messages,
)
from pipeline.similarity import SeedSimilarity

Verdict = dict[str, Any]  # {} when accepted, else {"reason": {code, detail}, "neighbour"?, "similarity"?}
MAX_EXAMPLE_CHARS = MAX_LINE_BYTES // 16  # at most 4 bytes a character: a quarter of the longest line read back
RAW_KEEP = 4096  # characters of a rejected text kept on its line
MAX_DETAIL = 500


def dedup_text(example: dict[str, Any]) -> str:
    """The text compared for duplicates: every message but system ones, which all examples share."""
    return "\n".join(content_text(m.get("content")) for m in example.get("messages", []) if m.get("role") != "system")


def _reject(code: str, detail: str, **extra: Any) -> Verdict:
    return {"reason": {"code": code, "detail": detail[:MAX_DETAIL]}, **extra}


def kept_raw(raw: str) -> dict[str, Any]:
    """What a reject keeps of the text it was found in: all of it, or its start with the whole one's size and hash."""
    if len(raw) <= RAW_KEEP:
        return {"raw": raw}
    data = raw.encode()
    return {"raw": raw[:RAW_KEEP], "raw_bytes": len(data), "raw_sha256": hashlib.sha256(data).hexdigest()}


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


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


class ToolCalls:
    """The project's tool definitions (`generate.tools` first, then the seeds' `tools`; the first definition of a
    name wins) and the check of a candidate's calls against them. Each `parameters` schema is checked once, as JSON
    Schema draft 2020-12: an invalid one is an `InputError` located in the config or the seed that holds it."""

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

    def check(self, example: dict[str, Any]) -> Verdict:
        """{} when every call names a declared function with arguments its schema accepts, else a `tool-call` reject."""
        from jsonschema.exceptions import best_match

        for i, message in enumerate(example["messages"]):
            for j, call in enumerate(message.get("tool_calls") or []):
                name, where = call["function"]["name"], f"messages[{i}].tool_calls[{j}]"
                validator = self.validators.get(name)
                if validator is None:
                    return _reject(
                        "tool-call",
                        f"{where}: {name!r} is not a declared function "
                        f"({', '.join(self.validators) or 'none declared'})",
                    )
                error = best_match(validator.iter_errors(json.loads(call["function"]["arguments"])))
                if error is not None:
                    return _reject(
                        "tool-call", f"{where}: {name} arguments{_path(error.absolute_path)}: {error.message}"
                    )
        return {}


class Screen:
    """The filters, with the duplicate index of seeds and every candidate so far."""

    def __init__(self, config: Config, seeds: list[Record]) -> None:
        gen = config.generate
        self.config = config
        self.system_prompt = config.task.system_prompt
        self.index = DuplicateIndex(gen.near_duplicate_threshold)
        words = [normalize_text(w) for w in gen.blocklist if w.strip()]
        self.blocklist = re.compile(rf"\b(?:{'|'.join(map(re.escape, words))})\b") if words else None
        self.seed_similarity = SeedSimilarity({seed.id: dedup_text(seed.example) for seed in seeds})
        self.tool_calls = ToolCalls(config, seeds)
        for seed in seeds:
            self.remember(seed.id, seed.example)

    def remember(self, key: str, example: dict[str, Any]) -> None:
        """Count an example's text as taken (seeds, reviewed examples, candidates of earlier runs)."""
        self.index.add(key, dedup_text(example))

    def check(self, value: Any) -> tuple[dict[str, Any] | None, Verdict]:
        """The example as it will be stored (None if it is not one) and the verdict on it."""
        example, verdict, _ = self.decide(self.prepare(value))
        return example, verdict

    def prepare(self, value: Any) -> Screened:
        """Every filter but the duplicate index. It remembers nothing, so it may run anywhere, in any order."""
        gen = self.config.generate
        if self.tool_calls.tools and isinstance(value, dict):
            value = {**value, "tools": self.tool_calls.tools}
        try:
            example = dump_example(parse_example(value))
        except ValidationError as exc:
            field, message = validation_messages(exc)[0]
            return Screened(None, _reject("schema", f"{field}: {message}" if field else message), value=value)
        if len(whole := dumps(example)) > MAX_EXAMPLE_CHARS:
            return Screened(
                None,
                _reject(
                    "too-long", f"the example's JSON has {len(whole):,} characters, more than {MAX_EXAMPLE_CHARS:,}"
                ),
                raw=whole,
            )
        messages = example["messages"]
        if self.system_prompt and messages[0]["role"] != "system":
            example["messages"] = messages = [{"role": "system", "content": self.system_prompt}, *messages]
        if not any(m["role"] == "assistant" for m in messages):
            return Screened(example, _reject("empty", "no assistant reply"))
        empty = [
            i for i, m in enumerate(messages) if not content_text(m.get("content")).strip() and not m.get("tool_calls")
        ]
        if empty:
            return Screened(example, _reject("empty", f"messages[{empty[0]}] has no text"))
        if verdict := self.tool_calls.check(example):
            return Screened(example, verdict)
        text = dedup_text(example)
        if len(text) < gen.min_chars:
            return Screened(
                example, _reject("too-short", f"{len(text)} characters, fewer than min_chars {gen.min_chars}")
            )
        if len(text) > gen.max_chars:
            return Screened(
                example, _reject("too-long", f"{len(text)} characters, more than max_chars {gen.max_chars}")
            )
        if self.blocklist and (hit := self.blocklist.search(normalize_text(text))):
            return Screened(example, _reject("blocklisted", f"contains {hit.group(0)!r}"))
        sig = signature(text, self.index.num_perm)
        return Screened(
            example, {}, text=text, sig=sig, id=example_id(example), nearest=self.seed_similarity.nearest(text)
        )

    def decide(self, item: Screened) -> tuple[dict[str, Any] | None, Verdict, str | None]:
        """A prepared item against every candidate so far: (example, verdict, id of an accepted example)."""
        if item.verdict:
            return item.example, item.verdict, None
        duplicate = self.index.find(item.text, item.sig)
        if duplicate is not None:
            code = "duplicate" if duplicate.similarity >= 1.0 else "near-duplicate"
            return (
                item.example,
                _reject(
                    code,
                    f"{code} of {duplicate.key} (similarity {duplicate.similarity:.2f})",
                    neighbour=duplicate.key,
                    similarity=duplicate.similarity,
                ),
                None,
            )
        self.index.add(item.id, item.text, item.sig)  # type: ignore[arg-type]
        key, similarity = item.nearest or (None, None)
        return item.example, {"nearest_seed": key, "nearest_seed_similarity": similarity}, item.id


def _items(request: PlannedRequest, reply: Reply) -> list[ParsedItem]:
    if reply.problem:
        return [ParsedItem(problem=("unparseable", f"the response is not a completion: {reply.problem}"))]
    items: list[ParsedItem] = []
    for choice in reply.choices:
        if choice.problem:
            items.append(ParsedItem(problem=("unparseable", f"the response is not a completion: {choice.problem}")))
            continue
        if choice.refusal or choice.finish_reason == "content_filter":
            items.append(
                ParsedItem(
                    problem=("refusal", (choice.refusal or "the content filter stopped the reply")[:300]),
                    raw=choice.text,
                )
            )
            continue
        if not choice.text.strip():
            items.append(ParsedItem(problem=("empty", f"an empty reply (finish_reason {choice.finish_reason})")))
            continue
        if request.endpoint == CHAT:
            found = parse_json_reply(choice.text, choice.finish_reason)
        else:
            found = parse_numbered(choice.text, request.meta["first"], request.meta["count"], choice.finish_reason)
        if not found:
            cut = choice.finish_reason == "length"
            found = [
                ParsedItem(
                    problem=("truncated" if cut else "unparseable", "no example found in the reply"), raw=choice.text
                )
            ]
        items += found
    return items


PARSE_FAILURES = ("unparseable", "not-an-example")


def unparsed(screened: list[Screened | None]) -> bool:
    """Whether a reply's items (from `screen_reply`) brought text but not one that reads as an example: the sign
    of a mode that does not fit the model (`pipeline.generation.modes`). A body that is no completion at all is
    the server's fault, not the mode's."""
    return bool(screened) and all(
        item is not None and item.verdict.get("reason", {}).get("code") in PARSE_FAILURES and item.raw
        for item in screened
    )


def screen_reply(
    request: PlannedRequest, reply: Reply, screen: Screen, skip: Container[tuple[str, int]] = ()
) -> list[Screened | None]:
    """A reply's items through `Screen.prepare` (None for those in `skip`): the part of turning a reply into
    records that needs no memory of other candidates, so another process may do it."""
    out: list[Screened | None] = []
    for number, item in enumerate(_items(request, reply)):
        if (request.key, number) in skip:
            out.append(None)
            continue
        screened = (
            Screened(None, _reject(*item.problem), value=item.value) if item.problem else screen.prepare(item.value)
        )
        screened.raw = screened.raw or item.raw
        out.append(screened)
    return out


def records_from_reply(
    request: PlannedRequest,
    reply: Reply,
    screen: Screen,
    endpoint: str,
    skip: Container[tuple[str, int]] = (),
    screened: list[Screened | None] | None = None,
) -> list[tuple[Record, bool]]:
    """Every item of a reply as (record, accepted). Items whose (request key, item number) are in `skip` were
    written by an earlier run and are left out, so replaying a cached reply adds nothing twice. `screened`: the
    reply's items already through `screen_reply`, by another process say."""
    meta, params = request.meta, request.params
    base = {
        "source": "generated",
        "shots": meta["shots"],
        "model": request.model,
        "endpoint": endpoint,
        "mode": meta["mode"],
        "params": {k: params[k] for k in ("temperature", "top_p", "max_tokens", "seed") if k in params},
        "prompt_hash": meta["prompt_hash"],
        "round": meta["round"],
        "request": request.key,
        **meta["steer"],
    }
    out: list[tuple[Record, bool]] = []
    for number, item in enumerate(screened if screened is not None else screen_reply(request, reply, screen, skip)):
        if item is None or (request.key, number) in skip:
            continue
        provenance = {**base, "item": number}
        example, verdict, rid = screen.decide(item)
        if "reason" not in verdict:
            out.append((make_record(example, {**provenance, **verdict}, id=rid), True))  # type: ignore[arg-type]
        elif example is not None:
            out.append((make_record(example, provenance, **verdict), False))
        else:
            rid = hashlib.sha256(f"{request.key}:{number}".encode()).hexdigest()[:16]
            raw = item.raw or json.dumps(item.value, ensure_ascii=False)
            out.append((Record(id=rid, example={}, provenance=provenance, **kept_raw(raw), **verdict), False))
    return out
