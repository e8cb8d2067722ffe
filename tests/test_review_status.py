"""`ftboot review status` against a real Label Studio: two reviewers with overlap 2, their pace and rates, Cohen's
kappa against a value worked out by hand, the time left; and `ftboot labelstudio add-reviewer`."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.review.status import kappa
from tests.helpers import varied_examples
from tests.test_labelstudio_server import logs_in
from tests.test_review import push, reviewer_for, write_candidates

# ten tasks both reviewed: 5 accept/accept, 2 reject/reject, 2 accept/reject, 1 reject/accept
PAIRS = ["AA"] * 5 + ["RR"] * 2 + ["AR"] * 2 + ["RA"]
# observed agreement 7/10; chance (7/10 · 6/10) + (3/10 · 4/10) = 0.54; kappa (0.7 - 0.54) / (1 - 0.54)
HAND_KAPPA = 0.16 / 0.46


def test_cohen_and_fleiss_kappa_on_known_tables():
    pairs = [["accept" if v == "A" else "reject" for v in pair] for pair in PAIRS]
    assert kappa(pairs, cohen=True)["kappa"] == pytest.approx(HAND_KAPPA, abs=1e-3)
    # Fleiss on three raters: complete agreement everywhere is 1
    assert kappa([["accept"] * 3, ["reject"] * 3, ["accept"] * 3], cohen=False) == {
        "method": "Fleiss'",
        "kappa": 1.0,
        "tasks": 3,
    }
    assert kappa([["accept"], ["reject"]], cohen=False) is None


def test_two_reviewers_with_overlap_two(review_project, run, labelstudio):
    config = review_project / "ftboot.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[labelstudio]", "[labelstudio]\noverlap = 2"))
    ids = write_candidates(review_project, varied_examples(13))
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    assert labelstudio.client().projects.get(reviewer.project_id).maximum_annotations == 2
    tasks = reviewer.tasks()
    verdict = {"A": "accept", "R": "reject"}
    for number, (pair, candidate) in enumerate(zip(PAIRS, ids[: len(PAIRS)], strict=True)):  # the last 3: below
        edits = {1: "A corrected description, checked by hand."} if number == 0 else None
        reviewer.submit(tasks[candidate], verdict[pair[0]], edits=edits, by="ana@example.com", lead_time=10)
        reviewer.submit(tasks[candidate], verdict[pair[1]], by="ben@example.com", lead_time=20)
    reviewer.submit(tasks[ids[10]], "accept", by="ana@example.com", lead_time=10)  # one more review wanted
    reviewer.submit(tasks[ids[12]], None, cancelled=True, by="ana@example.com")  # skipped; ids[11] untouched

    result = run("review", "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert (status["tasks"], status["done"], status["pending"], status["skipped"], status["overlap"]) == (
        13,
        10,
        2,
        1,
        2,
    )
    assert status["reviewers"]["ana@example.com"] == {
        "tasks": 11,
        "median_seconds": 10.0,
        "acceptance_rate": 0.727,
        "edit_rate": 0.125,
    }
    assert status["reviewers"]["ben@example.com"] == {
        "tasks": 10,
        "median_seconds": 20.0,
        "acceptance_rate": 0.6,
        "edit_rate": 0.0,
    }
    assert status["agreement"]["method"] == "Cohen's" and status["agreement"]["tasks"] == 10
    assert status["agreement"]["kappa"] == pytest.approx(HAND_KAPPA, abs=1e-3)
    # three reviews still wanted (one for ids[10], two for ids[11]) × median 10 s ÷ two reviewers
    assert status["seconds_left"] == 15.0
    text = run("review", "status").stdout
    assert "10 done, 2 pending, 1 skipped of 13 tasks" in text and "Cohen's kappa 0.35 on 10 tasks" in text
    assert not (review_project / "outputs" / "reviewed.jsonl").exists()  # status writes nothing

    added = run("labelstudio", "add-reviewer", "cy@example.com")
    assert added.exit_code == 0, added.output
    password = re.search(r"password \(shown only now\): (\S+)", added.stdout).group(1)
    assert logs_in(labelstudio.url, "cy@example.com", password)
    again = run("labelstudio", "add-reviewer", "cy@example.com")
    assert again.exit_code == 1 and "already has an account" in again.stderr
