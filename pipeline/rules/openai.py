"""OpenAI's chat fine-tuning rules: per-model token limits and the default epochs its service picks."""

from __future__ import annotations

from typing import ClassVar

from pipeline.rules.base import Ruleset


class OpenAIRules(Ruleset):
    name = "openai"
    min_examples = 10
    max_file_bytes = 512 * 1024 * 1024
    default_token_limit = 65_536
    token_limits: ClassVar[dict[str, int]] = {
        "gpt-4o-mini": 65_536,
        "gpt-4o": 65_536,
        "gpt-4.1-nano": 32_768,
        "gpt-4.1-mini": 65_536,
        "gpt-4.1": 65_536,
        "gpt-3.5-turbo": 16_385,
    }

    def default_epochs(self, n: int) -> int:
        # OpenAI aims at 100 to 25,000 example-passes in all: 3 epochs, raised for tiny sets, lowered for big ones.
        epochs = 3
        if n * epochs < 100:
            epochs = min(25, 100 // max(n, 1))
        elif n * epochs > 25_000:
            epochs = max(1, 25_000 // n)
        return epochs
