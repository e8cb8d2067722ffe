"""Seed files → seed records, with every error located.

Seeds are hand-written in `seeds/*.jsonl` (one example a line) or `seeds/*.yaml` (one example a document,
or a list of them). Each is either a full chat example (`messages`, optionally `tools`) or the short form
`{input, output, system?}`, which becomes system (or the project's system prompt), user and assistant messages.

`load_seeds` returns the records or raises `InputErrors` with every problem of the run, each as
`file:line: field: what is wrong`. `check_seeds` adds warnings: too few seeds, duplicates, no system prompt.
It does not judge quality; that is the reviewer's job.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.config import Project
from pipeline.errors import InputError, InputErrors, InputWarning, Location
from pipeline.jsonl import BOM, MAX_DEPTH, encodable, field_name, open_regular, printable, read_jsonl
from pipeline.schema import Record, dump_example, make_record, parse_example, validation_messages

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


MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_NODES = 100_000  # values one seed may expand to, aliases followed: bounds a billion-laughs file
YAML_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = {YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp",
                                     "binary", "set", "omap", "pairs", "value")}


def _seed_loader() -> Any:
    """SafeLoader that refuses nesting deeper than `MAX_DEPTH`: its composer recurses once per level (5,000 levels
    end in RecursionError), and its scanner looks ahead through a whole flow collection at a cost that grows with
    the depth at every token (5,000 `[` take over a second)."""
    import yaml

    class SeedLoader(yaml.SafeLoader):
        depth = 0

        def fetch_flow_collection_start(self, TokenClass: Any) -> None:
            if self.flow_level >= MAX_DEPTH:
                raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
            super().fetch_flow_collection_start(TokenClass)

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                      self.peek_event().start_mark)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return SeedLoader


def _tree_problem(root: Any) -> tuple[str, Any, tuple[Any, ...]] | None:
    """What makes a seed's node tree unsafe to construct, as (message, node, path): more than `MAX_NODES` values
    once aliases are followed (a cycle never ends), nesting past `MAX_DEPTH`, a tag beyond YAML's plain types
    (`!!python/...`), a key given twice (PyYAML would keep the last silently) or a lone surrogate escape.
    The walk stops at the first, so a bomb costs `MAX_NODES` steps, not its expansion."""
    import yaml

    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    seen = 0
    while stack:
        node, path = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            return f"expands to more than {MAX_NODES:,} values (aliases repeated inside aliases?)", root, ()
        if len(path) > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels (an alias inside itself?)", node, path[:3]
        if node.tag not in PLAIN_TAGS:
            return f"tag {node.tag.replace(YAML_TAG, '!!')} is not allowed; seeds hold plain data only", node, path
        if isinstance(node, yaml.ScalarNode):
            if not encodable(node.value):
                return "holds a lone surrogate escape (such as \\ud800), which is not text", node, path
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, (*path, i)) for i, item in reversed(list(enumerate(node.value)))]
        else:
            keys: set[str] = set()
            for key, _ in node.value:  # in file order, so the second of two is the one named
                if isinstance(key, yaml.ScalarNode) and key.tag != YAML_TAG + "merge":
                    if key.value in keys:
                        return f"duplicate key {printable(repr(key.value))}; a key may appear once", key, (*path, key.value)
                    keys.add(key.value)
            for key, value in reversed(node.value):
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack += [(value, (*path, name)), (key, path)]
    return None


def _yaml_entries(path: Path, shown: str, errors: list[InputError]) -> Iterator[tuple[int, Any, Any]]:
    """(line, value, node) for each seed in a YAML file; the node lets errors point at the field's own line."""
    import yaml

    with open_regular(path, shown) as handle:
        raw = handle.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        errors.append(InputError(f"larger than {MAX_YAML_BYTES // 2**20} MB; split it, or use JSONL", Location(shown)))
        return
    if raw.startswith(BOM):
        warnings.warn(InputWarning("file starts with a byte-order mark (read as UTF-8 without it)", Location(shown)),
                      stacklevel=2)
        raw = raw[len(BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        errors.append(InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", Location(shown, line)))
        return
    try:
        documents = list(yaml.compose_all(text, Loader=_seed_loader()))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(InputError(f"invalid YAML: {problem}", Location(shown, mark.line + 1 if mark else None)))
        return
    constructor = yaml.SafeLoader("")
    for node in documents:
        if node is None:
            continue
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in items:
            line = item.start_mark.line + 1
            problem = _tree_problem(item)
            if problem is not None:
                message, at, field_path = problem
                errors.append(InputError(message, Location(shown, at.start_mark.line + 1, field_name(field_path) or None)))
                continue
            try:
                value = constructor.construct_document(item)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                # A timestamp like 2024-13-01, an unhashable key, a merge of a non-mapping: PyYAML's own words.
                detail = getattr(exc, "problem", None) or str(exc)
                errors.append(InputError(f"invalid YAML value: {printable(detail)}", Location(shown, line)))
                continue
            yield line, value, item


def _node_line(node: Any, field_path: str, default: int) -> int:
    """The line of `messages[2].role` inside a YAML node, as far down as the path can be followed."""
    import re

    import yaml

    line = default
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field_path):
        if isinstance(node, yaml.MappingNode) and key:
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == key), None)
                return key_node.start_mark.line + 1 if key_node else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _entries(path: Path, shown: str, errors: list[InputError]) -> Iterator[tuple[int, Any, Any]]:
    if path.suffix == ".jsonl":
        for line, value in read_jsonl(path, shown, on_error=errors.append):
            yield line, value, None
    else:
        yield from _yaml_entries(path, shown, errors)


# --- one seed ----------------------------------------------------------------------------------------------


def _to_chat(value: Any, system_prompt: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A seed in either form as a chat example dict, and how its fields map back to the seed's own keys."""
    if not isinstance(value, dict):
        raise _SeedProblem("", f"a seed must be a mapping with `messages` or `input`/`output`, not {type(value).__name__}")
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
        messages += [{"role": "user", "content": value["input"].strip()},
                     {"role": "assistant", "content": value["output"].strip()}]
        offset = len(messages) - 2
        return {"messages": messages}, {f"messages[{offset}]": "input", f"messages[{offset + 1}]": "output",
                                        "messages[0]": "system"}
    raise _SeedProblem("", "a seed needs `messages` (full chat form) or `input` and `output` (short form)")


class _SeedProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _seed_record(value: Any, node: Any, line: int, shown: str, project: Project,
                 errors: list[InputError]) -> Record | None:
    from pipeline.rules import get_ruleset
    from pipeline.tokens import count_example_tokens

    def where(field_path: str) -> Location:
        at = _node_line(node, field_path, line) if node is not None else line
        return Location(shown, at, field_path or None)

    try:
        data, short_fields = _to_chat(value, project.config.task.system_prompt)
        example = parse_example(data)
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
    from pipeline.dedup import DuplicateIndex

    files = seed_files(project, paths)
    records = load_seeds(project, paths)
    warnings = []
    if len(records) < MIN_SEEDS:
        warnings.append(f"only {len(records)} seeds; {MIN_SEEDS} to 10 varied ones give generation more to work from")
    index = DuplicateIndex(project.config.generate.near_duplicate_threshold)
    names = {}
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
    from pipeline.schema import example_text

    return example_text(record.example)
