"""The held-out test set that build draws: human-reviewed only, sticky across rebuilds, never trained on, never a
shot, no near duplicate in train or val."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.schema import example_id, make_record
from tests.fake_chat import edit_config
from tests.helpers import chat as chat_example
from tests.helpers import varied_examples, write_jsonl


def ids(path: Path) -> list[str]:
    return [example_id(json.loads(line)) for line in path.read_text().splitlines()]


def write_reviewed(project: Path, examples: list[dict], verdict: str = "accepted") -> None:
    rows = [
        make_record(e, {"source": "review", "round": 1}, review={"verdict": verdict}).model_dump() for e in examples
    ]
    write_jsonl(project / "outputs" / "reviewed.jsonl", rows)


def test_test_set_is_reviewed_only_sticky_and_never_trained_on(project, run):
    out = project / "outputs"
    first = varied_examples(60, seed=1)
    write_reviewed(project, first)
    assert run("build").exit_code == 0
    test = ids(out / "test.jsonl")
    assert len(test) == 20  # 10% of 60 is 6; the minimum of 20 applies to a pool of 40 or more
    assert set(test) <= {example_id(e) for e in first}  # never a seed: test_seeds is off
    trained = set(ids(out / "train.jsonl")) | set(ids(out / "val.jsonl"))
    assert not trained & set(test)

    # A grown pool in which a reviewer replaced a test example by a near copy: the test example stays held out,
    # and the copy may not be trained on.
    original = json.loads((out / "test.jsonl").read_text().splitlines()[0])
    near = json.loads(json.dumps(original))
    near["messages"][-1]["content"] += " Really."
    grown = [e for e in first if e != original] + varied_examples(300, seed=2) + [near]
    write_reviewed(project, grown)
    result = run("build", "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    again = ids(out / "test.jsonl")
    assert again[:20] == test  # what was drawn once stays, in the same order
    assert summary["test"] == len(again) == 37  # ceil(10% of 361)
    trained = set(ids(out / "train.jsonl")) | set(ids(out / "val.jsonl"))
    assert not trained & set(again)
    assert example_id(near) not in trained
    rejected = [json.loads(line) for line in (out / "build-rejected.jsonl").read_text().splitlines()]
    assert example_id(near) not in again  # the draw does not pick it, so the screen must catch it
    assert any(r["reason"] == "near-test" and r["id"] == make_record(near, {}).id for r in rejected)
    report = (out / "report.md").read_text()
    assert f"| test (held out) | {len(again)} |" in report
    assert "20 kept from the previous build, 17 drawn now" in report


def test_seeds_join_the_test_set_only_when_the_project_says_so(project, run):
    edit_config(project, "build", test_seeds=True, test_fraction=0.5)
    write_reviewed(project, varied_examples(12, seed=3))
    assert run("build").exit_code == 0
    from pipeline.project import find_project
    from pipeline.seeds import load_seeds

    seeds = {example_id(s.example) for s in load_seeds(find_project(project))}
    assert seeds & set(ids(project / "outputs" / "test.jsonl"))


def test_generate_never_shows_a_test_example_as_a_shot(project, run, chat):
    edit_config(project, "generate", backend="openai", mode="chat", shots=3)
    edit_config(project, "build", test_fraction=0.5, test_seeds=True)
    write_reviewed(project, varied_examples(40, seed=4))
    assert run("build").exit_code == 0
    held = set(ids(project / "outputs" / "test.jsonl"))
    result = run("generate", "--pool", "reviewed", "--n", "40")
    assert result.exit_code == 0, result.output
    shown = [
        json.loads(line)["provenance"]["shots"]
        for line in (project / "outputs" / "candidates.jsonl").read_text().splitlines()
    ]
    assert shown
    from pipeline.generation.run import load_reviewed
    from pipeline.project import find_project
    from pipeline.seeds import load_seeds

    project_ = find_project(project)
    by_record_id = {r.id: example_id(r.example) for r in load_seeds(project_)}
    by_record_id |= {make_record(e, {}).id: example_id(e) for e in varied_examples(40, seed=4)}
    assert all(by_record_id[shot] not in held for shots in shown for shot in shots)
    assert {example_id(r.example) for r in load_reviewed(project_)}.isdisjoint(held)


def test_input_file_builds_write_no_test_set(project, run):
    source = write_jsonl(
        project / "in.jsonl", [chat_example(f"q{i} " * 5, f"a{i} " * 9) for i in range(3)] + varied_examples(20)
    )
    assert run("build", "--input", str(source)).exit_code == 0
    assert not (project / "outputs" / "test.jsonl").exists()
