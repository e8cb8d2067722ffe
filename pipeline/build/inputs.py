"""Build inputs: the records a build starts from, read and checked before any step runs: an `--input` file of
plain fine-tuning lines, or the project's seeds plus its accepted reviews (chat), or its preference pairs (dpo).
Structural errors stop the build (exit 2) before anything is written, all of them reported at once.

It leaves out the checks of each example against the target's rules (`pipeline.build.steps.Validate`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pipeline.errors import InputError, InputErrors, Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.schema import Kind, Record, dump_example, is_accepted, make_record, parse_example, validation_messages
from pipeline.seeds import load_seeds


def _records_from(path: Path, shown: str, kind: Kind, raw: bool) -> list[Record]:
    """Records from a stage output (envelopes) or, with `raw`, from a plain fine-tuning JSONL. Structural
    errors stop the build (exit 2) before anything is written, all of them reported."""
    errors: list[InputError] = []
    records = []
    for line, value in read_jsonl(path, shown, on_error=errors.append, tolerate_torn_tail=not raw):
        try:
            if raw:
                example = parse_example(value, kind)
                records.append(
                    make_record(dump_example(example), {"source": "file", "file": shown, "line": line}, kind)
                )
            else:
                records.append(Record.model_validate(value))
        except ValidationError as exc:
            errors += [InputError(msg, Location(shown, line, f)) for f, msg in validation_messages(exc)]
    if errors:
        raise InputErrors(errors)
    if raw and not records:
        raise InputError("no examples in this file", Location(shown))
    return records


def load_inputs(project: Project, input_path: Path | None, kind: Kind) -> list[Record]:
    """What a build starts from: --input, or the seeds plus accepted reviews (chat), or preferences (dpo)."""
    if input_path is not None:
        return _records_from(input_path, project.show(input_path), kind, raw=True)
    if kind == "preference":
        path = project.paths.preferences
        if not path.exists():
            raise InputError(
                f"no {project.show(path)} yet", hint="`ftboot review pull` writes it from reviewers' edits"
            )
        return _records_from(path, project.show(path), kind, raw=False)
    records = load_seeds(project)
    reviewed = project.paths.reviewed
    if reviewed.exists():
        records += [
            r for r in _records_from(reviewed, project.show(reviewed), kind, raw=False) if is_accepted(r.model_dump())
        ]
    return records
