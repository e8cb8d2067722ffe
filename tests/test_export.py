"""`ftboot export`: for each target the written config parses and names files that exist, every data file loads with
`datasets.load_dataset("json", ...)` and holds the set in the target's shape; invalid sets are refused before anything
is written; `build --export` is the same export."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import chat, varied_examples, write_jsonl

PREFERENCES = [
    {
        "input": {
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Describe lamp {i}"}]
        },
        "preferred_output": [{"role": "assistant", "content": f"A warm lamp, number {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lamp."}],
    }
    for i in range(12)
]


@pytest.fixture
def built(project: Path) -> Path:
    outputs = project / "outputs"
    rows = varied_examples(14)
    rows[0]["messages"][2]["weight"] = 1
    write_jsonl(outputs / "train.jsonl", rows[:12])
    write_jsonl(outputs / "val.jsonl", rows[12:])
    write_jsonl(outputs / "train-dpo.jsonl", PREFERENCES[:10])
    write_jsonl(outputs / "val-dpo.jsonl", PREFERENCES[10:])
    return outputs


def load(path: Path, tmp_path: Path):
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache"))


def script_files(source: str) -> set[str]:
    """The .jsonl names a training script's code mentions (string constants in its syntax tree)."""
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".jsonl")
    }


@pytest.mark.parametrize("to", ["trl", "unsloth"])
@pytest.mark.parametrize("fmt", ["chat", "dpo"])
def test_trl_and_unsloth_scripts_parse_and_their_data_loads(run, built, tmp_path, to, fmt):
    out = tmp_path / to
    result = run("export", "--to", to, "--format", fmt, str(out))
    assert result.exit_code == 0, result.output
    source = (out / "train.py").read_text()
    named = script_files(source)
    assert named == ({"train.jsonl", "val.jsonl"} if fmt == "chat" else {"train-dpo.jsonl", "val-dpo.jsonl"})
    assert all((out / name).exists() for name in named)
    assert ("DPOTrainer" if fmt == "dpo" else "SFTTrainer") in source and (
        to != "unsloth" or "FastLanguageModel" in source
    )
    train = load(out / next(n for n in named if n.startswith("train")), tmp_path)
    if fmt == "chat":
        first = json.loads((built / "train.jsonl").read_text().splitlines()[0])
        assert train.num_rows == 12 and train.column_names == ["messages"]
        assert [(m["role"], m["content"]) for m in train[0]["messages"]] == [
            (m["role"], m["content"]) for m in first["messages"]
        ]
        assert "weight" not in json.loads((out / "train.jsonl").read_text().splitlines()[0])["messages"][2]
    else:
        assert train.num_rows == 10 and set(train.column_names) == {"prompt", "chosen", "rejected"}
        assert (
            train[3]["prompt"][1]["content"] == "Describe lamp 3"
            and train[3]["chosen"][0]["content"] == "A warm lamp, number 3."
        )
    assert "python train.py" in (out / "README.md").read_text()


@pytest.mark.parametrize("fmt", ["chat", "dpo"])
def test_axolotl_config_parses_and_names_its_files(run, built, tmp_path, fmt):
    out = tmp_path / "axolotl"
    assert (
        run("export", "--to", "axolotl", "--format", fmt, "--model", "Qwen/Qwen2.5-1.5B-Instruct", str(out)).exit_code
        == 0
    )
    config = yaml.safe_load((out / "config.yml").read_text())
    assert config["base_model"] == "Qwen/Qwen2.5-1.5B-Instruct" and config["chat_template"] == "tokenizer_default"
    datasets = config["datasets"] + config["test_datasets"]
    assert all((out / d["path"]).exists() and d["field_messages"] == "messages" for d in datasets)
    train = load(out / config["datasets"][0]["path"], tmp_path)
    if fmt == "chat":
        assert {d["type"] for d in datasets} == {"chat_template"} and "rl" not in config
        assert train.num_rows == 12 and train[0]["messages"][-1]["role"] == "assistant"
    else:
        assert config["rl"] == "dpo" and {d["type"] for d in datasets} == {"chat_template.default"}
        assert (config["datasets"][0]["field_chosen"], config["datasets"][0]["field_rejected"]) == (
            "chosen",
            "rejected",
        )
        assert train.num_rows == 10 and train[0]["chosen"] == {"role": "assistant", "content": "A warm lamp, number 0."}
        assert train[0]["messages"][-1] == {"role": "user", "content": "Describe lamp 0"}
    assert "axolotl train config.yml" in (out / "README.md").read_text()


