"""AWS Bedrock's fine-tuning rules for the `bedrock-conversation-2024` format: an optional system prompt, then user
and assistant turns alternating, starting with the user and ending with the assistant, text only
(`base.TextTurnsRules`). Left out: each base model's own limits on example length and count, which Bedrock
checks when the job starts.
"""

from __future__ import annotations

from pipeline.rules.base import TextTurnsRules


class BedrockRules(TextTurnsRules):
    name = "bedrock"
    label = "Bedrock"
