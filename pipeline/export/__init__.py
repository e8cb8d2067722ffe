"""Export: write the final set into a directory in the format a trainer or a tuning service expects, with a ready
config or script for it and a README.md saying how to run it. Nothing is sent anywhere.

Each target is one small module implementing `Exporter` (the line conversion, the config files, the README);
`EXPORTERS` maps names to them. The flow they share lives here: the built files are validated again first, line by
line, against the target's ruleset (Vertex's own; for local trainers, the build's), so an invalid file is refused
with file:line reasons and nothing is written; then every file is written atomically (an interrupted export
leaves no half-written file). Left out: running the trainers (they need a GPU and the model's weights) and
uploading to a cloud bucket (the README gives the commands).
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.errors import InputError
from pipeline.jsonl import read_jsonl
from pipeline.plan import make_plan
from pipeline.project import Project
from pipeline.rules import get_ruleset
from pipeline.writes import atomic_write, write_jsonl

EXPORTERS = {
    "trl": "pipeline.export.trl:TRLExporter",
    "axolotl": "pipeline.export.axolotl:AxolotlExporter",
    "unsloth": "pipeline.export.unsloth:UnslothExporter",
    "vertex": "pipeline.export.vertex:VertexExporter",
}


@dataclass(frozen=True)
class Layout:
    """What an export holds: the data files by role (train, validation) and the base model the config names."""

    data: dict[str, str]
    model: str
    fmt: str

    @property
    def train(self) -> str:
        return self.data["train"]

    @property
    def validation(self) -> str | None:
        return self.data.get("validation")


class Exporter(ABC):
    name: ClassVar[str]
    label: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ("chat", "dpo")
    ruleset: ClassVar[str | None] = None  # None: the rules the set was built for
    default_model: ClassVar[str]

    @abstractmethod
    def convert(self, example: dict[str, Any], fmt: str) -> dict[str, Any]:
        """One built line in this target's format."""

    @abstractmethod
    def configs(self, layout: Layout) -> dict[str, str]:
        """The config or script files to write beside the data: file name → text."""

    @abstractmethod
    def readme(self, layout: Layout) -> str:
        """README.md: what the directory holds and the commands that train on it."""


@dataclass
class Exported:
    target: str
    directory: Path
    files: dict[str, int] = field(default_factory=dict)  # written file → lines (0 for configs)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "directory": str(self.directory), "files": self.files}


def get_exporter(name: str) -> Exporter:
    if name not in EXPORTERS:
        raise InputError(f"unknown export target {name!r}; known: {', '.join(EXPORTERS)}")
    module, _, attr = EXPORTERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)()


def export(project: Project, to: str, directory: Path, fmt: str = "chat", model: str | None = None) -> Exported:
    """Validate the built files for the target, then write the converted data, the configs and README.md."""
    exporter = get_exporter(to)
    if fmt not in exporter.formats:
        raise InputError(f"{exporter.label} export takes {' or '.join(exporter.formats)} sets, not {fmt}")
    ruleset = get_ruleset(exporter.ruleset or project.config.build.target)
    plan = make_plan(project, f"export:{to}", ruleset, project.config.build.model, fmt, {}, trains=False)
    names = {f.role: f.path.name for f in plan.files}  # the built files' own names
    layout = Layout(names, model or exporter.default_model, fmt)
    result = Exported(to, directory)
    for item in plan.files:
        rows = (exporter.convert(data, fmt) for _, data in read_jsonl(item.path, item.shown))
        result.files[names[item.role]] = write_jsonl(directory / names[item.role], rows)
    for name, text in {**exporter.configs(layout), "README.md": exporter.readme(layout)}.items():
        with atomic_write(directory / name) as handle:
            handle.write(text)
        result.files[name] = 0
    return result


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as local trainers' chat templates take them: text content, no `weight` (which they do not read)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        out.append({**{k: v for k, v in message.items() if k != "weight"}, "content": content})
    return out


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
