"""Together AI fine-tuning through its documented REST API: `POST /files/upload` (multipart: file, file_name,
purpose=fine-tune), `POST /fine-tunes`, `GET /fine-tunes/{id}` and `GET /fine-tunes/{id}/events`.

The requests go through the openai SDK's generic HTTP client (bearer auth, the same retries with backoff and the
same error mapping as the other providers), not through Together's own SDK. Files are checked against Together's
chat rule first (`rules/together.py`). Settings: `[upload.together]` `base_url`, `api_key_env`, `learning_rate`
(an absolute rate; Together has no multiplier). Together's statuses are mapped to OpenAI's names. Left out: LoRA
and full-training options (Together's defaults apply), the seed (not in Together's job request), train loss
(Together's events carry none).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pipeline.llm.endpoint import resolve
from pipeline.plan import Plan
from pipeline.upload.base import Event, Job, JobProvider
from pipeline.upload.openai import api_errors, sdk_client

STATUSES = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "cancelling",
    "cancelled": "cancelled",
    "error": "failed",
    "user_error": "failed",
    "completed": "succeeded",
}


class TogetherProvider(JobProvider):
    name = "together"
    label = "Together AI"
    target = "together"
    needs = "TOGETHER_API_KEY"
    default_model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"

    @property
    def key_env(self) -> str:
        return resolve(self.project.config, "together").key_env

    @property
    def endpoint(self) -> str:
        return resolve(self.project.config, "together").base_url

    @functools.cached_property
    def client(self) -> Any:
        return sdk_client(self)

    def hyperparameters(self, fmt: str) -> dict[str, Any]:
        s = self.settings
        out: dict[str, Any] = {
            "n_epochs": s.n_epochs,
            "batch_size": s.batch_size,
            "learning_rate": s.together.learning_rate or "auto",
        }
        if fmt == "dpo":
            out["dpo_beta"] = s.beta
        return out

    def upload_file(self, path: Path) -> str:
        with api_errors(self, f"the upload of {path.name}"):
            answer = self.client.post(
                "/files/upload",
                body={"purpose": "fine-tune", "file_name": path.name, "file_type": "jsonl"},
                files=[("file", (path.name, path.read_bytes(), "application/octet-stream"))],
                options={"headers": {"Content-Type": "multipart/form-data"}},
                cast_to=dict,
            )
        return answer["id"]

    def create_job(self, plan: Plan, training_file: str, validation_file: str | None) -> Job:
        settings = {k: v for k, v in plan.hyperparameters.items() if v != "auto"}  # "auto": Together's default
        method: dict[str, Any] = (
            {"method": "sft", "train_on_inputs": "auto"} if plan.method == "supervised" else {"method": "dpo"}
        )
        if "dpo_beta" in settings:
            method["dpo_beta"] = settings.pop("dpo_beta")
        body: dict[str, Any] = {
            "model": plan.model,
            "training_file": training_file,
            "training_method": method,
            **settings,
        }
        if validation_file:
            # Together evaluates a validation file only when asked to; once per epoch.
            body.update(validation_file=validation_file, n_evals=plan.epochs)
        if plan.suffix:
            body["suffix"] = plan.suffix
        with api_errors(self, "the fine-tuning job"):
            return self._job(self.client.with_options(max_retries=0).post("/fine-tunes", body=body, cast_to=dict))

    def find_job(self, training_file: str, known: set[str]) -> Job | None:
        with api_errors(self, "looking for a job started without an answer"):
            jobs = self.client.get("/fine-tunes", cast_to=dict).get("data", [])
        found = [j for j in jobs if j.get("training_file") == training_file and j["id"] not in known]
        return self._job(found[0]) if found else None

    def get_job(self, job_id: str) -> Job:
        with api_errors(self, f"reading job {job_id}"):
            return self._job(self.client.get(f"/fine-tunes/{job_id}", cast_to=dict))

    def _job(self, data: dict[str, Any]) -> Job:
        status = STATUSES.get(data.get("status", ""), data.get("status", "unknown"))
        error = None
        if status == "failed":
            errors = [e for e in self.events(data["id"]) if e.level == "error"]
            error = errors[-1].message if errors else data.get("error") or None
        model = data.get("output_name") or data.get("model_output_name")
        return Job(data["id"], status, model if status == "succeeded" else None, error, data.get("token_count"))

    def events(self, job_id: str) -> list[Event]:
        with api_errors(self, f"reading the events of job {job_id}"):
            answer = self.client.get(f"/fine-tunes/{job_id}/events", cast_to=dict)
        out = []
        for e in answer.get("data", []):
            level = "error" if e.get("type") == "job_error" else (e.get("level") or "info")
            message = f"job_error: {e.get('message', '')}" if e.get("type") == "job_error" else e.get("message", "")
            out.append(
                Event(e.get("hash") or f"{e.get('created_at')} {e.get('message')}", message, level, None, e.get("step"))
            )
        return out
