"""An OpenAI-compatible chat server whose models answer test prompts with known quality, for the eval stage.

It knows each test prompt's reference answer (`learn`) and answers by the model asked for:
  oracle       the reference itself
  paraphrase   the reference with every third word dropped and neighbouring words swapped
  noise        random words of about the reference's length
  judge-biased a judge that always prefers the first answer it is shown ("A")
  judge-fair   a judge that prefers the answer sharing more words with the reference it is shown
Any other model answers the reference of the prompt's last user turn (a stand-in fine-tuned model).

`delay` sleeps inside the handler (the benchmark's 250 ms server). The `evalapi` fixture starts one and points
OPENAI_BASE_URL and OPENAI_API_KEY at it.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fake_chat import WORDS
from tests.fakeapi import FakeAPI, Request

KEY = "test-eval-key-not-a-secret"


def paraphrase(text: str) -> str:
    words = [w for i, w in enumerate(text.split()) if i % 3 != 2]
    for i in range(0, len(words) - 1, 4):
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def noise(text: str, seed: str) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in text.split())


def _judge_fair(prompt: str) -> str:
    found = re.search(r"Reference answer:\n(.*)\n\nAnswer A:\n(.*)\n\nAnswer B:\n(.*)\n\nWhich", prompt, re.S)
    if not found:
        return "tie"
    reference, a, b = (set(part.lower().split()) for part in found.groups())
    overlap_a, overlap_b = len(reference & a), len(reference & b)
    return "A" if overlap_a > overlap_b else "B" if overlap_b > overlap_a else "tie"


@dataclass
class FakeEval:
    api: FakeAPI
    delay: float = 0.0
    references: dict[str, str] = field(default_factory=dict)  # last user turn → reference

    def __post_init__(self) -> None:
        self.api.route("POST", "/v1/chat/completions")(self._chat)

    def learn(self, examples: list[dict[str, Any]]) -> None:
        for example in examples:
            messages = example["messages"]
            self.references[messages[-2]["content"]] = messages[-1]["content"]

    def answer(self, body: dict[str, Any]) -> str:
        model, messages = body["model"], body["messages"]
        prompt = messages[-1]["content"]
        if model == "judge-biased":
            return "A"
        if model == "judge-fair":
            return _judge_fair(prompt)
        reference = self.references.get(prompt, "")
        if model == "paraphrase":
            return paraphrase(reference)
        if model == "noise":
            return noise(reference, prompt)
        return reference

    def _chat(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        if self.delay:
            time.sleep(self.delay)
        text = self.answer(body)
        prompt_tokens, completion_tokens = sum(len(m["content"]) for m in body["messages"]) // 4 + 1, len(text) // 4 + 1
        return 200, {
            "id": "chatcmpl-eval",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


@pytest.fixture
def evalapi(monkeypatch: pytest.MonkeyPatch):
    """A started eval server; OPENAI_BASE_URL and OPENAI_API_KEY point at it."""
    api = FakeAPI().start()
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield FakeEval(api)
    api.stop()
