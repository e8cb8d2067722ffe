"""OpenAI fine-tuning through the openai SDK: `files.create(purpose="fine-tune")`, `fine_tuning.jobs.create` with a
`method` (supervised or dpo) carrying the hyperparameters, then the job, its events and its checkpoints.

The account and endpoint are the `[openai]` section's (`base_url`, `api_key_env`), the same ones generation uses.
The SDK retries 429 and 5xx answers with backoff (`upload.max_retries`), except for the job request, which
`JobProvider.start` retries itself so that a job is never paid for twice. `api_errors` turns what is left into one
plain line (a 401 names the variable, a rejected file shows the provider's message). A 403 on the job request is
what an organisation OpenAI no longer lets fine-tune gets (closed to new users in 2026): one line says so and
names the providers still open. The other providers that speak through the SDK (Azure, Together) reuse `api_errors`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from pipeline.errors import RunError
from pipeline.llm.client import error_message, retry_after
from pipeline.llm.endpoint import Service, resolve
from pipeline.plan import Plan
from pipeline.upload import Event, Job, JobProvider, Provider, Transient


@contextmanager
def api_errors(provider: Provider, doing: str) -> Iterator[None]:
    """Turn the SDK's exceptions into RunError lines that say what failed; the key is never echoed."""
    import openai

    try:
        yield
    except openai.AuthenticationError:
        raise RunError(
            f"{provider.label} refused the key in {provider.key_env} (401) during {doing}",
            hint=f"check {provider.key_env}; it may be revoked or for another service",
        ) from None
    except openai.RateLimitError as exc:
        raise Transient(
            f"{provider.label} is still rate limiting (429) after {provider.settings.max_retries} retries "
            f"during {doing}: {error_message(exc)}",
            maybe_done=False,
            retry_after=retry_after(exc.response.headers),
            hint="wait a while and run the same command again",
        ) from None
    except openai.APIStatusError as exc:
        message = f"{provider.label} rejected {doing} ({exc.status_code}): {error_message(exc)}"
        if exc.status_code >= 500:
            raise Transient(message, maybe_done=True, retry_after=retry_after(exc.response.headers)) from None
        raise RunError(message) from None
    except openai.APIConnectionError as exc:
        raise Transient(
            f"cannot reach {provider.label} at {provider.endpoint} during {doing}: {exc.__cause__ or exc}",
            maybe_done=True,
            hint="check the network and the endpoint, then run the same command again",
        ) from None


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
        import openai

        return openai.OpenAI(api_key=self.key(), base_url=self.endpoint, max_retries=self.settings.max_retries)

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
