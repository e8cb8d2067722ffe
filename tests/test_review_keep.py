"""No review an earlier pull recorded is lost: a task or a whole project deleted in a real Label Studio between
pulls leaves the reviews in reviewed.jsonl (marked, counted in the summary), a dated copy is kept before each
replacement, and only --forget-missing drops them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import varied_examples
from tests.labelstudio_fixtures import Reviewer, project_id
from tests.test_review import pull, push, reviewer_for, rows, title_of, write_candidates


def without_kept(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "review": {k: v for k, v in row["review"].items() if k != "kept"}}


def reviewed_by_candidate(project: Path) -> dict[str, dict[str, Any]]:
    return {r["review"]["generated_id"]: r for r in rows(project / "outputs" / "reviewed.jsonl")}


def review_three(project: Path, run, labelstudio) -> tuple[list[str], Reviewer, dict[str, dict[str, Any]]]:
    """Three candidates pushed and reviewed (accepted, corrected, rejected) and pulled once."""
    ids = write_candidates(project, varied_examples(4, seed=11))
    push(run)
    reviewer = reviewer_for(project, labelstudio)
    tasks = reviewer.tasks()
    reviewer.submit(tasks[ids[0]], "accept")
    reviewer.submit(tasks[ids[1]], "accept", edits={1: "A corrected text that only a reviewer wrote."})
    reviewer.submit(tasks[ids[2]], "reject")
    first = pull(run)
    assert (first["accepted"], first["edited"], first["rejected"], first["kept_from_earlier_pulls"]) == (1, 1, 1, 0)
    return ids, reviewer, tasks


def test_a_task_deleted_in_label_studio_keeps_its_review_until_forgotten_on_purpose(review_project, run, labelstudio):
    ids, reviewer, tasks = review_three(review_project, run, labelstudio)
    out = review_project / "outputs"
    before, prefs_before = reviewed_by_candidate(review_project), rows(out / "preferences.jsonl")
    first_bytes = (out / "reviewed.jsonl").read_bytes()
    deleted = tasks[ids[1]]["id"]
    with labelstudio.http() as http:
        http.delete(f"/api/tasks/{deleted}").raise_for_status()

    result = run("review", "pull")
    assert result.exit_code == 0, result.output
    assert "kept 1 reviews from earlier pulls that Label Studio no longer has (1 first missed now" in result.output
    after = reviewed_by_candidate(review_project)
    assert set(after) == set(before)
    assert {k: without_kept(r) for k, r in after.items()} == before
    kept = after[ids[1]]["review"]["kept"]
    assert f"task {deleted} is gone" in kept["why"] and kept["since"].endswith("Z")
    assert after[ids[1]]["review"]["project_id"] == reviewer.project_id
    assert after[ids[1]]["example"]["messages"][-1]["content"] == "A corrected text that only a reviewer wrote."
    [pref] = rows(out / "preferences.jsonl")
    assert pref["provenance"]["kept"] and pref["example"] == prefs_before[0]["example"]
    # the file the pull replaced was copied first, byte for byte
    [copy] = sorted((out / "history").glob("reviewed-*.jsonl"))
    assert copy.read_bytes() == first_bytes and len(copy.stem) == len("reviewed-20261203T124400")

    # pulling again changes nothing and still says what it keeps
    settled = (out / "reviewed.jsonl").read_bytes()
    again = pull(run)
    assert (again["kept_from_earlier_pulls"], again["first_missed_now"], again["preferences_kept"]) == (1, 0, 1)
    assert (out / "reviewed.jsonl").read_bytes() == settled

    # a deliberate reset drops it, says so, and the dated copy still holds it
    forgot = pull(run, "--forget-missing")
    assert (forgot["forgotten"], forgot["preferences_forgotten"], forgot["kept_from_earlier_pulls"]) == (1, 1, 0)
    assert set(reviewed_by_candidate(review_project)) == {ids[0], ids[2]}
    assert rows(out / "preferences.jsonl") == []
    copies = [review_project / h for h in forgot["history"]]
    assert any(p.name.startswith("reviewed-") and ids[1] in p.read_text(encoding="utf-8") for p in copies)


def test_a_deleted_project_and_a_fresh_push_lose_no_review(review_project, run, labelstudio):
    ids, reviewer, _ = review_three(review_project, run, labelstudio)
    out = review_project / "outputs"
    before = reviewed_by_candidate(review_project)
    labelstudio.client().projects.delete(reviewer.project_id)

    missing = run("review", "pull")
    assert missing.exit_code == 1 and "no Label Studio project titled" in missing.output
    assert reviewed_by_candidate(review_project) == before

    # the error's hint: push again, into a new project with new tasks that nobody has reviewed yet
    assert push(run)["imported"] == 4
    fresh = project_id(labelstudio, title_of(review_project))
    assert fresh != reviewer.project_id
    summary = pull(run)
    assert (summary["kept_from_earlier_pulls"], summary["first_missed_now"]) == (3, 3)
    assert summary["reviewed"] == 0 and summary["pending"] == 4
    after = reviewed_by_candidate(review_project)
    assert {k: without_kept(r) for k, r in after.items()} == before
    assert all(f"project {reviewer.project_id}" in r["review"]["kept"]["why"] for r in after.values())

    # a new review of one of them replaces the kept one; the others stay kept
    again = Reviewer(labelstudio, fresh)
    again.submit(again.tasks()[ids[2]], "accept")
    copies_before = set((out / "history").iterdir())
    summary = pull(run)
    assert (summary["accepted"], summary["kept_from_earlier_pulls"], summary["first_missed_now"]) == (1, 2, 0)
    after = reviewed_by_candidate(review_project)
    assert "kept" not in after[ids[2]]["review"] and after[ids[2]]["review"]["verdict"] == "accepted"
    assert after[ids[2]]["review"]["project_id"] == fresh
    assert {after[i]["review"]["verdict"] for i in ids[:2]} == {"accepted", "edited"}
    [new_copy] = set((out / "history").iterdir()) - copies_before
    assert summary["history"] == [f"outputs/history/{new_copy.name}"] and new_copy.name.startswith("reviewed-")
