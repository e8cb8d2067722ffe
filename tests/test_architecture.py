"""The layering of `pipeline/` (docs/architecture.md): stage packages import only the shared core, never each
other; the core never imports a stage; only the command line imports click; every module says what it does."""

from __future__ import annotations

import ast
from pathlib import Path

PIPELINE = Path(__file__).resolve().parent.parent / "pipeline"
STAGES = {"generation", "review", "build", "upload", "export", "eval", "status"}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PIPELINE.rglob("*.py")):
        parts = path.relative_to(PIPELINE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def room(module: str) -> str:
    """The package a module lives in: a stage's name, `cli`, or `core` for the shared modules."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return top if top in STAGES or top in {"cli", "__main__"} else "core"


def test_stages_import_only_the_core_and_the_core_imports_no_stage() -> None:
    found = modules()
    wrong = []
    for name, tree in found.items():
        for target in imported(tree):
            if target in found and room(target) not in {"core", room(name)} and room(name) not in {"cli", "__main__"}:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_only_the_command_line_imports_click() -> None:
    found = modules()
    users = sorted(
        name
        for name, tree in found.items()
        if room(name) != "cli" and any(t == "click" or t.startswith("click.") for t in imported(tree))
    )
    assert users == []


def test_every_module_opens_with_a_docstring() -> None:
    assert [name for name, tree in modules().items() if not ast.get_docstring(tree)] == []
