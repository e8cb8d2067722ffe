"""Fireworks AI fine-tuning through its documented REST API, with httpx: a dataset record per file
(`POST /v1/accounts/{account}/datasets`), the file itself (`…/datasets/{id}:upload`, multipart, up to 150 MB; above
that a signed URL from `:getUploadEndpoint`, a PUT to it and `:validateUpload`), a wait until the dataset is READY,
then a `supervisedFineTuningJobs` job (or a `dpoJobs` job for a preference set, which Fireworks takes in OpenAI's
preference schema), read back by its resource name for `--wait` (its `state` and `jobProgress`).

A dataset's id is derived from the file's bytes, so an upload retried after a lost answer finds the same dataset
(409) instead of making a second one. 429 and 5xx answers and dropped connections are retried with backoff, except
for the job request, which `JobProvider.start` retries itself so that a job is never paid for twice. Settings:
`[upload.fireworks]` `account` ($FIREWORKS_ACCOUNT_ID comes first), `base_url` ($FIREWORKS_BASE_URL comes first), `api_key_env`, `learning_rate`,
`lora_rank`. Left out: an evaluation set for DPO jobs (the DPO request has no such field), Weights & Biases
settings, and deploying the output model.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, RunError, Transient
from pipeline.llm.client import backoff
from pipeline.llm.endpoint import resolve
from pipeline.llm.sdk import status_error
from pipeline.plan import Plan
from pipeline.upload.base import Event, Job, JobProvider

MULTIPART_LIMIT = 150 * 1024 * 1024  # the single-request upload's documented ceiling
DATASET_WAIT = 600.0  # seconds to wait for an uploaded dataset to become READY
STATES = {
    "JOB_STATE_CREATING": "queued",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_VALIDATING": "validating_files",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_FAILED_CLEANING_UP": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_DELETING": "cancelled",
}
COLLECTIONS = {"supervised": "supervisedFineTuningJobs", "dpo": "dpoJobs"}


def _message(response: Any) -> str:
    """Fireworks' own words from an error answer: `{"error": {"message"}}` or a gateway `{"code", "message"}`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    inner = body.get("error", body) if isinstance(body, dict) else body
    return str(inner.get("message") or inner) if isinstance(inner, dict) else str(inner)


