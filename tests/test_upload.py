"""Upload to OpenAI through the local fine-tuning test server (real HTTP, real SDK): the dry-run plan, validation
before sending, the bytes and the job request that arrive, following a job, the ledger, and every failure path."""

from __future__ import annotations

import json

import pytest

from pipeline.tokens import count_example_tokens
from tests.fakeapi import Fault
from tests.helpers import chat, varied_examples, write_jsonl
from tests.upload_helpers import make_project

SETTINGS = 'n_epochs = 2\nbatch_size = 4\nlearning_rate_multiplier = 0.5\nsuffix = "shop-desc"\nseed = 7\n'


@pytest.fixture
def proj(tmp_path, finetune, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", finetune.key)
    return make_project(tmp_path, finetune, upload=SETTINGS)


def test_dry_run_plans_from_configured_prices_and_sends_nothing(tmp_path, finetune, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a dry run needs no key
    p = make_project(tmp_path, finetune, tables='[prices."gpt-4o-mini"]\ntraining = 3.0\n')
    result = p.run("--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    train = [json.loads(line) for line in (p.outputs / "train.jsonl").read_text().splitlines()]
    tokens = sum(count_example_tokens(e, "gpt-4o-mini-2024-07-18") for e in train)
    # OpenAI's auto epochs for 12 examples: raised until about 100 example-passes.
    assert plan["epochs"] == 100 // 12 and plan["hyperparameters"]["n_epochs"] == "auto"
    assert plan["files"][0] == {
        "role": "train",
        "path": "outputs/train.jsonl",
        "bytes": (p.outputs / "train.jsonl").stat().st_size,
        "examples": 12,
        "tokens": tokens,
    }
    assert plan["files"][1]["examples"] == 2
    assert plan["billed_tokens"] == tokens * 8
    assert plan["estimated_cost_usd"] == pytest.approx(tokens * 8 * 3.0 / 1e6)
    text = p.run("--dry-run")
    assert "12 examples" in text.output and "dry run: nothing was sent" in text.output
    assert finetune.api.log == [] and not (p.outputs / "uploads.jsonl").exists()


def test_without_a_price_the_cost_is_unknown(proj):
    result = proj.run("--dry-run")
    assert result.exit_code == 0
    assert "cost        unknown: no training price for gpt-4o-mini-2024-07-18" in result.output


def test_an_invalid_file_is_refused_with_reasons_before_any_request(proj):
    rows = varied_examples(12)
    rows[2] = {"messages": [{"role": "user", "content": "only a question"}]}
    rows[4] = {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    write_jsonl(proj.outputs / "train.jsonl", rows)
    result = proj.run("--wait")
    assert result.exit_code == 2
    assert "outputs/train.jsonl:3: no-assistant: no assistant message to learn from" in result.stderr
    assert "outputs/train.jsonl:5: messages[0].role: 'robot' is not one of" in result.stderr
    assert "nothing was sent" in result.stderr
    assert proj.finetune.api.log == [] and proj.ledger() == []


def test_problems_of_a_long_file_are_listed_in_line_order(tmp_path):
    # More lines than one counting batch: rule problems and schema problems stay in the order of their lines.
    from pipeline.plan import check_file
    from pipeline.rules import get_ruleset

    rows = varied_examples(1200)
    rows[1] = {"messages": [{"role": "user", "content": "only a question"}]}
    rows[599] = {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}
    rows[1099] = {"messages": [{"role": "user", "content": "another question"}]}
    write_jsonl(tmp_path / "train.jsonl", rows)
    count, tokens, problems = check_file(
        tmp_path / "train.jsonl", "train.jsonl", "chat", get_ruleset("openai"), "gpt-4o"
    )
    assert count == 1200
    assert [p.where.line for p in problems] == [2, 600, 1100]
    assert tokens == sum(count_example_tokens(r, "gpt-4o") for i, r in enumerate(rows) if i != 599)


def test_upload_and_wait_follows_the_job_to_its_model(proj):
    result = proj.run("--wait")
    assert result.exit_code == 0, result.stderr
    ft = proj.finetune
    job_request = ft.jobs[next(iter(ft.jobs))]["request"]
    files = {f["filename"]: f for f in ft.files.values()}
    assert files["train.jsonl"]["content"] == (proj.outputs / "train.jsonl").read_bytes()
    assert files["val.jsonl"]["content"] == (proj.outputs / "val.jsonl").read_bytes()
    assert {f["purpose"] for f in files.values()} == {"fine-tune"}
    assert job_request["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}},
    }
    assert job_request["suffix"] == "shop-desc" and job_request["seed"] == 7
    assert job_request["validation_file"] != job_request["training_file"]
    for event in ft.jobs[next(iter(ft.jobs))]["events"]:  # every event shown, in order
        assert event["message"] in result.stdout
    assert "train loss 0.6667" in result.stdout
    model = "ft:gpt-4o-mini-2024-07-18:fake-org:shop-desc:" + next(iter(ft.jobs))[-4:]
    assert f"fine-tuned model {model}" in result.stdout and "ckpt-step-3 (step 3, train loss 0.667)" in result.stdout
    ledger = proj.ledger()
    assert [r["event"] for r in ledger][:3] == ["file", "file", "job"]
    assert ledger[2]["hyperparameters"]["batch_size"] == 4 and ledger[2]["model"] == "gpt-4o-mini-2024-07-18"
    assert ledger[-1]["status"] == "succeeded" and ledger[-1]["fine_tuned_model"] == model
    everything = result.output + (proj.outputs / "uploads.jsonl").read_text()
    assert ft.key not in everything


def test_uploaded_file_reads_back_through_the_files_api(proj):
    import openai

    assert proj.run().exit_code == 0
    client = openai.OpenAI(api_key=proj.finetune.key, base_url=proj.finetune.api.url)
    train_id = proj.ledger()[0]["file_id"]
    assert client.files.retrieve(train_id).filename == "train.jsonl"
    assert client.files.content(train_id).read() == (proj.outputs / "train.jsonl").read_bytes()


def test_dpo_uploads_the_preference_set_with_its_method(proj):
    pref = {
        "input": {"messages": [{"role": "user", "content": "Describe a lamp"}]},
        "preferred_output": [{"role": "assistant", "content": "A warm lamp."}],
        "non_preferred_output": [{"role": "assistant", "content": "Lamp."}],
    }
    rows = [dict(pref, input={"messages": [{"role": "user", "content": f"Describe lamp {i}"}]}) for i in range(10)]
    write_jsonl(proj.outputs / "train-dpo.jsonl", rows)
    result = proj.run("--format", "dpo", "--model", "gpt-4.1-mini-2025-04-14")
    assert result.exit_code == 0, result.stderr
    request = next(iter(proj.finetune.jobs.values()))["request"]
    assert request["model"] == "gpt-4.1-mini-2025-04-14" and "validation_file" not in request
    assert request["method"]["type"] == "dpo" and request["method"]["dpo"]["hyperparameters"]["beta"] == "auto"
    assert next(iter(proj.finetune.files.values()))["content"] == (proj.outputs / "train-dpo.jsonl").read_bytes()


def test_no_key_names_the_variable(proj, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    result = proj.run()
    assert result.exit_code == 1
    assert "error: no OpenAI key: set OPENAI_API_KEY" in result.stderr
    assert proj.finetune.api.log == []


def test_a_refused_key_is_one_line_that_never_shows_it(proj, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-wrong-key-123")
    result = proj.run()
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[0]
        == "error: OpenAI refused the key in OPENAI_API_KEY (401) during the upload of train.jsonl"
    )
    assert "test-wrong-key-123" not in result.output and "Traceback" not in result.output


def posts(proj, path: str) -> int:
    return sum(1 for r in proj.finetune.api.requests(path) if r.method == "POST")


def test_429_and_5xx_are_retried_with_backoff(proj):
    proj.finetune.api.inject(
        Fault(status=429, retry_after=0.01, path="/files"),
        Fault(status=429, retry_after=0.01, path="/fine_tuning"),
        Fault(status=503, retry_after=0.01, path="/fine_tuning"),
    )
    result = proj.run()
    assert result.exit_code == 0, result.stderr
    assert posts(proj, "/v1/files") == 3 and posts(proj, "/fine_tuning/jobs") == 3
    assert len(proj.finetune.jobs) == 1


def test_a_job_created_but_answered_with_500_is_adopted_not_paid_twice(proj):
    proj.finetune.lose_job_answers = 1
    result = proj.run("--wait")
    assert result.exit_code == 0, result.stderr
    job_id = next(iter(proj.finetune.jobs))
    assert len(proj.finetune.jobs) == 1 and posts(proj, "/fine_tuning/jobs") == 1
    assert [r["job_id"] for r in proj.ledger() if r["event"] == "job"] == [job_id]
    assert f"job {job_id} succeeded" in result.stdout


def test_rate_limit_that_outlasts_retries_fails_plainly_and_a_rerun_reuses_the_files(proj):
    proj.finetune.api.inject(*[Fault(status=429, retry_after=0.01, path="/fine_tuning")] * 3)
    result = proj.run()
    assert result.exit_code == 1
    assert "still rate limiting (429) after 2 retries during the fine-tuning job" in result.stderr
    assert proj.finetune.jobs == {} and len(proj.finetune.files) == 2
    again = proj.run()
    assert again.exit_code == 0, again.stderr
    assert "reused the uploaded train, validation file" in again.stdout
    assert len(proj.finetune.files) == 2 and len(proj.finetune.jobs) == 1


def test_a_rejected_file_shows_the_providers_message(proj):
    proj.finetune.reject_file = "Invalid file format for Fine-Tuning API. Must be .jsonl"
    result = proj.run()
    assert result.exit_code == 1
    assert (
        "OpenAI rejected the upload of train.jsonl (400): Invalid file format for Fine-Tuning API. Must be .jsonl"
        in result.stderr
    )
    assert proj.finetune.jobs == {}


def test_a_failed_job_shows_its_code_and_message_and_exits_1(proj):
    proj.finetune.outcome = "failed"
    result = proj.run("--wait")
    assert result.exit_code == 1
    job_id = next(iter(proj.finetune.jobs))
    assert (
        f"error: job {job_id} failed: invalid_training_file: The job failed due to an invalid training file."
        in result.stderr
    )
    assert proj.ledger()[-1]["status"] == "failed" and proj.ledger()[-1]["error"].startswith("invalid_training_file")


def test_a_cancelled_job_exits_1(proj):
    proj.finetune.outcome = "cancelled"
    result = proj.run("--wait")
    assert result.exit_code == 1 and "was cancelled" in result.stderr


def test_the_same_files_and_settings_do_not_start_a_second_job_unless_forced(proj):
    first = proj.run()
    assert first.exit_code == 0
    job_id = next(iter(proj.finetune.jobs))
    second = proj.run()
    assert second.exit_code == 1
    assert f"job {job_id} was already started with these files and settings" in second.stderr
    assert f"ftboot upload --status {job_id}" in second.stderr and len(proj.finetune.jobs) == 1
    forced = proj.run("--force")
    assert forced.exit_code == 0 and len(proj.finetune.jobs) == 2 and len(proj.finetune.files) == 4


def test_a_failed_job_does_not_block_a_new_one(proj):
    proj.finetune.outcome = "failed"
    assert proj.run("--wait").exit_code == 1
    proj.finetune.outcome = "succeeded"
    again = proj.run("--wait")
    assert again.exit_code == 0, again.stderr
    assert len(proj.finetune.jobs) == 2 and len(proj.finetune.files) == 2  # files reused


def test_status_picks_up_the_last_job_or_a_named_one(proj):
    started = proj.run()
    job_id = next(iter(proj.finetune.jobs))
    assert f"follow it with: ftboot upload --status {job_id}" in started.stdout
    result = proj.run("--status")
    assert result.exit_code == 0, result.stderr
    assert f"job {job_id} succeeded" in result.stdout
    named = proj.run("--status", job_id, "--json")
    assert json.loads(named.stdout)["fine_tuned_model"].startswith("ft:gpt-4o-mini")


def test_status_of_an_unknown_job_says_so(proj):
    result = proj.run("--status", "ftjob-nope")
    assert result.exit_code == 1
    assert "OpenAI rejected reading job ftjob-nope (404): Could not find fine-tune job: ftjob-nope" in result.stderr


def test_status_with_no_job_recorded(proj):
    result = proj.run("--status")
    assert result.exit_code == 2 and "no job recorded in outputs/uploads.jsonl yet" in result.stderr


def test_ctrl_c_stops_following_not_the_job(proj, monkeypatch):
    import time

    real_sleep = time.sleep

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.upload.time.sleep", interrupt)
    result = proj.run("--wait")
    job_id = next(iter(proj.finetune.jobs))
    assert result.exit_code == 130
    assert f"stopped following; job {job_id} keeps running at OpenAI" in result.stderr
    assert f"ftboot upload --status {job_id}" in result.stderr
    assert proj.finetune.api.requests("/cancel") == [] and proj.finetune.jobs[job_id]["status"] == "queued"
    monkeypatch.setattr("pipeline.upload.time.sleep", real_sleep)
    assert proj.run("--status").exit_code == 0


def test_unknown_provider_and_too_long_suffix_are_input_errors(proj, tmp_path):
    assert proj.run("--provider", "mistral").exit_code == 2
    toml = proj.root / "ftboot.toml"
    toml.write_text(toml.read_text().replace('suffix = "shop-desc"', f'suffix = "{"x" * 65}"'))
    result = proj.run("--dry-run")
    assert result.exit_code == 2 and "upload.suffix" in result.stderr


def test_missing_build_output_points_to_build(proj):
    (proj.outputs / "train.jsonl").unlink()
    result = proj.run("--dry-run")
    assert result.exit_code == 2 and "run `ftboot build` first" in result.stderr


def test_set_level_rules_apply(proj):
    write_jsonl(proj.outputs / "train.jsonl", [chat(f"q{i}", f"a{i}") for i in range(5)])
    result = proj.run("--dry-run")
    assert result.exit_code == 2 and "5 training examples; openai needs at least 10" in result.stderr


def test_without_a_provider_the_choices_are_listed_and_nothing_is_sent(proj):
    toml = proj.root / "ftboot.toml"
    toml.write_text(toml.read_text().replace('provider = "openai"\n', ""))
    result = proj.run("--dry-run")
    assert result.exit_code == 2
    assert "no provider chosen: pass --provider NAME or set provider under [upload]" in result.stderr
    from pipeline.upload import PROVIDERS

    listed = [line.split()[0] for line in result.stderr.splitlines() if line.startswith("  ") and "needs" in line]
    assert listed == list(PROVIDERS)
    assert "together     Together AI: needs TOGETHER_API_KEY; runs fine-tuning jobs" in result.stderr
    assert "huggingface  Hugging Face Hub: needs" in result.stderr and "takes the files only" in result.stderr
    assert proj.finetune.api.log == []


def test_the_demo_project_chooses_no_provider(run):
    result = run("upload", "--dry-run")
    assert result.exit_code == 2 and "no provider chosen" in result.stderr


def test_init_writes_the_provider_commented_out_with_the_choices(tmp_path):
    from pipeline.config import load_config
    from pipeline.project import init_project
    from pipeline.upload import PROVIDERS

    init_project(tmp_path / "new")
    text = (tmp_path / "new" / "ftboot.toml").read_text()
    assert load_config(tmp_path / "new" / "ftboot.toml").upload.provider == ""
    assert '# provider = "fireworks"' in text
    for name in PROVIDERS:
        assert f"#   {name} " in text


def test_an_organisation_openai_refuses_is_told_where_to_go_instead(proj):
    proj.finetune.api.inject(Fault(status=403, path="/fine_tuning/jobs"))
    result = proj.run("--wait")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: OpenAI does not let this organisation start fine-tuning jobs (403: injected 403); no job was started."
    )
    assert "--provider fireworks" in lines[0] and "--provider bedrock" in lines[0]
    job_requests = proj.finetune.api.requests("/fine_tuning/jobs")
    assert [r.method for r in job_requests] == ["POST"]  # not retried, no job looked for
    assert proj.finetune.jobs == {} and [r["event"] for r in proj.ledger()] == ["file", "file"]
