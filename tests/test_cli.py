"""The command line as a whole: help with examples for every command, fast start, exit codes, init and status.
(That every command is documented is checked in tests/test_docs.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pipeline.cli import cli

REPO = Path(__file__).resolve().parent.parent


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found += all_commands(command, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"`ftboot {' '.join(path)} --help` shows no example"


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from click.testing import CliRunner; from pipeline.cli import cli; "
        "CliRunner().invoke(cli, ['--help']); "
        "print(sorted(m for m in ('datasets', 'openai', 'label_studio_sdk', 'rich', 'pydantic', 'datasketch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m(project):
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--project", str(project), "status", "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"]["seeds"] == 10


def test_usage_error_is_exit_2(run):
    result = CliRunner().invoke(cli, ["build", "--format", "xml"])
    assert result.exit_code == 2


def test_not_a_project(tmp_path):
    result = CliRunner().invoke(cli, ["--project", str(tmp_path), "status"])
    assert result.exit_code == 2
    assert "is not an ftboot project" in result.stderr and "ftboot init" in result.stderr


def test_init_scaffolds_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "new"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0
    assert (target / "ftboot.toml").exists() and (target / "seeds" / "example.yaml").exists()
    assert (target / "outputs").is_dir()
    check = CliRunner().invoke(cli, ["--project", str(target), "seeds", "check"])
    assert check.exit_code == 0, check.output
    (target / "seeds" / "example.yaml").write_text("mine")
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert (target / "seeds" / "example.yaml").read_text() == "mine"


def test_init_template_states_the_defaults():
    """The commented ftboot.toml that init writes shows the real defaults."""
    import tomllib

    from pipeline.config import Config

    written = tomllib.loads((REPO / "pipeline" / "templates" / "ftboot.toml").read_text())
    defaults = Config().model_dump()
    for section, values in written.items():
        for key, value in values.items():
            assert defaults[section][key] == value or section == "task", f"{section}.{key}"


def test_status_counts_and_next_step(project, run):
    from tests.helpers import varied_examples, write_jsonl

    result = run("status", "--json")
    data = json.loads(result.stdout)
    assert data["counts"]["seeds"] == 10 and data["counts"]["train"] == 0
    assert "ftboot generate" in data["next"]
    assert "may serve better than fine-tuning" in data["advice"]
    write_jsonl(project / "in.jsonl", varied_examples(80))
    run("build", "--input", str(project / "in.jsonl"))
    data = json.loads(run("status", "--json").stdout)
    assert data["counts"]["train"] + data["counts"]["val"] == 80
    assert "upload" in data["next"] and "gains usually start to show" in data["advice"]
    text = run("status").stdout
    assert "next: " in text


def test_status_sees_a_stale_build(project, run):
    import os
    import time

    from tests.helpers import varied_examples, write_jsonl

    write_jsonl(project / "in.jsonl", varied_examples(20))
    run("build", "--input", str(project / "in.jsonl"))
    later = time.time() + 5
    os.utime(project / "seeds" / "descriptions.yaml", (later, later))
    data = json.loads(run("status", "--json").stdout)
    assert data["next"] == "`ftboot build`"
    assert any("older than" in note for note in data["notes"])


def test_status_reports_the_eval_stage_and_when_to_run_it(project, run):
    from tests.helpers import varied_examples, write_jsonl

    write_jsonl(project / "in.jsonl", varied_examples(80))
    run("build", "--input", str(project / "in.jsonl"))
    with open(project / "ftboot.toml", "a") as handle:
        handle.write('\n[eval.systems.few-shot]\nmodel = "gpt-4.1-mini"\nshots = 3\n')
    write_jsonl(project / "outputs" / "test.jsonl", varied_examples(3, seed=9))
    data = json.loads(run("status", "--json").stdout)
    assert data["counts"]["test"] == 3 and data["eval"] is None
    assert "eval: not run yet; 3 test items in outputs/test.jsonl" in data["notes"]
    assert data["next"].startswith("`ftboot eval` to see whether prompting is already good enough")

    evals = project / "outputs" / "eval"
    evals.mkdir()
    (evals / "eval.md").write_text(
        "# Eval\n\n## Verdict\n\nthe few-shot prompt is as good (within the intervals): keep prompting\n"
    )
    (evals / "eval.json").write_text(json.dumps({"systems": {"few-shot": {"model": "gpt-4.1-mini"}}}))
    text = run("status").stdout
    assert (
        "eval: outputs/eval/eval.md; verdict: the few-shot prompt is as good (within the intervals): keep prompting"
        in text
    )
    assert "next: `ftboot upload --dry-run`" in text

    with open(project / "outputs" / "uploads.jsonl", "a") as handle:
        handle.write(
            json.dumps(
                {
                    "event": "status",
                    "provider": "openai",
                    "job_id": "ftjob-1",
                    "status": "succeeded",
                    "fine_tuned_model": "ft:gpt-4.1-mini:acme::x1",
                }
            )
            + "\n"
        )
    data = json.loads(run("status", "--json").stdout)
    assert data["next"] == "`ftboot eval` to see whether the fine-tuned ft:gpt-4.1-mini:acme::x1 beats prompting"
    (evals / "eval.json").write_text(
        json.dumps(
            {"systems": {"few-shot": {"model": "gpt-4.1-mini"}, "fine-tuned": {"model": "ft:gpt-4.1-mini:acme::x1"}}}
        )
    )
    data = json.loads(run("status", "--json").stdout)
    assert data["next"].startswith("read the verdict in outputs/eval/eval.md")
    assert data["eval"]["verdict"].endswith("keep prompting") and not data["eval"]["stale"]
