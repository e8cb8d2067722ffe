"""Each ruleset rule with a failing example, and the set-level rules."""

from __future__ import annotations

import pytest

from pipeline.errors import InputError
from pipeline.rules import get_ruleset
from pipeline.schema import parse_example


def codes(data, tokens=100, model="gpt-4o-mini"):
    return [p.code for p in get_ruleset("openai").check(parse_example(data), tokens, model)]


def test_good_example_passes():
    assert codes({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}) == []


@pytest.mark.parametrize(
    "data, code",
    [
        ({"messages": [{"role": "user", "content": "a"}]}, "no-assistant"),
        ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]}, "empty-content"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"type": "text", "text": " "}]},
                ]
            },
            "empty-content",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "tool", "tool_call_id": "x", "content": "r"},
                    {"role": "assistant", "content": "b"},
                ]
            },
            "unanswered-tool",
        ),
        (
            {"messages": [{"role": "user", "content": "a", "weight": 0}, {"role": "assistant", "content": "b"}]},
            "bad-weight",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "weight": 3}]},
            "bad-weight",
        ),
    ],
)
def test_rule_fails(data, code):
    assert codes(data) == [code]


@pytest.mark.parametrize(
    "model, limit",
    [
        ("gpt-4o-mini-2024-07-18", 65_536),
        ("gpt-4o", 65_536),
        ("gpt-4.1", 65_536),
        ("gpt-4.1-mini", 65_536),
        ("gpt-4.1-nano-2025-04-14", 32_768),
        ("gpt-3.5-turbo-0125", 16_385),
        ("ft:gpt-4.1-nano:acme::x1", 32_768),
    ],
)
def test_token_limits(model, limit):
    data = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert codes(data, tokens=limit, model=model) == []
    assert codes(data, tokens=limit + 1, model=model) == ["too-long"]


def test_set_rules():
    rules = get_ruleset("openai")
    assert [p.code for p in rules.check_set(9, 100)] == ["too-few"]
    assert [p.code for p in rules.check_set(10, 513 * 2**20)] == ["file-too-large"]
    assert rules.check_set(10, 512 * 2**20) == []


def test_unknown_target():
    with pytest.raises(InputError, match="unknown target 'mistral'"):
        get_ruleset("mistral")
