"""Build: each rejection reason, dedup, no leakage across the split, determinism, atomic writes, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.build.steps import BuildItem, Dedup, Rejects, Split, Step, Validate
from pipeline.config import Config
from pipeline.dedup import DuplicateIndex
from pipeline.project import find_project
from pipeline.rules import get_ruleset
from pipeline.schema import example_text, make_record
from tests.helpers import chat, varied_examples, write_jsonl
from tests.openai_format_check import check_file


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_from_input_writes_a_valid_openai_file(project, run):
    source = write_jsonl(project / "in.jsonl", varied_examples(25))
    result = run("build", "--input", str(source))
    assert result.exit_code == 0, result.output
    out = project / "outputs"
    train, val = lines(out / "train.jsonl"), lines(out / "val.jsonl")
    assert len(train) + len(val) == 25 and len(val) == 2
    assert not check_file(out / "train.jsonl")
    assert {json.dumps(e, sort_keys=True) for e in train + val} == {
        json.dumps(e, sort_keys=True) for e in varied_examples(25)
    }
    report = (out / "report.md").read_text()
    assert "| inputs | 25 |" in report and "billed training tokens" in report


def test_fewer_than_ten_is_refused_and_nothing_written(project, run):
    source = write_jsonl(project / "in.jsonl", varied_examples(9))
    result = run("build", "--input", str(source))
    assert result.exit_code == 2
    assert "9 training examples; openai needs at least 10" in result.stderr
    assert sorted(p.name for p in (project / "outputs").iterdir()) == [".lock"]  # the project lock, not an output


REASONS = {
    "no-assistant": {"messages": [{"role": "user", "content": "hello there"}]},
    "empty-content": chat("Describe a lamp", "   "),
    "unanswered-tool": {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "tool", "tool_call_id": "call_9", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ]
    },
    "bad-weight": {
        "messages": [{"role": "user", "content": "hi", "weight": 1}, {"role": "assistant", "content": "yo"}]
    },
    "too-long": chat("Describe " + "very " * 17_000, "A lamp."),
}


@pytest.mark.parametrize("code", REASONS)
def test_each_rejection_reason(project, run, code):
    source = write_jsonl(project / "in.jsonl", [*varied_examples(12), REASONS[code]])
    result = run("build", "--input", str(source), "--model", "gpt-3.5-turbo-0125", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rejected"] == {code: 1}
    rejected = lines(project / "outputs" / "build-rejected.jsonl")
    assert [r["reason"] for r in rejected] == [code]
    assert rejected[0]["provenance"] == {"source": "file", "file": "in.jsonl", "line": 13}


def test_weight_must_be_zero_or_one(project, run):
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "weight": 2}]}
    source = write_jsonl(project / "in.jsonl", [*varied_examples(12), bad])
    result = run("build", "--input", str(source), "--json")
    assert json.loads(result.stdout)["rejected"] == {"bad-weight": 1}


def test_token_limit_depends_on_the_model(project, run):
    long = chat("Describe " + "very " * 20_000, "A lamp.")  # about 20k tokens
    source = write_jsonl(project / "in.jsonl", [*varied_examples(12), long])
    assert json.loads(run("build", "--input", str(source), "--json").stdout)["rejected"] == {}
    nano = run("build", "--input", str(source), "--model", "gpt-4.1-nano", "--json")
    assert json.loads(nano.stdout)["rejected"] == {}
    turbo = run("build", "--input", str(source), "--model", "ft:gpt-3.5-turbo-0125:acme::abc", "--json")
    assert json.loads(turbo.stdout)["rejected"] == {"too-long": 1}


def test_exact_and_near_duplicates_removed(project, run):
    base = varied_examples(12)
    exact = json.loads(json.dumps(base[0]))
    exact["messages"][1]["content"] = exact["messages"][1]["content"].upper() + "  "
    near = json.loads(json.dumps(base[1]))
    near["messages"][2]["content"] += " indeed"
    source = write_jsonl(project / "in.jsonl", [*base, exact, near])
    summary = json.loads(run("build", "--input", str(source), "--json").stdout)
    assert summary["rejected"] == {"duplicate": 1, "near-duplicate": 1}
    rejected = {r["reason"]: r for r in lines(project / "outputs" / "build-rejected.jsonl")}
    assert rejected["near-duplicate"]["similarity"] >= 0.85


def test_no_near_duplicate_pair_across_split(project, run):
    examples = varied_examples(150, seed=3)
    # Paraphrase-like variants: each a few words off an original.
    for i in range(0, 150, 3):
        variant = json.loads(json.dumps(examples[i]))
        variant["messages"][2]["content"] = variant["messages"][2]["content"].replace("is", "was", 1) + " today"
        examples.append(variant)
    source = write_jsonl(project / "in.jsonl", examples)
    run("build", "--input", str(source))
    train, val = lines(project / "outputs" / "train.jsonl"), lines(project / "outputs" / "val.jsonl")
    index = DuplicateIndex(0.85)
    for i, example in enumerate(train):
        index.add(str(i), example_text(example))
    assert val and all(index.find(example_text(e)) is None for e in val)


def test_split_is_deterministic_and_follows_the_seed(project, run):
    source = write_jsonl(project / "in.jsonl", varied_examples(60))
    run("build", "--input", str(source))
    first = (project / "outputs" / "val.jsonl").read_text()
    run("build", "--input", str(source))
    assert (project / "outputs" / "val.jsonl").read_text() == first
    toml = project / "ftboot.toml"
    toml.write_text(toml.read_text().replace("seed = 42", "seed = 7"))
    run("build", "--input", str(source))
    assert (project / "outputs" / "val.jsonl").read_text() != first


def test_failed_write_leaves_previous_outputs(project, run, monkeypatch):
    source = write_jsonl(project / "in.jsonl", varied_examples(20))
    run("build", "--input", str(source))
    before = {p.name: p.read_bytes() for p in (project / "outputs").glob("*.jsonl")}
    import pipeline.build.run

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.build.run, "save_dataset", crash)
    write_jsonl(source, varied_examples(30, seed=9))
    with pytest.raises(OSError):
        run("build", "--input", str(source))
    after = {p.name: p.read_bytes() for p in (project / "outputs").glob("*.jsonl")}
    # The outputs are one unit: all of them are still the old build's; no temporary is left behind.
    assert after == before
    assert [p.name for p in (project / "outputs").glob(".*")] == [".lock"]


def test_dataset_dict_loads(project, run):
    from datasets import load_from_disk

    source = write_jsonl(project / "in.jsonl", varied_examples(20))
    run("build", "--input", str(source))
    dataset = load_from_disk(str(project / "outputs" / "dataset"))
    assert set(dataset) == {"train", "validation"}
    assert dataset["train"].num_rows + dataset["validation"].num_rows == 20
    assert dataset["train"][0]["messages"][0]["role"] == "system"


def test_default_build_uses_seeds_and_accepted_reviews(project, run):
    from pipeline.schema import make_record

    reviewed = []
    for i, example in enumerate(varied_examples(6)):
        verdict = ["accepted", "edited", "rejected"][i % 3]
        reviewed.append(make_record(example, {"source": "review"}, review={"verdict": verdict}).model_dump())
    write_jsonl(project / "outputs" / "reviewed.jsonl", reviewed)
    summary = json.loads(run("build", "--json").stdout)
    assert summary["inputs"] == 10 + 4


def test_epochs_follow_openai_defaults():
    from pipeline.rules import get_ruleset

    rules = get_ruleset("openai")
    assert [rules.default_epochs(n) for n in (10, 20, 33, 34, 1000, 8333, 8334, 50_000)] == [10, 5, 3, 3, 3, 3, 2, 1]


def test_cost_only_from_configured_price(project, run):
    source = write_jsonl(project / "in.jsonl", varied_examples(20))
    assert json.loads(run("build", "--input", str(source), "--json").stdout)["cost_usd"] is None
    with open(project / "ftboot.toml", "a") as handle:
        handle.write('\n[prices."gpt-4o-mini"]\ntraining = 3.0\n')
    summary = json.loads(run("build", "--input", str(source), "--json").stdout)
    assert summary["cost_usd"] == pytest.approx(summary["billed_tokens"] * 3.0 / 1e6)


def test_project_from_env(project, monkeypatch):
    monkeypatch.setenv("FTBOOT_PROJECT", str(project))
    assert find_project().root == project.resolve()


def test_push_to_hub_failure_is_one_line_and_keeps_local_files(project, run, monkeypatch):
    import datasets.config

    # A port nothing listens on: the push fails fast, as it would with no network.
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    monkeypatch.setenv("HF_HUB_ENDPOINT", "http://127.0.0.1:9")
    source = write_jsonl(project / "in.jsonl", varied_examples(20))
    result = run("build", "--input", str(source), "--push-to-hub", "me/shop")
    assert result.exit_code == 1
    assert "pushing outputs/dataset to the Hub repo me/shop" in result.stderr
    assert "hf_secret_token_value" not in result.output
    assert (project / "outputs" / "train.jsonl").exists()


def test_every_step_runs_on_items_and_a_reject_sink_and_the_split_marks_sides():
    cfg = Config().build
    examples = varied_examples(20)
    records = [make_record(e, {"source": "test"}) for e in [*examples, examples[3], chat("Lamp", "")]]
    steps: list[Step] = [
        Validate(get_ruleset(cfg.target), cfg.model, "chat"),
        Dedup(cfg.near_duplicate_threshold),
        Split(0.25, 7, 10),
    ]
    items, rejects = [BuildItem(r) for r in records], Rejects()
    for step in steps:
        items = step.run(items, rejects)
    # Validate refuses first, whatever its place in the input; the sink keeps the order of refusal
    assert [(row["id"], row["reason"]) for row in rejects.rows] == [
        (records[-1].id, "empty-content"),
        (records[3].id, "duplicate"),
    ]
    assert len(items) == 20 and sum(item.val for item in items) == 5
    again = Split(0.25, 7, 10).run([BuildItem(item.record) for item in reversed(items)], Rejects())
    assert [(i.record.id, i.val) for i in again] == [(i.record.id, i.val) for i in items]
