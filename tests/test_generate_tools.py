"""Tool-calling examples: the tools declared by the seeds and the config reach the prompt, the reply's schema and
every candidate, and a call to an unknown function or with arguments outside its JSON Schema is a `tool-call`
reject. Runs on the tool-calling project in tests/data/tools against the chat test server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.generation.planner import TOOL_EXAMPLES_SCHEMA
from tests.fake_chat import FakeChat, edit_config

DATA = Path(__file__).parent / "data" / "tools"
RUN = ("generate", "--n", "1", "--max-requests", "1", "--concurrency", "1", "--json")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(DATA / "ftboot.toml", tmp_path / "ftboot.toml")
    shutil.copytree(DATA / "seeds", tmp_path / "seeds")
    (tmp_path / "outputs").mkdir()
    return tmp_path


def call(name: str, **arguments: object) -> dict:
    user = {"role": "user", "content": f"A question for {name} about {sorted(arguments)}?"}
    calling = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        ],
    }
    answer = {"role": "tool", "tool_call_id": "call_a", "content": '{"sky": "sun"}'}
    return {
        "messages": [
            user,
            calling,
            answer,
            {"role": "assistant", "content": f"The {name} tool says: sunny, {arguments}."},
        ]
    }


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_calls_are_checked_against_the_declared_tools(run, project: Path, chat: FakeChat) -> None:
    chat.queue(
        json.dumps(
            {
                "examples": [
                    call("get_weather", city="Lima", unit="celsius"),
                    call("get_forecast", city="Quito", days=3),
                    call("get_stock_price", ticker="ACME"),
                    call("get_forecast", city="Cusco", days=9),
                    call("get_weather", city="Lima", unit="kelvin"),
                    call("get_weather", unit="celsius"),
                ]
            }
        )
    )
    result = run(*RUN)
    assert result.exit_code == 0, result.output
    candidates, rejected = (
        lines(project / "outputs" / "candidates.jsonl"),
        lines(project / "outputs" / "rejected.jsonl"),
    )
    assert [c["example"]["messages"][2]["tool_calls"][0]["function"]["name"] for c in candidates] == [
        "get_weather",
        "get_forecast",
    ]
    for candidate in candidates:  # the config's tool first, then the seeds'
        assert [t["function"]["name"] for t in candidate["example"]["tools"]] == ["get_forecast", "get_weather"]
        assert candidate["example"]["messages"][0]["role"] == "system"
    assert [r["reason"]["code"] for r in rejected] == ["tool-call"] * 4
    details = [r["reason"]["detail"] for r in rejected]
    assert (
        details[0]
        == "messages[2].tool_calls[0]: 'get_stock_price' is not a declared function (get_forecast, get_weather)"
    )
    assert details[1] == "messages[2].tool_calls[0]: get_forecast arguments.days: 9 is greater than the maximum of 7"
    assert details[2].startswith("messages[2].tool_calls[0]: get_weather arguments.unit: 'kelvin' is not one of")
    assert details[3] == "messages[2].tool_calls[0]: get_weather arguments: 'city' is a required property"
    assert all(
        r["example"]["tools"] for r in rejected
    )  # a reviewer of rejects sees what the calls were checked against


def test_the_request_shows_the_tools_and_admits_tool_calls(run, chat: FakeChat) -> None:
    assert run(*RUN).exit_code == 0
    body = chat.bodies()[0]
    prompt = body["messages"][-1]["content"]
    assert '"name": "get_forecast"' in prompt and '"name": "get_weather"' in prompt and "tool_calls" in prompt
    assert (
        '"tool_call_id": "call_1"' in prompt
        or '"tool_call_id": "call_2"' in prompt
        or '"tool_call_id": "call_3"' in prompt
    )
    assert body["response_format"]["json_schema"]["schema"] == TOOL_EXAMPLES_SCHEMA


def test_a_strict_reply_with_null_keys_is_read(run, project: Path, chat: FakeChat) -> None:
    example = call("get_weather", city="Lima")
    for message in example["messages"]:  # strict structured output writes every key, null where unused
        message.setdefault("tool_calls", None)
        message.setdefault("tool_call_id", None)
        message.setdefault("content", None)
    chat.queue(json.dumps({"examples": [example]}))
    assert run(*RUN).exit_code == 0
    [candidate] = lines(project / "outputs" / "candidates.jsonl")
    user, answer = candidate["example"]["messages"][1], candidate["example"]["messages"][4]
    assert user.keys() == answer.keys() == {"role", "content"}


def test_an_invalid_parameters_schema_in_a_seed_is_located(run, project: Path, chat: FakeChat) -> None:
    path = project / "seeds" / "weather.jsonl"
    rows = path.read_text().splitlines()
    second = json.loads(rows[1])
    second["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] = "text"
    rows[1] = json.dumps(second)
    path.write_text("\n".join(rows) + "\n")
    result = run(*RUN)
    assert result.exit_code == 2 and not chat.bodies()
    assert (
        "seeds/weather.jsonl:2: tools[0].function.parameters.properties.city.type: not a valid JSON Schema"
        in result.output
    )


def test_an_invalid_parameters_schema_in_the_config_is_located(run, project: Path, chat: FakeChat) -> None:
    path = project / "ftboot.toml"
    path.write_text(path.read_text().replace("minimum = 1", 'minimum = "one"'))
    result = run(*RUN)
    assert result.exit_code == 2 and not chat.bodies()
    assert (
        "ftboot.toml: generate.tools[0].function.parameters.properties.days.minimum: not a valid JSON Schema"
        in result.output
    )


def test_tools_need_chat_mode(run, project: Path, chat: FakeChat) -> None:
    result = run(*RUN[:-1], "--mode", "completion")
    assert result.exit_code == 2 and "tool-calling examples need chat mode" in result.output and not chat.bodies()


def test_a_project_without_tools_keeps_its_prompt_and_candidates(run, project: Path, chat: FakeChat) -> None:
    for seed in (project / "seeds").iterdir():
        seed.unlink()
    (project / "seeds" / "plain.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Question number {i} about the weather?"},
                        {"role": "assistant", "content": f"Answer number {i}: it is sunny."},
                    ]
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    edit_config(project, "task", description="Answer weather questions.")
    path = project / "ftboot.toml"
    path.write_text(path.read_text().split("[[generate.tools]]")[0])
    assert run(*RUN).exit_code == 0
    body = chat.bodies()[0]
    assert "Tools" not in body["messages"][-1]["content"]
    assert body["response_format"]["json_schema"]["schema"] != TOOL_EXAMPLES_SCHEMA
    assert all("tools" not in c["example"] for c in lines(project / "outputs" / "candidates.jsonl"))
