"""What generate asks the model: the shots of each request, how they rotate, and the prompt in either mode.

Request `i` of a round is a pure function of `i`, so a rerun plans the very same requests and the cache answers
the ones already paid for. Shots rotate through consecutive windows of a stream of shuffled passes over the pool,
so across a run every seed is shown about equally often; with `--pool reviewed`, `reviewed_shots` of the k shots
come from accepted reviews, rotated the same way. Topics, personas and difficulty levels from the config are spread
over requests in every combination.

- chat mode (instruction-tuned models): a system and a user message; the shots as JSON lines; the reply asked for
  as `{"examples": [{"messages": [...]}, ...]}`, enforced with `response_format` where the server supports it.
  When the project declares tools (`generate.tools`, the seeds' `tools`), the prompt shows their definitions and
  asks for examples that call them, and the reply's schema admits tool calls and tool answers.
- completion mode (base models): the shots as a numbered pattern (`### Example 1`, `USER:`, `ASSISTANT:`,
  `### END`) that the model continues from the next number; cut at the header after the last one asked for.

The project's system prompt is left out of the shots and added back to every candidate, which saves tokens and
keeps the model from rewriting it. Parsing the replies is `pipeline.generation.parsing`'s job.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from itertools import count
from typing import Any

from pipeline.config import Config
from pipeline.llm.request import CHAT, COMPLETION, PlannedRequest
from pipeline.schema import Record, content_text
from pipeline.shots import rotation

CHAT_SYSTEM = "You write new training examples for fine-tuning a language model. You reply with JSON only."
ROLE_LABELS = {"system": "SYSTEM", "user": "USER", "assistant": "ASSISTANT"}
END = "### END"


def _examples_schema(message: dict[str, Any]) -> dict[str, Any]:
    """The reply's schema, `{"examples": [{"messages": [MESSAGE, ...]}, ...]}`, strict at every level."""
    example = {
        "type": "object",
        "properties": {"messages": {"type": "array", "items": message}},
        "required": ["messages"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"examples": {"type": "array", "items": example}},
        "required": ["examples"],
        "additionalProperties": False,
    }


EXAMPLES_SCHEMA: dict[str, Any] = _examples_schema(
    {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": {"type": "string"},
        },
        "required": ["role", "content"],
        "additionalProperties": False,
    }
)

# With tools: a message may be a tool call or a tool's answer. Strict structured output wants every key required,
# so the keys a message does not use are null (dropped when the example is validated).
_TOOL_CALL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string", "enum": ["function"]},
        "function": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        },
    },
    "required": ["id", "type", "function"],
    "additionalProperties": False,
}
TOOL_EXAMPLES_SCHEMA: dict[str, Any] = _examples_schema(
    {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant", "tool"]},
            "content": {"type": ["string", "null"]},
            "tool_calls": {"type": ["array", "null"], "items": _TOOL_CALL},
            "tool_call_id": {"type": ["string", "null"]},
        },
        "required": ["role", "content", "tool_calls", "tool_call_id"],
        "additionalProperties": False,
    }
)
TOOL_USE = (
    "The assistant can call the tools above. In each example it calls one or more of them where they help: an "
    'assistant message with "tool_calls" (each {"id", "type": "function", "function": {"name", "arguments"}}, '
    'arguments a JSON string that satisfies the function\'s parameters), one "tool" message with the result '
    'for each call ("tool_call_id" its id), then the assistant\'s answer to the user.'
)


def header(number: int) -> str:
    return f"### Example {number}"


def steering(config: Config, draw: int) -> dict[str, str]:
    """The topic, persona and difficulty of a draw: every combination in turn (mixed-radix counting)."""
    chosen: dict[str, str] = {}
    rest = draw
    for option, name in (("topics", "topic"), ("personas", "persona"), ("difficulty", "difficulty")):
        options: list[str] = getattr(config.generate, option)
        if options:
            rest, pick = divmod(rest, len(options))
            chosen[name] = options[pick]
    return chosen


def _steer_text(steer: dict[str, str]) -> str:
    parts = []
    if "topic" in steer:
        parts.append(f"about {steer['topic']}")
    if "persona" in steer:
        parts.append(f"for {steer['persona']}")
    if "difficulty" in steer:
        parts.append(f"of {steer['difficulty']} difficulty")
    return " " + ", ".join(parts) if parts else ""


def shot_messages(example: dict[str, Any], system_prompt: str) -> list[dict[str, Any]]:
    """A shot's messages as shown to the model: without the project's own system prompt, as role and text."""
    messages = [
        {
            "role": m["role"],
            "content": content_text(m.get("content")),
            **{key: m[key] for key in ("tool_calls", "tool_call_id") if m.get(key)},
        }
        for m in example["messages"]
    ]
    if system_prompt and messages and messages[0]["role"] == "system" and messages[0]["content"] == system_prompt:
        messages = messages[1:]
    return messages


def shot_line(example: dict[str, Any], system_prompt: str) -> str:
    """A shot as the chat prompt shows it: one JSON object per line."""
    return json.dumps({"messages": shot_messages(example, system_prompt)}, ensure_ascii=False)


