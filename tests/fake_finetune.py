"""The fine-tuning API family on FakeAPI: OpenAI's `/v1/files` (upload, list, retrieve, content) and `/v1/fine_tuning/jobs` (with events, checkpoints,
list and cancel), the same under Azure's `/openai/...` (an `api-version` query and an `api-key` header required),
and Together's `/v1/files/upload` and `/v1/fine-tunes`.

Uploaded files are kept with their bytes. A job moves one step each time it is read: validating_files → queued →
running (one metrics event with a train loss per step, `running_steps` of them) → `outcome` (succeeded with a
fine-tuned model and checkpoints, failed with `error`, or cancelled). `reject_file` makes the next upload a 400
with that message; `lose_job_answers` makes job requests succeed but answer 500. The `finetune` fixture starts
one; tests import it from here.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakeapi import FakeAPI, Request

PREFIX = "(?P<prefix>/v1|/openai)"
TOGETHER_STATUS = {
    "validating_files": "pending",
    "queued": "queued",
    "running": "running",
    "succeeded": "completed",
    "failed": "error",
    "cancelled": "cancelled",
}


def multipart(request: Request) -> dict[str, Any]:
    """The form fields of a multipart body: text for plain fields, (filename, bytes) for files."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    raw = f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        filename = part.get_filename()
        fields[name] = (filename, data) if filename else data.decode()
    return fields


