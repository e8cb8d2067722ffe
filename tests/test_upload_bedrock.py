"""AWS Bedrock against moto's server mode (real HTTP, real boto3): the converted S3 objects byte for byte, the
CreateModelCustomizationJob request as Bedrock stored it, following with GetModelCustomizationJob, the rules
checked before sending, refusals, and (on the local test server, since moto cannot answer them) retries of 429 and
5xx answers. moto never moves a job past InProgress by itself, so `--wait` is followed
here until the job is stopped (StopModelCustomizationJob), which ends it as Bedrock would."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.helpers import varied_examples, write_jsonl
from tests.moto_fixtures import BUCKET
from tests.upload_helpers import make_project

ROLE = "arn:aws:iam::123456789012:role/bedrock-ft"


@pytest.fixture
def bedrock(tmp_path, aws, finetune):
    tables = (
        f'[upload.bedrock]\nbucket = "{BUCKET}"\nprefix = "sets/shop"\nrole_arn = "{ROLE}"\nlearning_rate = 0.00001\n'
    )
    p = make_project(tmp_path, finetune, upload='n_epochs = 2\nbatch_size = 4\nsuffix = "shop"\n', tables=tables)
    toml = p.root / "ftboot.toml"
    toml.write_text(
        toml.read_text()
        .replace('provider = "openai"', 'provider = "bedrock"')
        .replace('model = "gpt-4o-mini-2024-07-18"\n', "")
    )
    return p


def expected_lines(path) -> bytes:
    """bedrock-conversation-2024, written out independently of the provider's code."""
    out = []
    for line in path.read_text().splitlines():
        messages = json.loads(line)["messages"]
        out.append(
            {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": messages[0]["content"]}],
                "messages": [{"role": m["role"], "content": [{"text": m["content"]}]} for m in messages[1:]],
            }
        )
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out).encode()


