"""Seed files → seed records, with every error located.

Seeds are hand-written in `seeds/*.jsonl` (one example a line) or `seeds/*.yaml` (one example a document,
or a list of them). Each is either a full chat example (`messages`, optionally `tools`) or the short form
`{input, output, system?}`, which becomes system (or the project's system prompt), user and assistant messages.

`load_seeds` returns the records or raises `InputErrors` with every problem of the run, each as
`file:line: field: what is wrong`. `check_seeds` adds warnings: too few seeds, duplicates, no system prompt.
It does not judge quality; that is the reviewer's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.dedup import DuplicateIndex
from pipeline.errors import InputError, InputErrors, Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.rules import get_ruleset
from pipeline.schema import ChatExample, Record, dump_example, example_text, make_record, validation_messages
from pipeline.seedyaml import node_line, yaml_entries
from pipeline.tokens import count_example_tokens

MIN_SEEDS = 5
SHORT_KEYS = {"input", "output", "system"}


@dataclass
class SeedCheck:
    records: list[Record]
    files: list[str]
    warnings: list[str] = field(default_factory=list)


def seed_files(project: Project, paths: list[Path] | None = None) -> list[Path]:
    """The seed files to read: the given paths (directories expanded), else everything in seeds/."""
    roots = paths or [project.seeds_dir]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files += sorted(p for p in root.iterdir() if p.suffix in (".jsonl", ".yaml", ".yml"))
        else:
            files.append(root)
    return files


# --- reading both file kinds as (line, value, line-of-field) ----------------------------------------------


def _entries(path: Path, shown: str, errors: list[InputError]) -> Iterator[tuple[int, Any, Any]]:
    if path.suffix == ".jsonl":
        for line, value in read_jsonl(path, shown, on_error=errors.append):
            yield line, value, None
    else:
        yield from yaml_entries(path, shown, errors)


# --- one seed ----------------------------------------------------------------------------------------------


def _to_chat(value: Any, system_prompt: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A seed in either form as a chat example dict, and how its fields map back to the seed's own keys."""
    if not isinstance(value, dict):
        raise _SeedProblem(
            "", f"a seed must be a mapping with `messages` or `input`/`output`, not {type(value).__name__}"
        )
    if "messages" in value:
        return value, {}
    if "input" in value or "output" in value:
        unknown = sorted(set(value) - SHORT_KEYS)
        if unknown:
            raise _SeedProblem(unknown[0], "unknown key (the short form takes input, output and system)")
        for key in ("input", "output"):
            if not isinstance(value.get(key), str) or not value[key].strip():
                raise _SeedProblem(key, "is required and must be non-empty text")
        system = value.get("system", system_prompt)
        messages = [{"role": "system", "content": system}] if system else []
        messages += [
            {"role": "user", "content": value["input"].strip()},
            {"role": "assistant", "content": value["output"].strip()},
        ]
        offset = len(messages) - 2
        return {"messages": messages}, {
            f"messages[{offset}]": "input",
            f"messages[{offset + 1}]": "output",
            "messages[0]": "system",
        }
    raise _SeedProblem("", "a seed needs `messages` (full chat form) or `input` and `output` (short form)")


class _SeedProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _seed_record(
    value: Any, node: Any, line: int, shown: str, project: Project, errors: list[InputError]
) -> Record | None:
    def where(field_path: str) -> Location:
        at = node_line(node, field_path, line) if node is not None else line
        return Location(shown, at, field_path or None)

    try:
        data, short_fields = _to_chat(value, project.config.task.system_prompt)
        example = ChatExample.model_validate(data)
    except _SeedProblem as exc:
        errors.append(InputError(exc.message, where(exc.field)))
        return None
    except ValidationError as exc:
        errors.extend(InputError(message, where(field_path)) for field_path, message in validation_messages(exc))
        return None
    dumped = dump_example(example)
    model = project.config.build.model
    for problem in get_ruleset(project.config.build.target).check(example, count_example_tokens(dumped, model), model):
        mapped = next((short for long, short in short_fields.items() if long in problem.detail), "messages")
        errors.append(InputError(problem.detail, where(mapped)))
    return make_record(dumped, {"source": "seed", "file": shown, "line": line})


def load_seeds(project: Project, paths: list[Path] | None = None) -> list[Record]:
    """Every seed as a record; raises `InputErrors` listing every problem found."""
    records, errors = _load(project, seed_files(project, paths))
    if errors:
        raise InputErrors(errors, hint="fix the lines above; `ftboot seeds check` shows them all")
    return records


def _load(project: Project, files: list[Path]) -> tuple[list[Record], list[InputError]]:
    records: list[Record] = []
    errors: list[InputError] = []
    if not files:
        errors.append(InputError("no seed files (*.jsonl or *.yaml)", Location(project.show(project.seeds_dir))))
    for path in files:
        shown = project.show(path)
        found = 0
        try:
            for line, value, node in _entries(path, shown, errors):
                found += 1
                record = _seed_record(value, node, line, shown, project, errors)
                if record is not None:
                    records.append(record)
        except InputError as exc:  # the file itself: missing, a directory, a FIFO, a device
            errors.append(exc)
        if found == 0 and not any(str(e.where.file) == shown for e in errors):
            errors.append(InputError("no seeds in this file", Location(shown)))
    return records, errors


def check_seeds(project: Project, paths: list[Path] | None = None) -> SeedCheck:
    """Load the seeds (raising on any error) and collect warnings that do not stop the pipeline."""
    files = seed_files(project, paths)
    records = load_seeds(project, paths)
    warnings = []
    if len(records) < MIN_SEEDS:
        warnings.append(f"only {len(records)} seeds; {MIN_SEEDS} to 10 varied ones give generation more to work from")
    index = DuplicateIndex(project.config.generate.near_duplicate_threshold)
    names: dict[str, str] = {}
    for record in records:
        here = f"{record.provenance['file']}:{record.provenance['line']}"
        duplicate = index.add_if_new(record.id, _text(record))
        if duplicate is not None:
            kind = "an exact" if duplicate.exact else f"a near ({duplicate.similarity:.2f})"
            warnings.append(f"{here} is {kind} duplicate of {names[duplicate.key]}")
        names.setdefault(record.id, here)
    if not project.config.task.system_prompt:
        missing = [r for r in records if r.example["messages"][0]["role"] != "system"]
        if missing:
            warnings.append(f"{len(missing)} seeds have no system message and ftboot.toml sets no task.system_prompt")
    return SeedCheck(records, [project.show(f) for f in files], warnings)


def _text(record: Record) -> str:
    return example_text(record.example)
