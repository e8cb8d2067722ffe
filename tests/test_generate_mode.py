"""The mode follows the model: each backend's default mode, the per-backend settings, and the early stop of a run
whose first replies cannot be parsed (a completion request to a chat model), with nothing paid for lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_chat import Canned, FakeChat, edit_config

OPENAI = ("generate", "--backend", "openai")


def dry_mode(run, *args: str) -> str:
    result = run("generate", *args, "--n", "4", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["mode"]


def test_each_backend_has_its_own_default_mode(run, chat: FakeChat) -> None:
    assert dry_mode(run) == "completion"  # the bundled local model is a base model
    assert dry_mode(run, "--backend", "openai") == "chat"
    assert dry_mode(run, "--backend", "openai", "--mode", "completion") == "completion"


def test_a_mode_set_per_backend_comes_before_generate_mode(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, "generate", mode="chat")
    assert dry_mode(run) == "chat" and dry_mode(run, "--backend", "openai") == "chat"
    edit_config(project, "openai", mode="completion")
    edit_config(project, "local", mode="completion")
    assert dry_mode(run) == "completion" and dry_mode(run, "--backend", "openai") == "completion"
    assert dry_mode(run, "--backend", "openai", "--mode", "chat") == "chat"


def test_completion_requests_to_a_chat_model_stop_early(run, project: Path, chat: FakeChat) -> None:
    chat.chat_model = True
    result = run(*OPENAI, "--mode", "completion", "--n", "200", "--concurrency", "1")
    assert result.exit_code == 1
    message = [line for line in result.output.splitlines() if "could not be parsed" in line]
    assert len(message) == 1 and message[0].endswith(
        "of the first 10 replies could not be parsed: completion mode against a chat model (gpt-4o-mini)? "
        'set mode = "chat" under [openai] or [generate], or pass --mode chat'
    )
    # The ten watched, and at most the one the worker had sent before the tenth was handled: not the 400 the
    # default cap allows. Every one paid for is cached and written.
    sent = len(chat.bodies())
    assert 10 <= sent <= 11
    rejected = (project / "outputs" / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == sent and {json.loads(r)["reason"]["code"] for r in rejected} == {"unparseable"}
    assert len((project / "outputs" / "cache" / "replies.jsonl").read_text().splitlines()) == sent

    again = run(*OPENAI, "--mode", "completion", "--n", "200", "--concurrency", "1")
    assert again.exit_code == 1 and "completion mode against a chat model" in again.output
    assert len(chat.bodies()) == sent  # the cached replies give the same verdict without a request


def test_in_flight_replies_of_an_early_stop_are_written(run, project: Path, chat: FakeChat) -> None:
    chat.chat_model = True
    result = run(*OPENAI, "--mode", "completion", "--n", "200", "--concurrency", "4", "--json")
    assert result.exit_code == 1
    sent = len(chat.bodies())
    # Those in flight, and answers waiting for the handler, when the tenth settled: a few waves of 4 at most (a
    # loaded machine lets the handler lag a wave or two behind the sender); far short of the hundreds planned.
    assert 10 <= sent <= 10 + 4 * 4
    assert len((project / "outputs" / "rejected.jsonl").read_text().splitlines()) == sent


def test_chat_requests_to_a_base_model_stop_early(run, chat: FakeChat) -> None:
    chat.queue(*["The the the examples examples of a product and and then"] * 10)
    result = run(*OPENAI, "--n", "200", "--concurrency", "1")
    assert result.exit_code == 1 and "chat mode against a base model (gpt-4o-mini)?" in result.output
    assert "--mode completion" in result.output


@pytest.mark.parametrize("bad, stops", [(7, False), (8, True)])
def test_the_stop_needs_most_of_the_first_ten_unparsed(run, chat: FakeChat, bad: int, stops: bool) -> None:
    chat.queue(*[Canned("Sorry, I can only chat.")] * bad)
    result = run(*OPENAI, "--n", "30", "--concurrency", "1", "--json")
    assert (result.exit_code == 1) is stops, result.output
