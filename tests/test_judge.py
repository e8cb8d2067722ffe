"""The candidate judge against the chat test server: scores in the provenance and the task list, cached and in the
run's budget, `--min-score` rejects, unreadable judge replies recorded, `ftboot judge` over older candidates, and
how well the scores predicted the reviewers' verdicts after `review pull`."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import pytest

from pipeline.generation.judge import JUDGE_SYSTEM
from pipeline.labelstudio.tasks import make_task
from pipeline.llm import client as client_module
from pipeline.review.judged import agreement, roc_auc
from pipeline.schema import make_record
from tests.fake_chat import FakeChat, edit_config
from tests.helpers import varied_examples

GENERATE = ("generate", "--backend", "openai", "--mode", "chat", "--json")


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ok(result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def score_of(body: dict[str, Any]) -> int:
    """A repeatable score from the judged text, 1 to 5."""
    return zlib.crc32(body["messages"][1]["content"].encode()) % 5 + 1


def scorer(body: dict[str, Any]) -> str:
    return json.dumps({"score": score_of(body), "reason": "It keeps the facts."})


def judge_requests(chat: FakeChat) -> list[dict[str, Any]]:
    return [b for b in chat.bodies() if b.get("messages", [{}])[0].get("content") == JUDGE_SYSTEM]


def test_scores_travel_in_the_provenance_and_a_rerun_sends_nothing(run, project: Path, chat: FakeChat) -> None:
    chat.judge = scorer
    edit_config(project, "judge", backend="openai")
    summary = ok(run(*GENERATE, "--n", "6", "--judge"))
    candidates = lines(project / "outputs" / "candidates.jsonl")
    asked = judge_requests(chat)
    assert len(candidates) == 6 and len(asked) == 6 and summary["judge"]["judged"] == 6
    expected = sorted(score_of(body) for body in asked)
    assert sorted(c["provenance"]["judge_score"] for c in candidates) == expected
    assert all(c["provenance"]["judge_reason"] == "It keeps the facts." for c in candidates)
    rubric = asked[0]["messages"][1]["content"]
    assert "feature list" in rubric and "You write product descriptions" in rubric  # description + system prompt
    # the task list shows the score in its sortable judge column
    task = make_task(make_record(candidates[0]["example"], candidates[0]["provenance"]), 1, {})
    assert task["data"]["judge"] == candidates[0]["provenance"]["judge_score"]
    # the candidates as they were before the judge: judging them again is answered by the cache
    scored = (project / "outputs" / "candidates.jsonl").read_text()
    unscored = [
        {**c, "provenance": {k: v for k, v in c["provenance"].items() if not k.startswith("judge_")}}
        for c in candidates
    ]
    (project / "outputs" / "candidates.jsonl").write_text("".join(json.dumps(c) + "\n" for c in unscored))
    again = ok(run("judge", "--json"))
    assert again["requests"] == {"sent": 0, "cached": 6} and len(judge_requests(chat)) == 6
    assert [c["provenance"]["judge_score"] for c in lines(project / "outputs" / "candidates.jsonl")] == [
        json.loads(line)["provenance"]["judge_score"] for line in scored.splitlines()
    ]
    assert ok(run("judge", "--json"))["requests"] == {"sent": 0, "cached": 0}  # all scored: nothing to ask


def test_judge_requests_count_against_the_run_budget(run, project: Path, chat: FakeChat) -> None:
    chat.judge = scorer
    summary = ok(run(*GENERATE, "--n", "6", "--judge", "--max-requests", "5"))
    # 3 generation requests (2 examples each), then the judge may send 2 of its 6
    assert len(chat.bodies()) == 5 and len(judge_requests(chat)) == 2
    assert summary["judge"]["judged"] == 2 and "--max-requests 5" in summary["judge"]["stopped"]
    assert "ftboot judge" in summary["stopped"]
    candidates = lines(project / "outputs" / "candidates.jsonl")
    assert sum("judge_score" in c["provenance"] for c in candidates) == 2 and len(candidates) == 6
    edit_config(project, 'prices."gpt-4o-mini"', input=1.0, output=2.0)
    rest = ok(
        run("judge", "--backend", "openai", "--max-cost", "1", "--json")
    )  # priced: --max-cost applies to the judge alone too
    assert rest["judged"] == 4 and rest["requests"]["sent"] == 4


def test_min_score_turns_low_scores_into_rejects(run, project: Path, chat: FakeChat) -> None:
    chat.judge = scorer
    edit_config(project, "judge", backend="openai")
    summary = ok(run(*GENERATE, "--n", "10", "--judge", "--min-score", "3"))
    candidates, rejected = (
        lines(project / "outputs" / "candidates.jsonl"),
        lines(project / "outputs" / "rejected.jsonl"),
    )
    low = [r for r in rejected if r["reason"]["code"] == "low-score"]
    scores = sorted(score_of(b) for b in judge_requests(chat))
    assert len(low) == sum(s < 3 for s in scores) > 0 and all(c["provenance"]["judge_score"] >= 3 for c in candidates)
    assert summary["rejected_by_reason"]["low-score"] == len(low) == summary["judge"]["low_score"]
    assert summary["candidates"] == len(candidates) == 10 - len(low)
    for r in low:
        assert r["reason"]["detail"].startswith(f"judge score {r['provenance']['judge_score']} below --min-score 3")
        assert r["reason"]["detail"].endswith("It keeps the facts.")
    # a stricter threshold later needs no request: the scores are there
    sent = len(chat.bodies())
    stricter = ok(run("judge", "--min-score", "5", "--json"))
    left = lines(project / "outputs" / "candidates.jsonl")
    assert len(chat.bodies()) == sent and stricter["low_score"] == len(candidates) - len(left)
    assert all(c["provenance"]["judge_score"] == 5 for c in left)
    assert len(lines(project / "outputs" / "rejected.jsonl")) == len(rejected) + stricter["low_score"]


def test_an_unreadable_judge_reply_is_recorded_not_a_crash(run, project: Path, chat: FakeChat) -> None:
    replies = iter(["I would rather not say.", json.dumps({"score": 9, "reason": "off the scale"})])
    chat.judge = lambda body: next(replies, None) or scorer(body)
    summary = ok(run(*GENERATE, "--n", "4", "--judge", "--min-score", "5"))
    candidates = lines(project / "outputs" / "candidates.jsonl")
    failed = [c for c in candidates if "judge_error" in c["provenance"]]
    assert summary["judge"]["failed"] == 2 and len(failed) == 2  # left for the reviewers, not rejected
    assert {("I would rather not say" in c["provenance"]["judge_error"]) for c in failed} == {True, False}
    assert all("judge_score" not in c["provenance"] for c in failed)


def test_judge_scores_batch_collected_candidates_afterwards(run, project: Path, chat: FakeChat) -> None:
    ok(run(*GENERATE, "--n", "4"))  # generated before the judge was on
    assert not judge_requests(chat)
    chat.judge = scorer
    edit_config(project, "judge", min_score=2, backend="openai")
    judged = ok(run("judge", "--json"))
    assert judged["judged"] == 4 and len(judge_requests(chat)) == 4
    assert judged["low_score"] == sum(score_of(b) < 2 for b in judge_requests(chat))


def test_roc_auc_by_hand() -> None:
    # accepted 5, 4, 4, 2 against rejected 3, 2, 1: 3 + 3 + 3 + (0 + 0.5 + 1) wins of 12 pairs
    assert roc_auc([5, 4, 4, 2], [3, 2, 1]) == pytest.approx(10.5 / 12)
    assert roc_auc([3, 3], [3]) == 0.5 and roc_auc([4], []) is None


def test_review_pull_says_how_well_the_scores_predicted_the_verdicts(run, project: Path) -> None:
    scores = [5, 4, 4, 2, 3, 2, 1]
    verdicts = ["accept"] * 4 + ["reject"] * 3
    examples = varied_examples(len(scores), seed=3)
    tasks = []
    for number, (example, score, verdict) in enumerate(zip(examples, scores, verdicts, strict=True), start=1):
        task = make_task(make_record(example, {"round": 1, "shots": [], "judge_score": score}), 1, {})
        result = [
            {
                "id": "a",
                "from_name": "reply_1",
                "to_name": "dialogue_1",
                "type": "textarea",
                "value": {"text": [example["messages"][-1]["content"]]},
            },
            {
                "id": "b",
                "from_name": "verdict",
                "to_name": "dialogue_1",
                "type": "choices",
                "value": {"choices": [verdict]},
            },
        ]
        tasks.append(
            {
                "id": number,
                "project": 3,
                "data": task["data"],
                "predictions": [],
                "annotations": [
                    {
                        "id": number,
                        "completed_by": 1,
                        "was_cancelled": False,
                        "lead_time": 2.0,
                        "updated_at": "2026-12-01T10:00:00Z",
                        "result": result,
                    }
                ],
            }
        )
    (project / "export.json").write_text(json.dumps(tasks))
    pulled = ok(run("review", "pull", "--from-file", str(project / "export.json"), "--json"))
    assert pulled["judge"] == {
        "scored": 7,
        "roc_auc": 0.875,
        "per_score": {
            "1": {"reviewed": 1, "acceptance_rate": 0.0},
            "2": {"reviewed": 2, "acceptance_rate": 0.5},
            "3": {"reviewed": 1, "acceptance_rate": 0.0},
            "4": {"reviewed": 2, "acceptance_rate": 1.0},
            "5": {"reviewed": 1, "acceptance_rate": 1.0},
        },
    }
    text = run("review", "pull", "--from-file", str(project / "export.json"))
    assert "ROC AUC 0.88" in text.output and "4: 100% of 2" in text.output


def test_agreement_reads_scores_given_after_the_push() -> None:
    rows = [
        {"review": {"verdict": "accepted", "generated_id": "a"}, "provenance": {}},
        {"review": {"verdict": "rejected", "generated_id": "b"}, "provenance": {}},
        {"review": {"verdict": "rejected", "generated_id": "c"}, "provenance": {}},
    ]  # never scored
    assert agreement(rows, {"a": 2, "b": 4})["roc_auc"] == 0.0
    assert agreement(rows, {}) is None


def test_judge_needs_candidates_key_and_price(run, project: Path, chat: FakeChat, monkeypatch) -> None:
    shutil.rmtree(project / "outputs")
    edit_config(project, "judge", backend="openai")
    assert ok(run("judge", "--json"))["judged"] == 0
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run("judge")
    assert result.exit_code == 2 and "OPENAI_API_KEY is not set" in result.output
