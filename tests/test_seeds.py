"""Seeds: both forms, both file kinds, located messages, warnings."""

from __future__ import annotations

import json

from pipeline.project import find_project
from pipeline.seeds import check_seeds, load_seeds


def test_shipped_seeds_are_clean(run):
    result = run("seeds", "check")
    assert result.exit_code == 0, result.output
    assert "10 seeds OK in 2 file(s)" in result.stdout
    assert "warning" not in result.stderr


def test_short_form_becomes_chat_with_project_system_prompt(project):
    records = load_seeds(find_project(project), [project / "seeds" / "descriptions.yaml"])
    messages = records[0].example["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"].startswith("You write product descriptions")
    assert records[0].provenance == {"source": "seed", "file": "seeds/descriptions.yaml", "line": 6}


def test_short_form_own_system(project):
    seeds = project / "seeds"
    for path in seeds.iterdir():
        path.unlink()
    (seeds / "s.yaml").write_text("- input: a question here\n  output: an answer there\n  system: Be brief.\n")
    [record] = load_seeds(find_project(project))
    assert record.example["messages"][0] == {"role": "system", "content": "Be brief."}


def test_yaml_error_points_at_the_field_line(project, run):
    (project / "seeds" / "x.yaml").write_text(
        "input: one\noutput: two\n---\nmessages:\n  - role: user\n    content: hi\n  - role: assistant\n    content: 42\n"
    )
    result = run("seeds", "check")
    assert "error: seeds/x.yaml:8: messages[1].content: must be a string or list (got int)" in result.stderr


def test_warnings(project, run):
    seeds = project / "seeds"
    for path in seeds.iterdir():
        path.unlink()
    row = {
        "messages": [
            {"role": "user", "content": "Describe the blue lamp with a brass base and a linen shade"},
            {"role": "assistant", "content": "A blue lamp on a brass base, softened by a linen shade."},
        ]
    }
    near = json.loads(json.dumps(row))
    near["messages"][1]["content"] += " Lovely."
    (seeds / "s.jsonl").write_text("\n".join(json.dumps(r) for r in (row, row, near)) + "\n")
    (project / "ftboot.toml").write_text('[task]\ndescription = "Describe products."\n')
    result = run("seeds", "check")
    assert result.exit_code == 0, result.output
    assert "only 3 seeds" in result.stderr
    assert "seeds/s.jsonl:2 is an exact duplicate of seeds/s.jsonl:1" in result.stderr
    assert "seeds/s.jsonl:3 is a near" in result.stderr
    assert "3 seeds have no system message" in result.stderr


def test_check_named_paths_only(project):
    result = check_seeds(find_project(project), [project / "seeds" / "descriptions.jsonl"])
    assert len(result.records) == 4 and result.files == ["seeds/descriptions.jsonl"]
