"""The documentation: the MkDocs site builds with `--strict` (no broken link, anchor or image, no page left out of
the nav), the README stays a front door, and every `ftboot` command and command group is mentioned somewhere in
the README or under docs/ (after sqlite-utils' test that its CLI reference covers every command), and every
repository path the docs name (`scripts/bench_build.py`) exists.

Leaves out: whether what the docs say is true; each stage's tests check the behaviour they describe.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pipeline.cli import cli

REPO = Path(__file__).resolve().parent.parent
# An inline code span or a line of a fenced block that runs ftboot, up to the end of the span or line.
# A repository path in a code span: `scripts/bench_build.py`, `pipeline/rules/`, `tests/data/bad/`.
REPO_PATH = re.compile(r"`((?:pipeline|scripts|tests|docs)/[\w./-]*)`")
FTBOOT_RUN = re.compile(r"`(ftboot [^`\n]+)`|^\s*(ftboot [^\n]+)$", re.M)


def documentation() -> str:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every visible command and command group under `group`, as the words that invoke it."""
    paths = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def mentioned(path: tuple[str, ...], runs: list[list[str]]) -> bool:
    """True when some documented ftboot invocation names the path; its last word may be one of an alternation
    (`ftboot labelstudio start|stop|status`)."""
    *parents, last = path
    depth = len(parents)
    return any(
        words[1 : 1 + depth] == parents and len(words) > 1 + depth and last in words[1 + depth].split("|")
        for words in runs
    )


def documented_runs(text: str) -> list[list[str]]:
    runs = []
    for match in FTBOOT_RUN.finditer(text):
        invocation = (match.group(1) or match.group(2)).replace("\\|", "|")
        runs.append(invocation.split())
    return runs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return out


def test_site_builds_strict_with_the_readme_as_home_page(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "scripts/demo" in home and "scripts/test" in home
    # The README's docs/ links became site links: no page or anchor of the site starts with docs/.
    assert 'href="docs/' not in home
    assert 'href="benchmarks/#build"' in home
    guide = (site / "reviewer-guide" / "index.html").read_text(encoding="utf-8")
    for image in ("review-screenshot.png", "review-screenshot-editor.png"):
        assert f'src="../{image}"' in guide
        assert (site / image).stat().st_size > 0
    # GitHub's `\|` in a table's code span shows as a plain | in the site too.
    commands = (site / "commands" / "index.html").read_text(encoding="utf-8")
    assert "<code>ftboot labelstudio start|stop|status|install" in commands and "\\|" not in commands


def test_readme_is_a_front_door() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250, "the README is the front door: put the detail on a page under docs/"
    assert readme.index("scripts/demo") < readme.index("## ")
    # Every page is one link away from the front door.
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


def test_every_command_and_group_is_documented() -> None:
    paths = command_paths(cli)
    assert ("review", "push") in paths and ("build",) in paths  # the walk reaches groups and their commands
    runs = documented_runs(documentation())
    missing = [" ".join(("ftboot", *path)) for path in paths if not mentioned(path, runs)]
    assert not missing, f"commands with no mention in README.md or docs/: {missing}"


def test_the_check_notices_an_undocumented_command() -> None:
    runs = documented_runs("Run `ftboot review push` or\n\n    ftboot labelstudio start\\|stop [--port P]\n")
    assert mentioned(("review", "push"), runs) and mentioned(("labelstudio", "stop"), runs)
    assert not mentioned(("review", "pull"), runs) and not mentioned(("labelstudio",), [["ftboot", "review"]])


def test_every_repository_path_the_docs_name_exists() -> None:
    named = set(REPO_PATH.findall(documentation()))
    assert "scripts/bench_build.py" in named
    assert sorted(path for path in named if not (REPO / path).exists()) == []
