"""The chat API family on FakeAPI: OpenAI's `/v1/chat/completions` and `/v1/completions`, answered the way an
OpenAI-compatible server answers, with `usage` in every response.

Replies come from a queue of canned ones (`queue`: text, finish_reason, refusal) and, when it is empty, from a
generator that writes as many varied, valid examples as the prompt asks for: JSON for chat (strict when the request
carries `response_format`, otherwise wrapped in prose and a code fence with a trailing comma, as weaker models
write it) and the numbered `### Example N` pattern for completions. Generated texts are random word sequences, so
they never look like near duplicates of one another.

Like a real server, it stops a reply at `max_tokens` (finish_reason `length`). Two faults of the reply itself:
`usage=False` leaves `usage` out of every response, as some servers do, and `queue_body` queues whole response
bodies (any JSON value, or bytes) that are sent as they are, after the work, whatever shape they have. `judge`
answers the candidate judge's requests (`pipeline.generation.judge`) instead of the queue. `response_format=False` makes the
server refuse requests that carry one (400), like servers without structured output. `chat_model=True` answers
completion requests the way a chat model behind a completions route does: with a chatty paragraph about the prompt
instead of its continuation. `delay` sleeps inside the handler while counting requests in flight (`peak`). HTTP faults (429, 500,
timeouts, dropped connections, malformed bodies) are FakeAPI's `inject`. The `chat` fixture starts one and points
OPENAI_BASE_URL and OPENAI_API_KEY at it; tests import it from here.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.generation.judge import JUDGE_SYSTEM
from tests.fakeapi import FakeAPI, Request

KEY = "test-chat-key-not-a-secret"
WORDS = [
    "amber",
    "basalt",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kelp",
    "lagoon",
    "meadow",
    "nickel",
    "onyx",
    "prairie",
    "quartz",
    "river",
    "saffron",
    "tundra",
    "umber",
    "velvet",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "anchor",
    "beacon",
    "canyon",
    "dune",
    "estuary",
    "falcon",
    "glacier",
    "heron",
    "island",
    "jasper",
    "kestrel",
    "lantern",
    "marble",
    "nectar",
    "orchard",
    "pebble",
    "quill",
    "reef",
    "summit",
    "thistle",
    "upland",
    "valley",
    "wren",
    "yonder",
    "zinnia",
    "acorn",
    "bramble",
    "clover",
    "driftwood",
    "eddy",
    "fern",
    "grove",
    "hollow",
    "ivy",
]


@dataclass
class Canned:
    text: str = ""
    finish_reason: str = "stop"
    refusal: str | None = None


@dataclass
class FakeChat:
    api: FakeAPI
    response_format: bool = True
    delay: float = 0.0
    replies: deque[Canned] = field(default_factory=deque)
    peak: int = 0
    usage: bool = True
    raw_bodies: deque[Any] = field(default_factory=deque)
    chat_model: bool = False
    judge: Callable[[dict[str, Any]], Canned | str] | None = None  # answers the candidate judge's requests

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._serial = itertools.count()
        self._active = 0
        self.api.route("POST", "/v1/chat/completions")(self._chat)
        self.api.route("POST", "/v1/completions")(self._completion)

    def queue(self, *replies: Canned | str) -> None:
        with self._lock:
            self.replies.extend(r if isinstance(r, Canned) else Canned(r) for r in replies)

    def queue_body(self, *bodies: Any) -> None:
        with self._lock:
            self.raw_bodies.extend(bodies)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of every generation request the server received, faults included."""
        return [r.json() for r in self.api.requests("/completions")]

    # --- generated content ---

    def example(self) -> dict[str, Any]:
        rng = random.Random(next(self._serial))
        words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
        return {
            "messages": [
                {"role": "user", "content": f"Product: {words(3)}\n- {words(6)}\n- {words(5)}"},
                {"role": "assistant", "content": f"{words(14).capitalize()}. {words(12).capitalize()}."},
            ]
        }

    @staticmethod
    def _wanted(prompt: str) -> int:
        found = re.search(r"Write (\d+) new examples|Examples (\d+) to (\d+)|Example \d+ is a new one", prompt)
        if not found:
            return 2
        if found.group(1):
            return int(found.group(1))
        return int(found.group(3)) - int(found.group(2)) + 1 if found.group(2) else 1

    def _generate_chat(self, body: dict[str, Any]) -> Canned:
        prompt = body["messages"][-1]["content"]
        examples = [self.example() for _ in range(self._wanted(prompt))]
        if "response_format" in body:
            return Canned(json.dumps({"examples": examples}))
        lines = ",\n".join(json.dumps(e) for e in examples)
        return Canned(f"Sure! Here are the new examples:\n```json\n[\n{lines},\n]\n```\nI hope these help.")

    def _generate_completion(self, body: dict[str, Any]) -> Canned:
        prompt = body["prompt"]
        if self.chat_model:
            return Canned(
                f"Sure! It looks like you are writing examples for a task. Here is a new one: the "
                f"{self.example()['messages'][1]['content']} Let me know if you would like more."
            )
        first = int(re.findall(r"### Example (\d+)", prompt)[-1])
        blocks = []
        for number in range(first, first + self._wanted(prompt)):
            messages = self.example()["messages"]
            turns = "\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages)
            blocks.append(("" if number == first else f"### Example {number}\n") + turns + "\n### END\n")
        text = "\n".join(blocks)
        for stop in body.get("stop") or []:
            text = text.split(stop, 1)[0]
        return Canned(text)

    # --- routes ---

    def _next(self, body: dict[str, Any], chat: bool) -> Canned:
        if self.judge is not None and chat and body["messages"][0]["content"] == JUDGE_SYSTEM:
            answer = self.judge(body)
            return answer if isinstance(answer, Canned) else Canned(answer)
        with self._lock:
            reply = self.replies.popleft() if self.replies else None
        reply = reply or (self._generate_chat(body) if chat else self._generate_completion(body))
        limit = body.get("max_tokens")
        if limit and len(reply.text) // 4 + 1 > limit:  # a real server stops at the output limit
            return Canned(reply.text[: (limit - 1) * 4], "length", reply.refusal)
        return reply

    def _wait(self) -> None:
        with self._lock:
            self._active += 1
            self.peak = max(self.peak, self._active)
        time.sleep(self.delay)
        with self._lock:
            self._active -= 1

    def _answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        """A queued raw body, if any, else the normal one with `usage` left out when the server omits it."""
        with self._lock:
            if self.raw_bodies:
                raw = self.raw_bodies.popleft()
                return 200, raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        if not self.usage:
            body.pop("usage")
        return 200, body

    def _usage(self, prompt: str, text: str) -> dict[str, int]:
        prompt_tokens, completion_tokens = len(prompt) // 4 + 1, len(text) // 4 + 1
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _chat(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        if "response_format" in body and not self.response_format:
            return 400, {
                "error": {"message": "response_format is not supported by this server", "type": "invalid_request_error"}
            }
        self._wait()
        reply = self._next(body, chat=True)
        message = {"role": "assistant", "content": None if reply.refusal else reply.text, "refusal": reply.refusal}
        return self._answer(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                "usage": self._usage(json.dumps(body["messages"]), reply.text),
            }
        )

    def _completion(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        self._wait()
        reply = self._next(body, chat=False)
        return self._answer(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "text": reply.text, "finish_reason": reply.finish_reason, "logprobs": None}],
                "usage": self._usage(body["prompt"], reply.text),
            }
        )


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch):
    """A started chat server; OPENAI_BASE_URL and OPENAI_API_KEY point at it."""
    api = FakeAPI().start()
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield FakeChat(api)
    api.stop()


def edit_config(project: Any, section: str, **values: Any) -> None:
    """Set keys of one table in a project's ftboot.toml (values as JSON, which TOML reads the same for these)."""
    path = project / "ftboot.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = f"[{section}]"
    if header not in lines:
        lines += ["", header]
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    for key, value in values.items():
        line = f"{key} = {json.dumps(value)}"
        found = next((i for i in range(start, end) if re.match(rf"{re.escape(key)}\s*=", lines[i])), None)
        if found is None:
            lines.insert(start, line)
            end += 1
        else:
            lines[found] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
