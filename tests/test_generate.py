"""`ftboot generate` end to end against the chat test server: targets, outputs and provenance, dry runs, keys,
faults accounted for, budgets, the shot pool of reviewed examples, and reruns that pay for nothing twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.llm import client as client_module
from tests.fake_chat import KEY, Canned, FakeChat, edit_config
from tests.fakeapi import Fault

OPENAI = ("generate", "--backend", "openai")


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outputs(project: Path) -> tuple[list[dict], list[dict]]:
    return lines(project / "outputs" / "candidates.jsonl"), lines(project / "outputs" / "rejected.jsonl")


def summary(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("mode", ["chat", "completion"])
def test_generates_n_candidates_with_provenance(run, project: Path, chat: FakeChat, mode: str) -> None:
    result = summary(run(*OPENAI, "--mode", mode, "--n", "30", "--json"))
    candidates, rejected = outputs(project)
    assert result["candidates"] == len(candidates) == 30 and rejected == []
    assert result["requests"]["sent"] == len(chat.bodies()) == 15  # per_request = 2 in the demo config
    assert len({c["id"] for c in candidates}) == 30
    host = chat.api.url.split("/")[2]
    for c in candidates:
        p = c["provenance"]
        assert p["source"] == "generated" and p["model"] == "gpt-4o-mini" and p["endpoint"] == host
        assert len(p["shots"]) == 3 and p["round"] == 1 and p["mode"] == mode and p["topic"]
        assert set(p["params"]) == {"temperature", "top_p", "max_tokens", "seed"} and p["prompt_hash"] and p["request"]
        assert p["nearest_seed"] and 0 <= p["nearest_seed_similarity"] < 0.8
        assert c["example"]["messages"][0]["role"] == "system"
    shots = Counter(s for c in candidates[::2] for s in c["provenance"]["shots"])
    assert max(shots.values()) - min(shots.values()) <= 1  # 15 requests x 3 shots over 10 seeds
    everything = "".join(p.read_text() for p in (project / "outputs").rglob("*.jsonl"))
    assert KEY not in everything
    for request in chat.api.log:  # the key travels in the Authorization header and nowhere else
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["authorization"] == f"Bearer {KEY}" and KEY.encode() not in request.body
        assert [k for k, v in headers.items() if KEY in v] == ["authorization"]
        assert headers["content-type"] == "application/json"


def test_chat_mode_without_structured_output(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, "generate", response_format="none")
    result = summary(run(*OPENAI, "--mode", "chat", "--n", "10", "--json"))
    assert result["candidates"] == 10 and all("response_format" not in b for b in chat.bodies())


def test_rerun_pays_for_nothing_twice(run, project: Path, chat: FakeChat) -> None:
    summary(run(*OPENAI, "--n", "10", "--json"))
    again = run(*OPENAI, "--n", "10")
    assert again.exit_code == 0 and "already has 10 candidates" in again.output
    more = summary(run(*OPENAI, "--n", "20", "--json"))
    assert more["candidates"] == 20 and more["accepted"] == 10 and more["requests"]["sent"] == 5
    bodies = [json.dumps(b, sort_keys=True) for b in chat.bodies()]
    assert len(bodies) == len(set(bodies)) == 10
    candidates, _ = outputs(project)
    assert len({c["id"] for c in candidates}) == 20


def test_interrupted_run_resumes_from_the_cache(run, project: Path, chat: FakeChat) -> None:
    summary(run(*OPENAI, "--n", "20", "--json"))
    candidates_file = project / "outputs" / "candidates.jsonl"
    kept = candidates_file.read_text().splitlines()[:7]
    candidates_file.write_text("\n".join(kept) + "\n" + '{"id": "torn", "exam')  # lost lines and a torn one
    result = summary(run(*OPENAI, "--n", "20", "--json"))
    # Replies are cached, so the lost lines come back without a request; the replay stops once 20 are there.
    assert result["requests"]["sent"] == 0 and 7 <= result["requests"]["cached"] <= 10
    candidates, _ = outputs(project)
    assert len(candidates) == 20 and len({c["id"] for c in candidates}) == 20


def test_dry_run_sends_nothing(run, project: Path, chat: FakeChat) -> None:
    result = run(*OPENAI, "--mode", "completion", "--n", "9", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "### Example 1\nUSER:" in result.output and result.output.count("### Example") == 4
    assert "planned: 5 requests (0 answered from the cache) for 9 more candidates in round 1" in result.output
    as_json = json.loads(run(*OPENAI, "--mode", "chat", "--n", "9", "--dry-run", "--json").output)
    assert as_json["planned_requests"] == 5 and as_json["request"]["messages"][1]["content"] in as_json["prompt"]
    assert chat.api.log == [] and not (project / "outputs" / "candidates.jsonl").exists()


def test_missing_key_names_the_variable(run, project: Path, chat: FakeChat, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run(*OPENAI, "--n", "5")
    assert result.exit_code == 2 and "OPENAI_API_KEY is not set" in result.output and "--backend local" in result.output
    assert chat.api.log == [] and run(*OPENAI, "--n", "5", "--dry-run").exit_code == 0


def test_faults_are_retried_and_bad_replies_accounted_for(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, "generate", timeout=0.5)
    chat.api.inject(
        Fault(status=429, retry_after=0.2), Fault(status=500), Fault(hang=1.0), Fault(drop=True), Fault(malformed=True)
    )
    good = json.dumps(
        {
            "messages": [
                {"role": "user", "content": "Product: Orbit desk fan, three speeds, USB powered"},
                {"role": "assistant", "content": "Keep cool at your desk with three quiet speeds."},
            ]
        }
    )
    chat.queue(
        Canned(refusal="I can't help with that."),
        Canned('{"examples": [' + good + ', {"messages": [{"role": "user", "content": "cut off', "length"),
        Canned("Here is one:\n```json\n" + good.replace("Orbit", "Comet") + ",\n```"),
        Canned(""),
        Canned("I am not able to produce JSON today."),
    )
    result = summary(run(*OPENAI, "--mode", "chat", "--n", "12", "--concurrency", "1", "--json"))
    candidates, rejected = outputs(project)
    assert result["candidates"] == len(candidates) >= 12  # a request may already be out when the 12th passes
    assert result["requests"]["errors"] == {"429": 1, "500": 1, "timeout": 1, "connection": 1, "malformed": 1}
    assert result["requests"]["retries"] == 5 and len(chat.bodies()) == result["requests"]["sent"] + 5
    assert Counter(r["reason"]["code"] for r in rejected) == {
        "refusal": 1,
        "truncated": 1,
        "empty": 1,
        "unparseable": 1,
    }
    assert result["rejected_by_reason"] == {"refusal": 1, "truncated": 1, "empty": 1, "unparseable": 1}
    texts = [c["example"]["messages"][1]["content"] for c in candidates]
    assert any("Orbit" in t for t in texts) and any("Comet" in t for t in texts)


def test_budget_stops_the_run_and_says_so(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, 'prices."gpt-4o-mini"', input=5.0, output=20.0)
    too_small = run(*OPENAI, "--n", "100", "--max-cost", "0.001")  # one request's worst case costs more
    assert too_small.exit_code == 1 and "--max-cost $0.001 reached before the first request" in too_small.output
    result = run(*OPENAI, "--n", "100", "--max-requests", "3")
    assert result.exit_code == 0 and "stopped: --max-requests 3 reached with 6 of 100 accepted" in result.output
    assert len(chat.bodies()) == 3
    no_price = run(*OPENAI, "--model", "gpt-4.1", "--n", "100", "--max-cost", "0.01")
    assert no_price.exit_code == 2 and '[prices."gpt-4.1"]' in no_price.output
    priced = summary(run(*OPENAI, "--n", "100", "--max-cost", "0.1", "--json"))
    assert 0.05 < priced["cost_usd"] <= 0.1 and priced["stopped"].startswith("stopped: --max-cost $0.1 reached")


def test_a_model_whose_answers_are_all_rejected_cannot_spend_without_end(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, "generate", min_chars=5000, max_chars=6000)
    result = summary(run(*OPENAI, "--n", "4", "--json"))
    assert result["requests"]["sent"] == 20 and result["candidates"] == 0  # ten times the 2 planned
    assert "ten times the plan" in result["stopped"] and result["rejected_by_reason"] == {"too-short": 40}


def test_a_failing_endpoint_is_reported_after_the_retries(run, project: Path, chat: FakeChat) -> None:
    edit_config(project, "generate", retries=1)
    chat.api.inject(*[Fault(status=503)] * 2)
    result = run(*OPENAI, "--n", "10", "--concurrency", "1")
    assert result.exit_code == 1 and "still failed after 2 attempts (last: 503)" in result.output
    assert "rerun the same command" in result.output


def write_reviewed(project: Path, candidates: list[dict], verdicts: list[str]) -> None:
    rows = [{**c, "review": {"verdict": v}} for c, v in zip(candidates, verdicts, strict=True)]
    (project / "outputs" / "reviewed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_reviewed_pool_starts_a_new_round(run, project: Path, chat: FakeChat) -> None:
    missing = run(*OPENAI, "--pool", "reviewed", "--n", "4")
    assert missing.exit_code == 2 and "outputs/reviewed.jsonl" in missing.output
    summary(run(*OPENAI, "--n", "6", "--json"))
    first, _ = outputs(project)
    write_reviewed(project, first, ["accepted", "rejected", "edited", "accepted", "rejected", "rejected"])
    reviewed_ids = {first[i]["id"] for i in (0, 2, 3)}
    result = summary(run(*OPENAI, "--pool", "reviewed", "--mode", "completion", "--n", "8", "--json"))
    assert result["round"] == 2 and result["candidates"] == 8 and result["accepted"] == 8
    candidates, _ = outputs(project)
    second = [c for c in candidates if c["provenance"]["round"] == 2]
    assert len(second) == 8
    assert all(sum(s in reviewed_ids for s in c["provenance"]["shots"]) == 1 for c in second)  # reviewed_shots = 1
    reviewed_texts = [first[i]["example"]["messages"][-1]["content"] for i in (0, 2, 3)]
    assert all(any(t in b["prompt"] for t in reviewed_texts) for b in chat.bodies()[3:])
