"""AWS Bedrock fine-tuning with boto3: each line converted to Bedrock's `bedrock-conversation-2024` format
(`schemaVersion`, `system: [{text}]`, `messages: [{role, content: [{text}]}]`), the train and validation files put
in S3 under `[upload.bedrock] bucket`/`prefix`, then `CreateModelCustomizationJob` (FINE_TUNING, hyperparameters as
strings, output under the same prefix) and `GetModelCustomizationJob` for `--wait`.

Credentials, region and endpoint come from boto3's own chain (environment, profiles, roles, AWS_ENDPOINT_URL), as
AWS users expect; nothing of them is stored. boto3 retries throttling and 5xx answers (`upload.max_retries`); the
job request carries a client request token, so boto3's retries of it cannot start a second job. Bedrock keeps no
event list: each new status or training loss the job reports is shown as one event. Left out: preference sets
(Bedrock's FINE_TUNING takes none), VPC and KMS settings, and provisioning throughput for the custom model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import InputError, RunError, Transient
from pipeline.ledgers.uploads import UploadLedger
from pipeline.plan import Plan
from pipeline.schema import content_text
from pipeline.upload.base import Event, Job, JobProvider, Started

SCHEMA = "bedrock-conversation-2024"
STATUSES = {
    "InProgress": "running",
    "Completed": "succeeded",
    "Failed": "failed",
    "Stopping": "running",
    "Stopped": "cancelled",
}
NAMES = {"n_epochs": "epochCount", "batch_size": "batchSize", "learning_rate": "learningRate"}


class BedrockProvider(JobProvider):
    name = "bedrock"
    label = "AWS Bedrock"
    target = "bedrock"
    needs = "AWS credentials (boto3's chain), and bucket and role_arn under [upload.bedrock]"
    default_model = "amazon.nova-micro-v1:0:128k"
    formats = ("chat",)

    def __init__(self, project: Any) -> None:
        super().__init__(project)
        self._last: dict[str, dict[str, Any]] = {}  # the latest answer per job, for its events

    @property
    def key_env(self) -> str:
        return "AWS_ACCESS_KEY_ID"  # only named in messages: boto3 reads credentials itself

    @property
    def config(self) -> Any:
        return self.settings.bedrock

    @property
    def endpoint(self) -> str:
        return f"{self.bedrock.meta.endpoint_url} s3://{self._bucket()}/{self.config.prefix.strip('/')}"

    def _bucket(self) -> str:
        if not self.config.bucket:
            raise InputError(
                "no S3 bucket: set bucket under [upload.bedrock] in ftboot.toml",
                hint="Bedrock reads the training files from S3 and writes the job's output there",
            )
        return self.config.bucket

    def _client(self, service: Literal["bedrock", "s3"]) -> Any:
        import boto3
        from botocore.config import Config

        retries = Config(retries={"max_attempts": self.settings.max_retries + 1, "mode": "standard"})
        with self._errors(f"connecting to {service}"):
            return boto3.session.Session().client(service, region_name=self.config.region or None, config=retries)

    @functools.cached_property
    def bedrock(self) -> Any:
        return self._client("bedrock")

    @functools.cached_property
    def s3(self) -> Any:
        return self._client("s3")

    def hyperparameters(self, fmt: str) -> dict[str, Any]:
        return {
            "n_epochs": self.settings.n_epochs,
            "batch_size": self.settings.batch_size,
            "learning_rate": self.config.learning_rate or "auto",
        }

    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        system = [{"text": content_text(m.get("content"))} for m in example["messages"] if m["role"] == "system"]
        messages = [
            {"role": m["role"], "content": [{"text": content_text(m.get("content"))}]}
            for m in example["messages"]
            if m["role"] != "system"
        ]
        return {"schemaVersion": SCHEMA, **({"system": system} if system else {}), "messages": messages}

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """boto3's exceptions as one line each; credentials never appear in them."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        try:
            yield
        except NoCredentialsError:
            raise RunError(
                "no AWS credentials: boto3 found none in the environment, profiles or instance role",
                hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            ) from None
        except NoRegionError:
            raise InputError("no AWS region: set region under [upload.bedrock] or AWS_REGION") from None
        except ClientError as exc:
            error, meta = exc.response.get("Error", {}), exc.response.get("ResponseMetadata", {})
            status = meta.get("HTTPStatusCode", 0)
            text = f"{self.label} rejected {doing} ({error.get('Code', status)}): {error.get('Message', '')}"
            if error.get("Code") in ("ThrottlingException", "TooManyRequestsException") or status == 429:
                raise Transient(text, maybe_done=False) from None
            raise (Transient(text, maybe_done=True) if status >= 500 else RunError(text)) from None
        except BotoCoreError as exc:
            raise Transient(f"cannot reach AWS during {doing}: {exc}", maybe_done=True) from None

    def upload_file(self, path: Path) -> str:
        source = path.read_bytes()
        lines = (json.loads(line) for line in source.splitlines() if line.strip())
        body = "".join(json.dumps(self.convert(line, "chat"), ensure_ascii=False) + "\n" for line in lines).encode()
        key = f"{self.config.prefix.strip('/')}/{hashlib.sha256(source).hexdigest()[:16]}-{path.name}"
        with self._errors(f"the upload of {path.name} to s3://{self._bucket()}/{key}"):
            self.s3.put_object(Bucket=self._bucket(), Key=key, Body=body, ContentType="application/jsonl")
        return f"s3://{self._bucket()}/{key}"

    def start(self, plan: Plan, ledger: UploadLedger, force: bool = False) -> Started:
        if not self.config.role_arn:  # checked before the files go up, not after
            raise InputError(
                "no IAM role: set role_arn under [upload.bedrock] in ftboot.toml",
                hint="a role Bedrock may assume, with read and write access to the bucket",
            )
        return super().start(plan, ledger, force)

    def create_job(self, plan: Plan, training_file: str, validation_file: str | None) -> Job:
        stamp = uuid.uuid4().hex[:12]
        name = f"ftboot-{plan.suffix or 'job'}-{stamp}"
        request: dict[str, Any] = {
            "jobName": name,
            "customModelName": f"{name}-model",
            "roleArn": self.config.role_arn,
            "clientRequestToken": stamp,
            "baseModelIdentifier": plan.model,
            "customizationType": "FINE_TUNING",
            "trainingDataConfig": {"s3Uri": training_file},
            "outputDataConfig": {"s3Uri": f"s3://{self._bucket()}/{self.config.prefix.strip('/')}/output/"},
            "hyperParameters": {NAMES[k]: str(v) for k, v in plan.hyperparameters.items() if v != "auto"},
        }
        if validation_file:
            request["validationDataConfig"] = {"validators": [{"s3Uri": validation_file}]}
        with self._errors("the fine-tuning job"):
            self.bedrock.create_model_customization_job(**request)
        return self.get_job(name)

    def find_job(self, training_file: str, known: set[str]) -> Job | None:
        with self._errors("looking for a job started without an answer"):
            summaries = self.bedrock.list_model_customization_jobs(
                nameContains="ftboot-", sortBy="CreationTime", sortOrder="Descending", maxResults=10
            )
        for summary in summaries.get("modelCustomizationJobSummaries", []):
            if summary["jobName"] not in known:
                job = self.get_job(summary["jobName"])
                if self._last[job.id].get("trainingDataConfig", {}).get("s3Uri") == training_file:
                    return job
        return None

    def get_job(self, job_id: str) -> Job:
        with self._errors(f"reading job {job_id}"):
            data = self.bedrock.get_model_customization_job(jobIdentifier=job_id)
        # Jobs go by name: Bedrock takes a name or an ARN as the identifier, and a name is what a user can type.
        self._last[data["jobName"]] = data
        status = STATUSES.get(data.get("status", ""), "queued")
        return Job(
            data["jobName"],
            status,
            data.get("outputModelArn") if status == "succeeded" else None,
            data.get("failureMessage") if status == "failed" else None,
        )

    def events(self, job_id: str) -> list[Event]:
        data = self._last.get(job_id)
        if data is None:
            return []
        loss = (data.get("trainingMetrics") or {}).get("trainingLoss")
        message = f"{data.get('status')}" + (f": training loss {loss:.4f}" if loss is not None else "")
        return [
            Event(f"{data.get('status')}:{loss}", message, "error" if data.get("status") == "Failed" else "info", loss)
        ]
