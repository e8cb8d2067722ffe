"""The outputs of one build are one unit: a build that fails or is killed at any point leaves either the old
complete set or a set that `status` and `upload` refuse (never a mixed set that looks current), and the next
build cleans what the killed one left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import varied_examples, write_jsonl

UNIT = ["build-rejected.jsonl", "build.json", "dataset", "report-charts", "report.md", "train.jsonl", "val.jsonl"]

# Run `ftboot build` in a child that SIGKILLs itself just before its (N+1)-th rename into outputs/ itself (the
# manifest is the first such rename, then each staged entry in name order), or with N = -1 once all are done,
# before the staging directory is removed.
KILLER = """
import os, signal, sys
from pathlib import Path

import pipeline.buildset

limit, outputs = int(sys.argv[1]), Path(sys.argv[2]).resolve()
real, done = os.replace, [0]

def replace(src, dst, *args, **kwargs):
    if Path(dst).resolve().parent == outputs:
        if done[0] == limit:
            os.kill(os.getpid(), signal.SIGKILL)
        done[0] += 1
    return real(src, dst, *args, **kwargs)

os.replace = replace
if limit == -1:
    pipeline.buildset._sync = lambda directory: os.kill(os.getpid(), signal.SIGKILL)
from pipeline.cli import cli
cli(sys.argv[3:], prog_name="ftboot")
"""


def snapshot(outputs: Path) -> dict[str, bytes]:
    """Every file of the set, directories included, by path."""
    return {
        p.relative_to(outputs).as_posix(): p.read_bytes()
        for p in sorted(outputs.rglob("*"))
        if p.is_file() and p.name != "build.json" and not p.relative_to(outputs).as_posix().startswith(".")
    }


def leftovers(outputs: Path) -> list[str]:
    return sorted(p.name for p in outputs.iterdir() if p.name.startswith(".") and p.name != ".lock")


def first_build(project: Path, run) -> tuple[Path, dict[str, bytes]]:
    old = write_jsonl(project / "old.jsonl", varied_examples(20))
    assert run("build", "--input", str(old)).exit_code == 0
    assert sorted(p.name for p in (project / "outputs").iterdir() if p.name != ".lock") == UNIT
    return write_jsonl(project / "new.jsonl", varied_examples(30, seed=9)), snapshot(project / "outputs")


def upload_plan(run) -> dict:
    result = run("upload", "--provider", "openai", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_failure_between_writes_leaves_the_old_set(project: Path, run, monkeypatch) -> None:
    new, before = first_build(project, run)
    import pipeline.build.run

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.build.run, "save_dataset", crash)  # train, val and the rejects are already staged
    with pytest.raises(OSError):
        run("build", "--input", str(new))
    assert snapshot(project / "outputs") == before and leftovers(project / "outputs") == []
    assert run("status").exit_code == 0
    assert upload_plan(run)["files"][0]["examples"] == 18


def test_a_failure_mid_swap_is_refused_then_repaired(project: Path, run, monkeypatch) -> None:
    new, _before = first_build(project, run)
    import pipeline.buildset

    real, swapped = pipeline.buildset.os.replace, []

    def fail_fourth(src, dst):
        if Path(dst).parent == project / "outputs":
            swapped.append(dst)
            if (
                len(swapped) == 5
            ):  # the manifest, build-rejected.jsonl, dataset/ and report-charts/ are in; report.md and the rest old
                raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr(pipeline.buildset.os, "replace", fail_fourth)
    with pytest.raises(OSError):
        run("build", "--input", str(new))
    monkeypatch.undo()
    for args in (("status",), ("upload", "--provider", "openai", "--dry-run")):
        result = run(*args)
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [
            f"error: outputs/report.md: differs from build {json.loads((project / 'outputs' / 'build.json').read_text())['build_id']}"
            " (outputs/build.json): these outputs are not one complete build; a build was cut short, or the file was "
            "changed since",
            "hint: rerun `ftboot build`",
        ]
    assert run("build", "--input", str(new)).exit_code == 0
    assert run("status").exit_code == 0 and upload_plan(run)["files"][0]["examples"] == 27


@pytest.mark.parametrize("renames", [0, 1, 4, -1])
def test_sigkill_at_each_step_of_the_swap(project: Path, run, renames: int) -> None:
    """0: killed with everything staged, nothing swapped; 1: the new manifest is in, every file old; 4: the
    manifest, build-rejected.jsonl, dataset/ and report-charts/ are new, report.md, train.jsonl and val.jsonl old
    (the mixed set of the issue); -1: all swapped, the staging directory not yet removed."""
    new, before = first_build(project, run)
    outputs = project / "outputs"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLER,
            str(renames),
            str(outputs),
            "--project",
            str(project),
            "build",
            "--input",
            str(new),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = leftovers(outputs)  # the staging directory a kill leaves, and at 0 the manifest's temporary
    assert [n[:7] for n in left if not n.endswith(".tmp")] == [".build-"] and len(left) == 1 + (renames == 0)

    status, upload = run("status", "--json"), run("upload", "--provider", "openai", "--dry-run", "--json")
    if renames in (1, 4):
        assert status.exit_code == upload.exit_code == 2
        assert "these outputs are not one complete build" in status.stderr and "rerun `ftboot build`" in upload.stderr
    else:
        assert status.exit_code == upload.exit_code == 0, status.stderr + upload.stderr
        train = json.loads(upload.output)["files"][0]["examples"]
        assert (train, json.loads(status.output)["counts"]["train"]) == ((18, 18) if renames == 0 else (27, 27))
        if renames == 0:
            assert snapshot(outputs) == before

    assert run("build", "--input", str(new)).exit_code == 0
    assert leftovers(outputs) == [] and run("status").exit_code == 0


def test_a_changed_file_is_refused(project: Path, run) -> None:
    first_build(project, run)
    (project / "outputs" / "val.jsonl").unlink()
    result = run("upload", "--provider", "openai", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: outputs/val.jsonl: is missing from build ")


def test_leftover_temporaries_of_older_versions_are_cleaned(project: Path, run) -> None:
    outputs = project / "outputs"
    (outputs / ".train.jsonl.abc123.tmp").write_text("half a line")
    (outputs / ".build-20260101-000000-abcdef").mkdir()
    (outputs / ".build-20260101-000000-abcdef" / "train.jsonl").write_text("{}\n")
    first_build(project, run)
    assert leftovers(outputs) == []
