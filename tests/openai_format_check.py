"""An independent checker of OpenAI's chat fine-tuning format, written from the checks OpenAI's cookbook
describes ("Data preparation and analysis for chat model fine-tuning"), sharing no code with ftboot.
Returns a dict of error kind → count; empty means the file is accepted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

ALLOWED_MESSAGE_KEYS = {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight"}
ROLES = {"system", "user", "assistant", "function", "tool"}


def check_file(path: Path) -> Counter:
    errors: Counter = Counter()
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 10:
        errors["fewer_than_10_examples"] += 1
    for line in lines:
        example = json.loads(line)
        if not isinstance(example, dict):
            errors["data_type"] += 1
            continue
        messages = example.get("messages")
        if not messages or not isinstance(messages, list):
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or ("content" not in message and "tool_calls" not in message):
                errors["message_missing_key"] += 1
            if set(message) - ALLOWED_MESSAGE_KEYS:
                errors["message_unrecognized_key"] += 1
            if message.get("role") not in ROLES:
                errors["unrecognized_role"] += 1
            content = message.get("content")
            if message.get("tool_calls") is None and (not content or not isinstance(content, (str, list))):
                errors["missing_content"] += 1
            if "weight" in message and (message["role"] != "assistant" or message["weight"] not in (0, 1)):
                errors["bad_weight"] += 1
        if not any(m.get("role") == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
    return errors
