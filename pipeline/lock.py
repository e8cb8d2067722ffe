"""One writer at a time per project: an OS file lock on `outputs/.lock`.

Every command that writes a project's outputs holds the lock while it runs, so two `generate` runs cannot send
the same requests twice and two `review push` runs cannot create the same tasks twice. The lock is `flock` on
an open file, so the kernel drops it when the process ends, however it ends (Ctrl-C, SIGKILL, a crash): a
stale lock cannot exist. The holder writes its pid and command into the file for the message a second
command prints. Which commands write, and the `--wait-lock` option, are the command line's business.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pipeline.errors import RunError

LOCK = ".lock"


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it (it may not have written yet: it takes the lock first)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"`{info['command']}` (pid {info['pid']}, since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another ftboot command"


@contextmanager
def project_lock(outputs: Path, command: str, wait: bool = False) -> Iterator[None]:
    """Hold the project's lock for the block: stop with a RunError naming the holder, or with `wait`, wait."""
    outputs.mkdir(parents=True, exist_ok=True)
    fd = os.open(outputs / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise RunError(
                    f"{_holder(fd)} is writing this project's outputs; {command} did not start",
                    hint="wait for it to finish, or rerun with --wait-lock to wait for it",
                ) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {"pid": os.getpid(), "command": command, "since": datetime.now().strftime("%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor of this open file releases the lock
