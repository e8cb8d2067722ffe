"""The Batch API family on FakeAPI: OpenAI's `/v1/batches` (create, retrieve, list newest first in cursor pages,
cancel), with input and result files kept by the file routes of `fake_finetune.FineTuneAPI` (upload, list,
retrieve, content download), and every line answered by the chat family's generator (`FakeChat`) as the online
endpoint would answer it, without an HTTP request to /chat/completions in the log.

A batch is validated when created, as OpenAI does: a purpose `batch` file of POST lines for the batch's endpoint,
each with a unique custom_id and the same model, else status `failed` with the reasons. It then moves one step
each time it is read: validating → in_progress → finalizing → completed. `outcomes` decides, batch by batch in the
order created, what happens at the end: `Outcome(fail={1, 4})` answers those lines (0-based) with a 500 in the
error file; `Outcome(expire_after=3)` answers the first three and the batch expires, the rest in the error file as
`batch_expired`. A cancelled batch answers nothing. The `batches` fixture needs the `chat` fixture's server.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fake_chat import KEY, FakeChat
from tests.fake_finetune import FineTuneAPI
from tests.fakeapi import Request

STEPS = ("validating", "in_progress", "finalizing")
ENDPOINTS = ("/v1/chat/completions", "/v1/completions")


@dataclass
class Outcome:
    fail: set[int] = field(default_factory=set)
    expire_after: int | None = None


@dataclass
class FakeBatches:
    chat: FakeChat
    outcomes: deque[Outcome] = field(default_factory=deque)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.files = FineTuneAPI(self.chat.api, key=KEY)
        self._ids = itertools.count(1)
        route = self.chat.api.route
        route("POST", "/v1/batches")(self.files._auth(self.create))
        route("GET", "/v1/batches")(self.files._auth(self.list))
        route("GET", "/v1/batches/(?P<id>[^/]+)")(self.files._auth(self.retrieve))
        route("POST", "/v1/batches/(?P<id>[^/]+)/cancel")(self.files._auth(self.cancel))

    # --- what tests look at ---

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        content = self.files.files[self.batches[batch_id]["input_file_id"]]["content"]
        return [json.loads(line) for line in content.splitlines()]

    def uploads(self) -> list[str]:
        return [i for i, f in self.files.files.items() if f["purpose"] == "batch"]

    # --- routes ---

    def create(self, request: Request) -> tuple[int, Any]:
        body = request.json()
        if body.get("completion_window") != "24h" or body.get("endpoint") not in ENDPOINTS:
            return 400, {"error": {"message": "invalid completion_window or endpoint", "type": "invalid_request_error"}}
        file = self.files.files.get(body.get("input_file_id", ""))
        if file is None:
            return 400, {"error": {"message": f"no file {body.get('input_file_id')}", "type": "invalid_request_error"}}
        batch_id = f"batch_{next(self._ids):04d}"
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata") or {},
        }
        errors = self._validate(file, body["endpoint"])
        if errors:
            batch.update(status="failed", errors={"object": "list", "data": errors}, failed_at=int(time.time()))
        else:
            batch["request_counts"]["total"] = len(file["content"].splitlines())
        batch["outcome"] = self.outcomes.popleft() if self.outcomes else Outcome()
        self.batches[batch_id] = batch
        return 200, self._public(batch)

    @staticmethod
    def _validate(file: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
        if file["purpose"] != "batch":
            return [{"code": "invalid_file", "message": "the file's purpose is not batch", "line": None}]
        seen, models = set(), set()
        for number, raw in enumerate(file["content"].splitlines(), start=1):
            try:
                line = json.loads(raw)
            except ValueError:
                return [{"code": "invalid_json_line", "message": "not JSON", "line": number}]
            problem = (
                (set(line) != {"custom_id", "method", "url", "body"} and "keys are not custom_id, method, url, body")
                or (line["method"] != "POST" and "method is not POST")
                or (line["url"] != endpoint and f"url {line['url']} is not the batch's endpoint")
                or (line["custom_id"] in seen and "duplicate custom_id")
            )
            if problem:
                return [{"code": "invalid_request", "message": problem, "line": number}]
            seen.add(line["custom_id"])
            models.add(line["body"].get("model"))
        return (
            [{"code": "mixed_models", "message": "lines name several models", "line": None}] if len(models) > 1 else []
        )

    def retrieve(self, request: Request) -> tuple[int, Any]:
        batch = self.batches.get(request.match["id"])
        if batch is None:
            return 404, {
                "error": {"message": f"No batch found with id '{request.match['id']}'", "type": "invalid_request_error"}
            }
        if batch["status"] == "cancelling":
            batch["status"] = "cancelled"
        elif batch["status"] in STEPS:
            following = STEPS.index(batch["status"]) + 1
            if following < len(STEPS):
                batch["status"] = STEPS[following]
            else:
                self._finish(batch)
        return 200, self._public(batch)

    def cancel(self, request: Request) -> tuple[int, Any]:
        batch = self.batches[request.match["id"]]
        if batch["status"] in STEPS:
            batch["status"] = "cancelling"
        return 200, self._public(batch)

    def list(self, request: Request) -> tuple[int, Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        ids = list(self.batches)[::-1]
        if "after" in query:
            ids = ids[ids.index(query["after"]) + 1 :]
        limit = int(query.get("limit", 20))
        data = [self._public(self.batches[i]) for i in ids[:limit]]
        return 200, {
            "object": "list",
            "data": data,
            "has_more": len(ids) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    # --- running a batch ---

    def _finish(self, batch: dict[str, Any]) -> None:
        outcome: Outcome = batch["outcome"]
        handler = {"/v1/chat/completions": self.chat._chat, "/v1/completions": self.chat._completion}[batch["endpoint"]]
        lines = [json.loads(raw) for raw in self.files.files[batch["input_file_id"]]["content"].splitlines()]
        output, errors = [], []
        for number, line in enumerate(lines):
            record = {"id": f"batch_req_{batch['id']}_{number}", "custom_id": line["custom_id"], "error": None}
            if outcome.expire_after is not None and number >= outcome.expire_after:
                errors.append(
                    {
                        **record,
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired.",
                        },
                    }
                )
            elif number in outcome.fail:
                errors.append(
                    {
                        **record,
                        "response": {
                            "status_code": 500,
                            "request_id": f"req_{number}",
                            "body": {
                                "error": {
                                    "message": "The server had an error processing your request.",
                                    "type": "server_error",
                                }
                            },
                        },
                    }
                )
            else:
                status, body = handler(Request("POST", line["url"], {}, json.dumps(line["body"]).encode()))
                (output if status == 200 else errors).append(
                    {**record, "response": {"status_code": status, "request_id": f"req_{number}", "body": body}}
                )
        for kind, rows in (("output", output), ("error", errors)):
            if rows:
                file_id = f"file-{batch['id']}-{kind}"
                content = "".join(json.dumps(r) + "\n" for r in rows).encode()
                self.files.add_file(file_id, f"{batch['id']}_{kind}.jsonl", f"batch_{kind}", content)
                batch[f"{kind}_file_id"] = file_id
        expired = outcome.expire_after is not None
        batch.update(
            status="expired" if expired else "completed",
            request_counts={"total": len(lines), "completed": len(output), "failed": len(errors)},
        )

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if k != "outcome"}


@pytest.fixture
def batches(chat: FakeChat) -> FakeBatches:
    """Batch routes on the chat server (OPENAI_BASE_URL and OPENAI_API_KEY already point at it)."""
    return FakeBatches(chat)
