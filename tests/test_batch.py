"""`ftboot batch send / collect / resubmit` against the Batch API test server: the input file is the online
requests, collected answers go through the online filters into the shared cache, failures are resubmitted
exactly, nothing is written twice, and `ftboot status` shows the open batches. The hidden `generate --batch /
--collect / --resubmit` flags of the last release do the same (the tests marked `spelled` run both)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.generation.batch import files as batch_files
from pipeline.generation.run import Options, RunSettings
from pipeline.project import find_project
from tests.fake_batch import FakeBatches, Outcome
from tests.fake_chat import KEY, FakeChat, edit_config
from tests.helpers import GENERATE_CHAT

SPELLINGS = {  # the batch commands, and the generate flags they replace
    "commands": {
        "send": ("batch", "send", "--backend", "openai", "--mode", "chat"),
        "collect": ("batch", "collect"),
        "resubmit": ("batch", "resubmit"),
    },
    "flags": {
        "send": (*GENERATE_CHAT, "--batch"),
        "collect": ("generate", "--collect"),
        "resubmit": ("generate", "--resubmit"),
    },
}
spelled = pytest.mark.parametrize("spell", list(SPELLINGS.values()), ids=list(SPELLINGS))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def ledger(project: Path) -> list[dict]:
    return lines(project / "outputs" / "batches.jsonl")


def collect_until_done(run, rounds: int = 4, collect: tuple[str, ...] = ("batch", "collect")) -> list[dict]:
    """`batch collect` until no batch is open; the collected batches of every call."""
    taken = []
    for _ in range(rounds):
        result = ok(run(*collect, "--json"))["collected"]
        taken += result["batches"]
        if not result["waiting"]:
            return taken
    raise AssertionError("batches still open")


def assert_no_duplicates(project: Path) -> list[dict]:
    candidates, rejected = (
        lines(project / "outputs" / "candidates.jsonl"),
        lines(project / "outputs" / "rejected.jsonl"),
    )
    assert len({c["id"] for c in candidates}) == len(candidates)
    items = [(r["provenance"]["request"], r["provenance"]["item"]) for r in candidates + rejected]
    assert len(items) == len(set(items))
    return candidates


@spelled
def test_batch_is_the_online_plan_and_shares_the_cache(run, project: Path, batches: FakeBatches, spell: dict) -> None:
    planned = ok(run(*spell["send"], "--n", "16", "--json"))["planned"]
    # 16 candidates at the configured guess of 0.8 accepted, 2 per request: 10 requests
    assert planned["requests"] == 10 and len(planned["files"]) == 1
    batch_id = planned["files"][0]["batch_id"]
    assert list(batches.batches) == [batch_id] and batches.chat.bodies() == []
    stage = RunSettings(find_project(project), Options(backend="openai", mode="chat"))
    sent = batches.input_lines(batch_id)
    for i, line in enumerate(sent):  # request i, byte for byte what the online client would send
        request = stage.planner.request(i)
        assert line == {
            "custom_id": request.key,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": request.body(),
        }
    assert batches.batches[batch_id]["metadata"]["ftboot_batch"] == planned["files"][0]["name"]
    assert not list((project / "outputs" / "batches").glob("*.jsonl"))  # the provider has the input file now

    status = ok(run("status", "--json"))
    assert [(b["batch_id"], b["requests"]) for b in status["open_batches"]] == [(batch_id, 10)]
    assert "open batches: 1 with 10 requests" in run("status").output

    taken = collect_until_done(run, collect=spell["collect"])
    assert [(b["batch_id"], b["answered"], b["failed"]) for b in taken] == [(batch_id, 10, {})]
    candidates = assert_no_duplicates(project)
    assert len(candidates) == 20 and {c["provenance"]["request"] for c in candidates} == {
        line["custom_id"] for line in sent
    }
    assert ok(run("status", "--json"))["open_batches"] == []
    assert ok(run(*spell["collect"], "--json"))["collected"]["notes"] == ["no open batches"]

    # Online after the collect: the batch's requests come from the cache, only new ones are sent.
    online = ok(run(*GENERATE_CHAT, "--n", "30", "--json"))
    assert online["requests"]["cached"] == 10 and online["requests"]["sent"] == 5
    assert not {json.dumps(b, sort_keys=True) for b in batches.chat.bodies()} & {
        json.dumps(line["body"], sort_keys=True) for line in sent
    }
    assert len(assert_no_duplicates(project)) == 30


@spelled
def test_failed_and_expired_requests_are_resubmitted_exactly(
    run, project: Path, batches: FakeBatches, monkeypatch: pytest.MonkeyPatch, spell: dict
) -> None:
    monkeypatch.setattr(batch_files, "MAX_LINES", 4)
    batches.outcomes.extend([Outcome(fail={1}), Outcome(expire_after=1), Outcome()])
    planned = ok(run(*spell["send"], "--n", "16", "--json"))["planned"]
    assert [f["requests"] for f in planned["files"]] == [4, 4, 2] and len(batches.batches) == 3
    first, second, _ = (batches.input_lines(i) for i in batches.batches)

    taken = collect_until_done(run, collect=spell["collect"])
    assert sorted((b["status"], b["answered"], sum(b["failed"].values())) for b in taken) == [
        ("completed", 2, 0),
        ("completed", 3, 1),
        ("expired", 1, 3),
    ]
    expected = {first[1]["custom_id"], *(line["custom_id"] for line in second[1:])}

    again = ok(run(*spell["resubmit"], "--json"))
    assert again["collected"]["batches"] == [] and again["planned"]["requests"] == 4
    resent = batches.input_lines(again["planned"]["files"][0]["batch_id"])
    assert {line["custom_id"] for line in resent} == expected and len(resent) == 4
    # While the resubmitted batch is open, its requests are not sent again, by --resubmit, --batch or online.
    assert ok(run(*spell["resubmit"], "--json"))["planned"]["requests"] == 0
    assert ok(run(*spell["send"], "--n", "16", "--json"))["planned"]["requests"] == 0
    assert len(lines(project / "outputs" / "candidates.jsonl")) == 12
    online = ok(run(*GENERATE_CHAT, "--n", "14", "--json"))
    assert online["requests"]["sent"] == 1 and online["requests"]["cached"] == 6
    assert not {json.dumps(b, sort_keys=True) for b in batches.chat.bodies()} & {
        json.dumps(line["body"], sort_keys=True) for line in resent
    }
    collect_until_done(run, collect=spell["collect"])
    assert len(assert_no_duplicates(project)) == 14 + 8
    assert ok(run(*spell["resubmit"], "--json"))["planned"]["requests"] == 0
    assert len(batches.batches) == 4


def test_a_cancelled_batch_is_resubmitted_whole(run, project: Path, batches: FakeBatches) -> None:
    from openai import OpenAI

    planned = ok(run(*GENERATE_CHAT, "--n", "8", "--batch", "--json"))["planned"]
    batch_id = planned["files"][0]["batch_id"]
    OpenAI(base_url=batches.chat.api.url, api_key=KEY).batches.cancel(batch_id)
    (taken,) = collect_until_done(run)
    assert (taken["status"], taken["answered"], taken["failed"]) == ("cancelled", 0, {"batch_cancelled": 5})
    again = ok(run("generate", "--resubmit", "--json"))["planned"]
    assert [line["custom_id"] for line in batches.input_lines(again["files"][0]["batch_id"])] == [
        line["custom_id"] for line in batches.input_lines(batch_id)
    ]


def test_a_later_batch_tops_up_what_is_missing(run, project: Path, batches: FakeBatches, chat: FakeChat) -> None:
    # Half of each reply is a duplicate of the seeds' text, so the acceptance rate seen is 0.5.
    seed = lines(next((project / "seeds").glob("*.jsonl")))[0]
    duplicate = {"messages": [m for m in seed["messages"] if m["role"] != "system"]}
    chat.queue(*[json.dumps({"examples": [duplicate, chat.example()]}) for _ in range(10)])
    ok(run(*GENERATE_CHAT, "--n", "16", "--batch", "--json"))
    collect_until_done(run)
    assert len(lines(project / "outputs" / "candidates.jsonl")) == 10
    topped = ok(run(*GENERATE_CHAT, "--n", "16", "--batch", "--json"))["planned"]
    assert topped["existing"] == 10 and topped["rate"] == 0.5 and topped["requests"] == 6  # 6 more at 0.5 x 2
    collect_until_done(run)
    assert len(assert_no_duplicates(project)) == 10 + 6 * 2  # the queued replies ran out: every new item passes


@spelled
def test_batch_prices_and_the_saving(run, project: Path, batches: FakeBatches, spell: dict) -> None:
    edit_config(project, 'prices."gpt-4o-mini"', input=0.15, output=0.6, batch_input=0.075, batch_output=0.3)
    dry = ok(run(*spell["send"], "--n", "8", "--dry-run", "--json"))["planned"]
    assert dry["requests"] == 5 and dry["files"] == [] and batches.batches == {}
    worst = dry["worst_case_tokens"]
    assert dry["costs"]["batch"] == pytest.approx((worst["prompt"] * 0.075 + worst["output"] * 0.3) / 1e6)
    assert dry["costs"]["saving"] == pytest.approx(dry["costs"]["batch"])
    capped = ok(run(*spell["send"], "--n", "8", "--max-cost", str(dry["costs"]["batch"] * 0.5), "--json"))["planned"]
    assert 0 < capped["requests"] < 5 and "--max-cost" in capped["stopped"]
    while (harvest := ok(run(*spell["collect"], "--json"))["collected"])["waiting"]:
        pass
    tokens, cost = harvest["tokens"], harvest["cost_usd"]
    assert (
        cost["batch"] == pytest.approx((tokens["prompt"] * 0.075 + tokens["completion"] * 0.3) / 1e6)
        and cost["batch"] > 0
    )
    assert cost["online"] == pytest.approx(2 * cost["batch"]) and cost["saving"] == pytest.approx(cost["batch"])
    summary = run(*spell["send"], "--n", "12").output
    assert "at batch prices" in summary and "saved" in summary and "next: ftboot batch collect" in summary
    texts = [run(*spell["collect"]).output for _ in range(3)]
    assert "still open: batch" in texts[0] and "next: ftboot batch collect again later" in texts[0]
    assert "at batch prices" in texts[-1] and "saved" in texts[-1] and "next: ftboot review push" in texts[-1]


def test_batch_needs_the_openai_backend_and_one_action(run, project: Path) -> None:
    for spell in SPELLINGS.values():
        local = run(*spell["send"], "--backend", "local")
        assert local.exit_code == 2 and "--batch needs --backend openai" in local.output
    both = run("generate", "--batch", "--collect")
    assert both.exit_code == 2 and "do not go together" in both.output
    assert not (project / "outputs" / "batches.jsonl").exists()


def test_resubmit_sends_each_plans_failures_once(run, project: Path, batches: FakeBatches) -> None:
    batches.outcomes.extend([Outcome(fail={0}), Outcome(fail={2})])
    ok(run(*GENERATE_CHAT, "--n", "8", "--batch", "--json"))
    ok(run("generate", "--backend", "openai", "--mode", "completion", "--n", "8", "--batch", "--json"))
    first, second = (batches.input_lines(i) for i in batches.batches)
    collect_until_done(run)
    again = ok(run("generate", "--resubmit", "--json"))["planned"]
    assert [f["requests"] for f in again["files"]] == [1, 1] and len(batches.batches) == 4
    resent = [batches.input_lines(f["batch_id"]) for f in again["files"]]
    assert sorted(line["custom_id"] for lines_ in resent for line in lines_) == sorted(
        [first[0]["custom_id"], second[2]["custom_id"]]
    )
    assert {lines_[0]["url"] for lines_ in resent} == {"/v1/chat/completions", "/v1/completions"}


def test_the_batch_flags_of_generate_are_hidden_aliases(run, project: Path) -> None:
    shown = run("generate", "--help").output
    assert all(flag not in shown for flag in ("--batch", "--collect", "--resubmit", "--batch-file", "--collect-file"))
    listed = run("batch", "--help").output
    assert all(f"  {name} " in listed for name in ("send", "collect", "resubmit", "write", "read"))
    dry = run("generate", "--collect", "--dry-run")
    assert dry.exit_code == 2 and "--dry-run goes with --batch, --resubmit or --batch-file, not --collect" in dry.output
    assert run("batch", "collect", "--dry-run").exit_code == 2  # nothing to count without sending
