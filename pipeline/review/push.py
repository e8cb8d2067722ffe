"""Review: push candidates to Label Studio, as tasks imported in batches or as an import file.

`push` imports the candidates the project does not have yet (a task knows its candidate id), in batches; with
`to_file` it writes the same tasks as import JSON with the labeling config beside it. `load_candidates` reads
`outputs/candidates.jsonl`, one record per id, with a bad line reported by file, line and field.

It leaves out how a task looks in Label Studio (`pipeline.labelstudio.tasks`) and reading the reviewers' verdicts
back (`pipeline.review.pull`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import InputError, Location
from pipeline.jsonl import read_jsonl
from pipeline.labelstudio.adapter import Server
from pipeline.labelstudio.tasks import editable_turns, labeling_config, make_task
from pipeline.progress import Progress, quiet
from pipeline.project import Project
from pipeline.schema import Record, parse_example, validation_messages
from pipeline.seeds import load_seeds
from pipeline.writes import atomic_write


def load_candidates(project: Project) -> list[Record]:
    """The generated candidates, one per id, in file order."""
    path = project.paths.candidates
    if not path.exists():
        raise InputError(f"no {project.show(path)} yet", hint="`ftboot generate` writes it")
    shown = project.show(path)
    records: dict[str, Record] = {}
    for line, row in read_jsonl(path, shown, tolerate_torn_tail=True):
        try:
            record = Record.model_validate(row)
        except ValidationError as exc:
            raise _located(exc, Location(shown, line)) from None
        try:
            parse_example(record.example, record.kind)
        except ValidationError as exc:
            raise _located(exc, Location(shown, line, "example")) from None
        records.setdefault(record.id, record)
    return list(records.values())


def _located(exc: ValidationError, where: Location) -> InputError:
    field_name, message = validation_messages(exc)[0]
    return InputError(message, Location(where.file, where.line, ".".join(filter(None, [where.field, field_name]))))


@dataclass
class PushResult:
    candidates: int
    new: int
    project_id: int | None = None
    url: str | None = None
    files: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "candidates": self.candidates,
            "imported": self.new,
            "already_there": self.candidates - self.new,
            "project_id": self.project_id,
            "url": self.url,
            "files": self.files,
        }


def push(project: Project, to_file: Path | None = None, progress: Progress = quiet) -> PushResult:
    """Send the candidates not yet in the project; `progress` after each batch of tasks imported."""
    records = load_candidates(project)
    seeds = {seed.id: seed for seed in load_seeds(project)} if project.seeds_dir.is_dir() else {}
    slots = max([len(editable_turns(r.example)) for r in records] + [1])
    if to_file is not None:
        config_path = to_file.with_name(to_file.stem + ".label_config.xml")
        with atomic_write(to_file) as handle:
            json.dump([make_task(r, slots, seeds) for r in records], handle, ensure_ascii=False)
        with atomic_write(config_path) as handle:
            handle.write(labeling_config(slots))
        return PushResult(len(records), len(records), files=[project.show(to_file), project.show(config_path)])
    server = Server.connect(project)
    project_id, slots = server.ensure_project(
        project.config.labelstudio.project_title, slots, project.config.labelstudio.overlap
    )
    known = server.candidate_ids(project_id)
    new = [r for r in records if r.id not in known]
    size = project.config.labelstudio.batch_size
    for start in range(0, len(new), size):
        server.import_tasks(project_id, [make_task(r, slots, seeds) for r in new[start : start + size]])
        progress("importing tasks", min(start + size, len(new)), len(new))
    return PushResult(len(records), len(new), project_id, f"{server.url}/projects/{project_id}/data")
