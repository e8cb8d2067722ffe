"""Shared fixtures: a throw-away project directory, the CLI runner, and the local stand-in for paid APIs.

Each stage's heavier fixtures live in their own plugin module, listed in `pytest_plugins`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fakeapi import FakeAPI

REPO = Path(__file__).resolve().parent.parent

pytest_plugins: list[str] = [
    "tests.fake_chat",
    "tests.fake_finetune",
    "tests.fake_batch",
    "tests.fake_fireworks",
    "tests.moto_fixtures",
    "tests.fake_eval",
    "tests.labelstudio_fixtures",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the demo project (ftboot.toml and seeds/) with an empty outputs/."""
    shutil.copy(REPO / "ftboot.toml", tmp_path / "ftboot.toml")
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    (tmp_path / "outputs").mkdir()
    return tmp_path


@pytest.fixture
def run(project: Path):
    """Run an ftboot command on the `project` fixture: run("seeds", "check") → click Result."""
    from pipeline.cli import cli

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--project", str(project), *args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def fakeapi():
    """A started FakeAPI with no routes; API families register theirs (see tests/fake_*.py)."""
    api = FakeAPI().start()
    yield api
    api.stop()
