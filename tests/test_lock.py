"""One writer at a time: two real `generate` processes on one project against the local chat server, the second
stopped with the first's pid (or waiting with --wait-lock), every request sent once; the lock gone with a
SIGKILLed holder; and every writing command wrapped, every read-only one not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.cli import Writes, cli
from pipeline.lock import project_lock
from tests.conftest import REPO
from tests.fake_chat import KEY, FakeChat
from tests.helpers import GENERATE_CHAT, ftboot_argv


def generate(project: Path, chat: FakeChat, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OPENAI_BASE_URL": chat.api.url, "OPENAI_API_KEY": KEY}
    command = ftboot_argv(
        project,
        *GENERATE_CHAT,
        "--n",
        "40",
        "--concurrency",
        "2",
        "--json",
        *extra,
    )
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started(process: subprocess.Popen[str], chat: FakeChat) -> None:
    """Wait until the first process is sending requests, so it surely holds the lock."""
    deadline = time.monotonic() + 60
    while not chat.bodies() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.02)


def waiting_for_lock(pid: int) -> bool:
    """Whether the process is blocked on a file lock (a `->` line of /proc/locks names the waiters)."""
    return any(
        line.split()[1] == "->" and line.split()[5] == str(pid) for line in Path("/proc/locks").read_text().splitlines()
    )


def test_second_generate_stops_naming_the_first(project: Path, chat: FakeChat) -> None:
    chat.delay = 2.0  # slow answers keep the first running however long the second takes to start
    first = generate(project, chat)
    started(first, chat)
    second = generate(project, chat)
    _out, err = second.communicate(timeout=60)
    chat.delay = 0.0
    assert second.returncode == 1, err
    lines = err.splitlines()
    assert lines[0] == (
        f"error: `ftboot generate` (pid {first.pid}, since {lines[0].split('since ')[1][:8]}) is writing "
        "this project's outputs; ftboot generate did not start"
    )
    assert lines[1] == "hint: wait for it to finish, or rerun with --wait-lock to wait for it" and len(lines) == 2
    summary = json.loads(first.communicate(timeout=60)[0])
    assert first.returncode == 0
    bodies = [json.dumps(b, sort_keys=True) for b in chat.bodies()]
    assert len(bodies) == summary["requests"]["sent"] == len(set(bodies))  # each request sent once, by the first
    ids = [json.loads(line)["id"] for line in (project / "outputs" / "candidates.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == summary["candidates"]


def test_wait_lock_waits_then_finds_the_work_done(project: Path, chat: FakeChat) -> None:
    chat.delay = 2.0
    first = generate(project, chat)
    started(first, chat)
    second = generate(project, chat, "--wait-lock")
    deadline = time.monotonic() + 60
    while not waiting_for_lock(second.pid) and time.monotonic() < deadline:
        assert first.poll() is None and second.poll() is None
        time.sleep(0.05)
    assert waiting_for_lock(second.pid)  # it reached the lock while the first held it
    chat.delay = 0.0
    first_summary = json.loads(first.communicate(timeout=60)[0])
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    second_summary = json.loads(out)
    assert second_summary["requests"]["sent"] == 0 and second_summary["candidates"] == first_summary["candidates"]
    assert len(chat.bodies()) == first_summary["requests"]["sent"]


def test_a_killed_holder_leaves_no_lock(project: Path, chat: FakeChat) -> None:
    chat.delay = 0.1
    first = generate(project, chat)
    started(first, chat)
    first.send_signal(signal.SIGKILL)
    first.wait()
    resumed = generate(project, chat)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert json.loads(out)["candidates"] >= 40


WRITING = [
    ("generate",),
    ("review", "push"),
    ("review", "pull"),
    ("build",),
    ("upload",),
    ("judge",),
    *(("batch", name) for name in ("send", "collect", "resubmit", "write", "read")),
]
READING = [("status",), ("seeds", "check"), ("init",)]


def command(path: tuple[str, ...]):
    found = cli
    for name in path:
        found = found.commands[name]  # type: ignore[attr-defined]
    return found


def test_writing_commands_are_wrapped_and_reading_ones_are_not() -> None:
    assert all(isinstance(command(p), Writes) for p in WRITING)
    assert not any(isinstance(command(p), Writes) for p in READING)


@pytest.mark.parametrize(
    "args",
    [
        ("build",),
        ("review", "push"),
        ("review", "pull"),
        ("upload",),
        ("generate", "--collect"),
        ("generate", "--batch-file", "x.jsonl"),
        ("batch", "collect"),
        ("batch", "write", "x.jsonl"),
    ],
)
def test_a_held_lock_stops_each_writing_command(project: Path, run, args: tuple[str, ...]) -> None:
    # A second open of the lock file conflicts with this one, as another process's would.
    with project_lock(project / "outputs", "ftboot test"):
        result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: `ftboot test` (pid {os.getpid()}, since ")


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("seeds", "check"),
        ("upload", "--dry-run"),
        ("generate", "--dry-run"),
        ("generate", "--batch", "--dry-run"),
        ("batch", "send", "--dry-run"),
    ],
)
def test_read_only_commands_take_no_lock(project: Path, run, args: tuple[str, ...]) -> None:
    with project_lock(project / "outputs", "ftboot test"):
        result = run(*args)
    assert "is writing this project's outputs" not in result.output + result.stderr