class FireworksProvider(JobProvider):
    name = "fireworks"
    label = "Fireworks AI"
    target = "fireworks"
    needs = "FIREWORKS_API_KEY and your account id ([upload.fireworks] account or FIREWORKS_ACCOUNT_ID)"
    default_model = "accounts/fireworks/models/llama-v3p1-8b-instruct"

    def __init__(self, project: Any) -> None:
        super().__init__(project)
        self._last: dict[str, dict[str, Any]] = {}  # the latest answer per job, for its progress events

    @property
    def key_env(self) -> str:
        return self.settings.fireworks.api_key_env

    @property
    def account(self) -> str:
        account = os.environ.get("FIREWORKS_ACCOUNT_ID", "") or self.settings.fireworks.account
        if not account:
            raise InputError(
                "no Fireworks account: set account under [upload.fireworks] in ftboot.toml or FIREWORKS_ACCOUNT_ID",
                hint="it is the id in your Fireworks dashboard's URL, e.g. my-team",
            )
        return account

    @property
    def endpoint(self) -> str:
        return f"{resolve(self.project.config, 'fireworks').base_url}/v1/accounts/{self.account}"

    @functools.cached_property
    def client(self) -> Any:
        import httpx

        return httpx.Client(
            base_url=f"{resolve(self.project.config, 'fireworks').base_url}/v1/",
            headers={"Authorization": f"Bearer {self.key()}"},
            timeout=120,
        )

    def hyperparameters(self, fmt: str) -> dict[str, Any]:
        fw = self.settings.fireworks
        out: dict[str, Any] = {
            "epochs": self.settings.n_epochs,
            "learningRate": fw.learning_rate or "auto",
            "loraRank": fw.lora_rank or "auto",
        }
        if fmt == "dpo":
            out["klBeta"] = self.settings.beta
        return out

    def _call(
        self,
        method: str,
        path: str,
        doing: str,
        retries: int | None = None,
        accept: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """One request, retried on 429, 5xx and lost connections; None for a status in `accept`."""
        import httpx

        limit = self.settings.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                error: RunError = Transient(
                    f"cannot reach {self.label} at {self.endpoint} during {doing}: {exc}",
                    maybe_done=True,
                    hint="check the network, then run the same command again",
                )
            else:
                if response.status_code in accept:
                    return None
                if response.status_code < 400:
                    return response.json() if response.content else {}
                error = self._error(response, doing, attempt)
            if not isinstance(error, Transient) or attempt >= limit:
                raise error
            time.sleep(error.retry_after if error.retry_after is not None else backoff(attempt))
            attempt += 1

    def _error(self, response: Any, doing: str, retries: int) -> RunError:
        return status_error(
            response.status_code, _message(response), response.headers, self.label, doing, self.key_env, retries
        )

    # --- files: one dataset each ---

    def upload_file(self, path: Path) -> str:
        data = path.read_bytes()
        dataset_id = "ftboot-" + hashlib.sha256(data).hexdigest()[:24]
        where = f"accounts/{self.account}/datasets/{dataset_id}"
        examples = sum(1 for line in data.splitlines() if line.strip())
        body = {
            "datasetId": dataset_id,
            "dataset": {"displayName": path.name, "exampleCount": str(examples), "userUploaded": {}},
        }
        self._call(
            "POST",
            f"accounts/{self.account}/datasets",
            f"creating the dataset for {path.name}",
            accept=(409,),
            json=body,
        )
        if self._dataset(where, path.name).get("state") != "READY":  # a 409 may be a dataset already complete
            if len(data) <= MULTIPART_LIMIT:
                self._call("POST", f"{where}:upload", f"the upload of {path.name}", files={"file": (path.name, data)})
            else:
                self._signed_upload(where, path.name, data)
        deadline = time.monotonic() + DATASET_WAIT
        while (dataset := self._dataset(where, path.name)).get("state") != "READY":
            if dataset.get("state") not in (None, "STATE_UNSPECIFIED", "UPLOADING") or time.monotonic() > deadline:
                reason = (dataset.get("status") or {}).get("message") or f"state {dataset.get('state')}"
                raise RunError(f"{self.label} did not make {path.name} a ready dataset: {reason}")
            time.sleep(self.settings.poll_interval)
        return dataset_id

    def _dataset(self, where: str, filename: str) -> dict[str, Any]:
        return self._call("GET", where, f"reading the dataset for {filename}") or {}

    def _signed_upload(self, where: str, filename: str, data: bytes) -> None:
        """Above 150 MB: PUT the bytes to a signed URL (never with the key: it is another host), then validate."""
        import httpx

        answer = (
            self._call(
                "POST",
                f"{where}:getUploadEndpoint",
                f"asking where to upload {filename}",
                json={"filenameToSize": {filename: len(data)}},
            )
            or {}
        )
        url = answer["filenameToSignedUrls"][filename]
        response = httpx.put(
            url,
            content=data,
            timeout=None,
            headers={
                "Content-Type": "application/octet-stream",
                "x-goog-content-length-range": f"{len(data)},{len(data)}",
            },
        )
        if response.status_code >= 400:
            raise RunError(
                f"the signed upload of {filename} failed ({response.status_code}): {_message(response)}",
                hint="run the same command again",
            )
        self._call("POST", f"{where}:validateUpload", f"validating the upload of {filename}", json={})

    # --- jobs, named by their resource name (accounts/…/supervisedFineTuningJobs/…) ---

    def create_job(self, plan: Plan, training_file: str, validation_file: str | None) -> Job:
        datasets = f"accounts/{self.account}/datasets/"
        settings = {k: v for k, v in plan.hyperparameters.items() if v != "auto"}  # "auto": Fireworks' default
        beta = settings.pop("klBeta", None)
        training = {"baseModel": plan.model, **settings}
        body: dict[str, Any] = {
            "dataset": datasets + training_file,
            "displayName": plan.suffix or f"ftboot {plan.method}",
        }
        if plan.method == "dpo":
            body.update(
                trainingConfig=training, lossConfig={"method": "DPO", **({"klBeta": beta} if beta is not None else {})}
            )
        else:
            body.update(training)
            if validation_file:
                body["evaluationDataset"] = datasets + validation_file
        collection = f"accounts/{self.account}/{COLLECTIONS[plan.method]}"
        return self._job(self._call("POST", collection, "the fine-tuning job", retries=0, json=body) or {})

    def find_job(self, training_file: str, known: set[str]) -> Job | None:
        for collection in COLLECTIONS.values():
            answer = (
                self._call(
                    "GET", f"accounts/{self.account}/{collection}", "looking for a job started without an answer"
                )
                or {}
            )
            for job in answer.get(collection, []):
                if job.get("dataset", "").endswith(f"/datasets/{training_file}") and job["name"] not in known:
                    return self._job(job)
        return None

    def get_job(self, job_id: str) -> Job:
        return self._job(self._call("GET", job_id, f"reading job {job_id}") or {})

    def _job(self, data: dict[str, Any]) -> Job:
        self._last[data["name"]] = data
        status = STATES.get(data.get("state", ""), "queued")
        detail = data.get("status") or {}
        error = (
            f"{detail.get('code')}: {detail.get('message')}" if status == "failed" and detail.get("message") else None
        )
        model = data.get("outputModel") or (data.get("trainingConfig") or {}).get("outputModel")
        return Job(data["name"], status, model if status == "succeeded" else None, error)

    def events(self, job_id: str) -> list[Event]:
        """Fireworks keeps no event list; each new state or progress figure of the last answer is one event."""
        data = self._last.get(job_id)
        if data is None:
            return []
        state, progress = data.get("state", ""), data.get("jobProgress") or {}
        message = state.removeprefix("JOB_STATE_").lower().replace("_", " ")
        if progress.get("percent") is not None:
            message += f": {progress['percent']}% done" + (
                f", epoch {progress['epoch']}" if progress.get("epoch") is not None else ""
            )
        level = "error" if STATES.get(state) == "failed" else "info"
        return [Event(f"{state}:{progress.get('percent')}:{progress.get('epoch')}", message, level)]
