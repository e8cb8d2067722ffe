"""End to end: seeds → generate (chat test server) → push to a real Label Studio → reviewers annotate through its
API → pull → build → a train.jsonl that OpenAI's format accepts, holding exactly the accepted and corrected
texts."""

from __future__ import annotations

import json

from tests.fake_chat import KEY
from tests.labelstudio_fixtures import Reviewer, project_id
from tests.openai_format_check import check_file
from tests.test_review import rows, title_of


def test_seeds_to_train_through_label_studio(review_project, run, chat, labelstudio):
    assert run("seeds", "check").exit_code == 0
    generated = run("generate", "--backend", "openai", "--n", "16", "--json")
    assert generated.exit_code == 0, generated.output
    candidates = rows(review_project / "outputs" / "candidates.jsonl")
    assert len(candidates) == 16

    pushed = run("review", "push", "--json")
    assert pushed.exit_code == 0 and json.loads(pushed.stdout)["imported"] == 16
    reviewer = Reviewer(labelstudio, project_id(labelstudio, title_of(review_project)))
    tasks = reviewer.tasks()
    assert sorted(tasks) == sorted(c["id"] for c in candidates)
    kept, dropped = set(), set()
    for i, candidate in enumerate(candidates):
        text = candidate["example"]["messages"][-1]["content"]
        if i % 4 == 0:
            reviewer.submit(tasks[candidate["id"]], "reject", notes="off topic")
            dropped.add(text)
        elif i % 4 == 1:
            reviewer.submit(tasks[candidate["id"]], "accept")
            kept.add(text)
        else:
            corrected = f"Reviewed: {text.strip()} (checked against the feature list)"
            reviewer.submit(tasks[candidate["id"]], "accept", edits={1: corrected})
            kept.add(corrected)
            dropped.add(text)

    pulled = run("review", "pull", "--json")
    assert pulled.exit_code == 0, pulled.output
    summary = json.loads(pulled.stdout)
    assert (summary["accepted"], summary["edited"], summary["rejected"], summary["preferences"]) == (4, 8, 4, 8)
    assert set(summary["per_seed"]) <= {c for cand in candidates for c in cand["provenance"]["shots"]}

    built = run("build", "--json")
    assert built.exit_code == 0, built.output
    out = review_project / "outputs"
    assert not check_file(out / "train.jsonl")
    # kept texts are trained on or held out for eval (test.jsonl), never both
    trained = {r["messages"][-1]["content"] for name in ("train.jsonl", "val.jsonl") for r in rows(out / name)}
    held = {r["messages"][-1]["content"] for r in rows(out / "test.jsonl")}
    texts = trained | held
    assert kept <= texts and not (dropped & texts) and not (trained & held)
    everything = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.jsonl"))
    assert KEY not in everything and labelstudio.api_key not in everything
