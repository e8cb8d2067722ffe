"""Bad input to `review pull`: a malformed export, or a reviewed.jsonl / preferences.jsonl line of the wrong shape,
is one located error (file and field, or file:line), exit 2, no traceback, nothing overwritten. A property test
holds the export reader and the settling of tasks to that for any JSON: records or a located InputError."""

from __future__ import annotations

import codecs
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError
from pipeline.labelstudio.tasks import make_task
from pipeline.review.lsexport import read_export
from pipeline.review.pull import PullResult, settle
from pipeline.schema import make_record
from tests.helpers import chat

EXAMPLE = chat("A steel kettle, 1.7 litres.", "A kettle that holds 1.7 litres.")


def export(verdict: str = "accept", text: str = "A corrected kettle text.") -> list[dict[str, Any]]:
    """One task as Label Studio's JSON export has it, with one submitted annotation."""
    task = make_task(make_record(EXAMPLE, {"round": 1, "shots": ["s1", "s2"]}), 1, {})
    annotation = {
        "id": 5,
        "completed_by": 1,
        "was_cancelled": False,
        "lead_time": 3.5,
        "updated_at": "2026-12-01T10:00:00Z",
        "result": [
            {"id": "a", "from_name": "reply_1", "to_name": "dialogue_1", "type": "textarea", "value": {"text": [text]}},
            {
                "id": "b",
                "from_name": "verdict",
                "to_name": "dialogue_1",
                "type": "choices",
                "value": {"choices": [verdict]},
            },
        ],
    }
    return copy.deepcopy(
        [{"id": 41, "project": 3, "data": task["data"], "annotations": [annotation], "predictions": [9]}]
    )


def pull_file(project: Path, run, content: bytes | str | Any, *args: str):
    path = project / "export.json"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode("utf-8"))
    return run("review", "pull", "--from-file", str(path), *args)


def one_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return error


def mutated(change) -> list[dict[str, Any]]:
    tasks = export()
    change(tasks[0])
    return tasks


BAD_EXPORTS = {
    "not a list": ({"tasks": export()}, "export.json: must be a list of tasks (got an object)"),
    "task without data": (mutated(lambda t: t.pop("data")), "export.json: [0].data: is required"),
    "annotations an object": (mutated(lambda t: t.update(annotations={"id": 1})), "export.json: [0].annotations:"),
    "annotation a string": (mutated(lambda t: t.update(annotations=["accept"])), "export.json: [0].annotations[0]:"),
    "value null": (
        mutated(lambda t: t["annotations"][0]["result"][0].update(value=None)),
        "export.json: [0].annotations[0].result[0].value:",
    ),
    "text a number": (
        mutated(lambda t: t["annotations"][0]["result"][0].update(value={"text": 7})),
        "export.json: [0].annotations[0].result[0].value.text:",
    ),
    "id a string": (mutated(lambda t: t.update(id="41")), "export.json: [0].id: must be an integer"),
    "reviewer without email": (
        mutated(lambda t: t["annotations"][0].update(completed_by={"email": 3})),
        "export.json: [0].annotations[0].completed_by.email:",
    ),
    "broken example": (
        mutated(lambda t: t["data"]["example"]["messages"][0].update(role="robot")),
        "export.json: [0].data.example.messages[0].role: 'robot' is not one of",
    ),
    "shots an object": (
        mutated(lambda t: t["data"]["provenance"].update(shots={"a": 1})),
        "export.json: [0].data.provenance.shots:",
    ),
    "NaN": (
        json.dumps(mutated(lambda t: t["annotations"][0].update(lead_time=float("nan")))),
        "export.json: holds the number NaN",
    ),
    "lone surrogate": (
        json.dumps(mutated(lambda t: t["annotations"][0]["result"][0].update(value={"text": ["\ud800"]}))),
        "export.json: [0].annotations[0].result[0].value.text[0]: holds a lone surrogate",
    ),
    "deep": ("[" * 5000 + "]" * 5000, "export.json: nested more than"),
    "not UTF-8": (b"[\xff]", "export.json: not valid UTF-8"),
    "not JSON": ("[{]", "export.json:1: not JSON"),
}


@pytest.mark.parametrize("case", BAD_EXPORTS)
def test_a_malformed_export_is_one_located_error_and_nothing_is_overwritten(project, run, case):
    assert pull_file(project, run, export()).exit_code == 0
    before = (project / "outputs" / "reviewed.jsonl").read_bytes()
    content, expected = BAD_EXPORTS[case]
    error = one_error(pull_file(project, run, content))
    assert error.startswith(f"error: {expected}"), error
    assert (project / "outputs" / "reviewed.jsonl").read_bytes() == before
    assert not (project / "outputs" / "history").exists()