def test_vertex_lines_have_a_system_instruction_and_user_model_contents(run, built, tmp_path):
    write_jsonl(built / "train.jsonl", varied_examples(12))  # without the weight Vertex cannot carry
    out = tmp_path / "vertex"
    assert run("export", "--to", "vertex", str(out)).exit_code == 0
    job = json.loads((out / "tuning-job.json").read_text())
    spec = job["supervisedTuningSpec"]
    assert job["baseModel"] == "gemini-2.5-flash"
    assert all(
        (out / uri.rsplit("/", 1)[-1]).exists() for uri in (spec["trainingDatasetUri"], spec["validationDatasetUri"])
    )
    train = load(out / "train.jsonl", tmp_path)
    first = json.loads((built / "train.jsonl").read_text().splitlines()[0])["messages"]
    assert train.num_rows == 12
    assert train[0]["systemInstruction"] == {"role": "system", "parts": [{"text": first[0]["content"]}]}
    assert train[0]["contents"] == [
        {"role": "user", "parts": [{"text": first[1]["content"]}]},
        {"role": "model", "parts": [{"text": first[2]["content"]}]},
    ]
    assert "gcloud storage cp train.jsonl val.jsonl" in (out / "README.md").read_text()


def test_vertex_refuses_what_its_format_cannot_hold_before_writing(run, built, tmp_path):
    rows = varied_examples(12)
    rows[4] = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
        ]
    }
    write_jsonl(built / "train.jsonl", rows)
    out = tmp_path / "vertex"
    result = run("export", "--to", "vertex", str(out))
    assert result.exit_code == 2
    assert "outputs/train.jsonl:5: bad-order: messages[1] is user where Vertex AI expects assistant" in result.stderr
    assert not out.exists()
    dpo = run("export", "--to", "vertex", "--format", "dpo", str(out))
    assert dpo.exit_code == 2 and "Vertex AI export takes chat sets, not dpo" in dpo.stderr


def test_vertex_refuses_weights(run, built, tmp_path):
    rows = varied_examples(12)
    rows[0]["messages"][2]["weight"] = 0
    write_jsonl(built / "train.jsonl", rows)
    result = run("export", "--to", "vertex", str(tmp_path / "v"))
    assert result.exit_code == 2 and "outputs/train.jsonl:1: no-weights: messages[2] has a weight" in result.stderr


def test_build_export_is_the_same_export(run, project):
    source = write_jsonl(
        project / "in.jsonl", [chat(f"Describe product {i} {'x' * i}", f"Product {i} is fine.") for i in range(14)]
    )
    result = run("build", "--input", str(source), "--export", "vertex")
    assert result.exit_code == 0, result.output
    out = project / "outputs" / "export-vertex"
    built = (project / "outputs" / "train.jsonl").read_text().splitlines()
    exported = (out / "train.jsonl").read_text().splitlines()
    assert len(exported) == len(built) and json.loads(exported[0])["contents"][1]["role"] == "model"
    assert (out / "tuning-job.json").exists() and (out / "README.md").exists()


def test_the_cli_choices_are_the_exporters():
    from pipeline.cli import EXPORT_TARGETS
    from pipeline.export import EXPORTERS

    assert list(EXPORTERS) == EXPORT_TARGETS
