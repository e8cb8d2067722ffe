"""The corpus of bad inputs in tests/data/bad/: each gives its one-line file:line error, exit code 2, no
traceback, and leaves every output file as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BAD = Path(__file__).parent / "data" / "bad"

SEED_CASES = [
    ("broken_json.jsonl", "seeds/broken_json.jsonl:2: invalid JSON"),
    ("wrong_role.yaml", "seeds/wrong_role.yaml:7: messages[2].role: 'asistant' is not one of system, user, assistant, tool"),
    ("no_assistant.jsonl", "seeds/no_assistant.jsonl:1: messages: no assistant message to learn from"),
    ("broken.yaml", "seeds/broken.yaml:4: invalid YAML: found unexpected document separator"),
    ("wrong_types.jsonl", "seeds/wrong_types.jsonl:1: messages[1].weight: must be an integer (got str)"),
    ("empty.jsonl", "seeds/empty.jsonl: no seeds in this file"),
    ("non_utf8.jsonl", "seeds/non_utf8.jsonl:1: not valid UTF-8 (byte 0xe9"),
    ("unknown_top_key.jsonl", "seeds/unknown_top_key.jsonl:1: metadata: unknown key"),
    ("unknown_short_key.yaml", "seeds/unknown_short_key.yaml:4: notes: unknown key"),
    ("big_line.jsonl", "seeds/big_line.jsonl:1: line is 10.5 MB; one example may be at most 4 MB"),
]


@pytest.fixture
def guarded(project: Path):
    """Outputs from an earlier build that a failing command must not touch."""
    files = {name: f"old {name}\n" for name in ("train.jsonl", "val.jsonl", "report.md", "build-rejected.jsonl")}
    for name, text in files.items():
        (project / "outputs" / name).write_text(text)

    def untouched() -> bool:
        now = sorted(p.name for p in (project / "outputs").iterdir())
        return now == sorted(files) and all((project / "outputs" / n).read_text() == t for n, t in files.items())

    return untouched


def _place(name: str, seeds: Path) -> None:
    if name == "big_line.jsonl":  # 10 MB is generated, not committed
        body = '{"messages": [{"role": "user", "content": "' + "x" * 10_500_000 + '"}]}\n'
        (seeds / name).write_text(body[:10_500_000] + "\n")
    else:
        shutil.copy(BAD / name, seeds / name)


@pytest.mark.parametrize("name, message", SEED_CASES, ids=[c[0] for c in SEED_CASES])
@pytest.mark.parametrize("command", [("seeds", "check"), ("build",)])
def test_bad_seed_file(project, run, guarded, name, message, command):
    _place(name, project / "seeds")
    result = run(*command)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.output
    assert guarded()


INPUT_CASES = [
    ("broken_json.jsonl", "broken_json.jsonl:2: invalid JSON"),
    ("wrong_types.jsonl", "wrong_types.jsonl:1: messages[1].weight: must be an integer (got str)"),
    ("empty.jsonl", "empty.jsonl: no examples in this file"),
    ("non_utf8.jsonl", "non_utf8.jsonl:1: not valid UTF-8 (byte 0xe9"),
    ("unknown_top_key.jsonl", "unknown_top_key.jsonl:1: metadata: unknown key"),
]


@pytest.mark.parametrize("name, message", INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_bad_input_file_for_build(project, run, guarded, name, message):
    """`build --input` on the same files: the same located error, the path shown relative to the project."""
    shutil.copy(BAD / name, project / name)
    result = run("build", "--input", str(project / name))
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.stderr
    assert guarded()


def test_unknown_config_key(project, run, guarded):
    shutil.copy(BAD / "unknown_key.toml", project / "ftboot.toml")
    for command in (("seeds", "check"), ("build",), ("status",)):
        result = run(*command)
        assert result.exit_code == 2
        assert "error: ftboot.toml:5: generate.temprature: unknown key" in result.stderr
    assert guarded()


def test_every_error_of_a_run_is_reported(project, run):
    for name in ("wrong_role.yaml", "broken_json.jsonl", "no_assistant.jsonl"):
        shutil.copy(BAD / name, project / "seeds" / name)
    result = run("seeds", "check")
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3


def test_debug_shows_traceback(project, monkeypatch):
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.errors import InputErrors

    shutil.copy(BAD / "wrong_role.yaml", project / "seeds")
    monkeypatch.setenv("FTBOOT_DEBUG", "1")
    result = CliRunner().invoke(cli, ["--project", str(project), "seeds", "check"])
    assert isinstance(result.exception, InputErrors)
