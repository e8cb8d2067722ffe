"""outputs/uploads.jsonl, the record of what was sent where: one line per uploaded file, started job, job status
change or dataset push, each with its provider, endpoint and ids, never a key. It is appended to (a killed run
loses at most its last line) and read back to reuse uploaded files, to refuse starting the same job twice, and
to find the job `ftboot upload --status` follows and the latest fine-tuned model (eval's `model = "auto"`, status). It leaves talking to providers to the provider modules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.errors import Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.schema import check_shape
from pipeline.writes import Appender


class _Event(BaseModel):
    """What every line must hold to be read back; the events' own keys below."""

    model_config = ConfigDict(extra="allow")
    event: str
    provider: str | None = None
    endpoint: str | None = None


class _File(_Event):
    file_id: str
    sha256: str


class _Job(_Event):
    job_id: str
    fingerprint: str | None = None


SHAPES: dict[str, type[_Event]] = {"file": _File, "job": _Job}


class UploadLedger:
    """outputs/uploads.jsonl: one line per uploaded file, started job, status change or dataset push."""

    def __init__(self, project: Project) -> None:
        self.project, self.path = project, project.paths.uploads

    def rows(self) -> list[dict[str, Any]]:
        """Every line, each checked to have its event's shape (a located InputError otherwise)."""
        if not self.path.exists():
            return []
        shown = self.project.show(self.path)
        rows = []
        for line, row in read_jsonl(self.path, shown, tolerate_torn_tail=True):
            # str(): a hand-edited event may be any JSON value, a list included, which no dict lookup takes
            check_shape(SHAPES.get(str(row.get("event")), _Event), row, Location(shown, line))
            if "path" in row:  # every path a ledger holds must lie inside outputs/
                self.project.ledger_path(row["path"], Location(shown, line, "path"))
            rows.append(row)
        return rows

    def append(self, event: str, **row: Any) -> None:
        with Appender(self.path) as out:
            out.write({"event": event, "at": datetime.now(UTC).isoformat(timespec="seconds"), **row})

    def file_id(self, provider: str, endpoint: str, sha256: str) -> str | None:
        for row in reversed(self.rows()):
            if row.get("event") == "file" and (row.get("provider"), row.get("endpoint"), row.get("sha256")) == (
                provider,
                endpoint,
                sha256,
            ):
                return row["file_id"]
        return None

    def fine_tuned(self) -> tuple[str, str, str] | None:
        """(model, provider, endpoint) of the latest succeeded fine-tuning job."""
        rows = self.rows()
        endpoints = {
            row.get("job_id"): (row.get("provider"), row.get("endpoint")) for row in rows if row.get("event") == "job"
        }
        for row in reversed(rows):
            if (
                row.get("event") in ("job", "status")
                and row.get("status") == "succeeded"
                and row.get("fine_tuned_model")
            ):
                provider, endpoint = endpoints.get(row.get("job_id"), (row.get("provider"), None))
                return str(row["fine_tuned_model"]), str(provider), str(endpoint or "")
        return None

    def job(self, job_id: str | None = None, fingerprint: str | None = None) -> dict[str, Any] | None:
        """The latest job record matching the id or the fingerprint (with neither: the last job)."""
        for row in reversed(self.rows()):
            if row.get("event") != "job":
                continue
            if (job_id is None or row["job_id"] == job_id) and (
                fingerprint is None or row.get("fingerprint") == fingerprint
            ):
                return row
        return None
