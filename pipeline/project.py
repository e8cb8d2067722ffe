"""A project: its directory and validated config (`Project`), where its outputs are (`Project.paths`, named in
`pipeline.paths`), and `ftboot init`'s scaffold of a new one.

The project directory is `--project DIR`, else `$FTBOOT_PROJECT`, else the current directory. `init_project`
writes a commented ftboot.toml, an example seed file and outputs/, and never overwrites: if any of the files it
would write exists, it writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipeline.config import CONFIG_NAME, Config, key_line, load_config
from pipeline.errors import InputError, Location
from pipeline.paths import OutputPaths

FILES = {"ftboot.toml": "ftboot.toml", "seeds/example.yaml": "example.yaml", "outputs/.gitkeep": None}


@dataclass(frozen=True)
class Project:
    """A project directory and its validated config."""

    root: Path
    config: Config

    @property
    def seeds_dir(self) -> Path:
        return self.root / "seeds"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def paths(self) -> OutputPaths:
        return OutputPaths(self.outputs)

    def show(self, path: Path) -> str:
        """A path as the user should see it: relative to the project when inside it. A link is shown by its own
        name, not its target's (`seeds/x.jsonl`, not `/dev/zero`)."""
        try:
            return str((path.parent.resolve() / path.name).relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def ledger_path(self, value: object, where: Location) -> Path:
        """A path read from a ledger (as `show` wrote it), confined to outputs/: ftboot uploads and deletes the
        files its ledgers name, so a path that leads elsewhere (absolute, `..`, a symlink out) is refused."""
        if isinstance(value, str) and value:
            path = self.root / value
            if path.resolve().is_relative_to(self.outputs.resolve()):
                return path
        raise InputError(
            f"{value!r} is not a path inside outputs/, where ftboot reads and deletes only its own files",
            where,
            hint="this ledger line was not written by ftboot; remove it or restore the file",
        )


def find_project(directory: str | Path | None = None) -> Project:
    """The project at `directory`, else $FTBOOT_PROJECT, else the current directory."""
    root = Path(directory or os.environ.get("FTBOOT_PROJECT") or ".").resolve()
    if not root.is_dir():
        raise InputError(f"project directory {root} does not exist")
    config_path = root / CONFIG_NAME
    if not config_path.exists() and not (root / "seeds").is_dir():
        raise InputError(
            f"{root} is not an ftboot project (no {CONFIG_NAME}, no seeds/)",
            hint="run `ftboot init DIR` to make one, or pass --project DIR",
        )
    return Project(root, load_config(config_path))


def key_location(project: Project, field: str) -> Location:
    """Where a dotted key (`eval.checks.regex`) is set in the project's ftboot.toml, for a located message."""
    path = project.root / CONFIG_NAME
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    table, _, key = field.rpartition(".")
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if line.strip().startswith(f"[{table}]")), None)
    if header is None:
        return Location(CONFIG_NAME, key_line(text, key), field)
    end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    found = key_line("\n".join(lines[header + 1 : end]), key)
    return Location(CONFIG_NAME, header + 1 + found if found else header + 1, field)


def init_project(directory: Path) -> list[Path]:
    """Write the scaffold into `directory` (created if missing); returns the files written."""
    targets = {directory / name: template for name, template in FILES.items()}
    existing = [path for path in targets if path.exists()]
    if existing:
        raise InputError(
            "already exists; init writes nothing over existing files",
            Location(existing[0]),
            hint="choose a new directory, or edit the existing project",
        )
    templates = resources.files("pipeline") / "templates"
    for path, template in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((templates / template).read_text(encoding="utf-8") if template else "", encoding="utf-8")
    return list(targets)
