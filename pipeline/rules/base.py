"""The rules every chat fine-tuning target shares, as a base class that target modules extend.

Per example: an assistant message to learn from; every message has content (or, for an assistant, tool
calls); tool messages answer a tool call made earlier; `weight` is 0 or 1 and only on assistant messages;
the example fits the model's token limit. Per set: a minimum number of examples and a maximum file size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pipeline.schema import ChatExample, PreferenceExample, content_text


@dataclass(frozen=True)
class Problem:
    """Why an example is refused: a short code for counting, and the detail for the user."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def turn_problems(roles: Sequence[str], where: str, target: str) -> list[Problem]:
    """Problems with the order of roles for targets that want a system or user message first, then user and
    assistant turns alternating (no tool turns)."""
    if roles and roles[0] not in ("system", "user"):
        return [Problem("bad-order", f"{where}[0] is {roles[0]}; {target} wants a system or user message first")]
    turns = roles[1:] if roles and roles[0] == "system" else roles
    offset = len(roles) - len(turns)
    for i, role in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            return [
                Problem(
                    "bad-order", f"{where}[{i + offset}] is {role} where {target} expects {expected} (turns alternate)"
                )
            ]
    return []


class Ruleset:
    name = "base"
    min_examples = 10
    max_file_bytes = 512 * 1024 * 1024
    default_token_limit = 65_536
    token_limits: ClassVar[dict[str, int]] = {}

    def token_limit(self, model: str) -> int:
        """Tokens allowed in one example for `model`; fine-tuned names (ft:base:org::id) use their base."""
        base = model.removeprefix("ft:").split(":")[0]
        for prefix in sorted(self.token_limits, key=len, reverse=True):
            if base.startswith(prefix):
                return self.token_limits[prefix]
        return self.default_token_limit

    def check_example(self, example: ChatExample | PreferenceExample, tokens: int, model: str) -> list[Problem]:
        """`check` or `check_preference`, whichever the example's kind calls for."""
        if isinstance(example, PreferenceExample):
            return self.check_preference(example, tokens, model)
        return self.check(example, tokens, model)

    def check(self, example: ChatExample, tokens: int, model: str) -> list[Problem]:
        """Every problem this example has for the target; empty when it is fine."""
        problems: list[Problem] = []
        messages = example.messages
        if not any(m.role == "assistant" for m in messages):
            problems.append(Problem("no-assistant", "no assistant message to learn from"))
        open_calls: set[str] = set()
        for i, message in enumerate(messages):
            text = content_text(message.content)
            if message.role == "assistant" and message.tool_calls:
                open_calls.update(call.id for call in message.tool_calls)
            elif not text.strip():
                problems.append(Problem("empty-content", f"messages[{i}] ({message.role}) has no content"))
            if message.role == "tool" and message.tool_call_id not in open_calls:
                problems.append(
                    Problem(
                        "unanswered-tool",
                        f"messages[{i}] answers tool call {message.tool_call_id!r}, which no earlier assistant made",
                    )
                )
            if message.weight is not None:
                if message.role != "assistant":
                    problems.append(
                        Problem("bad-weight", f"messages[{i}] has a weight, but only assistant messages may")
                    )
                elif message.weight not in (0, 1):
                    problems.append(
                        Problem("bad-weight", f"messages[{i}].weight is {message.weight}; it must be 0 or 1")
                    )
        limit = self.token_limit(model)
        if tokens > limit:
            problems.append(Problem("too-long", f"{tokens} tokens, over the {limit} a {model} example may have"))
        return problems

    def check_preference(self, example: PreferenceExample, tokens: int, model: str) -> list[Problem]:
        """A preference line: its prompt must be a valid conversation without the answer, and both answers non-empty."""
        problems = []
        for side in ("preferred_output", "non_preferred_output"):
            if not content_text(getattr(example, side)[0].content).strip():
                problems.append(Problem("empty-content", f"{side} has no content"))
        if content_text(example.preferred_output[0].content) == content_text(example.non_preferred_output[0].content):
            problems.append(Problem("same-outputs", "preferred and non-preferred outputs are the same"))
        limit = self.token_limit(model)
        if tokens > limit:
            problems.append(Problem("too-long", f"{tokens} tokens, over the {limit} a {model} example may have"))
        return problems

    def check_set(self, n_train: int, file_bytes: int) -> list[Problem]:
        problems = []
        if n_train < self.min_examples:
            problems.append(
                Problem("too-few", f"{n_train} training examples; {self.name} needs at least {self.min_examples}")
            )
        if file_bytes > self.max_file_bytes:
            problems.append(
                Problem(
                    "file-too-large",
                    f"train file is {file_bytes / 2**20:.0f} MB; the limit is {self.max_file_bytes // 2**20} MB",
                )
            )
        return problems

    def default_epochs(self, n: int) -> int:
        """The number of epochs the provider picks when left on auto."""
        return 3


class TextTurnsRules(Ruleset):
    """Targets whose format holds text turns only: an optional system message, then user and assistant turns
    alternating from the user to the assistant, no tool calls and no per-message weights (Vertex AI, Bedrock)."""

    label = "this target"

    def check(self, example: ChatExample, tokens: int, model: str) -> list[Problem]:
        problems = super().check(example, tokens, model)
        roles = [m.role for m in example.messages]
        problems += turn_problems(roles, "messages", self.label)
        if roles and roles[-1] != "assistant":
            problems.append(
                Problem(
                    "bad-order",
                    f"messages[{len(roles) - 1}] is {roles[-1]}; {self.label} wants the assistant's turn last",
                )
            )
        for i, message in enumerate(example.messages):
            if message.tool_calls:
                problems.append(
                    Problem("no-tools", f"messages[{i}] has tool calls, which {self.label}'s format cannot carry")
                )
            if message.weight is not None:
                problems.append(
                    Problem("no-weights", f"messages[{i}] has a weight, which {self.label}'s format cannot carry")
                )
        return problems
