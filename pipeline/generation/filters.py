"""From a model's reply to candidate and rejected records: the one function both online and batch replies go through.

`records_from_reply` parses a `Reply` (see `pipeline.generation.parsing`), runs each item through the `Screen`, and returns
records that carry the request's provenance. Reading a reply refuses its choices that hold no example:

  unparseable     no example could be read (also `truncated`: cut off by the output limit; `not-an-example`)
  refusal         the model refused (a `refusal` field, or finish_reason `content_filter`)
  empty           an empty reply

The screen then works in two steps. `prepare` runs the filters of `pipeline.generation.checks` (schema, too-long,
empty, tool-call, too-short/long, blocklisted: small objects, each returning None to keep a candidate or a reason),
which need no memory of other candidates, so another process may run them (`screen_reply`). `decide` compares with
the duplicate index, one item after another, in the process that writes the records:

  duplicate       the same text as a seed or an earlier candidate (near-duplicate: MinHash similarity at or over
                  `generate.near_duplicate_threshold`), with the neighbour's id and the similarity

An accepted candidate records its nearest seed and how much it copies it: the cosine of character n-gram TF-IDF
vectors (`pipeline.similarity`), high for a paraphrase of a seed and low for a new example. Quality beyond these checks is the reviewer's
call; token limits of a fine-tuning target are checked by `build`.

When the project declares tools (`generate.tools`, the seeds' `tools`), every candidate carries their definitions.

Whatever a reply holds, `records_from_reply` returns records and never raises (a reply whose body is not a
completion is one `unparseable` reject), and every record fits on a line that `jsonl.read_jsonl` reads back: an
example whose JSON is over `checks.MAX_EXAMPLE_CHARS` is rejected as `too-long` without it, a reject keeps the first
`RAW_KEEP` characters of the text it was found in with the whole text's length in bytes and sha256, and a reason's
detail is cut at `checks.MAX_DETAIL`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container
from typing import Any

from pipeline.config import Config
from pipeline.dedup import DuplicateIndex, signature
from pipeline.generation.checks import (
    Blocklist,
    Draft,
    Empty,
    Filter,
    Fits,
    Length,
    Schema,
    Screened,
    SystemPrompt,
    ToolCalls,
    Verdict,
    dedup_text,
    reject,
)
from pipeline.generation.parsing import ParsedItem, parse_json_reply, parse_numbered
from pipeline.llm.request import CHAT, PlannedRequest, Reply
from pipeline.schema import Record, example_id, make_record, normalize_text
from pipeline.similarity import SeedSimilarity

RAW_KEEP = 4096  # characters of a rejected text kept on its line


def kept_raw(raw: str) -> dict[str, Any]:
    """What a reject keeps of the text it was found in: all of it, or its start with the whole one's size and hash."""
    if len(raw) <= RAW_KEEP:
        return {"raw": raw}
    data = raw.encode()
    return {"raw": raw[:RAW_KEEP], "raw_bytes": len(data), "raw_sha256": hashlib.sha256(data).hexdigest()}


class Screen:
    """The filters, in order, and the duplicate index of seeds and every candidate so far."""

    def __init__(self, config: Config, seeds: list[Record]) -> None:
        gen = config.generate
        self.index = DuplicateIndex(gen.near_duplicate_threshold)
        self.seed_similarity = SeedSimilarity({seed.id: dedup_text(seed.example) for seed in seeds})
        tool_calls = ToolCalls(config, seeds)
        self.tools = tool_calls.tools
        words = [normalize_text(w) for w in gen.blocklist if w.strip()]
        self.filters: list[Filter] = [
            Schema(),
            Fits(),
            *([SystemPrompt(config.task.system_prompt)] if config.task.system_prompt else []),
            Empty(),
            tool_calls,
            Length(gen.min_chars, gen.max_chars),
            *([Blocklist(words)] if words else []),
        ]
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
        """Every filter but the duplicate index, the first refusal winning. It remembers nothing, so it may run
        anywhere, in any order. Every candidate carries the project's tool definitions."""
        if self.tools and isinstance(value, dict):
            value = {**value, "tools": self.tools}
        draft = Draft(value)
        for check in self.filters:
            if (reason := check.reason(draft)) is not None:
                return check.rejected(draft, reason)
        sig = signature(draft.text, self.index.num_perm)
        return Screened(
            draft.example,
            {},
            text=draft.text,
            sig=sig,
            id=example_id(draft.example),
            nearest=self.seed_similarity.nearest(draft.text),
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
                reject(
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
            Screened(None, reject(*item.problem), value=item.value) if item.problem else screen.prepare(item.value)
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
