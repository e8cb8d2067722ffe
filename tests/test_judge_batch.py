"""`ftboot judge --batch` against the Batch API test server: it sends exactly the unscored candidates' judge
requests (the online ones, byte for byte), never a request the cache or an open batch holds; `batch collect` writes
the scores, low-score rejects included, that online judging writes from the same replies; a failed request leaves
its candidate unscored for the next `judge --batch`; a ledger line from before judge batches reads as generation's."""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pipeline.generation.judge import Judge, request_for
from pipeline.ledgers.batches import BatchLedger
from pipeline.llm.request import PlannedRequest
from pipeline.project import find_project
from tests.fake_batch import FakeBatches, Outcome
from tests.fake_chat import edit_config
from tests.fakeapi import Fault
from tests.test_batch import collect_until_done, lines, ok
from tests.test_judge import GENERATE, judge_requests, score_of, scorer

JUDGE_BATCH = ("judge", "--batch", "--backend", "openai")


def online_requests(project: Path, candidates: list[dict[str, Any]]) -> list[PlannedRequest]:
    """Online judging's requests for these candidates."""
    loaded = find_project(project)
    with ExitStack() as stack:
        endpoint = Judge(loaded, None, "openai", override=True).endpoint(stack)
        return [request_for(loaded.config, endpoint, c["example"]) for c in candidates]


def judge_keys(project: Path, candidates: list[dict[str, Any]]) -> list[str]:
    return [request.key for request in online_requests(project, candidates)]


def generated(run, project: Path, batches: FakeBatches, n: int) -> list[dict[str, Any]]:
    """`n` candidates generated online with no judge; the judge's answers from then on come from `scorer`."""
    ok(run(*GENERATE, "--n", str(n)))
    batches.chat.judge = scorer
    return lines(project / "outputs" / "candidates.jsonl")


def test_judge_batch_sends_the_unscored_and_collect_scores_as_online_judging_would(
    run, project: Path, batches: FakeBatches
) -> None:
    outputs = project / "outputs"
    candidates = generated(run, project, batches, 8)
    # two were scored earlier: only the other six are asked about
    candidates[0]["provenance"].update(judge_score=5, judge_reason="Fine.", judge_model="gpt-4o-mini")
    candidates[3]["provenance"].update(judge_score=1, judge_reason="Poor.", judge_model="gpt-4o-mini")
    (outputs / "candidates.jsonl").write_text("".join(json.dumps(c) + "\n" for c in candidates))
    before = {name: (outputs / name).read_bytes() for name in ("candidates.jsonl", "rejected.jsonl")}
    unscored = [c for i, c in enumerate(candidates) if i not in (0, 3)]

    dry = ok(run(*JUDGE_BATCH, "--min-score", "3", "--dry-run", "--json"))
    assert dry["dry_run"] and dry["planned"]["requests"] == 6 and dry["planned"]["files"] == []
    assert batches.batches == {} and not (outputs / "batches.jsonl").exists()
    assert "dry run: nothing written or sent" in run(*JUDGE_BATCH, "--dry-run").output

    planned = ok(run(*JUDGE_BATCH, "--min-score", "3", "--json"))["planned"]
    (batch_id,) = batches.batches
    assert planned["requests"] == 6 and planned["files"][0]["batch_id"] == batch_id
    sent = batches.input_lines(batch_id)
    assert sent == [  # byte for byte what online judging sends, keyed as the cache keys it
        {"custom_id": r.key, "method": "POST", "url": "/v1/chat/completions", "body": r.body()}
        for r in online_requests(project, unscored)
    ]
    assert not judge_requests(batches.chat)  # nothing went online
    entry = BatchLedger(find_project(project)).open_entries()[0]
    assert (entry.purpose, entry.keys, entry.plan["min_score"]) == ("judge", [li["custom_id"] for li in sent], 3)

    # while it is open, neither another --batch nor online judging asks again
    again = ok(run(*JUDGE_BATCH, "--json"))["planned"]
    assert again["requests"] == 0 and again["outstanding"] == 6 and list(batches.batches) == [batch_id]
    online = ok(run("judge", "--backend", "openai", "--json"))
    assert online["requests"] == {"sent": 0, "cached": 0} and online["in_batches"] == 6
    assert not judge_requests(batches.chat)
    status = ok(run("status", "--json"))
    assert [(b["purpose"], b["batch_id"], b["requests"]) for b in status["open_batches"]] == [("judge", batch_id, 6)]
    assert status["step"] == "collect"  # the scores come before the reviewers, not `review push`
    assert f"judge {batch_id}" in run("status").output

    (taken,) = collect_until_done(run)
    assert (taken["purpose"], taken["answered"], taken["failed"]) == ("judge", 6, {})
    harvest = ok(run("batch", "collect", "--json"))["collected"]
    assert harvest["notes"] == ["no open batches"]
    by_batch = lines(outputs / "candidates.jsonl"), lines(outputs / "rejected.jsonl")
    scores = [score_of(line["body"]) for line in sent]
    assert sum(s < 3 for s in scores) + 1 == sum(r["reason"]["code"] == "low-score" for r in by_batch[1])
    assert not judge_requests(batches.chat)  # the collect's judging pass read the cache only

    # online judging from the same replies, on the same candidates, writes the very same files
    for name, content in before.items():
        (outputs / name).write_bytes(content)
    shutil.move(outputs / "cache" / "replies.jsonl", project / "replies.jsonl")
    online = ok(run("judge", "--backend", "openai", "--min-score", "3", "--json"))
    assert online["requests"]["sent"] == 6 and sorted(score_of(b) for b in judge_requests(batches.chat)) == sorted(
        scores
    )
    assert (lines(outputs / "candidates.jsonl"), lines(outputs / "rejected.jsonl")) == by_batch