def render_chat(
    config: Config, shot_lines: list[str], m: int, steer: dict[str, str], tools: Sequence[dict[str, Any]] = ()
) -> list[dict[str, str]]:
    task = config.task
    lines = [f"Task: {task.description.strip() or task.name}"]
    if task.system_prompt:
        lines.append(f"Every conversation starts from this system prompt, which is added for you: {task.system_prompt}")
    if tools:
        lines += [
            "",
            "Tools (OpenAI function definitions), added to every example for you:",
            json.dumps(list(tools), ensure_ascii=False),
        ]
    lines += ["", "Examples, one JSON object per line:"]
    lines += shot_lines
    lines += [
        "",
        f"Write {m} new examples{_steer_text(steer)} that differ from these in content and wording. "
        'Reply with one JSON object: {"examples": [{"messages": [{"role": "user", "content": "..."}, '
        '{"role": "assistant", "content": "..."}]}, ...]}',
    ]
    if tools:
        lines.append(TOOL_USE)
    return [{"role": "system", "content": CHAT_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def render_completion(config: Config, shots: list[dict[str, Any]], m: int, steer: dict[str, str]) -> str:
    task = config.task
    first, last = len(shots) + 1, len(shots) + m
    wanted = f"Example {first} is a new one" if m == 1 else f"Examples {first} to {last} are new ones"
    lines = [task.description.strip() or task.name]
    if task.system_prompt:
        lines.append(f"The assistant follows this instruction: {task.system_prompt}")
    lines += [f"Below are numbered examples. {wanted}{_steer_text(steer)}, each different from those before it.", ""]
    for number, shot in enumerate(shots, start=1):
        lines.append(header(number))
        lines += [
            f"{ROLE_LABELS.get(msg['role'], msg['role'].upper())}: {msg['content']}"
            for msg in shot_messages(shot, task.system_prompt)
        ]
        lines += [END, ""]
    lines.append(header(first))
    return "\n".join(lines) + "\n"


class Planner:
    """The requests of one round, in a fixed order: `request(i)` is the same on every run."""

    def __init__(
        self,
        config: Config,
        *,
        mode: str,
        model: str,
        scope: str,
        response_format: str,
        seeds: list[Record],
        reviewed: list[Record],
        round_: int,
        tools: Sequence[dict[str, Any]] = (),
    ) -> None:
        if not seeds:
            raise ValueError("generation needs at least one seed")
        self.config, self.mode, self.model, self.scope, self.tools = config, mode, model, scope, list(tools)
        self.response_format, self.seeds, self.reviewed, self.round = response_format, seeds, reviewed, round_
        gen = config.generate
        self.m = gen.per_request
        self.k_reviewed = min(gen.reviewed_shots, gen.shots, len(reviewed))
        self.k_seeds = min(gen.shots - self.k_reviewed, len(seeds))
        # Each shot rendered once, not once per request; by object, as the pools' records live as long as this.
        self.shot_lines: dict[int, str] = {}

    def shots(self, i: int) -> list[Record]:
        picked = [self.seeds[j] for j in rotation(len(self.seeds), i, self.k_seeds, "seeds")]
        if self.k_reviewed:
            # Reviewed shots go last, nearest the new examples, where a few-shot model weighs them most.
            picked += [self.reviewed[j] for j in rotation(len(self.reviewed), i, self.k_reviewed, "reviewed")]
        return picked

    def _params(self, i: int) -> dict[str, Any]:
        gen = self.config.generate
        params: dict[str, Any] = {
            "temperature": gen.temperature,
            "top_p": gen.top_p,
            "max_tokens": gen.max_output_tokens,
            # a per-draw seed makes equal prompts distinct requests and local runs repeatable
            "seed": zlib.crc32(f"{self.round}:{i}".encode()) & 0x7FFFFFFF,
        }
        schema = TOOL_EXAMPLES_SCHEMA if self.tools else EXAMPLES_SCHEMA
        if self.response_format == "json_schema":
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "examples", "strict": True, "schema": schema},
            }
        elif self.response_format == "json_object":  # llama.cpp's server turns the schema into a grammar
            params["response_format"] = {"type": "json_object", "schema": schema}
        return params

    def request(self, i: int) -> PlannedRequest:
        shots = self.shots(i)
        steer = steering(self.config, i)
        payload: dict[str, Any]
        if self.mode == "chat":
            lines = [self._shot_line(shot) for shot in shots]
            endpoint, payload = CHAT, {"messages": render_chat(self.config, lines, self.m, steer, self.tools)}
            params = self._params(i)
        else:
            examples = [s.example for s in shots]
            endpoint, payload = COMPLETION, {"prompt": render_completion(self.config, examples, self.m, steer)}
            params = {k: v for k, v in self._params(i).items() if k != "response_format"}
            params["stop"] = [header(len(shots) + self.m + 1)]
        meta = {"shots": [s.id for s in shots], "round": self.round, "steer": steer}
        request = PlannedRequest(endpoint, self.model, payload, params, f"{self.round}:{i}", self.scope, meta)
        meta.update(prompt_hash=request.prompt_hash, first=len(shots) + 1, count=self.m, mode=self.mode)
        return request

    def _shot_line(self, shot: Record) -> str:
        line = self.shot_lines.get(id(shot))
        if line is None:
            line = self.shot_lines[id(shot)] = shot_line(shot.example, self.config.task.system_prompt)
        return line

    def __iter__(self) -> Iterator[PlannedRequest]:
        return (self.request(i) for i in count())
