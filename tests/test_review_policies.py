"""Review's pure parts: the policies for several reviews, what counts as an edit, broken corrections, preference
pairs and the summary's rates."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.cli.review import pull_text
from pipeline.labelstudio.tasks import Annotation
from pipeline.review import pull as review
from pipeline.schema import make_record

EXAMPLE = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "The answer.\n"},
    ]
}


def ann(n: int, verdict: str, text: str | None = "The answer.") -> Annotation:
    replies = {} if text is None else {2: text}
    return Annotation(n, f"r{n}@example.com", verdict, replies, "", 1.0, f"2026-01-0{n}T00:00:00Z")


@pytest.mark.parametrize(
    "votes, policy, expected",
    [
        ("AAR", "latest", 3),
        ("ARA", "latest", 3),
        ("AAR", "majority", 2),
        ("RRA", "majority", 2),
        ("AR", "majority", 2),
        ("RA", "majority", 2),
        ("AAA", "unanimous", 3),
        ("ARA", "unanimous", 2),
        ("RAA", "unanimous", 1),
    ],
)
def test_policies_pick_the_annotation_the_outcome_follows(votes, policy, expected):
    annotations = [ann(i, "accept" if v == "A" else "reject") for i, v in enumerate(votes, start=1)]
    assert review.decide(annotations, policy).id == expected


def test_whitespace_at_the_ends_is_no_edit_but_anything_else_is():
    assert review.apply_edits(EXAMPLE, ann(1, "accept", "  The answer.\n\n"))[1] == []
    corrected, changes = review.apply_edits(EXAMPLE, ann(1, "accept", "The better answer."))
    assert changes == [(2, "The answer.\n", "The better answer.")]
    assert corrected["messages"][2]["content"] == "The better answer."
    assert EXAMPLE["messages"][2]["content"] == "The answer.\n"  # the generated example is left as it was
    assert "-The answer.\n+The better answer." in review.diff(changes)


def test_an_emptied_turn_breaks_the_example():
    corrected, changes = review.apply_edits(EXAMPLE, ann(1, "accept", None))
    assert changes and review.problem(corrected) == "messages[2]: the assistant turn was emptied"
    assert review.problem(EXAMPLE) is None


def test_preference_pairs_need_a_prompt_before_the_corrected_turn():
    opening = {
        "messages": [
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hi."},
        ]
    }
    record = make_record(opening, {"shots": []}, review={"generated_id": "g", "task_id": 1})
    pairs = review.preference_records(record, opening, [(0, "Hi there", "Hello!"), (2, "Hey.", "Hi.")])
    assert len(pairs) == 1 and pairs[0].kind == "preference"
    assert pairs[0].example["input"]["messages"] == opening["messages"][:2]
    assert pairs[0].provenance == {"shots": [], "generated_id": "g", "task_id": 1, "turn": 2}


def test_rates_and_per_seed_summary():
    result = review.PullResult("latest", tasks=6)
    for verdict, shots in [("accepted", ["a", "b"]), ("edited", ["a"]), ("rejected", ["b"]), ("skipped", [])]:
        result.count(verdict, shots)
    summary = result.summary()
    assert (summary["reviewed"], summary["acceptance_rate"], summary["edit_rate"], summary["pending"]) == (
        3,
        0.667,
        0.5,
        2,
    )
    assert summary["per_seed"]["a"] == {
        "reviewed": 2,
        "acceptance_rate": 1.0,
        "edit_rate": 0.5,
        "accepted": 1,
        "edited": 1,
    }
    assert summary["per_seed"]["b"]["acceptance_rate"] == 0.5
    text = pull_text(result)
    assert "3 reviewed of 6 tasks" in text and text.index("  b ") < text.index("  a ")  # lowest acceptance first
    assert review.PullResult.rates(Counter()) == {"reviewed": 0, "acceptance_rate": None, "edit_rate": None}
