"""Fireworks AI through the local server that follows its REST API (real HTTP, httpx): datasets and their bytes,
the job requests (supervised and DPO), following a job, the signed-URL path, retries, the ledger and refusals."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.fakeapi import Fault
from tests.helpers import varied_examples, write_jsonl
from tests.upload_helpers import make_project

MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"


@pytest.fixture
def fw(tmp_path, fireworks, monkeypatch):
    monkeypatch.setenv("FIREWORKS_API_KEY", fireworks.key)
    monkeypatch.delenv("FIREWORKS_ACCOUNT_ID", raising=False)
    tables = (
        f'[upload.fireworks]\nbase_url = "{fireworks.base_url}"\naccount = "{fireworks.account}"\n'
        "learning_rate = 0.0001\nlora_rank = 16\n"
    )
    p = make_project(tmp_path, fireworks, upload='n_epochs = 2\nsuffix = "shop-desc"\n', tables=tables)
    toml = p.root / "ftboot.toml"
    toml.write_text(
        toml.read_text()
        .replace('provider = "openai"', 'provider = "fireworks"')
        .replace('model = "gpt-4o-mini-2024-07-18"\n', "")
    )
    return p


def dataset_id(path) -> str:
    return "ftboot-" + hashlib.sha256(path.read_bytes()).hexdigest()[:24]


def test_dry_run_needs_no_key_or_account_and_shows_the_first_line(fw, monkeypatch):
    monkeypatch.delenv("FIREWORKS_API_KEY")
    toml = fw.root / "ftboot.toml"
    toml.write_text(
        toml.read_text().replace('account = "my-team"\n', "")
        + '\n[prices."accounts/fireworks/models/llama-v3p1-8b"]\ntraining = 0.5\n'
    )
    result = fw.run("--dry-run")
    assert result.exit_code == 0, result.stderr
    first = json.loads((fw.outputs / "train.jsonl").read_text().splitlines()[0])
    assert f"first line  {json.dumps(first, ensure_ascii=False)}" in result.stdout
    assert f"base model  {MODEL}" in result.stdout and "cost        ~$" in result.stdout
    plan = json.loads(fw.run("--dry-run", "--json").stdout)
    assert plan["target"] == "fireworks" and plan["first_line"] == first
    assert plan["estimated_cost_usd"] == pytest.approx(plan["billed_tokens"] * 0.5 / 1e6)
    assert fw.finetune.api.log == []


def test_upload_and_wait_creates_ready_datasets_and_a_supervised_job(fw):
    result = fw.run("--wait")
    assert result.exit_code == 0, result.stderr
    api = fw.finetune
    train_id, val_id = dataset_id(fw.outputs / "train.jsonl"), dataset_id(fw.outputs / "val.jsonl")
    assert api.datasets[train_id]["content"] == (fw.outputs / "train.jsonl").read_bytes()
    assert api.datasets[val_id]["content"] == (fw.outputs / "val.jsonl").read_bytes()
    assert api.datasets[train_id]["request"]["dataset"]["exampleCount"] == "12"
    assert api.datasets[train_id]["via"] == "multipart" and api.datasets[train_id]["state"] == "READY"
    ((name, job),) = api.jobs.items()
    assert job["collection"] == "supervisedFineTuningJobs"
    assert job["request"] == {
        "dataset": f"accounts/my-team/datasets/{train_id}",
        "displayName": "shop-desc",
        "baseModel": MODEL,
        "epochs": 2,
        "learningRate": 0.0001,
        "loraRank": 16,
        "evaluationDataset": f"accounts/my-team/datasets/{val_id}",
    }
    assert "running: 50% done, epoch 1" in result.stdout
    assert (
        f"job {name} succeeded: fine-tuned model accounts/my-team/models/ft-{name.rsplit('/', 1)[-1]}" in result.stdout
    )
    ledger = fw.ledger()
    assert [r["event"] for r in ledger][:3] == ["file", "file", "job"] and ledger[2]["job_id"] == name
    assert ledger[0]["endpoint"] == f"{api.base_url}/v1/accounts/my-team" and ledger[-1]["status"] == "succeeded"
    assert api.key not in result.output + (fw.outputs / "uploads.jsonl").read_text()


def test_dpo_goes_to_dpo_jobs_with_the_preference_file(fw):
    pref = {
        "input": {"messages": [{"role": "user", "content": "Describe a lamp"}]},
        "preferred_output": [{"role": "assistant", "content": "A warm lamp."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lamp."}],
    }
    write_jsonl(
        fw.outputs / "train-dpo.jsonl",
        [dict(pref, input={"messages": [{"role": "user", "content": f"Describe lamp {i}"}]}) for i in range(4)],
    )
    toml = fw.root / "ftboot.toml"
    toml.write_text(toml.read_text().replace("n_epochs = 2", "n_epochs = 2\nbeta = 0.2"))
    result = fw.run("--format", "dpo", "--wait")
    assert result.exit_code == 0, result.stderr
    ((name, job),) = fw.finetune.jobs.items()
    train_id = dataset_id(fw.outputs / "train-dpo.jsonl")
    assert name.startswith("accounts/my-team/dpoJobs/") and job["request"] == {
        "dataset": f"accounts/my-team/datasets/{train_id}",
        "displayName": "shop-desc",
        "trainingConfig": {"baseModel": MODEL, "epochs": 2, "learningRate": 0.0001, "loraRank": 16},
        "lossConfig": {"method": "DPO", "klBeta": 0.2},
    }
    assert fw.finetune.datasets[train_id]["content"] == (fw.outputs / "train-dpo.jsonl").read_bytes()


def test_a_file_over_the_multipart_limit_goes_through_a_signed_url_without_the_key(fw, monkeypatch):
    monkeypatch.setattr("pipeline.upload.fireworks.MULTIPART_LIMIT", 100)
    result = fw.run()
    assert result.exit_code == 0, result.stderr
    train = fw.finetune.datasets[dataset_id(fw.outputs / "train.jsonl")]
    size = (fw.outputs / "train.jsonl").stat().st_size
    assert train["via"] == "signed" and train["content"] == (fw.outputs / "train.jsonl").read_bytes()
    assert train["put_headers"]["x-goog-content-length-range"] == f"{size},{size}"
    assert "authorization" not in train["put_headers"]


def test_429_and_5xx_are_retried_and_a_lost_job_answer_is_adopted(fw):
    fw.finetune.api.inject(
        Fault(status=429, retry_after=0.01, path=":upload"), Fault(status=503, retry_after=0.01, path="/datasets/")
    )
    fw.finetune.lose_job_answers = 1
    result = fw.run("--wait")
    assert result.exit_code == 0, result.stderr
    assert len(fw.finetune.jobs) == 1 and len(fw.finetune.datasets) == 2
    assert sum(1 for r in fw.finetune.api.requests(":upload") if r.method == "POST") == 3


def test_a_second_run_starts_no_second_job_and_a_lost_dataset_answer_reuses_the_dataset(fw):
    assert fw.run().exit_code == 0
    again = fw.run()
    assert again.exit_code == 1 and "was already started with these files and settings" in again.stderr
    (fw.outputs / "uploads.jsonl").unlink()  # as if the ledger lines were lost: the same dataset ids are found
    forced = fw.run("--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(fw.finetune.datasets) == 2 and len(fw.finetune.jobs) == 2
    assert sum(1 for r in fw.finetune.api.requests(":upload") if r.method == "POST") == 2  # READY ones not resent


def test_the_fireworks_rules_are_checked_before_any_request(fw):
    rows = varied_examples(12)
    rows[3]["messages"][-1]["weight"] = 2
    write_jsonl(fw.outputs / "train.jsonl", rows)
    result = fw.run()
    assert result.exit_code == 2
    assert "outputs/train.jsonl:4: bad-weight: messages[2].weight is 2; it must be 0 or 1" in result.stderr
    write_jsonl(fw.outputs / "train.jsonl", varied_examples(2))
    result = fw.run()
    assert result.exit_code == 2 and "2 training examples; fireworks needs at least 3" in result.stderr
    assert fw.finetune.api.log == []


def test_missing_account_wrong_key_and_failed_job(fw, monkeypatch):
    toml = fw.root / "ftboot.toml"
    text = toml.read_text()
    toml.write_text(text.replace('account = "my-team"\n', ""))
    result = fw.run()
    assert result.exit_code == 2 and "no Fireworks account: set account under [upload.fireworks]" in result.stderr
    toml.write_text(text)
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-wrong-key")
    result = fw.run()
    assert result.exit_code == 1 and "Fireworks AI refused the key in FIREWORKS_API_KEY (401)" in result.stderr
    assert "fw-wrong-key" not in result.output
    monkeypatch.setenv("FIREWORKS_API_KEY", fw.finetune.key)
    fw.finetune.outcome = "failed"
    result = fw.run("--wait")
    assert result.exit_code == 1
    assert "failed: INVALID_ARGUMENT: dataset line 2: messages must alternate" in result.stderr
