"""Azure (Azure-style URLs on the same test server), Together (its REST paths and chat rule) and the Hugging Face
push (a real DatasetDict from `ftboot build`; the Hub itself is not reachable from tests, so only the refusal
paths and an unreachable Hub are exercised)."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import varied_examples, write_jsonl
from tests.upload_helpers import make_project

SETTINGS = 'n_epochs = 2\nbatch_size = 4\nlearning_rate_multiplier = 0.5\nsuffix = "shop-desc"\n'


# --- Azure ---------------------------------------------------------------------------------------------------


@pytest.fixture
def azure(tmp_path, finetune, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", finetune.key)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    endpoint = finetune.api.url.removesuffix("/v1")
    tables = f'[upload.azure]\nendpoint = "{endpoint}"\napi_version = "2024-10-21"\ndeployment = "ft-base"\n'
    return make_project(tmp_path, finetune, upload=SETTINGS, tables=tables)


def test_azure_goes_through_azure_style_urls_with_api_version_and_api_key(azure):
    result = azure.run("--provider", "azure", "--wait")
    assert result.exit_code == 0, result.stderr
    log = azure.finetune.api.log
    assert log and all(r.path.startswith("/openai/") for r in log)
    assert all(parse_qs(urlsplit(r.path).query)["api-version"] == ["2024-10-21"] for r in log)
    assert all({k.lower(): v for k, v in r.headers.items()}.get("api-key") == azure.finetune.key for r in log)
    assert [urlsplit(r.path).path for r in log[:3]] == ["/openai/files", "/openai/files", "/openai/fine_tuning/jobs"]
    train = next(f for f in azure.finetune.files.values() if f["filename"] == "train.jsonl")
    assert train["content"] == (azure.outputs / "train.jsonl").read_bytes()
    request = next(iter(azure.finetune.jobs.values()))["request"]
    assert request["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert "fine-tuned model ft:gpt-4o-mini-2024-07-18:fake-org:shop-desc:" in result.stdout
    assert azure.ledger()[-1]["provider"] == "azure" and azure.ledger()[-1]["status"] == "succeeded"


def test_azure_without_an_endpoint_names_where_to_set_it(azure, monkeypatch):
    toml = azure.root / "ftboot.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines() if not line.startswith("endpoint")))
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    result = azure.run("--provider", "azure")
    assert result.exit_code == 1
    assert "no Azure endpoint: set AZURE_OPENAI_ENDPOINT or endpoint under [upload.azure]" in result.stderr


def test_azure_refused_key_names_its_variable(azure, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "wrong-azure-key")
    result = azure.run("--provider", "azure")
    assert result.exit_code == 1
    assert "Azure OpenAI refused the key in AZURE_OPENAI_API_KEY (401)" in result.stderr
    assert "wrong-azure-key" not in result.output


# --- Together ------------------------------------------------------------------------------------------------


@pytest.fixture
def together(tmp_path, finetune, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", finetune.key)
    tables = f'[upload.together]\nbase_url = "{finetune.api.url}"\nlearning_rate = 0.00002\n'
    return make_project(tmp_path, finetune, upload=SETTINGS, tables=tables)


MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def test_together_uploads_and_follows_through_its_rest_api(together):
    result = together.run("--provider", "together", "--model", MODEL, "--wait")
    assert result.exit_code == 0, result.stderr
    paths = [urlsplit(r.path).path for r in together.finetune.api.log]
    assert paths[:3] == ["/v1/files/upload", "/v1/files/upload", "/v1/fine-tunes"]
    assert all(p.startswith(("/v1/files/upload", "/v1/fine-tunes")) for p in paths)
    train = next(f for f in together.finetune.files.values() if f["filename"] == "train.jsonl")
    assert train["content"] == (together.outputs / "train.jsonl").read_bytes()
    assert train["form"]["purpose"] == "fine-tune" and train["form"]["file_type"] == "jsonl"
    job_id, job = next(iter(together.finetune.jobs.items()))
    request = job["request"]
    assert request["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    assert (request["model"], request["n_epochs"], request["batch_size"], request["learning_rate"]) == (
        MODEL,
        2,
        4,
        2e-5,
    )
    assert "learning_rate_multiplier" not in request and request["suffix"] == "shop-desc"
    assert request["validation_file"] and request["n_evals"] == 2
    assert f"job {job_id} succeeded: fine-tuned model ft:{MODEL}:fake-org:shop-desc:" in result.stdout
    statuses = [r["status"] for r in together.ledger() if r["event"] == "status"]
    assert statuses == ["queued", "running", "succeeded"]  # Together's names mapped to OpenAI's


def test_together_job_answered_with_500_is_found_in_its_job_list(together):
    together.finetune.lose_job_answers = 1
    result = together.run("--provider", "together", "--model", MODEL)
    assert result.exit_code == 0, result.stderr
    assert len(together.finetune.jobs) == 1
    assert sum(1 for r in together.finetune.api.requests("/v1/fine-tunes") if r.method == "POST") == 1


def test_together_chat_rule_is_checked_before_sending(together):
    rows = varied_examples(12)
    rows[1] = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"},
        ]
    }
    write_jsonl(together.outputs / "train.jsonl", rows)
    assert together.run("--dry-run").exit_code == 0  # OpenAI accepts two user turns in a row
    result = together.run("--provider", "together", "--model", MODEL)
    assert result.exit_code == 2
    assert "outputs/train.jsonl:2: bad-order: messages[1] is user where Together expects assistant" in result.stderr
    assert together.finetune.api.log == []


def test_together_failed_job_shows_its_error_event(together):
    together.finetune.outcome = "failed"
    result = together.run("--provider", "together", "--model", MODEL, "--wait")
    assert result.exit_code == 1
    assert "failed: job_error: The job failed due to an invalid training file." in result.stderr


def test_together_epochs_default_to_its_own_default(together):
    toml = together.root / "ftboot.toml"
    toml.write_text(toml.read_text().replace("n_epochs = 2", 'n_epochs = "auto"'))
    plan = json.loads(together.run("--provider", "together", "--model", MODEL, "--dry-run", "--json").stdout)
    assert plan["epochs"] == 1 and plan["target"] == "together"
    assert together.run("--provider", "together", "--model", MODEL).exit_code == 0
    assert "n_epochs" not in next(iter(together.finetune.jobs.values()))["request"]


# --- Hugging Face --------------------------------------------------------------------------------------------


@pytest.fixture
def hub(project, run, monkeypatch):
    """The demo project built from 14 examples with the real build (train.jsonl, val.jsonl, dataset/)."""
    source = write_jsonl(project / "in.jsonl", varied_examples(14))
    assert run("build", "--input", str(source)).exit_code == 0
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_never_shown")
    return project


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_repo(project, repo="me/shop-descriptions") -> None:
    toml = project / "ftboot.toml"
    toml.write_text(toml.read_text() + f'\n[upload.huggingface]\nrepo = "{repo}"\n')


def test_hub_dry_run_plans_the_files_without_a_bill(hub, run):
    result = run("upload", "--provider", "huggingface", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "outputs/train.jsonl" in result.output and "epochs" not in result.output and "cost" not in result.output


def test_hub_needs_a_repo(hub, run):
    result = run("upload", "--provider", "huggingface")
    assert result.exit_code == 2 and "no Hub repo: set repo under [upload.huggingface]" in result.stderr


def test_hub_dataset_has_the_messages_column_and_the_same_rows(hub):
    from pipeline.project import find_project
    from pipeline.upload import get_provider, plan_upload
    from pipeline.upload.huggingface import load_checked

    project = find_project(hub)
    plan = plan_upload(project, get_provider(project, "huggingface"))
    dataset = load_checked(project.outputs / "dataset", "outputs/dataset", plan)
    first = json.loads((hub / "outputs" / "train.jsonl").read_text().splitlines()[0])
    assert (
        dataset["train"].num_rows == plan.train.examples and dataset["validation"].num_rows == plan.validation.examples
    )
    assert [(m["role"], m["content"]) for m in dataset["train"][0]["messages"]] == [
        (m["role"], m["content"]) for m in first["messages"]
    ]


def test_hub_refuses_a_dataset_older_than_the_files(hub, run):
    set_repo(hub)
    train = hub / "outputs" / "train.jsonl"
    train.write_text(train.read_text() + json.dumps(varied_examples(1, seed=9)[0]) + "\n")
    result = run("upload", "--provider", "huggingface")  # the build's manifest catches it first
    assert result.exit_code == 2 and "outputs/train.jsonl: differs from build" in result.stderr
    (hub / "outputs" / "build.json").unlink()  # a set from before manifests: the Hub's own check still holds
    result = run("upload", "--provider", "huggingface")
    assert result.exit_code == 2 and "it is out of date" in result.stderr


def test_hub_unreachable_is_a_clear_run_error(hub, run, monkeypatch):
    set_repo(hub)
    monkeypatch.setattr("datasets.config.HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    result = run("upload", "--provider", "huggingface")
    assert result.exit_code == 1
    assert "error: pushing outputs/dataset to the Hub repo me/shop-descriptions at http://127.0.0.1:" in result.stderr
    assert "hf_test_token_never_shown" not in result.output
    assert not (hub / "outputs" / "uploads.jsonl").exists()


def test_hub_without_a_token_names_the_variable(hub, run, monkeypatch, tmp_path):
    set_repo(hub)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    result = run("upload", "--provider", "huggingface")
    assert result.exit_code == 1 and "no Hugging Face token: set HF_TOKEN" in result.stderr
