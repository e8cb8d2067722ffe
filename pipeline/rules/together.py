"""Together AI's chat fine-tuning rules: on top of the shared ones, a conversation starts with a system or a user
message and then alternates user and assistant turns (Together's data-preparation guide), so tool messages and
two turns in a row by the same speaker are refused. Left out: per-model context lengths, which Together sets
per base model and which are not checked here (the shared default limit applies).
"""

from __future__ import annotations

from pipeline.rules.base import Problem, Ruleset, turn_problems
from pipeline.schema import ChatExample, PreferenceExample


class TogetherRules(Ruleset):
    name = "together"
    max_file_bytes = 100 * 1024**3

    def check(self, example: ChatExample, tokens: int, model: str) -> list[Problem]:
        problems = super().check(example, tokens, model)
        return problems + turn_problems([m.role for m in example.messages], "messages", "Together")

    def check_preference(self, example: PreferenceExample, tokens: int, model: str) -> list[Problem]:
        # The prompt plus either answer must itself be a valid conversation, so the prompt ends on a user turn.
        problems = super().check_preference(example, tokens, model)
        roles = [m.role for m in example.input.messages] + ["assistant"]
        return problems + turn_problems(roles, "input.messages", "Together")

    def default_epochs(self, n: int) -> int:
        # Together's fine-tunes API: n_epochs defaults to 1.
        return 1
