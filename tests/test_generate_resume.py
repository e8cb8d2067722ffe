"""A generate process killed with SIGKILL mid-run, then run again: no duplicate candidates, and no request paid
twice except those that were in flight when it died."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO
from tests.fake_chat import KEY, FakeChat
from tests.helpers import GENERATE_CHAT, ftboot_argv

CONCURRENCY = 4


def generate(project: Path, chat: FakeChat) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OPENAI_BASE_URL": chat.api.url, "OPENAI_API_KEY": KEY}
    command = ftboot_argv(
        project,
        *GENERATE_CHAT,
        "--n",
        "200",
        "--concurrency",
        str(CONCURRENCY),
        "--json",
    )
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_mid_run_then_rerun(project: Path, chat: FakeChat) -> None:
    chat.delay = 0.1  # 100 requests, 4 at a time: 2.5 s, time enough to kill it a third of the way
    candidates = project / "outputs" / "candidates.jsonl"
    first = generate(project, chat)
    deadline = time.monotonic() + 60
    while count_lines(candidates) < 60 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = len(chat.bodies())
    assert 0 < count_lines(candidates) < 200

    second = generate(project, chat)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    result = json.loads(out)

    rows = [json.loads(line) for line in candidates.read_text().splitlines()]
    rejected = project / "outputs" / "rejected.jsonl"
    rows_rejected = [json.loads(line) for line in rejected.read_text().splitlines()] if rejected.exists() else []
    assert len(rows) >= 200 and len({r["id"] for r in rows}) == len(rows)
    items = [(r["provenance"]["request"], r["provenance"]["item"]) for r in rows + rows_rejected]
    assert len(items) == len(set(items))

    bodies = [json.dumps(b, sort_keys=True) for b in chat.bodies()]
    paid_twice = len(bodies) - len(set(bodies))
    assert paid_twice <= CONCURRENCY  # only requests in flight at the kill were sent again
    assert result["requests"]["cached"] >= before - CONCURRENCY
    # Every request the server answered gave lines in the files, but for those in flight at the kill that the
    # rerun, done sooner, did not need.
    assert 0 <= len(set(bodies)) - len({key for key, _ in items}) <= CONCURRENCY
