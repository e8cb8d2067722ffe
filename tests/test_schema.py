"""The data model: every structural rule with a failing example, ids, and the preference line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.schema import example_id, make_record, parse_example, validation_messages


def problems(data, kind="chat"):
    try:
        parse_example(data, kind)
    except ValidationError as exc:
        return validation_messages(exc)
    return []


GOOD_TOOL_EXAMPLE = {
    "messages": [
        {"role": "system", "content": [{"type": "text", "text": "You help."}]},
        {"role": "user", "content": "Weather in Paris?", "name": "ana"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
            ],
            "weight": 0,
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, sunny"},
        {"role": "assistant", "content": "18 C and sunny.", "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    "parallel_tool_calls": False,
}


def test_complete_example_is_valid():
    assert problems(GOOD_TOOL_EXAMPLE) == []


@pytest.mark.parametrize(
    "data, field, message",
    [
        (
            {"messages": [{"role": "asistant", "content": "x"}]},
            "messages[0].role",
            "'asistant' is not one of system, user, assistant, tool",
        ),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "must be a string or list (got int)"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "text": "x"}]}]},
            "messages[0].content[0].type",
            "must be 'text' (got str)",
        ),
        ({"messages": [{"role": "user", "content": "x", "mood": "happy"}]}, "messages[0].mood", "unknown key"),
        ({"messages": [{"role": "user", "content": "x"}], "meta": {}}, "meta", "unknown key"),
        ({"messages": []}, "messages", "must not be empty"),
        ({}, "messages", "is required"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
            "is not a JSON string (Expecting property name enclosed in double quotes)",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "parallel_tool_calls": "yes"},
            "parallel_tool_calls",
            "must be a boolean (got str)",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "weight": "one"}]},
            "messages[0].weight",
            "must be an integer (got str)",
        ),
        (
            {"messages": [{"role": "tool", "content": "x", "tool_call_id": 3}]},
            "messages[0].tool_call_id",
            "must be a string (got int)",
        ),
    ],
)
def test_structural_rule(data, field, message):
    assert (field, message) in problems(data)


def test_preference_line():
    good = {
        "input": {"messages": [{"role": "user", "content": "Describe a mug"}]},
        "preferred_output": [{"role": "assistant", "content": "A warm mug."}],
        "non_preferred_output": [{"role": "assistant", "content": "Mug."}],
    }
    assert problems(good, "preference") == []
    bad = {**good, "preferred_output": [{"role": "user", "content": "x"}]}
    assert problems(bad, "preference") == [("preferred_output", "must be one assistant message")]
    two = {**good, "non_preferred_output": good["non_preferred_output"] * 2}
    assert problems(two, "preference")[0][0] == "non_preferred_output"


def test_id_is_stable_under_whitespace_and_case():
    a = {"messages": [{"role": "user", "content": "Hello  World"}, {"role": "assistant", "content": "Hi"}]}
    b = {"messages": [{"role": "user", "content": " hello world "}, {"role": "assistant", "content": "hi"}]}
    c = {"messages": [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "ho"}]}
    assert example_id(a) == example_id(b) != example_id(c)


def test_record_envelope():
    record = make_record(
        {"messages": [{"role": "user", "content": "x"}]}, {"source": "seed", "file": "a", "line": 1}, reason="empty"
    )
    dumped = record.model_dump()
    assert set(dumped) == {"id", "schema_version", "kind", "example", "provenance", "reason"}
    assert dumped["schema_version"] == 1 and dumped["kind"] == "chat"
