"""Online replies screened in a worker process (`pipeline.generation.screening.Screening`): the same records, in the
same order, as screening in the run's own process; and a script that calls `generate` without a `__main__` guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.generation import filters, modes, screening
from tests.fake_chat import Canned, FakeChat
from tests.helpers import GENERATE_CHAT, ftboot_argv

OPENAI = (*GENERATE_CHAT, "--json")
REPO = Path(__file__).resolve().parent.parent


def _queue_mixed(chat: FakeChat) -> None:
    """Ten good replies (the mode check's), then rejects of every kind, duplicates of earlier replies among them."""
    good = [json.dumps({"examples": [chat.example(), chat.example()]}) for _ in range(12)]
    chat.queue(
        *good[:10],
        Canned(refusal="I can't help with that."),
        good[3],
        Canned(""),
        "No JSON today, sorry.",
        Canned(good[11][:60], "length"),
        good[10],
        good[10],
        '{"examples": [{"messages": []}, 7]}',
    )


def test_worker_screened_replies_are_the_records_screened_here(
    run, project: Path, chat: FakeChat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    where = tmp_path / "screened-by"

    def recording(request, reply, screen, skip=()):
        with where.open("a") as log:
            log.write(f"{os.getpid()}\n")
        return filters.screen_reply(request, reply, screen, skip)

    monkeypatch.setattr(screening, "screen_reply", recording)  # the forked worker inherits it
    _queue_mixed(chat)
    first = run(*OPENAI, "--n", "40", "--concurrency", "1")
    assert first.exit_code == 0, first.output
    pids = where.read_text().split()
    sent = len(chat.bodies())
    assert pids[: modes.FIRST] == [str(os.getpid())] * modes.FIRST  # the mode check's replies: screened here
    assert len(pids) == sent and set(pids[modes.FIRST :]) - {str(os.getpid())}  # the rest: by another process
    outputs = project / "outputs"
    written = {name: (outputs / name).read_text() for name in ("candidates.jsonl", "rejected.jsonl")}
    codes = {json.loads(line)["reason"]["code"] for line in written["rejected.jsonl"].splitlines()}
    assert {"refusal", "duplicate", "empty", "unparseable", "truncated", "schema", "not-an-example"} <= codes

    # The same replies, from the cache, every one screened in this process: byte for byte the same lines. The
    # first run may have sent one more request while deciding that 40 were reached; its lines come last.
    for name in written:
        (outputs / name).unlink()
    monkeypatch.setattr(modes, "FIRST", 10**6)
    again = run(*OPENAI, "--n", "40", "--concurrency", "1")
    assert again.exit_code == 0, again.output
    assert len(chat.bodies()) == sent and json.loads(again.output)["requests"]["cached"] >= sent - 1
    for name, text in written.items():
        replayed = (outputs / name).read_text()
        assert replayed and text.startswith(replayed)
        assert len(text.splitlines()) - len(replayed.splitlines()) <= 2  # one request's items at most


def test_a_script_without_a_main_guard_can_call_generate(project: Path, chat: FakeChat) -> None:
    script = project / "no_guard.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        "from pipeline.generation.online import generate\nfrom pipeline.project import find_project\n"
        "from pipeline.generation.run import Options\n"
        "summary = generate(find_project(Path(sys.argv[1])), Options(backend='openai', mode='chat', n=60, concurrency=4))\n"
        "print('candidates', summary.total)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "candidates",
        str(len((project / "outputs" / "candidates.jsonl").read_text().splitlines())),
    ]
    assert len(chat.bodies()) > modes.FIRST  # replies past the mode check's went to the worker


def test_a_killed_run_leaves_no_worker_holding_the_project_lock(run, project: Path, chat: FakeChat) -> None:
    import signal
    import time

    chat.delay = 0.05
    command = ftboot_argv(
        project,
        *OPENAI,
        "--n",
        "100000",
        "--concurrency",
        "4",
    )
    proc = subprocess.Popen(
        command,
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    candidates = project / "outputs" / "candidates.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not candidates.exists() or len(candidates.read_text().splitlines()) < 40):
        time.sleep(0.1)  # past the mode check's replies: the worker screens
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = lambda pid: Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()  # noqa: E731
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]
    again = run(*OPENAI, "--n", "1")  # the lock is free: the rerun finds the round done
    assert again.exit_code == 0 and "already has" in json.loads(again.output)["stopped"]
