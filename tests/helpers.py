"""Small builders of test data shared by several test modules."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

WORDS = [
    "lamp",
    "mug",
    "chair",
    "desk",
    "kettle",
    "boots",
    "tent",
    "bottle",
    "lantern",
    "scarf",
    "pillow",
    "blender",
    "stool",
    "rack",
    "clock",
    "shelf",
    "basket",
    "grinder",
    "jacket",
    "candle",
]


def chat(user: str, assistant: str, system: str | None = "You write product descriptions.") -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def varied_examples(n: int, seed: int = 0) -> list[dict]:
    """n chat examples whose texts share few word 3-grams (no two are near duplicates)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(30)]
        out.append(chat(f"Product {i}: " + " ".join(words[:12]), f"Item {i} is " + " ".join(words[12:])))
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GENERATE_CHAT = ("generate", "--backend", "openai", "--mode", "chat")  # online generation at a test chat server


def ftboot_argv(project: Path, *args: str) -> list[str]:
    """The command line of `ftboot --project PROJECT ARGS...` in a process of its own (this interpreter)."""
    return [sys.executable, "-m", "pipeline", "--project", str(project), *args]
