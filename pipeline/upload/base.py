"""What every upload provider is: `Provider` (validate, upload, start) and `JobProvider` for services that run a
job (its status, events, and retries of transient trouble around each request), with the job, event and start
shapes they return. The providers are one module each beside this one; the flow they share (choosing one,
planning, the ledger, following a job) is `pipeline.upload`'s.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.errors import RunError, Transient
from pipeline.ledgers.uploads import UploadLedger
from pipeline.llm.client import backoff
from pipeline.llm.endpoint import read_key
from pipeline.plan import Plan
from pipeline.project import Project

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
