"""OpenAI fine-tuning through the openai SDK: `files.create(purpose="fine-tune")`, `fine_tuning.jobs.create` with a
`method` (supervised or dpo) carrying the hyperparameters, then the job, its events and its checkpoints.

The account and endpoint are the `[openai]` section's (`base_url`, `api_key_env`), the same ones generation uses.
The SDK retries 429 and 5xx answers with backoff (`upload.max_retries`), except for the job request, which
`JobProvider.start` retries itself so that a job is never paid for twice. `api_errors` turns what is left into one
plain line through `pipeline.llm.sdk` (a 401 names the variable, a rejected file shows the provider's message). A
403 on the job request is what an organisation OpenAI no longer lets fine-tune gets (closed to new users in 2026):
one line says so and names the providers still open. The other providers that speak through the SDK (Azure,
Together) reuse `sdk_client` and `api_errors`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from pipeline.config import AzureUploadConfig
from pipeline.errors import RunError
from pipeline.llm.endpoint import Service, resolve
from pipeline.llm.request import Endpoint
from pipeline.llm.sdk import client_for, error_message, sdk_error
from pipeline.plan import Plan
from pipeline.upload.base import Event, Job, JobProvider, Provider


def sdk_client(provider: Provider, azure: AzureUploadConfig | None = None) -> Any:
    """The provider's SDK client at its endpoint with its key, retrying `upload.max_retries` times."""
    endpoint = Endpoint(provider.endpoint, provider.key(), "", provider.label)
    return client_for(endpoint, retries=provider.settings.max_retries, azure=azure)


@contextmanager
def api_errors(provider: Provider, doing: str) -> Iterator[None]:
    """Turn the SDK's exceptions into one line that says what failed; the key is never echoed."""
    import openai

    try:
        yield
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        retries = provider.settings.max_retries
        raise sdk_error(exc, provider.label, doing, provider.key_env, provider.endpoint, retries) from None


OPEN_ELSEWHERE = (
    "Fine-tuning is still open at Fireworks AI (--provider fireworks), AWS Bedrock (--provider bedrock) and "
    "Together AI (--provider together); or push to the Hub (--provider huggingface), or "
    "`ftboot export --to trl|axolotl|unsloth|vertex DIR`"
)


def job_of(job: Any) -> Job:
    """The SDK's FineTuningJob as a `Job`."""
    error = f"{job.error.code}: {job.error.message}" if job.error and job.error.code else None
    return Job(job.id, job.status, job.fine_tuned_model, error, job.trained_tokens)


class OpenAIProvider(JobProvider):
    name = "openai"
    label = "OpenAI"
    target = "openai"
    needs = "OPENAI_API_KEY and an organisation OpenAI still lets fine-tune (closed to new ones in 2026)"
    default_model = "gpt-4o-mini-2024-07-18"

    service: ClassVar[Service] = "openai"

    @property
    def key_env(self) -> str:
        return resolve(self.project.config, self.service).key_env

    @property
    def endpoint(self) -> str:
        return resolve(self.project.config, self.service).base_url

    @functools.cached_property
    def client(self) -> Any:
        return sdk_client(self)

    def upload_file(self, path: Path) -> str:
        with api_errors(self, f"the upload of {path.name}"):
            return self.client.files.create(file=path, purpose="fine-tune").id

    def create_job(self, plan: Plan, training_file: str, validation_file: str | None) -> Job:
        request: dict[str, Any] = {
            "model": plan.model,
            "training_file": training_file,
            "method": {"type": plan.method, plan.method: {"hyperparameters": plan.hyperparameters}},
        }
        if validation_file:
            request["validation_file"] = validation_file
        if plan.suffix:
            request["suffix"] = plan.suffix
        if plan.seed is not None:
            request["seed"] = plan.seed
        import openai

        with api_errors(self, "the fine-tuning job"):
            try:
                return job_of(self.client.with_options(max_retries=0).fine_tuning.jobs.create(**request))
            except openai.PermissionDeniedError as exc:
                # What an organisation that may no longer fine-tune is told; retrying or looking for a job is pointless.
                raise RunError(
                    f"{self.label} does not let this organisation start fine-tuning jobs (403: {error_message(exc)}); "
                    f"no job was started. {OPEN_ELSEWHERE}"
                ) from None

    def find_job(self, training_file: str, known: set[str]) -> Job | None:
        with api_errors(self, "looking for a job started without an answer"):
            page = self.client.fine_tuning.jobs.list(limit=20)
        return next((job_of(j) for j in page.data if j.training_file == training_file and j.id not in known), None)

    def get_job(self, job_id: str) -> Job:
        with api_errors(self, f"reading job {job_id}"):
            return job_of(self.client.fine_tuning.jobs.retrieve(job_id))

    def events(self, job_id: str) -> list[Event]:
        with api_errors(self, f"reading the events of job {job_id}"):
            page = self.client.fine_tuning.jobs.list_events(job_id, limit=100)
        out = []
        for event in reversed(page.data):  # the API lists newest first
            data = event.data if isinstance(event.data, dict) and event.type == "metrics" else {}
            out.append(Event(event.id, event.message, event.level, data.get("train_loss"), data.get("step")))
        return out

    def checkpoints(self, job_id: str) -> list[str]:
        with api_errors(self, f"reading the checkpoints of job {job_id}"):
            page = self.client.fine_tuning.jobs.checkpoints.list(job_id)
        out = []
        for point in page.data:
            loss = point.metrics.train_loss
            out.append(
                f"{point.fine_tuned_model_checkpoint} (step {point.step_number}"
                + (f", train loss {loss:.3f})" if loss is not None else ")")
            )
        return out
