"""`ftboot init`: a new project directory with a commented ftboot.toml, an example seed file and outputs/.

It never overwrites: if any of the files it would write exists, it writes nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pipeline.errors import InputError, Location

FILES = {"ftboot.toml": "ftboot.toml", "seeds/example.yaml": "example.yaml", "outputs/.gitkeep": None}


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