@dataclass
class FineTuneAPI:
    api: FakeAPI
    key: str = "test-fake-finetune-key"
    outcome: str = "succeeded"
    error: dict[str, str] = field(
        default_factory=lambda: {
            "code": "invalid_training_file",
            "message": "The job failed due to an invalid training file.",
        }
    )
    reject_file: str | None = None
    lose_job_answers: int = 0  # this many job requests create the job, then answer 500 as if it were lost
    running_steps: int = 3
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        route = self.api.route
        route("POST", f"{PREFIX}/files")(self._auth(self.create_file))
        route("GET", f"{PREFIX}/files")(self._auth(self.list_files))
        route("GET", f"{PREFIX}/files/(?P<id>[^/]+)")(self._auth(lambda r: (200, self._file_object(r.match["id"]))))
        route("GET", f"{PREFIX}/files/(?P<id>[^/]+)/content")(
            self._auth(lambda r: (200, self.files[r.match["id"]]["content"]))
        )
        route("POST", f"{PREFIX}/fine_tuning/jobs")(self._auth(self.create_job))
        route("GET", f"{PREFIX}/fine_tuning/jobs")(self._auth(self.list_jobs))
        route("GET", f"{PREFIX}/fine_tuning/jobs/(?P<id>[^/]+)")(self._auth(self.retrieve_job))
        route("POST", f"{PREFIX}/fine_tuning/jobs/(?P<id>[^/]+)/cancel")(self._auth(self.cancel_job))
        route("GET", f"{PREFIX}/fine_tuning/jobs/(?P<id>[^/]+)/events")(self._auth(self.list_events))
        route("GET", f"{PREFIX}/fine_tuning/jobs/(?P<id>[^/]+)/checkpoints")(self._auth(self.list_checkpoints))
        route("POST", "/v1/files/upload")(self._auth(self.create_file))
        route("POST", "/v1/fine-tunes")(self._auth(self.create_job))
        route("GET", "/v1/fine-tunes")(self._auth(self.list_jobs))
        route("GET", "/v1/fine-tunes/(?P<id>[^/]+)")(self._auth(self.retrieve_job))
        route("POST", "/v1/fine-tunes/(?P<id>[^/]+)/cancel")(self._auth(self.cancel_job))
        route("GET", "/v1/fine-tunes/(?P<id>[^/]+)/events")(self._auth(self.list_events))

    # --- auth: Bearer on /v1, api-key plus api-version on Azure's /openai ---

    def _auth(self, handler):
        def checked(request: Request) -> tuple[int, Any]:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if request.path.startswith("/openai/"):
                if "api-version" not in parse_qs(urlsplit(request.path).query):
                    return 400, {
                        "error": {"code": "missing_api_version", "message": "api-version query parameter is required"}
                    }
                given = headers.get("api-key")
            else:
                given = headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.key:
                return 401, {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                }
            return handler(request)

        return checked

    @staticmethod
    def together(request: Request) -> bool:
        return "fine-tunes" in request.path or request.path.startswith("/v1/files/upload")

    # --- files ---

    def create_file(self, request: Request) -> tuple[int, Any]:
        form = multipart(request)
        if self.reject_file:
            message, self.reject_file = self.reject_file, None
            return 400, {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_file"}}
        filename, content = form["file"]
        file_id = f"file-{next(self._ids):04d}"
        self.add_file(file_id, form.get("file_name", filename), form["purpose"], content, form)
        return 200, self._file_object(file_id)

    def add_file(
        self, file_id: str, filename: str, purpose: str, content: bytes, form: dict[str, Any] | None = None
    ) -> None:
        self.files[file_id] = {
            "filename": filename,
            "purpose": purpose,
            "content": content,
            "form": form or {},
            "created_at": int(time.time()),
        }

    def list_files(self, request: Request) -> tuple[int, Any]:
        """Newest first (or `order=asc`), by `purpose`, in pages of `limit` after the id `after`."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        ids = [i for i in self.files if query.get("purpose") in (None, self.files[i]["purpose"])]
        ids = ids if query.get("order") == "asc" else ids[::-1]
        if "after" in query:
            ids = ids[ids.index(query["after"]) + 1 :]
        limit = int(query.get("limit", 10000))
        return 200, {
            "object": "list",
            "data": [self._file_object(i) for i in ids[:limit]],
            "has_more": len(ids) > limit,
        }

    def _file_object(self, file_id: str) -> dict[str, Any]:
        f = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(f["content"]),
            "created_at": f["created_at"],
            "filename": f["filename"],
            "purpose": f["purpose"],
            "status": "processed",
        }

    # --- jobs ---

    def create_job(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        for key in ("training_file", "validation_file"):
            if body.get(key) and body[key] not in self.files:
                return 400, {"error": {"message": f"invalid {key}: {body[key]}", "code": "invalid_file", "param": key}}
        job_id = f"{'ft-' if self.together(request) else 'ftjob-'}{next(self._ids):04d}"
        self.jobs[job_id] = {
            "id": job_id,
            "request": body,
            "polls": 0,
            "status": "validating_files",
            "events": [],
            "fine_tuned_model": None,
            "error": None,
            "trained_tokens": None,
        }
        self._event(job_id, f"Created fine-tuning job: {job_id}")
        self._event(job_id, f"Validating training file: {body['training_file']}")
        if self.lose_job_answers:
            self.lose_job_answers -= 1
            return 500, {
                "error": {"message": "The server had an error while processing your request.", "type": "server_error"}
            }
        return 200, self._job_object(request, job_id)

    def _event(self, job_id: str, message: str, level: str = "info", data: dict[str, Any] | None = None) -> None:
        self.jobs[job_id]["events"].append(
            {
                "id": f"ftevent-{next(self._ids):04d}",
                "message": message,
                "level": level,
                "data": data,
                "type": "metrics" if data else "message",
            }
        )

    def _advance(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        job["polls"] += 1
        polls, steps = job["polls"], self.running_steps
        if polls == 1:
            job["status"] = "queued"
            self._event(job_id, "Files validated, moving job to queued state")
        elif polls == 2:
            job["status"] = "running"
            self._event(job_id, "Fine-tuning job started")
        elif polls < 3 + steps:
            step = polls - 2
            self._event(
                job_id,
                f"Step {step}/{steps}: training loss={2.0 / step:.4f}",
                data={"step": step, "train_loss": 2.0 / step},
            )
        elif self.outcome == "succeeded":
            suffix = job["request"].get("suffix") or ""
            job.update(
                status="succeeded",
                trained_tokens=len(self.files[job["request"]["training_file"]]["content"]) // 4,
                fine_tuned_model=f"ft:{job['request']['model']}:fake-org:{suffix}:{job_id[-4:]}",
            )
            self._event(job_id, f"New fine-tuned model created: {job['fine_tuned_model']}")
            self._event(job_id, "The job has successfully completed")
        elif self.outcome == "failed":
            job.update(status="failed", error=dict(self.error, param=None))
            self._event(job_id, self.error["message"], level="error")
        else:
            job["status"] = "cancelled"
            self._event(job_id, "Fine-tuning job cancelled")

    def retrieve_job(self, request: Request) -> tuple[int, Any]:
        job_id = request.match["id"]
        if job_id not in self.jobs:
            return 404, {"error": {"message": f"Could not find fine-tune job: {job_id}", "code": "not_found"}}
        self._advance(job_id)
        return 200, self._job_object(request, job_id)

    def cancel_job(self, request: Request) -> tuple[int, Any]:
        self.jobs[request.match["id"]]["status"] = "cancelled"
        return 200, self._job_object(request, request.match["id"])

    def list_jobs(self, request: Request) -> tuple[int, Any]:
        return 200, {
            "object": "list",
            "data": [self._job_object(request, i) for i in reversed(self.jobs)],
            "has_more": False,
        }

    def _job_object(self, request: Request, job_id: str) -> dict[str, Any]:
        job, body = self.jobs[job_id], self.jobs[job_id]["request"]
        if self.together(request):
            return {
                "id": job_id,
                "status": TOGETHER_STATUS[job["status"]],
                "model": body["model"],
                "training_file": body["training_file"],
                "model_output_name": job["fine_tuned_model"],
                "token_count": job["trained_tokens"],
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        hyper = body.get("method", {}).get(body.get("method", {}).get("type", ""), {}).get("hyperparameters", {})
        return {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": 1767225600,
            "model": body["model"],
            "status": job["status"],
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "fine_tuned_model": job["fine_tuned_model"],
            "error": job["error"],
            "hyperparameters": hyper,
            "method": body.get("method"),
            "organization_id": "org-fake",
            "result_files": [],
            "seed": body.get("seed", 0),
            "trained_tokens": job["trained_tokens"],
            "finished_at": None,
        }

    def list_events(self, request: Request) -> tuple[int, Any]:
        events = self.jobs[request.match["id"]]["events"]
        if self.together(request):
            return 200, {
                "data": [
                    {
                        "object": "fine-tune-event",
                        "created_at": "2026-01-01T00:00:00Z",
                        "hash": e["id"],
                        "message": e["message"],
                        "level": e["level"],
                        "type": "job_error" if e["level"] == "error" else "job_start",
                    }
                    for e in events
                ]
            }
        limit = int(parse_qs(urlsplit(request.path).query).get("limit", ["20"])[0])
        data = [{"object": "fine_tuning.job.event", "created_at": 1767225600, **e} for e in reversed(events)][:limit]
        return 200, {"object": "list", "data": data, "has_more": len(events) > limit}

    def list_checkpoints(self, request: Request) -> tuple[int, Any]:
        job = self.jobs[request.match["id"]]
        if job["status"] != "succeeded":
            return 200, {"object": "list", "data": [], "has_more": False}
        data = [
            {
                "id": f"ftckpt-{step}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": 1767225600,
                "fine_tuned_model_checkpoint": f"{job['fine_tuned_model']}:ckpt-step-{step}",
                "fine_tuning_job_id": job["id"],
                "step_number": step,
                "metrics": {"step": step, "train_loss": 2.0 / step},
            }
            for step in range(self.running_steps, 0, -1)
        ]
        return 200, {"object": "list", "data": data, "has_more": False}


@pytest.fixture
def finetune(fakeapi: FakeAPI) -> FineTuneAPI:
    """The fine-tuning routes on a running FakeAPI (`finetune.api.url` is its /v1 base)."""
    return FineTuneAPI(fakeapi)
