"""What a request to a language model is, and what comes back, independent of how it is sent.

A `PlannedRequest` is everything that decides an answer (endpoint, model, prompt or messages, parameters, sample
index) and its `key`, the hash of all of it: the reply cache's key, and the `custom_id` a provider batch line would
carry. `reply_from_body` turns an API response body (online, or a batch output line's body) into a `Reply`, the one
normalized form that the cache stores and the generate stage parses: whatever JSON a server sends, it gives a
`Reply`, whose `problem` (or a choice's) says what was wrong with it; texts lose lone surrogates, and usage it
cannot read is None, never zero. `Endpoint` says where requests go (`pipeline.llm.endpoint` resolves it for the
openai backend).

Sending is `pipeline.llm.client`'s job.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

CHAT, COMPLETION = "chat/completions", "completions"


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. `label` names it in provenance and cache keys: a host, never a key."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    label: str


def host_of(base_url: str) -> str:
    """`https://user:pw@api.example.com:8443/v1` → `api.example.com:8443` (credentials in a URL stay out)."""
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class PlannedRequest:
    endpoint: str  # CHAT or COMPLETION
    model: str
    payload: dict[str, Any]  # {"messages": [...]} or {"prompt": "..."}
    params: dict[str, Any]  # temperature, top_p, max_tokens, seed, stop, response_format
    sample: str  # which draw this is, so equal prompts still make distinct requests
    scope: str  # the endpoint's label
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # for provenance; never sent

    # The payload and the parameters are encoded once, keys sorted, and the key, the body, the estimate and the
    # prompt's hash are cut from those: at hundreds of requests a second each encoding of a prompt of a few
    # shots is a few percent of the client's CPU.
    @cached_property
    def _payload_json(self) -> str:
        return _json(self.payload)

    @cached_property
    def _params_json(self) -> str:
        return _json(self.params)

    @cached_property
    def key(self) -> str:
        """The hash of `[scope, endpoint, model, payload, params, sample]` as `json.dumps(..., sort_keys=True,
        ensure_ascii=False)` writes it (the cache's key since its first version)."""
        parts = [_json(self.scope), _json(self.endpoint), _json(self.model), self._payload_json, self._params_json]
        blob = "[" + ", ".join([*parts, _json(self.sample)]) + "]"
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    @cached_property
    def prompt_hash(self) -> str:
        """The hash of the payload alone (which prompt made a candidate), as `json.dumps(payload, sort_keys=True)`
        writes it: the same encoding when the prompt is ASCII without DEL, which that one escapes."""
        plain = self._payload_json.isascii() and "\x7f" not in self._payload_json
        ascii_json = self._payload_json if plain else json.dumps(self.payload, sort_keys=True)
        return hashlib.sha256(ascii_json.encode()).hexdigest()[:16]

    def body(self) -> dict[str, Any]:
        return {"model": self.model, **self.payload, **self.params}

    @property
    def encoded_body(self) -> bytes:
        if "model" in self.payload or "model" in self.params or self.payload.keys() & self.params.keys():
            return json.dumps(self.body(), ensure_ascii=False).encode()  # later keys win, as in `body`
        fields = [f'"model": {_json(self.model)}', self._payload_json[1:-1], self._params_json[1:-1]]
        return ("{" + ", ".join(part for part in fields if part) + "}").encode()

    @cached_property
    def prompt_estimate(self) -> int:
        # About 3 characters a token errs on the high side for English, which is the safe side for a budget.
        return len(self._payload_json) // 3 + 1


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: str | None = "stop"
    refusal: str | None = None
    problem: str | None = None  # why this choice holds no text that can be read

    def to_dict(self) -> dict[str, Any]:
        out = {"text": self.text, "finish_reason": self.finish_reason, "refusal": self.refusal}
        return {**out, "problem": self.problem} if self.problem else out


@dataclass(frozen=True)
class Reply:
    choices: tuple[Choice, ...]
    prompt_tokens: int | None = None  # None: the server did not say (a budget counts the worst case)
    completion_tokens: int | None = None
    problem: str | None = None  # why the body is not a completion at all

    def to_dict(self) -> dict[str, Any]:
        out = {
            "choices": [c.to_dict() for c in self.choices],
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
        }
        return {**out, "problem": self.problem} if self.problem else out

    @classmethod
    def from_dict(cls, data: Any) -> Reply:
        """A cached reply. Any shape is read: a cache written by an older version may hold what a server sent."""
        return _reply(data, chat=False, stored=True)


# Lone UTF-16 surrogates are not text: they cannot be written as UTF-8, so they never get past the reply.
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_TOKENS = 10**12  # a usage figure beyond this is not one


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a JSON {_JSON_TYPES.get(type(value), type(value).__name__)}"


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _string(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value  # a search is 10 times cheaper


def _content(value: Any, where: str) -> tuple[str, str | None]:
    """A text field as (text, problem): a string, null, or a list of text parts (as some servers send)."""
    if value is None or isinstance(value, str):
        return _string(value) or "", None
    if isinstance(value, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in value):
        return _string("".join(p["text"] for p in value)) or "", None
    return "", f"{where} is {_kind(value)}, not text"


def _tokens(usage: Any, name: str) -> int | None:
    value = usage.get(name) if isinstance(usage, dict) else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_TOKENS else None


def _choice(choice: Any, where: str, chat: bool, stored: bool) -> Choice:
    if not isinstance(choice, dict):
        return Choice("", None, problem=f"{where} is {_kind(choice)}")
    finish = _string(choice.get("finish_reason"))
    holder, field = (choice.get("message"), "content") if chat else (choice, "text")
    if not isinstance(holder, dict):
        return Choice("", finish, problem=f"{where}.message is {_kind(holder)}")
    text, problem = _content(holder.get(field), f"{where}.{'message.' if chat else ''}{field}")
    if stored and problem is None:
        problem = _string(choice.get("problem"))
    return Choice(text, finish, _string(holder.get("refusal")), problem)


def _reply(body: Any, chat: bool, stored: bool = False) -> Reply:
    if not isinstance(body, dict):
        return Reply((), problem=f"the body is {_kind(body)}, not an object")
    usage = body.get("usage")
    prompt, completion = _tokens(usage, "prompt_tokens"), _tokens(usage, "completion_tokens")
    choices = body.get("choices")
    problem = _string(body.get("problem")) if stored else None
    if problem or not isinstance(choices, list) or not choices:
        return Reply((), prompt, completion, problem or f"choices is {'empty' if choices == [] else _kind(choices)}")
    return Reply(tuple(_choice(c, f"choices[{i}]", chat, stored) for i, c in enumerate(choices)), prompt, completion)


def reply_from_body(endpoint: str, body: Any) -> Reply:
    """Any JSON value a server sent for a chat or completion request, as a `Reply`; it never raises. A body that is
    not a completion comes back as a reply with a `problem` (or choices with one), which generate rejects."""
    return _reply(body, chat=endpoint == CHAT)


def reply_from_bytes(endpoint: str, raw: bytes) -> Reply:
    """A response body as a `Reply`. ValueError only when the bytes are not JSON at all (cut off, an error page):
    that is worth another try; JSON that Python cannot read (nested too deeply, a number with thousands of
    digits) is the same every time, so it becomes a reply with a problem."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        return Reply((), problem=f"the body is JSON Python cannot read ({reason})")
    return reply_from_body(endpoint, body)
