"""The bundled local model, for real: llama.cpp serving the Gemma 3 270M GGUF, through the same client path.

A handful of requests in completion mode; the model is weak, so the test asserts that every reply is accounted
for (a candidate or a rejection with its reason), not that it writes well. It also checks that the server is
stopped afterwards.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fake_chat import edit_config

pytestmark = pytest.mark.local_model


def server_processes(port: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "llama_cpp.server" in text and f"--port {port} " in text:
            found.append(text)
    return found


def test_local_model_end_to_end(run, project: Path) -> None:
    edit_config(project, "generate", per_request=2, max_output_tokens=240)
    result = run("generate", "--backend", "local", "--mode", "completion", "--n", "2", "--max-requests", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert 1 <= summary["requests"]["sent"] <= 2 and summary["tokens"]["completion"] > 0
    assert summary["model"] == "gemma-3-270m-q4_k_m.gguf" and summary["endpoint"] == "local"
    outputs = project / "outputs"
    rows = [
        json.loads(line)
        for name in ("candidates.jsonl", "rejected.jsonl")
        if (outputs / name).exists()
        for line in (outputs / name).read_text().splitlines()
    ]
    assert len({r["provenance"]["request"] for r in rows}) == summary["requests"]["sent"]
    assert len(rows) == summary["accepted"] + summary["rejected"] >= summary["requests"]["sent"]
    assert all(r["provenance"]["model"] == "gemma-3-270m-q4_k_m.gguf" for r in rows)
    assert all("reason" in r for r in rows if "nearest_seed" not in r["provenance"])
    port = re.search(r"127\.0\.0\.1:(\d+)", (outputs / "cache" / "local-server.log").read_text()).group(1)
    assert server_processes(port) == []


def test_a_missing_model_file_is_bad_input(run, project: Path) -> None:
    result = run("generate", "--backend", "local", "--model", "models/nope.gguf", "--n", "2")
    assert result.exit_code == 2 and "no model file at" in result.output
