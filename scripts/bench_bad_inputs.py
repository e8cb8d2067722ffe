#!/usr/bin/env python3
"""Time `ftboot seeds check` on each hostile seed file (alias bomb, FIFO, link to /dev/zero, directory, 5,000-deep
nesting, a 10 MB line) to show each ends in its located error within a second and small memory.

Each case runs `python -m pipeline seeds check` in a fresh process on a throw-away copy of the demo project; the
figures include start-up (printed separately, from a run on the clean project). Run:
.venv/bin/python scripts/bench_bad_inputs.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "data" / "bad"


def place(name: str, seeds: Path) -> None:
    target = seeds / name
    if name == "fifo.jsonl":
        os.mkfifo(target)
    elif name == "dev_zero.jsonl":
        target.symlink_to("/dev/zero")
    elif name == "directory.jsonl":
        target.mkdir()
    elif name.startswith("deep."):
        target.write_text(("a: " if name.endswith(".yaml") else "") + "[" * 5000 + "]" * 5000 + "\n")
    elif name == "big_line.jsonl":
        target.write_text('{"a": "' + "x" * 10_500_000 + '"}\n')
    elif name:
        shutil.copy(BAD / name, target)


def run(name: str) -> tuple[float, float, int, str]:
    """(seconds, peak MB, exit code, first error line) of `seeds check` with one hostile seed added."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "ftboot.toml", root / "ftboot.toml")
        shutil.copytree(REPO / "seeds", root / "seeds")
        place(name, root / "seeds")
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--project", str(root), "seeds", "check"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, status, usage = os.wait4(child.pid, 0)  # the child's own rusage: its peak memory alone
        seconds = time.perf_counter() - start
        stderr = child.stderr.read() if child.stderr else ""
        code = os.waitstatus_to_exitcode(status)
        first = next((line for line in stderr.splitlines() if line.startswith("error")), "")
        return seconds, usage.ru_maxrss / 1024, code, first[:90]


def main() -> None:
    cases = [
        "",
        "alias_bomb.yaml",
        "python_tag.yaml",
        "fifo.jsonl",
        "dev_zero.jsonl",
        "directory.jsonl",
        "deep.jsonl",
        "deep.yaml",
        "big_line.jsonl",
        "duplicate_key.yaml",
        "lone_surrogate.jsonl",
    ]
    print(f"{'case':<22} {'seconds':>8} {'peak MB':>8} {'exit':>4}  first error")
    for name in cases:
        seconds, peak, code, first = run(name)
        print(f"{name or '(clean project)':<22} {seconds:>8.2f} {peak:>8.0f} {code:>4}  {first}")
    print("target: each case's error within 1 s of the clean project's time, no runaway memory")


if __name__ == "__main__":
    main()
