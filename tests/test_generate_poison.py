"""Poisoned replies, budgets a server's answers cannot stretch, and reject lines that the next run reads: `ftboot
generate` and `--collect-file` against test servers that send what a careless or hostile one could."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.generation.run import Options, RunSettings
from pipeline.llm import client as client_module
from pipeline.project import find_project
from tests.fake_chat import FakeChat, edit_config
from tests.fakeapi import Fault
from tests.test_batch_files import run_elsewhere

CHAT = ("generate", "--backend", "openai", "--mode", "chat", "--concurrency", "1")
DEEP = "[" * 3000 + "]" * 3000
GOOD = {"role": "user", "content": "Product: Lumen desk lamp, warm light, dimmable, USB-C powered"}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def body(content: Any = None, message: Any = None, usage: Any = None, **choice: Any) -> dict[str, Any]:
    message = message if message is not None else {"role": "assistant", "content": content}
    return {
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", **choice}],
        "usage": usage if usage is not None else {"prompt_tokens": 10, "completion_tokens": 10},
    }


def examples(*messages: dict[str, Any]) -> str:
    return json.dumps({"examples": [{"messages": list(messages)}]})


POISON = {
    "body nested 3,000 deep": (DEEP.encode(), "unparseable", "nested too deeply"),
    "content nested 3,000 deep": (body(DEEP), "unparseable", "nested too deeply"),
    "a lone surrogate escaped in an example": (
        body(examples(GOOD, {"role": "assistant", "content": "Soft warm light \ud800 for late evenings at the desk."})),
        "unparseable",
        "lone UTF-16 surrogate",
    ),
    "a lone surrogate in the body": (body("\ud800 and no JSON"), "unparseable", "no example found"),
    "content a number": (body(5), "unparseable", "choices[0].message.content is a JSON number"),
    "message a string": (body(message="hello"), "unparseable", "choices[0].message is a JSON string"),
    "usage a list": (body("no JSON here at all", usage=[1, 2]), "unparseable", "no example found"),
    "choices missing": ({"usage": {}}, "unparseable", "choices is missing"),
    "choices a string": ({"choices": "many"}, "unparseable", "choices is a JSON string"),
    "body a list": ([1, 2], "unparseable", "the body is a JSON array"),
    "a number of 5,000 digits": (
        body('{"examples": [{"n": ' + "7" * 5000 + "}]}"),
        "unparseable",
        "Python cannot read",
    ),
    "tool-call arguments nested 3,000 deep": (
        body(
            examples(
                GOOD,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": DEEP}}],
                },
            )
        ),
        "schema",
        "nested too deep",
    ),
}


@pytest.mark.parametrize("poison", list(POISON))
def test_a_poisoned_reply_is_a_reject_now_and_in_every_rerun(run, project: Path, chat: FakeChat, poison: str) -> None:
    sent, code, detail = POISON[poison]
    chat.queue_body(sent)
    first = ok(run(*CHAT, "--n", "4", "--json"))
    rejected = lines(project / "outputs" / "rejected.jsonl")
    assert first["candidates"] >= 4 and [(r["reason"]["code"], r["provenance"]["item"]) for r in rejected] == [
        (code, 0)
    ]
    assert detail in rejected[0]["reason"]["detail"]
    # The poisoned reply is cached: a run that starts over replays it from there and pays for nothing.
    for name in ("candidates.jsonl", "rejected.jsonl"):
        (project / "outputs" / name).unlink()
    again = ok(run(*CHAT, "--n", "4", "--json"))
    assert again["requests"]["sent"] == 0 and again["requests"]["cached"] >= 3
    assert lines(project / "outputs" / "rejected.jsonl") == rejected


def test_a_cache_written_before_replies_were_checked_is_read(run, project: Path, chat: FakeChat) -> None:
    stage = RunSettings(find_project(project), Options(backend="openai", mode="chat"))
    poisoned = {"choices": [{"text": 5, "finish_reason": "stop", "refusal": None}], "usage": {"prompt_tokens": 1}}
    cache = project / "outputs" / "cache" / "replies.jsonl"
    cache.parent.mkdir()
    cache.write_text(json.dumps({"key": stage.planner.request(0).key, "reply": poisoned}) + "\n")
    result = ok(run(*CHAT, "--n", "2", "--json"))
    assert result["requests"]["cached"] == 1 and result["rejected_by_reason"] == {"unparseable": 1}


def worst_case_cost(project: Path) -> float:
    request = RunSettings(find_project(project), Options(backend="openai", mode="chat")).planner.request(0)
    return (request.prompt_estimate * 5.0 + request.params["max_tokens"] * 20.0) / 1e6


def test_replies_without_usage_are_settled_at_their_worst_case(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, 'prices."gpt-4o-mini"', input=5.0, output=20.0)
    chat.usage = False
    worst = worst_case_cost(project)
    result = ok(run(*CHAT, "--concurrency", "4", "--n", "100", "--max-cost", f"{2.5 * worst:.6f}", "--json"))
    assert len(chat.bodies()) == 2 and result["requests"]["without_usage"] == 2
    assert result["cost_usd"] == pytest.approx(2 * worst, rel=0.05) and "--max-cost" in result["stopped"]


@pytest.mark.parametrize(
    "fault", [Fault(after=1.0), Fault(malformed=True)], ids=["timeout after the work", "unreadable 200"]
)
def test_attempts_that_may_have_been_billed_count_against_the_budget(
    run, project: Path, chat: FakeChat, fault: Fault
) -> None:
    # A short timeout only where the fault needs one: on a loaded machine it would also cut off honest answers.
    edit_config(project, "generate", timeout=0.3 if fault.after else 10)
    chat.api.inject(*[fault] * 10)
    result = ok(run(*CHAT, "--n", "100", "--max-requests", "3", "--json"))
    assert len(chat.bodies()) == 3 and result["requests"]["billed_unusable"] == 3
    assert result["stopped"].startswith("stopped: --max-requests 3 reached")
    assert (
        result["tokens"]["completion"]
        == 3 * RunSettings(find_project(project), Options(backend="openai")).planner.request(0).params["max_tokens"]
    )
    chat.api.faults.clear()
    shown = run(*CHAT, "--n", "100", "--max-requests", "1")
    assert "possibly billed" not in shown.output  # the 4th request is answered
    chat.api.inject(fault)
    shown = run(*CHAT, "--n", "100", "--max-requests", "1")
    table = " ".join(shown.output.replace("│", " ").split())  # the table wraps its cells
    assert "1 possibly billed, no answer" in table and "worst case counted for 1 without usage" in table


def test_a_huge_reply_is_cut_on_its_reject_line_and_the_next_run_reads_it(run, project: Path, chat: FakeChat) -> None:
    prose = "x" * 5_000_000
    chat.queue_body(body(prose), body(examples(GOOD, {"role": "assistant", "content": "y" * 5_000_000})))
    ok(run(*CHAT, "--n", "2", "--json"))
    path = project / "outputs" / "rejected.jsonl"
    assert max(len(line) for line in path.read_bytes().splitlines()) < 64 * 1024
    cut, too_long = lines(path)
    assert (cut["reason"]["code"], len(cut["raw"]), cut["raw_bytes"]) == ("unparseable", 4096, 5_000_000)
    assert cut["raw_sha256"] == hashlib.sha256(prose.encode()).hexdigest()
    assert too_long["reason"]["code"] == "too-long" and too_long["example"] == {} and too_long["raw_bytes"] > 5_000_000
    assert ok(run(*CHAT, "--n", "4", "--json"))["candidates"] == 4


def test_collect_file_takes_poisoned_answers_as_rejects(run, project: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    completion = ("generate", "--backend", "openai", "--mode", "completion")
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    ok(run(*completion, "--n", "8", "--batch-file", str(requests), "--json"))
    run_elsewhere(requests, results)
    rows = lines(results)
    rows[0]["response"]["body"] = {"choices": [{"text": {"a": 1}}]}
    rows[1]["response"]["body"]["choices"][0]["text"] = "### Example " + "9" * 5000 + "\nUSER: hi"
    rows[2]["response"] = "gone"
    rows[3]["error"] = "a string, not an object"
    text = "".join(json.dumps(row) + "\n" for row in rows[:4])
    results.write_text(text + '{"custom_id": "' + rows[4]["custom_id"] + '", "response": ' + DEEP + "}\n")
    taken = ok(run(*completion, "--collect-file", str(results), "--json"))["collected"]
    (batch,) = taken["batches"]
    assert batch["failed"] == {"no-response": 1, "error": 1, "malformed": 1} and batch["answered"] == 2
    # The text is no example (unparseable); a header numbered beyond any plan is text of the example before it.
    assert taken["rejected_by_reason"] == {"unparseable": 1, "empty": 1}
