"""A ledger's paths are confined to outputs/: ftboot uploads and then deletes the input file a batches.jsonl line
names, so a line pointing elsewhere is refused (file:line, field, exit 2) and the file it names is left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_batch import FakeBatches
from tests.fakeapi import Fault


def planned_but_not_sent(run, project: Path, batches: FakeBatches) -> list[dict]:
    """A --batch run whose upload failed: the ledger has a `planned` line and its input file in outputs/."""
    batches.chat.api.inject(Fault(status=400, path="/v1/files"))
    assert run("generate", "--backend", "openai", "--mode", "chat", "--n", "16", "--batch").exit_code != 0
    rows = [json.loads(line) for line in (project / "outputs" / "batches.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows] == ["planned"] and (project / rows[0]["input"]).exists()
    return rows


@pytest.mark.parametrize("where", ["absolute", "dotdot", "symlink"])
def test_a_batch_input_outside_outputs_is_refused_and_kept(
    run, project: Path, batches: FakeBatches, tmp_path_factory, where: str
) -> None:
    rows = planned_but_not_sent(run, project, batches)
    outside = (project if where == "dotdot" else tmp_path_factory.mktemp("elsewhere")) / "precious.jsonl"
    (project / rows[0]["input"]).rename(outside)  # a valid input file, so only the path can stop it
    if where == "absolute":
        rows[0]["input"] = str(outside)
    elif where == "dotdot":
        rows[0]["input"] = "outputs/../precious.jsonl"
    else:
        (project / "outputs" / "batches" / "link.jsonl").symlink_to(outside)
        rows[0]["input"] = "outputs/batches/link.jsonl"
    (project / "outputs" / "batches.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    for args in (("generate", "--collect"), ("status",)):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stderr.splitlines()[0] == (
            f"error: outputs/batches.jsonl:1: input: {rows[0]['input']!r} is not a path inside outputs/, "
            "where ftboot reads and deletes only its own files"
        )
    assert outside.exists() and batches.uploads() == []


def test_an_upload_ledger_path_outside_outputs_is_refused(run, project: Path) -> None:
    rows = [
        {
            "event": "file",
            "provider": "openai",
            "endpoint": "https://api.openai.com/v1",
            "role": "train",
            "path": "outputs/train.jsonl",
            "sha256": "0" * 64,
            "file_id": "file-1",
        },
        {
            "event": "file",
            "provider": "openai",
            "endpoint": "https://api.openai.com/v1",
            "role": "train",
            "path": "/etc/passwd",
            "sha256": "1" * 64,
            "file_id": "file-2",
        },
        {"event": "job", "provider": "openai", "endpoint": "https://api.openai.com/v1", "job_id": "ftjob-1"},
    ]
    (project / "outputs" / "uploads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("upload", "--status")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == (
        "error: outputs/uploads.jsonl:2: path: '/etc/passwd' is not a path inside "
        "outputs/, where ftboot reads and deletes only its own files"
    )
