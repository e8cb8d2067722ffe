"""Upload: send the final set to a fine-tuning service, start the job, and follow it to its end.

Each provider is one small module implementing `Provider` (or `JobProvider` for services that run a job);
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
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.errors import InputError, RunError, Transient
from pipeline.ledgers.uploads import UploadLedger
from pipeline.llm.client import backoff
from pipeline.llm.endpoint import read_key
from pipeline.plan import Plan, make_plan
from pipeline.project import Project
from pipeline.rules import get_ruleset

# Listed in the order `upload` offers them: services still open to new users first.
PROVIDERS = {
    "fireworks": "pipeline.upload.fireworks:FireworksProvider",
    "bedrock": "pipeline.upload.bedrock:BedrockProvider",
    "together": "pipeline.upload.together:TogetherProvider",
    "huggingface": "pipeline.upload.huggingface:HubProvider",
    "openai": "pipeline.upload.openai:OpenAIProvider",
    "azure": "pipeline.upload.azure:AzureProvider",
}
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)


@dataclass
class Job:
    """A fine-tuning job as every provider's answer is mapped to: status is one of OpenAI's names."""

    id: str
    status: str
    fine_tuned_model: str | None = None
    error: str | None = None  # "code: message" once failed
    trained_tokens: int | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass
class Event:
    id: str
    message: str
    level: str = "info"
    train_loss: float | None = None
    step: int | None = None


@dataclass
class Started:
    """What a run sent: file ids by role, the job (none for a dataset push) and where the result lives."""

    provider: str
    file_ids: dict[str, str] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    job: Job | None = None
    url: str | None = None


class Provider(ABC):
    """A service that takes the final set. `start` sends a validated plan and records what it sent."""

    name: ClassVar[str]
    label: ClassVar[str]
    target: ClassVar[str] = "openai"  # the ruleset its files must pass
    needs: ClassVar[str]  # what a user must set up, shown when no provider is chosen
    default_model: ClassVar[str] = ""  # the base model when neither --model nor [upload] model names one
    formats: ClassVar[tuple[str, ...]] = ("chat", "dpo")  # the sets it trains on

    def __init__(self, project: Project) -> None:
        self.project = project
        self.settings = project.config.upload

    @property
    @abstractmethod
    def key_env(self) -> str:
        """The environment variable holding the key (the key itself is never stored or shown)."""

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where requests go; recorded with each upload, so it must never contain a key."""

    def key(self) -> str:
        value = read_key(self.key_env)
        if not value:
            raise RunError(
                f"no {self.label} key: set {self.key_env}", hint=f"export {self.key_env}=... (ftboot never stores it)"
            )
        return value

    def hyperparameters(self, fmt: str) -> dict[str, Any]:
        """The training settings this service takes, from [upload]; "auto" leaves one to the service."""
        out: dict[str, Any] = {
            key: getattr(self.settings, key) for key in ("n_epochs", "batch_size", "learning_rate_multiplier")
        }
        if fmt == "dpo":
            out["beta"] = self.settings.beta
        return out

    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        """One line as this service takes it; most take the built files' own format as they are."""
        return example

    @abstractmethod
    def start(self, plan: Plan, ledger: UploadLedger, force: bool = False) -> Started:
        """Send the plan's files and start whatever the service does with them."""


class JobProvider(Provider):
    """A service that trains: upload the files, create a job, then report its status and events."""

    @abstractmethod
    def upload_file(self, path: Path) -> str:
        """Upload one JSONL file for fine-tuning; returns its file id."""

    @abstractmethod
    def create_job(self, plan: Plan, training_file: str, validation_file: str | None) -> Job:
        """Send the job request once, without retries (`start` decides whether another try is safe)."""

    @abstractmethod
    def find_job(self, training_file: str, known: set[str]) -> Job | None:
        """A recent job on `training_file` that is not one of the `known` ids, if the service has one."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abstractmethod
    def events(self, job_id: str) -> list[Event]:
        """The job's events so far, oldest first."""

    def checkpoints(self, job_id: str) -> list[str]:
        """Usable checkpoint models of a finished job, for services that keep them."""
        return []

    def start(self, plan: Plan, ledger: UploadLedger, force: bool = False) -> Started:
        fingerprint = plan.fingerprint(self.endpoint)
        previous = None if force else ledger.job(fingerprint=fingerprint)
        if previous:
            job = self.get_job(previous["job_id"])
            if job.status not in (FAILED, CANCELLED):
                raise RunError(
                    f"job {job.id} was already started with these files and settings ({job.status}); not starting another",
                    hint=f"follow it with `ftboot upload --status {job.id}`, or pass --force to pay for a second job",
                )
        started = Started(self.name)
        for item in plan.files:
            file_id = None if force else ledger.file_id(self.name, self.endpoint, item.sha256)
            if file_id:
                started.reused.append(item.role)
            else:
                file_id = self.upload_file(item.path)
                ledger.append(
                    "file",
                    provider=self.name,
                    endpoint=self.endpoint,
                    role=item.role,
                    path=item.shown,
                    sha256=item.sha256,
                    bytes=item.bytes,
                    file_id=file_id,
                )
            started.file_ids[item.role] = file_id
        job = self._create(plan, ledger, started.file_ids["train"], started.file_ids.get("validation"))
        ledger.append(
            "job",
            provider=self.name,
            endpoint=self.endpoint,
            job_id=job.id,
            model=plan.model,
            method=plan.method,
            training_file=started.file_ids["train"],
            validation_file=started.file_ids.get("validation"),
            hyperparameters=plan.hyperparameters,
            suffix=plan.suffix,
            seed=plan.seed,
            status=job.status,
            fine_tuned_model=job.fine_tuned_model,
            estimated_cost_usd=plan.cost,
            fingerprint=fingerprint,
        )
        started.job = job
        return started

    def _create(self, plan: Plan, ledger: UploadLedger, training_file: str, validation_file: str | None) -> Job:
        """Create the job, retrying only when that cannot pay twice: after a 429 (refused before any work) at
        once, after a 5xx or a lost answer only once the service's job list shows no job made from this request."""
        known = {row["job_id"] for row in ledger.rows() if row.get("event") == "job"}
        attempt = 0
        while True:
            try:
                return self.create_job(plan, training_file, validation_file)
            except Transient as exc:
                found = self.find_job(training_file, known) if exc.maybe_done else None
                if found:
                    return found
                if attempt >= self.settings.max_retries:
                    raise
                time.sleep(exc.retry_after if exc.retry_after is not None else backoff(attempt))
                attempt += 1


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
