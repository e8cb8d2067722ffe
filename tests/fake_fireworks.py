"""Fireworks AI's fine-tuning REST API on FakeAPI, as its API reference documents it: datasets (create, with 409
ALREADY_EXISTS for a taken id; get; `:upload` multipart; `:getUploadEndpoint`, a signed PUT and `:validateUpload`),
`supervisedFineTuningJobs` and `dpoJobs` (create, get, list), Bearer auth and gateway-style errors
(`{"code", "message"}`).

An uploaded dataset is UPLOADING until it has been read `ready_after` times, then READY. A job moves one state per
read: JOB_STATE_CREATING → PENDING → RUNNING (jobProgress percent rising over `running_steps` reads) → COMPLETED
with an `outputModel`, or FAILED with a status message when `outcome` is "failed". `lose_job_answers` makes job
requests create the job but answer 500. The `fireworks` fixture starts one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fake_finetune import multipart
from tests.fakeapi import FakeAPI, Request

ACCOUNT = "(?P<account>[^/]+)"
ID = "(?P<id>[^/:]+)"
STEPS = ["JOB_STATE_CREATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"]


@dataclass
class FireworksAPI:
    api: FakeAPI
    key: str = "fw-fake-key"
    account: str = "my-team"
    outcome: str = "succeeded"
    ready_after: int = 1
    running_steps: int = 2
    lose_job_answers: int = 0
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        base = f"/v1/accounts/{ACCOUNT}"
        route = self.api.route
        route("POST", f"{base}/datasets")(self._auth(self.create_dataset))
        route("GET", f"{base}/datasets/{ID}")(self._auth(self.get_dataset))
        route("POST", f"{base}/datasets/{ID}:upload")(self._auth(self.upload))
        route("POST", f"{base}/datasets/{ID}:getUploadEndpoint")(self._auth(self.upload_endpoint))
        route("PUT", f"/signed/{ID}")(self.signed_put)  # another host in real life: no key
        route("POST", f"{base}/datasets/{ID}:validateUpload")(self._auth(self.validate_upload))
        for collection in ("supervisedFineTuningJobs", "dpoJobs"):
            route("POST", f"{base}/(?P<collection>{collection})")(self._auth(self.create_job))
            route("GET", f"{base}/(?P<collection>{collection})")(self._auth(self.list_jobs))
            route("GET", f"{base}/(?P<collection>{collection})/{ID}")(self._auth(self.get_job))

    @property
    def base_url(self) -> str:
        return self.api.url.removesuffix("/v1")

    def _auth(self, handler):
        def checked(request: Request) -> tuple[int, Any]:
            given = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
            if given != f"Bearer {self.key}":
                return 401, {"code": 16, "message": "unauthenticated: invalid API key"}
            if request.match["account"] != self.account:
                return 403, {"code": 7, "message": f"permission denied on account {request.match['account']}"}
            return handler(request)

        return checked

    # --- datasets ---

    def create_dataset(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        dataset_id = body["datasetId"]
        if dataset_id in self.datasets:
            return 409, {"code": 6, "message": f"dataset {dataset_id} already exists"}
        self.datasets[dataset_id] = {"request": body, "content": None, "reads": 0, "state": "UPLOADING"}
        return 200, self._dataset(request, dataset_id)

    def _dataset(self, request: Request, dataset_id: str) -> dict[str, Any]:
        d = self.datasets[dataset_id]
        return {
            "name": f"accounts/{request.match['account']}/datasets/{dataset_id}",
            "state": d["state"],
            "displayName": d["request"]["dataset"].get("displayName"),
            "exampleCount": d["request"]["dataset"].get("exampleCount"),
            "status": {"code": "OK", "message": ""},
        }

    def get_dataset(self, request: Request) -> tuple[int, Any]:
        d = self.datasets.get(request.match["id"])
        if d is None:
            return 404, {"code": 5, "message": "dataset not found"}
        if d["content"] is not None and d["state"] == "UPLOADING":
            d["reads"] += 1
            if d["reads"] >= self.ready_after:
                d["state"] = "READY"
        return 200, self._dataset(request, request.match["id"])

    def upload(self, request: Request) -> tuple[int, Any]:
        d = self.datasets.get(request.match["id"])
        if d is None:
            return 404, {"code": 5, "message": "dataset not found"}
        filename, content = multipart(request)["file"]
        d.update(content=content, filename=filename, via="multipart")
        return 200, {"id": request.match["id"], "object": "file", "bytes": len(content), "filename": filename}

    def upload_endpoint(self, request: Request) -> tuple[int, Any]:
        sizes = request.json()["filenameToSize"]
        self.datasets[request.match["id"]]["expected"] = sizes
        return 200, {"filenameToSignedUrls": {name: f"{self.base_url}/signed/{request.match['id']}" for name in sizes}}

    def signed_put(self, request: Request) -> tuple[int, Any]:
        d = self.datasets[request.match["id"]]
        headers = {k.lower(): v for k, v in request.headers.items()}
        d.update(content=request.body, via="signed", put_headers=headers)
        return 200, b""

    def validate_upload(self, request: Request) -> tuple[int, Any]:
        d = self.datasets[request.match["id"]]
        if d["content"] is None or len(d["content"]) not in d.get("expected", {}).values():
            return 400, {"code": 3, "message": "uploaded size does not match"}
        return 200, {}

    # --- jobs ---

    def create_job(self, request: Request) -> tuple[int, Any]:
        body, collection = request.json(), request.match["collection"]
        for key in ("dataset", "evaluationDataset"):
            if key in body and body[key].rsplit("/", 1)[-1] not in self.datasets:
                return 400, {"code": 3, "message": f"{key} {body[key]} not found"}
        name = f"accounts/{request.match['account']}/{collection}/job{next(self._ids):04d}"
        self.jobs[name] = {"request": body, "collection": collection, "reads": 0, "state": STEPS[0]}
        if self.lose_job_answers:
            self.lose_job_answers -= 1
            return 500, {"code": 13, "message": "internal error"}
        return 200, self._job(name)

    def _job(self, name: str) -> dict[str, Any]:
        job = self.jobs[name]
        body = dict(job["request"])
        out: dict[str, Any] = {**body, "name": name, "state": job["state"], "status": {"code": "OK", "message": ""}}
        if job["state"] == "JOB_STATE_RUNNING":
            out["jobProgress"] = {"percent": min(100, 100 * job["progress"] // self.running_steps), "epoch": 1}
        if job["state"] == "JOB_STATE_COMPLETED":
            out["outputModel"] = f"accounts/{self.account}/models/ft-{name.rsplit('/', 1)[-1]}"
        if job["state"] == "JOB_STATE_FAILED":
            out["status"] = {"code": "INVALID_ARGUMENT", "message": "dataset line 2: messages must alternate"}
        return out

    def get_job(self, request: Request) -> tuple[int, Any]:
        name = f"accounts/{request.match['account']}/{request.match['collection']}/{request.match['id']}"
        if name not in self.jobs:
            return 404, {"code": 5, "message": f"job {name} not found"}
        job = self.jobs[name]
        job["reads"] += 1
        if job["reads"] < len(STEPS):
            job["state"] = STEPS[job["reads"]]
            job["progress"] = 0
        elif job["state"] == "JOB_STATE_RUNNING" and job["progress"] < self.running_steps:
            job["progress"] += 1
        elif job["state"] == "JOB_STATE_RUNNING":
            job["state"] = "JOB_STATE_COMPLETED" if self.outcome == "succeeded" else "JOB_STATE_FAILED"
        return 200, self._job(name)

    def list_jobs(self, request: Request) -> tuple[int, Any]:
        collection = request.match["collection"]
        names = [n for n, j in reversed(self.jobs.items()) if j["collection"] == collection]
        return 200, {collection: [self._job(n) for n in names], "totalSize": len(names)}


@pytest.fixture
def fireworks(fakeapi: FakeAPI) -> FireworksAPI:
    """Fireworks' fine-tuning routes on a running FakeAPI (`fireworks.base_url` is its base URL)."""
    return FireworksAPI(fakeapi)
