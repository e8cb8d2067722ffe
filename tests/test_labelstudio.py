"""The Label Studio adapter (labeling config, tasks, annotations read back) and `ftboot labelstudio`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from urllib.parse import urlparse

from pipeline.labelstudio import view
from pipeline.labelstudio.tasks import (
    MODEL_VERSION,
    config_slots,
    editable_turns,
    is_skipped,
    labeling_config,
    make_task,
    read_annotations,
)
from pipeline.schema import make_record
from tests.labelstudio_fixtures import ftboot_labelstudio, server_env

TOOLS = {
    "messages": [
        {"role": "system", "content": "You answer shop questions."},
        {"role": "user", "content": "Is the Alder bottle in stock?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "stock", "arguments": '{"sku": "alder"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"in_stock": 12}'},
        {"role": "assistant", "content": "Yes, 12 are in stock."},
        {"role": "user", "content": "And in blue?"},
        {"role": "assistant", "content": "Blue is sold out."},
    ]
}


def task(example, slots=3, provenance=None):
    return make_task(make_record(example, provenance or {"round": 2}), slots, {})


def test_config_has_one_slot_per_turn_and_the_required_choice():
    config = labeling_config(3)
    assert config_slots(config) == 3
    assert config.count('layout="dialogue" nameKey="role" textKey="content"') == 4  # three turns and the seed
    assert re.search(r'<Choices name="verdict"[^>]*required="true"', config)
    assert "HyperText" not in config and "<Text " not in config  # text is never rendered as HTML


def test_tool_calls_are_shown_and_only_text_turns_are_editable():
    t = task(TOOLS)
    assert editable_turns(TOOLS) == [4, 6]
    result = t["predictions"][0]["result"]
    assert [(r["from_name"], r["value"]["text"]) for r in result] == [
        ("reply_1", ["Yes, 12 are in stock."]),
        ("reply_2", ["Blue is sold out."]),
    ]
    assert t["predictions"][0]["model_version"] == MODEL_VERSION
    data = t["data"]
    assert [m["role"] for m in data["dialogue_1"]] == ["system", "user", "assistant", "tool"]
    assert data["dialogue_1"][2]["content"] == '→ stock({"sku": "alder"})'
    assert data["dialogue_2"] == [{"role": "user", "content": "And in blue?"}]
    assert data["title_3"].startswith("This conversation has no assistant turn 3")
    # Label Studio's editor breaks on an empty dialogue: every one has a line
    assert all(data[k] for k in ("dialogue_1", "dialogue_2", "dialogue_3", "seed"))
    assert data["example"] == TOOLS and data["turns"] == 2 and data["info"].startswith("Generated: round 2")


def test_the_task_list_has_short_scannable_columns_and_numbers_to_sort_by():
    long_answer = "Blue is sold out. " * 20
    example = {"messages": [*TOOLS["messages"][:-1], {"role": "assistant", "content": long_answer}]}
    data = task(
        example, provenance={"round": 2, "nearest_seed": "s1", "nearest_seed_similarity": 0.734, "judge_score": 4}
    )["data"]
    assert data["request"] == "Is the Alder bottle in stock?"  # the request before the first editable turn
    assert data["answer"] == "Yes, 12 are in stock."
    assert (data["round"], data["similarity"], data["judge"]) == (2, 0.734, 4)
    single = task(
        {
            "messages": [
                {"role": "user", "content": "Product:\n- a\n- b"},
                {"role": "assistant", "content": long_answer},
            ]
        },
        provenance={"source": "seed"},
    )["data"]
    assert single["request"] == "Product: - a - b" and len(single["answer"]) == view.SHORT
    assert single["answer"].endswith("…") and (single["round"], single["similarity"], single["judge"]) == (None,) * 3


def raw_task(annotations):
    example = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    return {"id": 7, "data": {"example": example, "candidate_id": "c"}, "annotations": annotations}


def test_annotations_read_back_whatever_extra_keys_they_carry():
    annotations = [
        {
            "id": 2,
            "completed_by": 5,
            "was_cancelled": False,
            "lead_time": 4.0,
            "updated_at": "2026-01-02T00:00:00Z",
            "result": [
                {
                    "id": "x",
                    "origin": "prediction-changed",
                    "from_name": "reply_1",
                    "to_name": "dialogue_1",
                    "type": "textarea",
                    "value": {"text": ["first line", "second line"]},
                },
                {"id": "y", "origin": "manual", "from_name": "verdict", "value": {"choices": ["accept"]}},
                {"from_name": "notes", "value": {"text": [" ok "]}},
            ],
        },
        {
            "id": 1,
            "completed_by": {"id": 6, "email": "ben@example.com"},
            "updated_at": "2026-01-01T00:00:00Z",
            "result": [{"from_name": "verdict", "value": {"choices": ["reject"]}}],
        },
        {"id": 3, "completed_by": 5, "was_cancelled": True, "result": [], "updated_at": "2026-01-03T00:00:00Z"},
    ]
    first, second = read_annotations(raw_task(annotations), {5: "ana@example.com"})
    assert (first.id, first.reviewer, first.verdict, first.replies) == (1, "ben@example.com", "reject", {})
    assert (second.reviewer, second.replies, second.notes, second.lead_time) == (
        "ana@example.com",
        {1: "first line\nsecond line"},
        "ok",
        4.0,
    )
    assert is_skipped(raw_task(annotations))


def test_start_on_a_running_server_prints_the_same_lines_and_listens_on_loopback_only(labelstudio):
    again = ftboot_labelstudio("start", labelstudio.env)
    assert again.returncode == 0
    assert again.stdout.strip().splitlines()[-2:] == [
        f"LABEL_STUDIO_URL={labelstudio.url}",
        f"LABEL_STUDIO_API_KEY={labelstudio.api_key}",
    ]
    status = ftboot_labelstudio("status", labelstudio.env)
    assert status.returncode == 0 and f"LABEL_STUDIO_URL={labelstudio.url}" in status.stdout
    assert urlparse(labelstudio.url).hostname == "127.0.0.1"
    log = (labelstudio.state / "server.log").read_text(encoding="utf-8")
    assert f"Starting development server at {labelstudio.url}/" in log
    assert labelstudio.api_key not in log
    pid = (labelstudio.state / "server.pid").read_text().strip()
    command_line = subprocess.run(["ps", "-ww", "-o", "args=", "-p", pid], capture_output=True, text=True).stdout
    assert "--internal-host 127.0.0.1" in command_line and labelstudio.api_key not in command_line
    assert oct(os.stat(labelstudio.state / "credentials").st_mode)[-3:] == "600"


def test_the_data_dir_is_private_and_an_existing_loose_one_is_tightened(labelstudio):
    state = labelstudio.state
    data, database = state / "data", state / "data" / "label_studio.sqlite3"

    def modes() -> tuple[str, ...]:
        return tuple(oct(os.stat(p).st_mode)[-3:] for p in (state, data, database))

    assert modes()[1:] == ("700", "600")  # made private by the start that created them
    for path, loose in ((state, 0o755), (data, 0o755), (database, 0o644)):
        path.chmod(loose)  # as an older version of the script left them
    assert ftboot_labelstudio("start", labelstudio.env).returncode == 0
    assert modes() == ("700", "700", "600")


def test_status_of_a_stopped_server(tmp_path):
    result = ftboot_labelstudio("status", server_env(LABEL_STUDIO_DATA_DIR=str(tmp_path / "none")))
    assert result.returncode == 3 and "not running" in result.stderr


def test_push_reports_a_broken_candidate_line_and_touches_nothing(project, run, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    good = make_record({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, {})
    (project / "outputs" / "candidates.jsonl").write_text(
        json.dumps(good.model_dump()) + "\n" + json.dumps({**good.model_dump(), "example": {"messages": []}}) + "\n"
    )
    result = run("review", "push", "--to-file", str(project / "tasks.json"))
    assert result.exit_code == 2
    assert (
        result.stderr.strip().splitlines()[0]
        == "error: outputs/candidates.jsonl:2: example.messages: must not be empty"
    )
    assert not (project / "tasks.json").exists()
    (project / "outputs" / "candidates.jsonl").unlink()
    result = run("review", "push")
    assert result.exit_code == 2 and "no outputs/candidates.jsonl yet" in result.stderr
