"""What a request to a language model is, and what comes back, independent of how it is sent.

A `PlannedRequest` is everything that decides an answer (endpoint, model, prompt or messages, parameters, sample
index) and its `key`, the hash of all of it: the reply cache's key, and the `custom_id` a provider batch line would
carry. `reply_from_body` turns an API response body (online, or a batch output line's body) into a `Reply`, the one
normalized form that the cache stores and the generate stage parses. `Endpoint` says where requests go
(`pipeline.llm.endpoint` resolves it for the openai backend).

Sending is `pipeline.llm.client`'s job.
"""

from __future__ import annotations

import hashlib
import json
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


def request_key(scope: str, endpoint: str, model: str, payload: dict[str, Any], params: dict[str, Any], sample: str) -> str:
    blob = json.dumps([scope, endpoint, model, payload, params, sample], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PlannedRequest:
    endpoint: str  # CHAT or COMPLETION
    model: str
    payload: dict[str, Any]  # {"messages": [...]} or {"prompt": "..."}
    params: dict[str, Any]  # temperature, top_p, max_tokens, seed, stop, response_format
    sample: str  # which draw this is, so equal prompts still make distinct requests
    scope: str  # the endpoint's label
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # for provenance; never sent

    @cached_property
    def key(self) -> str:
        return request_key(self.scope, self.endpoint, self.model, self.payload, self.params, self.sample)

    def body(self) -> dict[str, Any]:
        return {"model": self.model, **self.payload, **self.params}

    @property
    def encoded_body(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False).encode()

    @cached_property
    def prompt_estimate(self) -> int:
        # About 3 characters a token errs on the high side for English, which is the safe side for a budget.
        return len(json.dumps(self.payload, ensure_ascii=False)) // 3 + 1


@dataclass(frozen=True)
class Choice:
    text: str
    finish_reason: str | None = "stop"
    refusal: str | None = None


@dataclass(frozen=True)
class Reply:
    choices: tuple[Choice, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"choices": [c.__dict__ for c in self.choices],
                "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        usage = data.get("usage") or {}
        return cls(tuple(Choice(**c) for c in data["choices"]), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def reply_from_body(endpoint: str, body: dict[str, Any]) -> Reply:
    """A chat or completion response body as a `Reply`; KeyError/TypeError when it is not one."""
    choices = []
    for choice in body["choices"]:
        if endpoint == CHAT:
            message = choice["message"]
            choices.append(Choice(message.get("content") or "", choice.get("finish_reason"), message.get("refusal")))
        else:
            choices.append(Choice(choice["text"] or "", choice.get("finish_reason")))
    usage = body.get("usage") or {}
    return Reply(tuple(choices), int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
