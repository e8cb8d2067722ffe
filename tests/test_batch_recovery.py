"""A `generate --batch` process killed with SIGKILL after the provider did the work but before the answer reached
it (the input file uploaded, or the batch created), then any batch command run again: exactly one batch exists at
the provider, and it is the one the ledger records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fake_batch import FakeBatches
from tests.fakeapi import Fault
from tests.helpers import GENERATE_CHAT, ftboot_argv


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("held", ["/v1/files", "/v1/batches"])
def test_killed_between_the_provider_and_the_ledger(run, project: Path, batches: FakeBatches, held: str) -> None:
    batches.chat.api.inject(Fault(path=held, after=20))  # the work is done, the answer waits
    command = ftboot_argv(
        project,
        *GENERATE_CHAT,
        "--n",
        "16",
        "--batch",
    )
    process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = (lambda: batches.uploads()) if held == "/v1/files" else (lambda: batches.batches)
    deadline = time.monotonic() + 30
    while not done() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, process.communicate()[1].decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    rows = [json.loads(line) for line in (project / "outputs" / "batches.jsonl").read_text().splitlines()]
    assert [r["event"] for r in rows] == ["planned"] + (["uploaded"] if held == "/v1/batches" else [])
    assert len(batches.uploads()) == 1

    status = ok(run("status", "--json"))  # offline, it already counts the planned batch as open
    assert [b["requests"] for b in status["open_batches"]] == [10]
    recovered = ok(run("generate", "--collect", "--json"))["collected"]
    (batch_id,) = batches.batches
    assert len(batches.uploads()) == 1 and len(batches.batches) == 1
    assert recovered["notes"] == [
        f"adopted batch {batch_id} ({rows[0]['name']}), created by a run that stopped before recording it"
        if held == "/v1/batches"
        else f"sent batch {batch_id} ({rows[0]['name']}, 10 requests)"
    ]
    assert [w["batch_id"] for w in recovered["waiting"]] == [batch_id]
    assert not (project / rows[0]["input"]).exists()

    # The recovered batch is the plan's: no new batch for the same --n, and collecting it works as usual.
    assert ok(run(*GENERATE_CHAT, "--n", "16", "--batch", "--json"))["planned"]["requests"] == 0
    while ok(run("generate", "--collect", "--json"))["collected"]["waiting"]:
        pass
    assert len(batches.batches) == 1 and len((project / "outputs" / "candidates.jsonl").read_text().splitlines()) == 20


def test_a_refused_batch_request_is_sent_again_by_the_next_command(run, project: Path, batches: FakeBatches) -> None:
    batches.chat.api.inject(Fault(status=500, path="/v1/batches"))
    failed = run(*GENERATE_CHAT, "--n", "16", "--batch")
    assert failed.exit_code == 1 and "answered 500 during the batch request" in failed.output
    assert batches.batches == {} and len(batches.uploads()) == 1
    listed = [r for r in batches.chat.api.requests("/v1/batches") if r.method == "GET"]
    assert listed  # it looked for a batch that might exist before giving up
    recovered = ok(run("generate", "--collect", "--json"))["collected"]
    (batch_id,) = batches.batches
    assert len(batches.uploads()) == 1 and recovered["notes"][0].startswith(f"sent batch {batch_id}")
