"""Property tests of every reader of files a user or an accident can put in a project: seed files (JSONL and YAML),
stage outputs (records) and the batch and upload ledgers. Whatever the bytes, a reader yields values or raises
located `InputError`s (a file, and a line when the problem is in one); never any other exception."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError, InputErrors
from pipeline.jsonl import read_jsonl
from pipeline.project import find_project
from pipeline.schema import read_records

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# JSON values, with the keys and strings seeds and records use, so that some lines get past the parser.
KEYS = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "input",
        "output",
        "system",
        "id",
        "example",
        "kind",
        "provenance",
        "event",
        "name",
        "at",
        "plan",
        "ranges",
        "file_id",
        "job_id",
        "tools",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["user", "assistant", "system", "chat", "planned", "uploaded", "job", "file", "2026-01-01T00:00:00+00:00"]
    )
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=25
)
# Text made of JSON's and YAML's own punctuation: broken nesting, stray escapes, anchors, aliases, tags.
PUNCTUATION = st.text(alphabet="{}[]\",:\\ud800bx9 \n\t-&*!?|>#%@'", max_size=300)


def _json_line(value: object, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


JSON_LINES = st.lists(st.builds(_json_line, VALUES, st.booleans()) | PUNCTUATION, max_size=6).map("\n".join)
SURROGATE_LINES = st.builds(
    lambda key, escape: f'{{"{key}": "a{escape}b"}}',
    KEYS,
    st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\ude00", "\\ud83d\\ude00"]),
)
FILE_BYTES = (
    st.binary(max_size=400)
    | JSON_LINES.map(str.encode)
    | SURROGATE_LINES.map(str.encode)
    | st.builds(lambda depth: ("[" * depth + "]" * depth).encode(), st.integers(0, 3000))
)


def _located(error: InputError, shown: str) -> None:
    assert str(error.where.file) == shown, error.message
    assert error.message.startswith(shown)


def _read_all(read, shown: str) -> list:
    """Everything a reader yields; its InputErrors (the only exception allowed) must be located."""
    try:
        return list(read())
    except InputErrors as errors:
        for error in errors.errors:
            _located(error, shown)
    except InputError as error:
        _located(error, shown)
    return []


@SETTINGS
@given(data=FILE_BYTES, torn=st.booleans())
def test_jsonl_reader_yields_objects_or_located_errors(tmp_path: Path, data: bytes, torn: bool) -> None:
    path = tmp_path / "any.jsonl"
    path.write_bytes(data)
    errors: list[InputError] = []
    rows = list(read_jsonl(path, "any.jsonl", tolerate_torn_tail=torn, on_error=errors.append))
    assert all(isinstance(row, dict) for _, row in rows)
    for _, row in rows:
        json.dumps(row).encode("utf-8")  # nothing that breaks a later write or hash gets through
    for error in errors:
        _located(error, "any.jsonl")
        assert error.where.line is not None


@pytest.fixture
def seeds_project(project: Path):
    for seed in (project / "seeds").iterdir():
        seed.unlink()
    return find_project(project)


@SETTINGS
@given(data=FILE_BYTES, suffix=st.sampled_from([".jsonl", ".yaml"]))
def test_seed_readers_yield_records_or_located_errors(seeds_project, data: bytes, suffix: str) -> None:
    from pipeline.seeds import load_seeds

    path = seeds_project.seeds_dir / f"any{suffix}"
    path.write_bytes(data)
    try:
        records = load_seeds(seeds_project)
    except InputErrors as errors:
        for error in errors.errors:
            _located(error, f"seeds/any{suffix}")
    else:
        for record in records:
            assert record.id and record.provenance["file"] == f"seeds/any{suffix}"
    finally:
        path.unlink()


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=15,
)
YAML_TEXT = (
    st.builds(lambda v: json.dumps(v), YAML_VALUES)
    | PUNCTUATION
    | st.builds(
        lambda n, m: (
            "a: &a [x]\n"
            + "".join(f"a{i + 1}: &a{i + 1} [" + ",".join([f"*a{i}" if i else "*a"] * m) + "]\n" for i in range(n))
        ),
        st.integers(0, 12),
        st.integers(1, 12),
    )
)


@SETTINGS
@given(text=YAML_TEXT)
def test_yaml_seed_text_yields_records_or_located_errors(seeds_project, text: str) -> None:
    """YAML built to be tricky: flow collections from JSON values, punctuation, alias chains of any fan-out."""
    from pipeline.seeds import load_seeds

    path = seeds_project.seeds_dir / "any.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_seeds(seeds_project)
    except InputErrors as errors:
        for error in errors.errors:
            _located(error, "seeds/any.yaml")
    finally:
        path.unlink()


LEDGER_EVENTS = st.fixed_dictionaries(
    {
        "event": st.sampled_from(
            ["planned", "file", "uploaded", "submitted", "status", "collected", "abandoned", "job"]
        ),
        "name": st.text(max_size=5) | st.integers(),
        "at": st.sampled_from(["2026-01-01T00:00:00+00:00", "yesterday", 5]),
    },
    optional={
        "plan": VALUES | st.fixed_dictionaries({"fingerprint": st.text(max_size=3), "endpoint": st.text(max_size=3)}),
        "ranges": VALUES | st.lists(st.lists(st.integers(0, 5), max_size=3), max_size=3),
        "count": VALUES,
        "bytes": VALUES,
        "sha256": VALUES,
        "input": VALUES,
        "file_id": VALUES,
        "job_id": VALUES,
        "status": VALUES,
        "counts": VALUES,
        "failed": VALUES,
        "batch_id": VALUES,
        "provider": VALUES,
        "endpoint": VALUES,
        "fingerprint": VALUES,
    },
)
STAGE_LINES = st.lists(
    LEDGER_EVENTS.map(json.dumps) | st.builds(_json_line, VALUES, st.just(True)) | PUNCTUATION, max_size=5
).map(lambda lines: "\n".join(lines) + "\n")


@SETTINGS
@given(text=STAGE_LINES)
def test_stage_file_readers_yield_rows_or_located_errors(seeds_project, text: str) -> None:
    """candidates.jsonl as records, batches.jsonl and uploads.jsonl as ledgers: any line, a row or a located error."""
    from pipeline.ledgers.batches import BatchLedger
    from pipeline.ledgers.uploads import UploadLedger

    outputs = seeds_project.root / "outputs"
    for name, read in (
        ("candidates.jsonl", lambda p: read_records(p, "outputs/candidates.jsonl")),
        ("batches.jsonl", lambda p: BatchLedger(seeds_project).entries().values()),
        ("uploads.jsonl", lambda p: UploadLedger(seeds_project).rows()),
    ):
        path = outputs / name
        path.write_text(text, encoding="utf-8")
        _read_all(partial(read, path), f"outputs/{name}")
        path.unlink()
