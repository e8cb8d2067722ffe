"""`outputs/reviewed.jsonl` and `outputs/preferences.jsonl` as `review pull` keeps them: read back and checked,
merged with what a pull settled so that no review an earlier pull recorded is lost, and replaced with a dated
copy of the old file kept.

A pull settles the reviews Label Studio has now. A review recorded earlier whose candidate is not among them (its
task or project deleted, its annotation removed, a lost data dir and a fresh push) stays in the file, marked
`review.kept` with when it was first missed and why; its preference lines stay too, marked `provenance.kept`.
Only `forget_missing` drops them. Before a file is replaced by different content, the old one is copied to
`outputs/history/<name>-<UTC time>.jsonl`.

It leaves out how annotations settle into reviews (`pipeline.review.pull`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import InputError, InputErrors, Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.review.lsexport import check_values
from pipeline.schema import Envelope, Record, validation_messages
from pipeline.writes import atomic_write, dumps


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Kept(_Shape):
    since: str
    why: str


class _Review(_Shape):
    verdict: Literal["accepted", "edited", "rejected"]
    generated_id: str
    task_id: int
    project_id: int | None = None
    kept: _Kept | None = None


class _ReviewedLine(Record):
    review: _Review


class _PreferenceProvenance(_Shape):
    generated_id: str
    task_id: int
    kept: _Kept | None = None


class _PreferenceLine(Envelope):
    kind: Literal["preference"]
    provenance: _PreferenceProvenance


@dataclass
class Earlier:
    """The lines an earlier pull wrote, checked."""

    reviewed: list[dict[str, Any]]
    preferences: list[dict[str, Any]]


def load(project: Project) -> Earlier:
    """What the last pull wrote; a line of the wrong shape stops the pull (exit 2) before anything is written."""
    paths = project.paths
    return Earlier(_read(project, paths.reviewed, _ReviewedLine), _read(project, paths.preferences, _PreferenceLine))


def _read(project: Project, path: Path, model: type[Envelope]) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    shown, rows = project.show(path), []
    errors: list[InputError] = []
    for line, value in read_jsonl(path, shown, on_error=errors.append):
        where = Location(shown, line)
        if not isinstance(value, dict):
            errors.append(InputError(f"must be a JSON object (a record), not {type(value).__name__}", where))
            continue
        try:
            model.model_validate(value)
            check_values(value, where)
        except ValidationError as exc:
            errors += [InputError(message, Location(shown, line, f or None)) for f, message in validation_messages(exc)]
        except InputError as exc:
            errors.append(exc)
        else:
            rows.append(value)
    if errors:
        raise InputErrors(errors, hint=f"{path.name} is written by `ftboot review pull`; fix or remove the line named")
    return rows


@dataclass
class Merged:
    reviewed: list[dict[str, Any]]
    preferences: list[dict[str, Any]]
    kept: int = 0  # reviews in the file that Label Studio no longer has
    kept_now: int = 0  # of those, missed for the first time by this pull
    preferences_kept: int = 0
    forgotten: int = 0  # dropped on purpose (forget_missing)
    preferences_forgotten: int = 0
    history: list[str] = field(default_factory=list)


def merge(
    earlier: Earlier,
    reviewed: list[dict[str, Any]],
    preferences: list[dict[str, Any]],
    answered: set[str],
    projects: set[int],
    forget_missing: bool,
    now: time.struct_time,
) -> Merged:
    """This pull's lines, then the earlier ones whose candidate it did not settle. `answered`: candidate ids of
    the tasks the server (or export) returned; `projects`: the Label Studio projects it covered."""
    settled = {row["review"]["generated_id"] for row in reviewed}
    missing = [row for row in earlier.reviewed if row["review"]["generated_id"] not in settled]
    orphans = [row for row in earlier.preferences if row["provenance"]["generated_id"] not in settled]
    if forget_missing:
        return Merged(reviewed, preferences, forgotten=len(missing), preferences_forgotten=len(orphans))
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", now)
    kept = [
        row
        if "kept" in row["review"]
        else {
            **row,
            "review": {**row["review"], "kept": {"since": since, "why": _why(row["review"], answered, projects)}},
        }
        for row in missing
    ]
    kept_preferences = [
        row
        if "kept" in row["provenance"]
        else {
            **row,
            "provenance": {
                **row["provenance"],
                "kept": {"since": since, "why": "its review is kept from an earlier pull"},
            },
        }
        for row in orphans
    ]
    return Merged(
        reviewed + kept,
        preferences + kept_preferences,
        kept=len(kept),
        kept_now=sum("kept" not in row["review"] for row in missing),
        preferences_kept=len(kept_preferences),
    )


def _why(review: dict[str, Any], answered: set[str], projects: set[int]) -> str:
    task, project_id = review["task_id"], review.get("project_id")
    if projects and project_id is not None and project_id not in projects:
        return f"Label Studio project {project_id} (task {task}) was not in this pull: deleted, or replaced"
    if review["generated_id"] in answered:
        return f"task {task} has no usable review now (see the pull's problems)"
    return f"task {task} is gone from Label Studio, or has no submitted review now"


def save(project: Project, merged: Merged, now: time.struct_time) -> None:
    """Replace both files where their content changes, each after a dated copy of the old one."""
    stamp = time.strftime("%Y%m%dT%H%M%S", now)
    paths = project.paths
    for path, rows in ((paths.reviewed, merged.reviewed), (paths.preferences, merged.preferences)):
        new = "".join(dumps(row) + "\n" for row in rows).encode("utf-8")
        old = path.read_bytes() if path.exists() else b""
        if new == old and path.exists():
            continue
        if old:
            copy = _history_path(paths.history, path, stamp)
            with atomic_write(copy, "wb") as handle:
                handle.write(old)
            merged.history.append(project.show(copy))
        with atomic_write(path, "wb") as handle:
            handle.write(new)


def _history_path(folder: Path, path: Path, stamp: str) -> Path:
    candidate, n = folder / f"{path.stem}-{stamp}.jsonl", 1
    while candidate.exists():  # two pulls within one second
        candidate, n = folder / f"{path.stem}-{stamp}-{n}.jsonl", n + 1
    return candidate
