"""The corpus of bad inputs in tests/data/bad/: each gives its one-line file:line error, exit code 2, no
traceback, and leaves every output file as it was."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

BAD = Path(__file__).parent / "data" / "bad"

SEED_CASES = [
    ("broken_json.jsonl", "seeds/broken_json.jsonl:2: invalid JSON"),
    (
        "wrong_role.yaml",
        "seeds/wrong_role.yaml:7: messages[2].role: 'asistant' is not one of system, user, assistant, tool",
    ),
    ("no_assistant.jsonl", "seeds/no_assistant.jsonl:1: messages: no assistant message to learn from"),
    ("broken.yaml", "seeds/broken.yaml:4: invalid YAML: found unexpected document separator"),
    ("wrong_types.jsonl", "seeds/wrong_types.jsonl:1: messages[1].weight: must be an integer (got str)"),
    ("empty.jsonl", "seeds/empty.jsonl: no seeds in this file"),
    ("non_utf8.jsonl", "seeds/non_utf8.jsonl:1: not valid UTF-8 (byte 0xe9"),
    ("unknown_top_key.jsonl", "seeds/unknown_top_key.jsonl:1: metadata: unknown key"),
    ("unknown_short_key.yaml", "seeds/unknown_short_key.yaml:4: notes: unknown key"),
    ("big_line.jsonl", "seeds/big_line.jsonl:1: line is 10.5 MB; one example may be at most 4 MB"),
    ("alias_bomb.yaml", "seeds/alias_bomb.yaml:2: expands to more than 100,000 values"),
    ("python_tag.yaml", "seeds/python_tag.yaml:3: output: tag !!python/object/apply:os.system is not allowed"),
    ("duplicate_key.yaml", "seeds/duplicate_key.yaml:4: input: duplicate key 'input'; a key may appear once"),
    ("duplicate_key.jsonl", "seeds/duplicate_key.jsonl:1: messages[1].content: duplicate key 'content'"),
    ("lone_surrogate.jsonl", "seeds/lone_surrogate.jsonl:1: messages[1].content: holds a lone surrogate escape"),
    ("lone_surrogate.yaml", "seeds/lone_surrogate.yaml:1: input: holds a lone surrogate escape"),
    # made at test time (see _place)
    ("fifo.jsonl", "seeds/fifo.jsonl: is a FIFO, not a regular file"),
    ("dev_zero.jsonl", "seeds/dev_zero.jsonl: is a device, not a regular file"),
    ("directory.jsonl", "seeds/directory.jsonl: is a directory, not a regular file"),
    ("deep.jsonl", "seeds/deep.jsonl:1: nested deeper than 100 levels"),
    ("deep.yaml", "seeds/deep.yaml:1: invalid YAML: nested deeper than 100 levels"),
]


@pytest.fixture
def guarded(project: Path):
    """Outputs from an earlier build that a failing command must not touch."""
    files = {name: f"old {name}\n" for name in ("train.jsonl", "val.jsonl", "report.md", "build-rejected.jsonl")}
    for name, text in files.items():
        (project / "outputs" / name).write_text(text)

    def untouched() -> bool:
        now = sorted(p.name for p in (project / "outputs").iterdir() if p.name != ".lock")  # the lock is no output
        return now == sorted(files) and all((project / "outputs" / n).read_text() == t for n, t in files.items())

    return untouched


def _place(name: str, seeds: Path) -> None:
    target = seeds / name
    if name == "big_line.jsonl":  # 10 MB is generated, not committed
        body = '{"messages": [{"role": "user", "content": "' + "x" * 10_500_000 + '"}]}\n'
        target.write_text(body[:10_500_000] + "\n")
    elif name == "fifo.jsonl":  # reading it would wait for a writer forever
        os.mkfifo(target)
    elif name == "dev_zero.jsonl":  # one endless line of zeros
        target.symlink_to("/dev/zero")
    elif name == "directory.jsonl":
        target.mkdir()
    elif name.startswith("deep."):  # 5,000 levels: RecursionError in a parser that does not bound them
        target.write_text(("a: " if name.endswith(".yaml") else "") + "[" * 5000 + "]" * 5000 + "\n")
    else:
        shutil.copy(BAD / name, target)


@pytest.mark.timeout(60)  # a FIFO or /dev/zero read the old way never returns
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
    ("duplicate_key.jsonl", "duplicate_key.jsonl:1: messages[1].content: duplicate key 'content'"),
    ("lone_surrogate.jsonl", "lone_surrogate.jsonl:1: messages[1].content: holds a lone surrogate escape"),
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


def test_byte_order_mark_is_a_warning_not_an_error(project, run):
    shutil.copy(BAD / "bom.jsonl", project / "seeds" / "bom.jsonl")
    result = run("seeds", "check", "--json")
    assert result.exit_code == 0, result.output
    assert "warning: seeds/bom.jsonl: file starts with a byte-order mark" in result.stderr
    with_bom = json.loads(result.stdout)["seeds"]
    (project / "seeds" / "bom.jsonl").unlink()
    assert json.loads(run("seeds", "check", "--json").stdout)["seeds"] == with_bom - 1  # its seed was read


RECORD = {"id": "abc", "example": {"messages": [{"role": "user", "content": "hi"}]}}
AT = "2026-01-01T00:00:00+00:00"
STAGE_CASES = [
    (
        "candidates.jsonl",
        {"foo": 1},
        ("generate", "--backend", "openai", "--dry-run"),
        "outputs/candidates.jsonl:2: id: is required",
    ),
    (
        "candidates.jsonl",
        [1, 2],
        ("generate", "--backend", "openai", "--dry-run"),
        "outputs/candidates.jsonl:2: must be a JSON object, not an array",
    ),
    (
        "reviewed.jsonl",
        {**RECORD, "example": "text"},
        ("status",),
        "outputs/reviewed.jsonl:2: example: must be a dictionary (got str)",
    ),
    (
        "batches.jsonl",
        {"event": "uploaded", "name": "ftboot-1", "at": AT, "file_id": 5},
        ("status",),
        "outputs/batches.jsonl:2: file_id: must be a string (got int)",
    ),
    (
        "batches.jsonl",
        {
            "event": "planned",
            "name": "ftboot-1",
            "at": AT,
            "plan": {"fingerprint": "f", "endpoint": "e"},
            "ranges": "1-9",
            "count": 9,
            "bytes": 9,
            "sha256": "0",
            "input": "x",
        },
        ("status",),
        "outputs/batches.jsonl:2: ranges: must be a list (got str)",
    ),
    (
        "batches.jsonl",
        {
            "event": "planned",
            "name": "ftboot-1",
            "at": AT,
            "plan": {"fingerprint": "judge", "endpoint": "e"},
            "purpose": "grade",
            "ranges": [],
            "keys": [],
            "count": 0,
            "bytes": 0,
            "sha256": "0",
            "input": "outputs/batches/x.jsonl",
        },
        ("status",),
        "outputs/batches.jsonl:2: purpose: must be 'generate' or 'judge' (got str)",
    ),
    (
        "uploads.jsonl",
        {"event": "job", "provider": "openai"},
        ("upload", "--status"),
        "outputs/uploads.jsonl:2: job_id: is required",
    ),
]


@pytest.mark.parametrize(
    "name, line, command, message", STAGE_CASES, ids=[f"{c[0]}-{c[3].split(': ', 1)[1][:20]}" for c in STAGE_CASES]
)
def test_stage_file_line_of_the_wrong_shape(project, run, name, line, command, message):
    """Valid JSON that is not what the file holds: one located line, exit 2, every output as it was."""
    first = (
        {"event": "abandoned", "name": "ftboot-0", "at": AT} if name in ("batches.jsonl", "uploads.jsonl") else RECORD
    )
    (project / "outputs" / name).write_text(json.dumps(first) + "\n" + json.dumps(line) + "\n")
    outputs = lambda: {p.name: p.read_bytes() for p in (project / "outputs").iterdir() if p.name != ".lock"}  # noqa: E731
    before = outputs()  # the project lock a writing command takes is no output
    result = run(*command)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.stderr
    assert "Traceback" not in result.output
    assert outputs() == before
