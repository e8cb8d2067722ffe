"""The reply cache: lookups across reopenings, torn-tail repair, and a large cache opened cheaply."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from pipeline.llm.cache import ReplyCache


def reply(i: int) -> dict:
    return {
        "choices": [{"text": f"reply {i} " + "x" * 500, "finish_reason": "stop", "refusal": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": i},
    }


def test_put_get_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "replies.jsonl"
    with ReplyCache(path) as cache:
        assert cache.get("a") is None
        cache.put("a", reply(1))
        cache.put("b", reply(2))
        cache.put("a", reply(99))  # a key is stored once; the first reply stays
        assert cache.get("a") == reply(1) and cache.get("b") == reply(2) and len(cache) == 2
    with ReplyCache(path) as cache:
        assert cache.get("a") == reply(1) and cache.get("b") == reply(2) and "c" not in cache
        cache.put("c", reply(3))
        assert cache.get("c") == reply(3)
    assert len(path.read_text().splitlines()) == 3


def test_a_torn_last_line_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    with ReplyCache(path) as cache:
        cache.put("a", reply(1))
    with open(path, "a") as handle:
        handle.write('{"key":"b","reply":{"choi')  # a write killed half-way
    with ReplyCache(path) as cache:
        assert "b" not in cache and cache.get("a") == reply(1)
        cache.put("b", reply(2))
        assert cache.get("b") == reply(2)
    with ReplyCache(path) as cache:
        assert cache.get("b") == reply(2) and len(cache) == 2


def test_memory_holds_offsets_not_replies(tmp_path: Path) -> None:
    path = tmp_path / "replies.jsonl"
    with ReplyCache(path) as cache:
        for i in range(20_000):
            cache.put(f"{i:032x}", reply(i))
    size = path.stat().st_size
    tracemalloc.start()
    with ReplyCache(path) as cache:
        _, peak = tracemalloc.get_traced_memory()
        assert cache.get(f"{12345:032x}") == reply(12345)
    tracemalloc.stop()
    assert size > 10_000_000 and peak < size / 4  # ~10 MB of replies, a few MB of index
