"""outputs/batches.jsonl, the record of every batch input file ftboot planned and what became of it.

Each input file is an `Entry` named `ftboot-<time>-<token>-<part>`: the name of the file on disk and at the
provider, and the tag in the batch's metadata. Its lines, appended one at a time and never rewritten, are events:

  planned    the file is written (plan, request numbers as ranges, count, bytes, sha256); before any network call
  uploaded   the provider holds the file (file id)
  submitted  the batch exists (batch id); `adopted` when it was found at the provider after a crash
  status     the provider's status and request counts, when they change
  collected  its answers are in the cache and the outputs (counts, failed request numbers, tokens)
  abandoned  nothing was sent and the input file is gone: the requests are free to be planned again
  file       an offline input file (`--batch-file`), for `--collect-file` to know its requests

A batch is open from `planned` to `collected` or `abandoned`; its requests are outstanding, so neither a later
`--batch` nor an online run plans them again. An entry's `purpose` says what it holds: `generate` (the default, so
older ledgers read as before), requests of a generation plan named by their numbers; or `judge`, the candidate
judge's requests (`ftboot judge --batch`), named by their cache keys (`keys`), since they follow no plan. A planned file's path must lie inside outputs/ (ftboot uploads and
deletes it); a `file` entry's path is where the user asked for it, and only a record. Keys never appear here.
Talking to the provider is `pipeline.generation.batch.api`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, field_validator

from pipeline.errors import Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.schema import check_shape
from pipeline.writes import Appender

CLOSED = ("collected", "abandoned")


def to_ranges(numbers: Iterable[int]) -> list[list[int]]:
    """Increasing request numbers as [[first, last], ...]: a plan of 50,000 requests is a few numbers."""
    ranges: list[list[int]] = []
    for n in numbers:
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    return ranges


def expand(ranges: Iterable[list[int]]) -> Iterator[int]:
    for first, last in ranges:
        yield from range(first, last + 1)


class BatchPlan(TypedDict):
    """What a batch input file was planned with: enough to rebuild the run's settings and to group resubmits
    (a generation batch), or to judge from the cache at the threshold asked (a judge batch)."""

    backend: str
    model: str
    endpoint: str  # the API path the requests go to
    host: str
    fingerprint: str  # a generation plan's first request's cache key; "judge" for a judge batch
    mode: NotRequired[str]
    pool: NotRequired[str]
    round: NotRequired[int]
    min_score: NotRequired[int | None]


@dataclass
class Entry:
    """One input file and its batch, as the ledger's events add up."""

    name: str
    kind: str  # "batch" or "file"
    plan: BatchPlan
    ranges: list[list[int]]
    count: int
    bytes: int
    sha256: str
    input: str  # the input file, relative to the project
    planned_at: str
    file_id: str | None = None
    batch_id: str | None = None
    status: str = "planned"
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[list[int]] = field(default_factory=list)
    collected: dict[str, Any] | None = None
    purpose: str = "generate"  # or "judge"
    keys: list[str] = field(default_factory=list)  # a judge entry's requests (cache keys)

    @property
    def open(self) -> bool:
        return self.kind == "batch" and self.status not in CLOSED

    @property
    def planned_ts(self) -> float:
        return datetime.fromisoformat(self.planned_at).timestamp()


# --- the shape each event must have to be read back (a hand-edited or foreign line is a located error) -------


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")
    event: str
    name: str
    at: str

    @field_validator("at")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        datetime.fromisoformat(value)  # a ValueError becomes a located "at: ..." message
        return value


class _PlanRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    fingerprint: str
    endpoint: str


class _Planned(_Event):
    plan: _PlanRef
    purpose: Literal["generate", "judge"] = "generate"
    ranges: list[tuple[int, int]]
    keys: list[str] = []
    count: int
    bytes: int
    sha256: str
    input: str


class _Uploaded(_Event):
    file_id: str


class _Status(_Event):
    status: str
    batch_id: str | None = None
    file_id: str | None = None
    counts: dict[str, int] | None = None


class _Collected(_Event):
    failed: list[tuple[int, int]]


SHAPES: dict[str, type[_Event]] = {
    "planned": _Planned,
    "file": _Planned,
    "uploaded": _Uploaded,
    "submitted": _Status,
    "status": _Status,
    "collected": _Collected,
}


class BatchLedger:
    def __init__(self, project: Project) -> None:
        self.project, self.path = project, project.paths.batch_ledger

    def append(self, event: str, name: str, **row: Any) -> None:
        with Appender(self.path) as out:
            out.write({"event": event, "name": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), **row})

    def entries(self) -> dict[str, Entry]:
        """Every input file by name, in the order planned."""
        entries: dict[str, Entry] = {}
        if not self.path.exists():
            return entries
        shown = self.project.show(self.path)
        for line, row in read_jsonl(self.path, shown, tolerate_torn_tail=True):
            # str(): a hand-edited event may be any JSON value, a list included, which no dict lookup takes
            check_shape(SHAPES.get(str(row.get("event")), _Event), row, Location(shown, line))
            event, name = row["event"], row["name"]
            if event == "planned":  # its input file is uploaded and then deleted: it must be ftboot's own
                self.project.ledger_path(row["input"], Location(shown, line, "input"))
            if event in ("planned", "file"):
                entries[name] = Entry(
                    name,
                    "batch" if event == "planned" else "file",
                    row["plan"],
                    row["ranges"],
                    row["count"],
                    row["bytes"],
                    row["sha256"],
                    row["input"],
                    row["at"],
                    purpose=row.get("purpose", "generate"),
                    keys=row.get("keys", []),
                )
                continue
            entry = entries.get(name)
            if entry is None:
                continue
            if event == "uploaded":
                entry.file_id, entry.status = row["file_id"], "uploaded"
            elif event in ("submitted", "status"):
                entry.batch_id = row.get("batch_id", entry.batch_id)
                entry.file_id = row.get("file_id", entry.file_id)
                entry.status, entry.counts = row["status"], row.get("counts") or entry.counts
            elif event == "collected":
                entry.status, entry.failed, entry.collected = "collected", row["failed"], row
            elif event == "abandoned":
                entry.status = "abandoned"
        return entries

    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries().values() if e.open]

    def outstanding(self, fingerprint: str) -> set[int]:
        """Request numbers of a plan that open batches will answer."""
        return {n for e in self.open_entries() if e.plan["fingerprint"] == fingerprint for n in expand(e.ranges)}

    def outstanding_keys(self) -> set[str]:
        """Cache keys of the judge requests that open batches will answer."""
        return {key for e in self.open_entries() if e.purpose == "judge" for key in e.keys}
