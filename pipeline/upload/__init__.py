"""Upload: send the final set to a fine-tuning service, start the job, and follow it to its end.

Each provider is one small module implementing `Provider` (or `JobProvider` for services that run a job; both in
`upload/base.py`);
`PROVIDERS` maps names to them, so adding another service is one module and one line here. There is no default
provider (OpenAI's fine-tuning, once the default, closed to new users in 2026): without one, `get_provider` lists
the choices with what each needs. The flow all
providers share lives here: the files are validated again against the provider's ruleset before any network
call (`plan.make_plan`), a second job for the same files and settings is refused unless forced, every uploaded
file, started job and status change is appended to outputs/uploads.jsonl (`ledger.py`; never a key), and
`follow` polls a job, yielding its status, new events and train loss until it succeeds, fails or is cancelled.

Left out: cancelling a job and deploying the fine-tuned model (the provider's console does both).
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputError, RunError
from pipeline.ledgers.uploads import UploadLedger
from pipeline.plan import Plan, make_plan
from pipeline.project import Project
from pipeline.rules import get_ruleset
from pipeline.upload.base import CANCELLED, FAILED, Event, Job, JobProvider, Provider, Started

# Listed in the order `upload` offers them: services still open to new users first.
PROVIDERS = {
    "fireworks": "pipeline.upload.fireworks:FireworksProvider",
    "bedrock": "pipeline.upload.bedrock:BedrockProvider",
    "together": "pipeline.upload.together:TogetherProvider",
    "huggingface": "pipeline.upload.huggingface:HubProvider",
    "openai": "pipeline.upload.openai:OpenAIProvider",
    "azure": "pipeline.upload.azure:AzureProvider",
}


def provider_class(name: str) -> type[Provider]:
    module, _, attr = PROVIDERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def choices() -> list[str]:
    """One line per provider: its name, what it needs, and whether it trains or only takes the files."""
    lines = []
    for name in PROVIDERS:
        cls = provider_class(name)
        does = "runs fine-tuning jobs" if issubclass(cls, JobProvider) else "takes the files only (train elsewhere)"
        lines.append(f"  {name:<12} {cls.label}: needs {cls.needs}; {does}")
    return lines


def get_provider(project: Project, name: str | None = None) -> Provider:
    """The provider named, else the one in ftboot.toml; there is no default, since the old one closed."""
    name = name or project.config.upload.provider
    if not name:
        raise InputError(
            "no provider chosen: pass --provider NAME or set provider under [upload] in ftboot.toml",
            hint="\n".join(["the choices:", *choices(), "  (or `ftboot export --to trl|axolotl|unsloth|vertex DIR`)"]),
        )
    if name not in PROVIDERS:
        raise InputError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
    return provider_class(name)(project)


def plan_upload(project: Project, provider: Provider, model: str | None = None, fmt: str = "chat") -> Plan:
    """Validate the built files against the provider's rules and plan the upload. No network."""
    if fmt not in provider.formats:
        raise InputError(f"{provider.label} takes {' or '.join(provider.formats)} sets, not {fmt}")
    model = model or project.config.upload.model or provider.default_model
    if not model:
        raise InputError(f"no base model for {provider.label}: pass --model or set model under [upload] in ftboot.toml")
    return make_plan(
        project,
        provider.name,
        get_ruleset(provider.target),
        model,
        fmt,
        provider.hyperparameters(fmt),
        trains=isinstance(provider, JobProvider),
    )


def first_line(provider: Provider, plan: Plan) -> dict[str, Any]:
    """The training file's first line as it would be sent, for a dry run."""
    with plan.train.path.open(encoding="utf-8") as handle:
        return provider.convert(json.loads(handle.readline()), "dpo" if plan.method == "dpo" else "chat")


def start_upload(project: Project, provider: Provider, plan: Plan, force: bool = False) -> Started:
    return provider.start(plan, UploadLedger(project), force)


@dataclass
class Update:
    """One poll of a followed job."""

    job: Job
    new_events: list[Event]
    train_loss: float | None
    step: int | None


def job_provider(project: Project, job_id: str | None, name: str | None = None) -> tuple[JobProvider, str]:
    """The provider and id of a job to follow: the one named, else the last one in uploads.jsonl."""
    record = UploadLedger(project).job(job_id)
    if record is None and job_id is None:
        raise InputError(
            f"no job recorded in {project.show(project.paths.uploads)} yet", hint="start one with `ftboot upload`"
        )
    provider = get_provider(project, name or (record or {}).get("provider"))
    if not isinstance(provider, JobProvider):
        raise InputError(f"{provider.label} runs no jobs to follow")
    return provider, job_id or record["job_id"]  # type: ignore[index]


def follow(project: Project, provider: JobProvider, job_id: str) -> Iterator[Update]:
    """Poll the job until it ends, yielding each poll; status changes are recorded. A failed or cancelled job
    raises RunError after its last update, with the provider's error code and message."""
    ledger = UploadLedger(project)
    seen: set[str] = set()
    last_status, loss, step = None, None, None
    while True:
        job = provider.get_job(job_id)
        new = [e for e in provider.events(job_id) if e.id not in seen]
        seen.update(e.id for e in new)
        for event in new:
            if event.train_loss is not None:
                loss, step = event.train_loss, event.step
        if job.status != last_status:
            ledger.append(
                "status",
                provider=provider.name,
                job_id=job.id,
                status=job.status,
                fine_tuned_model=job.fine_tuned_model,
                error=job.error,
                trained_tokens=job.trained_tokens,
            )
            last_status = job.status
        yield Update(job, new, loss, step)
        if job.status == FAILED:
            raise RunError(
                f"job {job.id} failed: {job.error or 'the provider gave no reason'}",
                hint="fix the cause, then run `ftboot upload` again (the files are reused)",
            )
        if job.status == CANCELLED:
            raise RunError(f"job {job.id} was cancelled", hint="run `ftboot upload` to start a new one")
        if job.done:
            return
        time.sleep(provider.settings.poll_interval)
