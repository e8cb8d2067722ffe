"""Token counts: offline encodings seeded from the shipped files, known values, the ft: prefix."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipeline import tokens


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    tokens.ensure_encodings.cache_clear()
    tokens.encoding_for.cache_clear()
    yield
    tokens.ensure_encodings.cache_clear()
    tokens.encoding_for.cache_clear()


def test_cache_is_seeded_with_verified_files(tmp_path):
    directory = tokens.ensure_encodings()
    for url, sha256 in tokens.ENCODINGS.values():
        data = (directory / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256


def test_works_without_network(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert tokens.count_text("hello world", "gpt-4o") == 2


@pytest.mark.parametrize(
    "model, text, ids",
    [
        ("gpt-3.5-turbo", "hello world", [15339, 1917]),
        ("gpt-4o", "hello world", [24912, 2375]),
        ("gpt-4", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ],
)
def test_known_encodings(model, text, ids):
    assert tokens.encoding_for(model).encode(text) == ids


@pytest.mark.parametrize(
    "model, encoding",
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("ft:gpt-4.1-mini:acme::abc123", "o200k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("llama-3-8b", "cl100k_base"),
    ],
)
def test_encoding_per_model(model, encoding):
    assert tokens.encoding_for(model).name == encoding


def test_example_count_follows_the_cookbook():
    example = {
        "messages": [
            {"role": "system", "content": "hello world"},
            {"role": "user", "content": "hello world", "name": "bob"},
        ]
    }
    # 3 per example + (3 + 2) for each message + (1 + 1) for the name
    assert tokens.count_example_tokens(example, "gpt-4o") == 3 + 5 + 5 + 2


def _chat(i: int, system: str) -> dict:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": f"question {i} " * (i % 7 + 1), "name": "ann" if i % 3 else None},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": f"answer {i}"}],
                "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }


def _cookbook(example: dict, model: str) -> int:
    """The cookbook's count, written out once more, line by line."""
    encode = tokens.encoding_for(model).encode_ordinary
    total = 3
    for m in example["messages"]:
        content = m["content"] if isinstance(m["content"], str) else "".join(p["text"] for p in m["content"])
        total += 3 + len(encode(content))
        if m.get("name"):
            total += 1 + len(encode(m["name"]))
        if m.get("tool_calls"):
            total += len(encode(json.dumps(m["tool_calls"], separators=(",", ":"))))
    return total + len(encode(json.dumps(example["tools"], separators=(",", ":"))))


def test_a_shared_system_prompt_is_encoded_once_and_counts_stay_the_same():
    counter = tokens.TokenCounter("gpt-4o")
    encoded: list[str] = []
    real = counter.encode

    def spy(text: str) -> list[int]:
        encoded.append(text)
        return real(text)

    counter.encode = spy
    system = "You write product descriptions for a shop. " * 50
    examples = [_chat(i, system if i % 2 else "Be kind.") for i in range(40)]
    assert [counter.count(e) for e in examples] == [_cookbook(e, "gpt-4o") for e in examples]
    assert encoded.count(system) == 1 and encoded.count("Be kind.") == 1
    assert sum(t.startswith("[{") and '"type":"function","function":{"name":"f"}}]' in t for t in encoded) == 1


def test_a_preference_line_counts_its_prompt_with_the_longer_answer():
    example = {
        "input": {"messages": [{"role": "user", "content": "hello world"}]},
        "preferred_output": [{"role": "assistant", "content": "hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "hello world hello world"}],
    }
    # 3 per example + (3 + 2) for the prompt + (3 + 4) for the longer answer
    assert tokens.count_example_tokens(example, "gpt-4o") == 3 + 5 + 7
