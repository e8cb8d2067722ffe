"""Vertex AI's supervised tuning rules for Gemini: on top of the shared ones, an optional system instruction, then
user and model turns alternating, starting with the user and ending with the model (its `contents`), text only: no
tool calls and no per-message weights, which its format has no place for. Left out: Vertex's per-model limits on
example length and count, which it checks itself when the tuning job starts.
"""

from __future__ import annotations

from pipeline.rules.base import Problem, Ruleset, turn_problems
from pipeline.schema import ChatExample


class VertexRules(Ruleset):
    name = "vertex"

    def check(self, example: ChatExample, tokens: int, model: str) -> list[Problem]:
        problems = super().check(example, tokens, model)
        roles = [m.role for m in example.messages]
        problems += turn_problems(roles, "messages", "Vertex AI")
        if roles and roles[-1] != "assistant":
            problems.append(Problem("bad-order", f"messages[{len(roles) - 1}] is {roles[-1]}; Vertex AI wants the model's turn last"))
        for i, message in enumerate(example.messages):
            if message.tool_calls:
                problems.append(Problem("no-tools", f"messages[{i}] has tool calls, which Vertex AI's tuning format cannot carry"))
            if message.weight is not None:
                problems.append(Problem("no-weights", f"messages[{i}] has a weight, which Vertex AI's tuning format cannot carry"))
        return problems