def test_collect_writes_the_judge_summary_and_a_failed_request_stays_unscored(
    run, project: Path, batches: FakeBatches
) -> None:
    batches.outcomes.append(Outcome(fail={1}))
    candidates = generated(run, project, batches, 4)
    ok(run(*JUDGE_BATCH, "--json"))
    (first,) = batches.batches
    failed_key = batches.input_lines(first)[1]["custom_id"]
    assert "still open: judge batch" in run("batch", "collect").output
    while "still open" in (text := run("batch", "collect").output):
        pass
    assert f"judge batch {first}" in text and "1 failed (500 1)" in text
    assert "judge gpt-4o-mini: 3 scored" in text and "0 requests sent, 3 from the cache" in text
    assert "next: ftboot judge --batch" in text
    scored = lines(project / "outputs" / "candidates.jsonl")
    unscored = [c for c in scored if "judge_score" not in c["provenance"]]
    assert len(scored) == 4 and judge_keys(project, unscored) == [failed_key]
    assert {c["id"] for c in scored} == {c["id"] for c in candidates}
    # generation's resubmit has nothing to send for a judge batch; judge --batch sends the one unscored
    assert ok(run("batch", "resubmit", "--json"))["planned"]["requests"] == 0
    again = ok(run(*JUDGE_BATCH, "--json"))["planned"]
    assert again["requests"] == 1 and [
        line["custom_id"] for line in batches.input_lines(again["files"][0]["batch_id"])
    ] == [failed_key]
    collect_until_done(run)
    assert all("judge_score" in c["provenance"] for c in lines(project / "outputs" / "candidates.jsonl"))
    assert ok(run(*JUDGE_BATCH, "--json"))["planned"]["requests"] == 0 and len(batches.batches) == 2


def test_a_generation_and_a_judge_batch_collected_together(run, project: Path, batches: FakeBatches) -> None:
    generated(run, project, batches, 4)
    ok(run(*JUDGE_BATCH, "--json"))
    ok(run("batch", "send", "--backend", "openai", "--mode", "chat", "--n", "8", "--json"))
    taken = collect_until_done(run)
    assert sorted(b["purpose"] for b in taken) == ["generate", "judge"]
    candidates = lines(project / "outputs" / "candidates.jsonl")
    # the four judged; the newly generated ones wait for a judge (their requests were never sent)
    assert sum("judge_score" in c["provenance"] for c in candidates) == 4 < len(candidates)
    assert not judge_requests(batches.chat)


def test_judge_batch_budget_and_backend(run, project: Path, batches: FakeBatches) -> None:
    generated(run, project, batches, 6)
    capped = ok(run(*JUDGE_BATCH, "--max-requests", "2", "--dry-run", "--json"))["planned"]
    assert capped["requests"] == 2 and "--max-requests 2" in capped["stopped"]
    no_price = run(*JUDGE_BATCH, "--max-cost", "1")
    assert no_price.exit_code == 2 and "needs the batch price of 'gpt-4o-mini'" in no_price.output
    edit_config(project, 'prices."gpt-4o-mini"', input=0.15, output=0.6, batch_input=0.075, batch_output=0.3)
    dry = ok(run(*JUDGE_BATCH, "--dry-run", "--json"))["planned"]
    worst = dry["worst_case_tokens"]
    assert dry["costs"]["batch"] == pytest.approx((worst["prompt"] * 0.075 + worst["output"] * 0.3) / 1e6)
    half = ok(run(*JUDGE_BATCH, "--max-cost", str(dry["costs"]["batch"] / 2), "--json"))["planned"]
    assert 0 < half["requests"] < 6 and "--max-cost" in half["stopped"]
    local = run("judge", "--batch", "--backend", "local")
    assert local.exit_code == 2 and "needs the openai backend" in local.output
    alone = run("judge", "--dry-run")
    assert alone.exit_code == 2 and "--dry-run goes with --batch" in alone.output


def test_a_ledger_line_from_before_judge_batches_reads_as_generation(project: Path) -> None:
    row = {
        "event": "planned",
        "name": "ftboot-old-1",
        "at": "2026-01-01T00:00:00+00:00",
        "plan": {"fingerprint": "f", "endpoint": "chat/completions", "model": "m"},
        "ranges": [[0, 4]],
        "count": 5,
        "bytes": 10,
        "sha256": "0",
        "input": "outputs/batches/ftboot-old-1.jsonl",
    }
    (project / "outputs" / "batches.jsonl").write_text(json.dumps(row) + "\n")
    ledger = BatchLedger(find_project(project))
    (entry,) = ledger.open_entries()
    assert (entry.purpose, entry.keys) == ("generate", []) and ledger.outstanding("f") == set(range(5))
    assert ledger.outstanding_keys() == set()


def test_a_judge_batch_refused_at_creation_is_sent_by_the_next_command_not_planned_again(
    run, project: Path, batches: FakeBatches
) -> None:
    generated(run, project, batches, 4)
    batches.chat.api.inject(Fault(status=500, path="/v1/batches"))
    failed = run(*JUDGE_BATCH)
    assert failed.exit_code == 1 and "answered 500 during the batch request" in failed.output
    assert batches.batches == {} and len(batches.uploads()) == 1
    again = ok(run(*JUDGE_BATCH, "--json"))["planned"]
    (batch_id,) = batches.batches
    assert again["notes"][0].startswith(f"sent batch {batch_id}") and again["requests"] == 0
    assert len(batches.uploads()) == 1 and len(batches.input_lines(batch_id)) == 4
    collect_until_done(run)
    assert all("judge_score" in c["provenance"] for c in lines(project / "outputs" / "candidates.jsonl"))
