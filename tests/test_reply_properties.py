"""Property-based tests of everything that reads what a server sent: whatever the input, the reply parsers (chat
JSON, the numbered completion pattern), the body and cache readers, a batch result line and the whole way from a
reply to candidate and reject lines give items, a `Reply` or records, never an exception; and every record is a
line that `read_jsonl` reads back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.generation.batch.files import outcome
from pipeline.generation.filters import Screen, records_from_reply
from pipeline.generation.parsing import ParsedItem, parse_json_reply, parse_numbered
from pipeline.generation.run import Options, RunSettings
from pipeline.jsonl import MAX_LINE_BYTES
from pipeline.llm.request import CHAT, COMPLETION, Reply, reply_from_body, reply_from_bytes
from pipeline.project import find_project
from pipeline.writes import dumps

REPO = Path(__file__).resolve().parent.parent
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Strings with lone surrogates, which only a JSON escape can carry to us.
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
strings = st.text(max_size=40) | st.builds(lambda a, s: a + s, st.text(max_size=10), surrogates)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | strings
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4), max_leaves=25
)
deep = st.integers(1, 5000).map(lambda n: "[" * n + "]" * n) | st.integers(1, 5000).map(
    lambda n: '{"a":' * n + "1" + "}" * n
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "bot"])
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles, "content": strings | json_values},
        optional={
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": strings,
                        "type": st.just("function"),
                        "function": st.fixed_dictionaries(
                            {"name": strings, "arguments": strings | deep | json_values.map(json.dumps)}
                        ),
                    }
                ),
                max_size=2,
            )
        },
    ),
    max_size=4,
)
examples = st.fixed_dictionaries({"messages": messages})
reply_texts = st.one_of(
    st.text(),
    deep,
    json_values.map(json.dumps),
    st.lists(examples, max_size=3).map(lambda e: json.dumps({"examples": e})),
    st.lists(examples, max_size=3).map(lambda e: "Here:\n```json\n" + json.dumps(e)[:-1] + ",]\n```"),
    st.builds(
        lambda a, b: a + b,
        st.lists(examples, max_size=2).map(json.dumps),
        st.text(alphabet='[]{}",:\\ud80 ', max_size=60),
    ),
    st.integers(4300, 6000).map(lambda n: '{"examples": [{"n": ' + "7" * n + "}]}"),
)
numbered = st.lists(
    st.one_of(
        st.builds(
            lambda n, u, a: f"### Example {n}\nUSER: {u}\nASSISTANT: {a}\n### END",
            st.integers(0, 10**6).map(str) | st.just("9" * 5000) | st.just("\u0663"),
            st.text(),
            st.text(),
        ),
        st.text(),
        st.just("USER: hi"),
        st.just("### END"),
    ),
    max_size=6,
).map("\n".join)


def chat_body(content: Any, finish: Any = "stop", usage: Any = None) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": usage,
    }


bodies = st.one_of(
    json_values,
    st.builds(
        chat_body,
        reply_texts | json_values,
        st.sampled_from(["stop", "length", "content_filter"]) | json_values,
        json_values | st.fixed_dictionaries({"prompt_tokens": json_values, "completion_tokens": json_values}),
    ),
    st.builds(lambda choices: {"choices": choices}, json_values),
    st.builds(lambda message: {"choices": [{"message": message}]}, json_values),
)


def assert_items(items: list[ParsedItem]) -> None:
    for item in items:
        assert (item.problem is None) == isinstance(item.value, dict)
        dumps({"raw": item.raw}).encode()  # every text an item keeps can be written


@PROPERTY
@given(reply_texts, st.sampled_from(["stop", "length", None]))
def test_chat_json_parser_never_raises(text: str, finish: str | None) -> None:
    assert_items(parse_json_reply(text, finish))


@PROPERTY
@given(numbered, st.integers(1, 20), st.integers(1, 5), st.sampled_from(["stop", "length"]))
def test_numbered_parser_never_raises(text: str, first: int, count: int, finish: str) -> None:
    assert_items(parse_numbered(text, first, count, finish))


@PROPERTY
@given(bodies, st.sampled_from([CHAT, COMPLETION]))
def test_any_body_is_a_reply_that_the_cache_stores_and_gives_back(body: Any, endpoint: str) -> None:
    reply = reply_from_body(endpoint, body)
    stored = json.loads(dumps(reply.to_dict()).encode())  # what the cache writes and reads back
    assert Reply.from_dict(stored) == reply
    for tokens in (reply.prompt_tokens, reply.completion_tokens):
        assert tokens is None or (isinstance(tokens, int) and tokens >= 0)


@PROPERTY
@given(st.binary(max_size=200) | deep.map(str.encode) | bodies.map(lambda b: json.dumps(b).encode()))
def test_any_bytes_are_a_reply_or_worth_another_try(raw: bytes) -> None:
    try:
        reply = reply_from_bytes(CHAT, raw)
    except ValueError:
        return  # not JSON at all: the client retries it
    assert isinstance(reply, Reply)


@PROPERTY
@given(
    json_values
    | st.builds(
        lambda body, status, error: {
            "custom_id": "k",
            "response": {"status_code": status, "body": body},
            "error": error,
        },
        bodies,
        json_values,
        json_values,
    )
)
def test_any_batch_result_line_is_a_reply_or_a_failure(line: Any) -> None:
    result = outcome(line, CHAT)
    assert isinstance(result, Reply) or all(isinstance(part, str) for part in result)


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Screen]]:
    root = tmp_path_factory.mktemp("project")
    shutil.copy(REPO / "ftboot.toml", root / "ftboot.toml")
    shutil.copytree(REPO / "seeds", root / "seeds")
    project = find_project(root)
    out = {}
    for mode in ("chat", "completion"):
        stage = RunSettings(project, Options(backend="openai", mode=mode))
        out[mode] = (stage.planner.request(0), Screen(project.config, stage.seeds))
    return out


@PROPERTY
@given(
    bodies | st.builds(lambda t: {"choices": [{"text": t, "finish_reason": "stop"}]}, numbered | reply_texts),
    st.sampled_from(["chat", "completion"]),
)
def test_any_reply_becomes_records_that_read_back(stages: dict, body: Any, mode: str) -> None:
    request, screen = stages[mode]
    records = records_from_reply(request, reply_from_body(request.endpoint, body), screen, "test")
    for record, accepted in records:
        line = dumps(record.model_dump()).encode()
        assert len(line) < MAX_LINE_BYTES and json.loads(line)["id"] == record.id
        assert accepted or record.reason["code"]
