"""Review against a real Label Studio: push (idempotent, no secrets, prefilled predictions), reviewers' work
through the API (accept, edit, reject, skip, draft, disagreement, a broken correction), pull, and build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.labelstudio import view
from pipeline.labelstudio.tasks import MODEL_VERSION
from pipeline.schema import make_record
from tests.helpers import chat, varied_examples
from tests.labelstudio_fixtures import Reviewer, project_id


def title_of(project: Path) -> str:
    from pipeline.project import find_project

    return find_project(project).config.labelstudio.project_title


def write_candidates(project: Path, examples: list[dict[str, Any]], append: bool = False) -> list[str]:
    """Candidate records as generate writes them, each with two seeds as shots; returns their ids."""
    from pipeline.project import find_project
    from pipeline.seeds import load_seeds

    seeds = load_seeds(find_project(project))
    records = [
        make_record(
            ex,
            {
                "source": "generated",
                "shots": [seeds[i % 3].id, seeds[5].id],
                "model": "test",
                "round": 1,
                "nearest_seed": seeds[i % 3].id,
                "nearest_seed_similarity": 0.31,
            },
        )
        for i, ex in enumerate(examples)
    ]
    with open(project / "outputs" / "candidates.jsonl", "a" if append else "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r.model_dump()) + "\n" for r in records)
    return [r.id for r in records]


def push(run, *args: str) -> dict[str, Any]:
    result = run("review", "push", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pull(run, *args: str) -> dict[str, Any]:
    result = run("review", "pull", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def reviewer_for(review_project: Path, labelstudio) -> Reviewer:
    return Reviewer(labelstudio, project_id(labelstudio, title_of(review_project)))


def test_push_imports_each_candidate_once_prefilled_and_without_secrets(review_project, run, labelstudio):
    ids = write_candidates(review_project, varied_examples(5))
    assert push(run)["imported"] == 5
    again = push(run)
    assert (again["imported"], again["already_there"]) == (0, 5)
    ids += write_candidates(review_project, varied_examples(7, seed=1)[5:], append=True)
    assert push(run)["imported"] == 2

    ls = labelstudio.client()
    project = ls.projects.get(project_id(labelstudio, title_of(review_project)))
    assert project.model_version == MODEL_VERSION and project.show_collab_predictions
    assert project.show_instruction and project.expert_instruction == view.INSTRUCTIONS
    [tab] = ls.views.list(project=project.id)
    hidden = dict(tab.data)["hiddenColumns"]["explore"]
    assert {"tasks:data.example", "tasks:data.provenance", "tasks:data.dialogue_1"} <= set(hidden)
    assert not {f"tasks:data.{c}" for c in view.COLUMNS} & set(hidden)
    tasks = Reviewer(labelstudio, project.id).tasks()
    assert sorted(tasks) == sorted(ids)
    for task in tasks.values():
        assert [p["model_version"] for p in task["predictions"]] == [MODEL_VERSION]
        assert (
            task["data"]["example"]["messages"][-1]["content"]
            == task["predictions"][0]["result"][0]["value"]["text"][0]
        )
    assert labelstudio.api_key not in json.dumps(list(tasks.values()))


def test_reviews_come_back_as_verdicts_corrections_and_preferences(review_project, run, labelstudio):
    examples = varied_examples(8)
    ids = write_candidates(review_project, examples)
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    tasks = reviewer.tasks()
    t = [tasks[i] for i in ids]
    reviewer.submit(t[0], "accept", notes="fine as it is")
    reviewer.submit(t[1], "accept", edits={1: "A corrected description, checked by hand."}, notes="fixed a claim")
    reviewer.submit(t[2], "reject", notes="invents a feature")
    reviewer.submit(t[3], None, cancelled=True)  # skipped
    reviewer.draft(t[4], "accept")  # a draft is not a review
    reviewer.submit(t[5], "reject", by="ana@example.com")
    reviewer.submit(t[5], "accept", by="ben@example.com")
    emptied = reviewer.submit(t[6], "accept", edits={1: ""})  # the response emptied by mistake
    # t[7] is never opened

    summary = pull(run)
    out = review_project / "outputs"
    reviewed = {r["review"]["generated_id"]: r for r in rows(out / "reviewed.jsonl")}
    assert set(reviewed) == {ids[0], ids[1], ids[2], ids[5]}
    assert reviewed[ids[0]]["review"]["verdict"] == "accepted"
    assert reviewed[ids[0]]["example"] == examples[0] and reviewed[ids[0]]["id"] == ids[0]
    assert reviewed[ids[0]]["review"]["notes"] == "fine as it is"
    assert reviewed[ids[0]]["review"]["reviewers"] == ["admin@example.com"]
    assert reviewed[ids[0]]["review"]["lead_time"] == 12.5
    edited = reviewed[ids[1]]
    assert edited["review"]["verdict"] == "edited"
    assert edited["example"]["messages"][-1]["content"] == "A corrected description, checked by hand."
    assert edited["example"]["messages"][:-1] == examples[1]["messages"][:-1] and edited["id"] != ids[1]
    assert "+A corrected description, checked by hand." in edited["review"]["diff"]
    assert "-" + examples[1]["messages"][-1]["content"] in edited["review"]["diff"]
    assert edited["provenance"]["shots"]
    assert reviewed[ids[2]]["review"]["verdict"] == "rejected"
    # two reviewers disagree; the default policy follows the latest, and both reviews stay in the record
    assert reviewed[ids[5]]["review"]["verdict"] == "accepted"
    assert reviewed[ids[5]]["review"]["reviewers"] == ["ana@example.com", "ben@example.com"]
    assert [a["verdict"] for a in reviewed[ids[5]]["review"]["annotations"]] == ["reject", "accept"]

    assert (summary["accepted"], summary["edited"], summary["rejected"], summary["skipped"]) == (2, 1, 1, 1)
    assert summary["pending"] == 2 and summary["tasks"] == 8
    assert summary["acceptance_rate"] == 0.75 and summary["edit_rate"] == 0.333
    assert summary["agreement"] == 0.0 and summary["tasks_with_several_reviews"] == 1
    [broken] = summary["problems"]
    assert f"task {t[6]['id']}" in broken and f"{labelstudio.url}/projects/" in broken and "emptied" in broken
    assert sum(s["reviewed"] for s in summary["per_seed"].values()) == 2 * 4  # two shots per candidate

    [pref] = rows(out / "preferences.jsonl")
    assert pref["kind"] == "preference"
    assert pref["example"]["preferred_output"] == [
        {"role": "assistant", "content": "A corrected description, checked by hand."}
    ]
    assert pref["example"]["non_preferred_output"][0]["content"] == examples[1]["messages"][-1]["content"]
    assert pref["example"]["input"]["messages"] == examples[1]["messages"][:-1]

    # pulling again changes nothing; a changed annotation is picked up
    before = (out / "reviewed.jsonl").read_bytes()
    pull(run)
    assert (out / "reviewed.jsonl").read_bytes() == before
    reviewer.update(emptied, t[6], "accept", edits={1: "Now a proper description again."})
    assert pull(run)["problems"] == []
    again = {r["review"]["generated_id"]: r for r in rows(out / "reviewed.jsonl")}
    assert again[ids[6]]["example"]["messages"][-1]["content"] == "Now a proper description again."

    # unanimity rejects what one of two reviewers rejected; a tied majority follows the latest
    assert pull(run, "--policy", "unanimous")["rejected"] == 2
    result = run("review", "pull", "--policy", "majority")
    assert result.exit_code == 0 and "agreement 0% on 1 tasks with several reviews" in result.output
    assert "1 rejected" in result.output


def test_build_keeps_exactly_the_accepted_and_corrected_texts(review_project, run, labelstudio):
    examples = varied_examples(16, seed=3)
    ids = write_candidates(review_project, examples)
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    tasks = reviewer.tasks()
    corrected = {}
    for i, cid in enumerate(ids):
        if i < 2:
            reviewer.submit(tasks[cid], "reject")
        elif i < 4:
            reviewer.submit(tasks[cid], "accept")
        else:
            corrected[cid] = f"Corrected description number {i}: " + examples[i]["messages"][-1]["content"][::-1]
            reviewer.submit(tasks[cid], "accept", edits={1: corrected[cid]})
    summary = pull(run)
    assert (summary["accepted"], summary["edited"], summary["rejected"]) == (2, 12, 2)

    result = run("build", "--json")
    assert result.exit_code == 0, result.output
    out = review_project / "outputs"
    # the held-out test set takes its share of the reviewed examples, none of them also trained on
    trained = {m["messages"][-1]["content"] for f in ("train.jsonl", "val.jsonl") for m in rows(out / f)}
    held = {m["messages"][-1]["content"] for m in rows(out / "test.jsonl")}
    assert held and not trained & held
    built = trained | held
    from pipeline.project import find_project
    from pipeline.seeds import load_seeds

    seeds = {s.example["messages"][-1]["content"] for s in load_seeds(find_project(review_project))}
    kept = {examples[2]["messages"][-1]["content"], examples[3]["messages"][-1]["content"], *corrected.values()}
    assert built - seeds == kept

    result = run("build", "--format", "dpo", "--json")
    assert result.exit_code == 0, result.output
    pairs = [row for f in ("train-dpo.jsonl", "val-dpo.jsonl") for row in rows(out / f)]
    assert {p["preferred_output"][0]["content"] for p in pairs} == set(corrected.values())


def test_multi_turn_every_assistant_turn_can_be_corrected(review_project, run, labelstudio):
    conversation = {
        "messages": [
            {"role": "system", "content": "You write product descriptions."},
            {"role": "user", "content": "A steel kettle, 1.7 litres."},
            {"role": "assistant", "content": "A kettle that holds 1.7 litres."},
            {"role": "user", "content": "Shorter, please."},
            {"role": "assistant", "content": "Steel kettle, 1.7 L."},
        ]
    }
    single = chat("A wool scarf, 180 cm.", "A long wool scarf for cold days.")
    ids = write_candidates(review_project, [conversation, single])
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    tasks = reviewer.tasks()
    assert [r["from_name"] for r in tasks[ids[0]]["predictions"][0]["result"]] == ["reply_1", "reply_2"]
    assert tasks[ids[1]]["data"]["title_2"].startswith("This conversation has no assistant turn 2")
    reviewer.submit(tasks[ids[0]], "accept", edits={1: "A 1.7-litre steel kettle.", 2: "Steel kettle: 1.7 litres."})
    reviewer.submit(tasks[ids[1]], "accept")
    summary = pull(run)
    assert (summary["accepted"], summary["edited"]) == (1, 1)
    out = review_project / "outputs"
    [edited] = [r for r in rows(out / "reviewed.jsonl") if r["review"]["verdict"] == "edited"]
    assert [m["content"] for m in edited["example"]["messages"] if m["role"] == "assistant"] == [
        "A 1.7-litre steel kettle.",
        "Steel kettle: 1.7 litres.",
    ]
    first, second = rows(out / "preferences.jsonl")
    assert first["example"]["input"]["messages"] == conversation["messages"][:2]
    assert second["example"]["input"]["messages"][2]["content"] == "A 1.7-litre steel kettle."
    assert second["example"]["non_preferred_output"][0]["content"] == "Steel kettle, 1.7 L."


def test_to_file_writes_tasks_label_studio_imports_as_they_are(project, run, labelstudio):
    ids = write_candidates(project, varied_examples(3))
    result = run("review", "push", "--to-file", str(project / "tasks.json"))
    assert result.exit_code == 0, result.output
    tasks = json.loads((project / "tasks.json").read_text(encoding="utf-8"))
    config = (project / "tasks.label_config.xml").read_text(encoding="utf-8")
    assert [t["data"]["candidate_id"] for t in tasks] == ids
    ls = labelstudio.client()
    imported = ls.projects.create(title="imported by hand", label_config=config, model_version=MODEL_VERSION)
    answer = ls.projects.import_tasks(imported.id, request=tasks)
    assert (answer.task_count, answer.prediction_count) == (3, 3)


def test_from_file_reads_an_export_saved_from_the_ui(review_project, run, labelstudio):
    ids = write_candidates(review_project, varied_examples(3, seed=5))
    push(run)
    reviewer = reviewer_for(review_project, labelstudio)
    tasks = reviewer.tasks()
    reviewer.submit(tasks[ids[0]], "accept", edits={1: "Edited in the export."})
    reviewer.submit(tasks[ids[1]], "reject")
    with labelstudio.http() as http:
        export = http.get(f"/api/projects/{reviewer.project_id}/export", params={"exportType": "JSON"})
    (review_project / "export.json").write_bytes(export.raise_for_status().content)
    from_server = pull(run)
    server_rows = rows(review_project / "outputs" / "reviewed.jsonl")
    from_file = pull(run, "--from-file", str(review_project / "export.json"))
    file_rows = rows(review_project / "outputs" / "reviewed.jsonl")
    # an export names reviewers by user id; the server tells their emails
    assert [r["review"].pop("reviewers") for r in file_rows] == [["1"], ["1"]]
    assert [r["review"].pop("reviewers") for r in server_rows] == [["admin@example.com"]] * 2
    assert file_rows == server_rows
    assert from_file["edited"] == from_server["edited"] == 1 and from_server["tasks"] == 3
    assert from_file["tasks"] == 2  # the UI exports annotated tasks only


def test_personal_access_token_works_like_a_legacy_token(review_project, run, labelstudio, monkeypatch):
    token = labelstudio.client().tokens.create().token
    assert token.count(".") == 2  # a JWT refresh token
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
    write_candidates(review_project, varied_examples(2, seed=9))
    assert push(run)["imported"] == 2


@pytest.mark.parametrize("case", ["unreachable", "refused", "unset", "blank", "no-project"])
def test_server_trouble_is_one_line_exit_1_and_nothing_written(review_project, run, labelstudio, monkeypatch, case):
    write_candidates(review_project, varied_examples(2))
    if case == "unreachable":
        import socket

        # the SDK retries refused connections with backoff, as it should; the test need not wait for it
        monkeypatch.setattr("label_studio_sdk.core.http_client.INITIAL_RETRY_DELAY_SECONDS", 0.01)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{port}")
    elif case == "refused":
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    elif case == "unset":
        monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    elif case == "blank":  # whitespace is no key: read like every other key, not sent to be refused
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", " \n")
    result = run("review", "pull")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    expected = {
        "unreachable": "cannot reach Label Studio",
        "refused": "refused the API key",
        "unset": "LABEL_STUDIO_API_KEY is not set",
        "blank": "LABEL_STUDIO_API_KEY is not set",
        "no-project": "no Label Studio project titled",
    }[case]
    assert len(errors) == 1 and expected in errors[0], result.output
    assert "Traceback" not in result.output
    assert not (review_project / "outputs" / "reviewed.jsonl").exists()
    if case != "no-project":
        assert run("review", "push").exit_code == 1