def test_an_export_with_a_byte_order_mark_is_read_and_the_mark_named(project, run):
    result = pull_file(project, run, codecs.BOM_UTF8 + json.dumps(export()).encode("utf-8"))
    assert result.exit_code == 0, result.output
    assert "export.json: file starts with a byte-order mark" in result.stderr
    [row] = [json.loads(line) for line in (project / "outputs" / "reviewed.jsonl").read_text().splitlines()]
    assert row["review"]["verdict"] == "edited" and row["review"]["project_id"] == 3


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        ("reviewed.jsonl", "[1, 2]", "outputs/reviewed.jsonl:2: must be a JSON object"),
        (
            "reviewed.jsonl",
            '{"id": "x", "example": {}, "review": {"verdict": "maybe", "generated_id": "g", "task_id": 1}}',
            "outputs/reviewed.jsonl:2: review.verdict",
        ),
        (
            "reviewed.jsonl",
            '{"id": "x", "example": {}, "review": {"verdict": "accepted", "generated_id": "g"}}',
            "outputs/reviewed.jsonl:2: review.task_id: is required",
        ),
        ("reviewed.jsonl", '{"id": "x", "example": {}}', "outputs/reviewed.jsonl:2: review: is required"),
        (
            "reviewed.jsonl",
            '{"id": "x", "example": {"a": "\\udc00"}, "review": {"verdict": "accepted", '
            '"generated_id": "g", "task_id": 1}}',
            "outputs/reviewed.jsonl:2: example.a: holds a lone",
        ),
        (
            "preferences.jsonl",
            '{"id": "x", "kind": "preference", "example": {}, "provenance": {"task_id": 1}}',
            "outputs/preferences.jsonl:1: provenance.generated_id: is required",
        ),
        (
            "preferences.jsonl",
            '{"id": "x", "kind": "chat", "example": {}, "provenance": {"task_id": 1, "generated_id": "g"}}',
            "outputs/preferences.jsonl:1: kind",
        ),
    ],
)
def test_a_stage_line_of_the_wrong_shape_is_located_and_nothing_is_overwritten(project, run, name, line, expected):
    assert pull_file(project, run, export("reject")).exit_code == 0  # no preferences from a rejection
    path = project / "outputs" / name
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")

    def outputs() -> dict[str, bytes]:  # the project lock, rewritten by each pull, is no output
        return {p.name: p.read_bytes() for p in (project / "outputs").iterdir() if p.is_file() and p.name != ".lock"}

    before = outputs()
    error = one_error(pull_file(project, run, export()))
    assert error.startswith(f"error: {expected}"), error
    assert outputs() == before


# --- any JSON: records or a located error -------------------------------------------------------------------

TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | TEXT
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)
DEEP = st.integers(1, 200).map(lambda n: json.loads("[" * n + "]" * n))


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        out += [p for k, v in value.items() for p in paths(v, (*prefix, k))]
    elif isinstance(value, list):
        out += [p for i, v in enumerate(value) for p in paths(v, (*prefix, i))]
    return out


def replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    value = copy.copy(value)
    value[path[0]] = replace(value[path[0]], path[1:], new)
    return value


@st.composite
def documents(draw) -> bytes:
    """A valid export with up to three parts replaced by any JSON (or deep nesting), as the bytes of a file."""
    doc: Any = export(draw(st.sampled_from(["accept", "reject", "maybe"])))
    for _ in range(draw(st.integers(0, 3))):
        doc = replace(doc, draw(st.sampled_from(paths(doc))), draw(JSON | DEEP))
    deep = draw(st.sampled_from([0, 0, 0, 5000]))  # deeper than json.loads can go
    text = "[" * deep + json.dumps(doc) + "]" * deep
    return (codecs.BOM_UTF8 if draw(st.booleans()) else b"") + text.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_json_export_gives_records_or_a_located_error(raw):
    try:
        tasks = read_export(raw, "export.json")
    except InputError as exc:
        assert exc.message.startswith("export.json"), exc.message
        return
    reviewed, preferences = settle(tasks, {}, PullResult("latest"), lambda t: f"task {t['id']}")
    for row in reviewed + preferences:
        json.dumps(row, ensure_ascii=False, allow_nan=False).encode("utf-8")