def objects() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def test_dry_run_needs_no_credentials_and_shows_the_converted_first_line(bedrock, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    result = bedrock.run("--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["target"] == "bedrock" and plan["model"] == "amazon.nova-micro-v1:0:128k"
    assert plan["first_line"] == json.loads(expected_lines(bedrock.outputs / "train.jsonl").splitlines()[0])
    assert plan["first_line"]["messages"][0]["role"] == "user"


def test_upload_puts_converted_files_in_s3_and_sends_the_job_request(bedrock):
    result = bedrock.run()
    assert result.exit_code == 0, result.stderr
    stored = objects()
    train_key = next(k for k in stored if k.endswith("-train.jsonl"))
    val_key = next(k for k in stored if k.endswith("-val.jsonl"))
    assert train_key.startswith("sets/shop/") and len(stored) == 2
    assert stored[train_key] == expected_lines(bedrock.outputs / "train.jsonl")
    assert stored[val_key] == expected_lines(bedrock.outputs / "val.jsonl")
    job_name = next(r for r in bedrock.ledger() if r["event"] == "job")["job_id"]
    job = boto3.client("bedrock").get_model_customization_job(jobIdentifier=job_name)
    assert job["customizationType"] == "FINE_TUNING" and job["roleArn"] == ROLE
    assert job["baseModelArn"].endswith("foundation-model/amazon.nova-micro-v1:0:128k")
    assert job["hyperParameters"] == {"epochCount": "2", "batchSize": "4", "learningRate": "1e-05"}
    assert job["trainingDataConfig"] == {"s3Uri": f"s3://{BUCKET}/{train_key}"}
    assert job["validationDataConfig"] == {"validators": [{"s3Uri": f"s3://{BUCKET}/{val_key}"}]}
    assert job["outputDataConfig"] == {"s3Uri": f"s3://{BUCKET}/sets/shop/output/"}
    assert job_name.startswith("ftboot-shop-") and f"follow it with: ftboot upload --status {job_name}" in result.stdout
    everything = result.output + (bedrock.outputs / "uploads.jsonl").read_text()
    assert "testing-secret-never-shown" not in everything and "testing-key-id" not in everything


def test_wait_follows_the_job_until_it_is_stopped(bedrock, monkeypatch):
    def stop_the_job(seconds: float) -> None:
        name = next(r for r in bedrock.ledger() if r["event"] == "job")["job_id"]
        boto3.client("bedrock").stop_model_customization_job(jobIdentifier=name)

    monkeypatch.setattr("pipeline.upload.time.sleep", stop_the_job)
    result = bedrock.run("--wait")
    assert result.exit_code == 1
    assert "InProgress: training loss 0.0000" in result.stdout and "Stopped" in result.stdout
    assert "was cancelled" in result.stderr
    assert [r["status"] for r in bedrock.ledger() if r["event"] == "status"] == ["running", "cancelled"]


def test_a_second_run_reuses_the_files_and_starts_no_second_job(bedrock):
    assert bedrock.run().exit_code == 0
    again = bedrock.run()
    assert again.exit_code == 1 and "was already started with these files and settings" in again.stderr
    forced = bedrock.run("--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(boto3.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"]) == 2


def test_bedrock_rules_and_settings_are_checked_before_sending(bedrock):
    rows = varied_examples(12)
    rows[5]["messages"].append({"role": "user", "content": "and one more thing"})
    write_jsonl(bedrock.outputs / "train.jsonl", rows)
    result = bedrock.run()
    assert result.exit_code == 2
    assert (
        "outputs/train.jsonl:6: bad-order: messages[3] is user; Bedrock wants the assistant's turn last"
        in result.stderr
    )
    assert objects() == {}
    dpo = bedrock.run("--format", "dpo")
    assert dpo.exit_code == 2 and "AWS Bedrock takes chat sets, not dpo" in dpo.stderr


def test_missing_role_is_an_input_error_and_missing_credentials_a_plain_line(bedrock, monkeypatch):
    write_jsonl(bedrock.outputs / "train.jsonl", varied_examples(12))
    toml = bedrock.root / "ftboot.toml"
    text = toml.read_text()
    toml.write_text(text.replace(f'role_arn = "{ROLE}"\n', ""))
    result = bedrock.run()
    assert result.exit_code == 2 and "no IAM role: set role_arn under [upload.bedrock]" in result.stderr
    assert objects() == {}
    toml.write_text(text)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(bedrock.root / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(bedrock.root / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = bedrock.run("--force")
    assert result.exit_code == 1 and "no AWS credentials: boto3 found none" in result.stderr


def test_throttling_and_5xx_on_the_job_request_are_retried_with_the_same_token(bedrock, fakeapi, monkeypatch):
    """moto cannot answer 429 or 5xx, so Bedrock's job endpoints are served here by the local test server (its
    documented REST paths), S3 stays on moto."""
    answers = [
        (429, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
        (503, {"__type": "ServiceUnavailableException", "message": "try again"}),
    ]
    created: dict[str, dict] = {}

    @fakeapi.route("POST", "/model-customization-jobs")
    def create(request):
        if answers:
            return answers.pop(0)
        body = request.json()
        created[body["jobName"]] = body
        return 201, {"jobArn": f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/{body['jobName']}"}

    @fakeapi.route("GET", "/model-customization-jobs/(?P<name>[^/]+)")
    def get(request):
        body = created[request.match["name"]]
        return 200, {
            **body,
            "jobArn": f"arn:aws:bedrock:us-east-1:123456789012:model-customization-job/{body['jobName']}",
            "status": "InProgress",
            "creationTime": "2026-12-01T00:00:00Z",
        }

    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", fakeapi.url.removesuffix("/v1"))
    result = bedrock.run()
    assert result.exit_code == 0, result.stderr
    posts = [r for r in fakeapi.requests("/model-customization-jobs") if r.method == "POST"]
    assert len(posts) == 3 and len(created) == 1
    assert len({r.json()["clientRequestToken"] for r in posts}) == 1  # a retry cannot start a second job
