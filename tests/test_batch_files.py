"""Batch files for engines ftboot does not call: `batch write` writes the online requests as a Batch API input file
(no key, no network, split at the limits), `batch read` takes in an output file produced elsewhere through the
online filters, and taking it in twice adds nothing twice. The hidden `generate --batch-file` and
`--collect-file` flags of the last release do the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.generation.batch import files as batch_files
from pipeline.generation.run import Options, RunSettings
from pipeline.project import find_project
from tests.fake_chat import FakeChat
from tests.fakeapi import FakeAPI, Request

COMPLETION = ("generate", "--backend", "openai", "--mode", "completion")
SPELLINGS = {  # the batch commands, and the generate flags they replace
    "commands": {
        "write": lambda path: ("batch", "write", path, *COMPLETION[1:]),
        "read": lambda path: ("batch", "read", path, *COMPLETION[1:]),
    },
    "flags": {
        "write": lambda path: (*COMPLETION, "--batch-file", path),
        "read": lambda path: (*COMPLETION, "--collect-file", path),
    },
}


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_elsewhere(requests: Path, results: Path, fail: set[int] = frozenset()) -> None:
    """What `vllm run-batch` does with the file: one result line per request, some of them failed."""
    engine = FakeChat(FakeAPI())
    out = []
    for number, line in enumerate(lines(requests)):
        status, body = engine._completion(Request("POST", line["url"], {}, json.dumps(line["body"]).encode()))
        if number in fail:
            status, body = 400, {"error": {"message": "prompt too long", "type": "BadRequestError"}}
        out.append(
            {
                "id": f"vllm-{number}",
                "custom_id": line["custom_id"],
                "response": {"status_code": status, "request_id": f"vllm-batch-{number}", "body": body},
                "error": None,
            }
        )
    results.write_text("".join(json.dumps(row) + "\n" for row in out))


@pytest.mark.parametrize("spell", list(SPELLINGS.values()), ids=list(SPELLINGS))
def test_batch_file_then_collect_file(
    run, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spell: dict
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # writing a file needs no key
    requests = tmp_path / "requests.jsonl"
    written = ok(run(*spell["write"](str(requests)), "--n", "16", "--json"))["planned"]
    assert written["requests"] == 10 and [project / f["path"] for f in written["files"]] == [requests]
    stage = RunSettings(find_project(project), Options(backend="openai", mode="completion"))
    assert lines(requests) == [
        {
            "custom_id": stage.planner.request(i).key,
            "method": "POST",
            "url": "/v1/completions",
            "body": stage.planner.request(i).body(),
        }
        for i in range(10)
    ]
    assert ok(run("status", "--json"))["open_batches"] == []  # a file is nobody's open batch

    results = tmp_path / "results.jsonl"
    run_elsewhere(requests, results, fail={3})
    taken = ok(run(*spell["read"](str(results)), "--json"))["collected"]
    (file,) = taken["batches"]
    assert (file["answered"], file["failed"], file["unmatched"], taken["accepted"]) == (9, {"400": 1}, 0, 18)
    assert ok(run(*spell["read"](str(results)), "--json"))["collected"]["accepted"] == 0
    candidates = lines(project / "outputs" / "candidates.jsonl")
    assert len(candidates) == 18 and len({c["id"] for c in candidates}) == 18
    assert {c["provenance"]["mode"] for c in candidates} == {"completion"}

    # A file for a higher --n holds the failed request and new ones, none of those answered.
    again = tmp_path / "again.jsonl"
    assert ok(run(*spell["write"](str(again)), "--n", "16", "--json"))["planned"]["requests"] == 0
    ok(run(*spell["write"](str(again)), "--n", "30", "--json"))  # 12 more at 0.8 x 2: 8 requests
    assert [line["custom_id"] for line in lines(again)] == [stage.planner.request(i).key for i in (3, *range(10, 17))]
    other_mode = ok(run("generate", "--backend", "openai", "--mode", "chat", "--collect-file", str(results), "--json"))
    assert (
        other_mode["collected"]["batches"][0]["unmatched"] == 10
        and "were --model" in other_mode["collected"]["notes"][0]
    )


def test_collect_file_reports_a_bad_line(run, project: Path, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text('{"custom_id": "a", "response": null, "error": {"code": "x", "message": "y"}}\n{"no": "id"}\n')
    for spell in SPELLINGS.values():
        result = run(*spell["read"](str(results)))
        assert result.exit_code == 2 and "results.jsonl:2: not a batch result line" in result.output
    assert not (project / "outputs" / "candidates.jsonl").exists()


def test_parts_split_at_the_line_and_byte_limits(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = RunSettings(find_project(project), Options(backend="openai", mode="chat"))
    requests = [(i, stage.planner.request(i)) for i in (0, 1, 2, 5, 6, 9, 10)]
    size = max(len(batch_files.input_line(r)) for _, r in requests)
    monkeypatch.setattr(batch_files, "MAX_LINES", 3)
    monkeypatch.setattr(batch_files, "MAX_BYTES", 2 * size + 1)  # two lines fit, three do not
    parts = batch_files.write_parts(iter(requests), lambda n: tmp_path / "parts" / f"part-{n}.jsonl")
    assert [(p.count, p.ranges) for p in parts] == [
        (2, [[0, 1]]),
        (2, [[2, 2], [5, 5]]),
        (2, [[6, 6], [9, 9]]),
        (1, [[10, 10]]),
    ]
    for part in parts:
        data = part.path.read_bytes()
        assert len(data) == part.bytes <= 2 * size + 1 and data.count(b"\n") == part.count
        assert batch_files.hashlib.sha256(data).hexdigest() == part.sha256
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        f"part-{n}.jsonl" for n in range(4)
    ]  # no temporaries


def test_worker_processes_write_what_one_process_writes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli
    from pipeline.generation.batch import collect

    def invoke(root: Path, *args: str) -> dict:
        return ok(CliRunner().invoke(cli, ["--project", str(root), *args, "--json"], catch_exceptions=False))

    twin = tmp_path.parent / f"{tmp_path.name}-twin"
    shutil.copytree(project, twin)
    requests, results = twin / "requests.jsonl", twin / "results.jsonl"
    invoke(twin, *COMPLETION, "--n", "40", "--batch-file", str(requests))
    run_elsewhere(requests, results, fail={4})
    rows = lines(results)  # a line that repeats an earlier one: the order of deciding shows
    rows[7]["response"]["body"]["choices"][0]["text"] = rows[2]["response"]["body"]["choices"][0]["text"]
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    shutil.copytree(twin / "outputs", project / "outputs", dirs_exist_ok=True)
    single = invoke(twin, *COMPLETION, "--collect-file", str(results))["collected"]
    monkeypatch.setattr(collect, "PARALLEL_FROM", 1)
    monkeypatch.setattr(collect, "BLOCK", 4)
    parallel = invoke(project, *COMPLETION, "--collect-file", str(results))["collected"]
    assert parallel == single and single["rejected_by_reason"] == {"duplicate": 2} and single["failed"] == 1
    for name in ("candidates.jsonl", "rejected.jsonl", "cache/replies.jsonl"):
        assert (project / "outputs" / name).read_bytes() == (twin / "outputs" / name).read_bytes()
