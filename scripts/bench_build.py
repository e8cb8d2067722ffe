#!/usr/bin/env python3
"""Benchmark `ftboot build`: time and peak memory at 25k, 50k and 100k examples, to show the time grows
linearly and stays under 60 s at 100k with at most 1.5 GB of memory.

Each size runs `python -m pipeline build --input FILE` in a fresh process on a throw-away project, so the
figures include start-up, and reads the child's peak RSS from the OS. Run: .venv/bin/python scripts/bench_build.py
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [int(a) for a in sys.argv[1:]] or [25_000, 50_000, 100_000]
VOCAB = [
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "ne", "po", "ru", "sa", "ti", "vo", "ze")
    for b in ("ba", "de", "fi", "go", "hu", "ja", "ke", "li", "mo", "nu", "pa", "qi", "ro", "su", "tu", "wy")
]


def make_examples(n: int, path: Path) -> None:
    """Realistic sizes (a system prompt, a ~40-word request, a ~90-word answer); 2% exact and 2% near duplicates."""
    rng = random.Random(n)
    with open(path, "w") as handle:
        previous = None
        for i in range(n):
            user = " ".join(rng.choice(VOCAB) for _ in range(40))
            answer = " ".join(rng.choice(VOCAB) for _ in range(90))
            example = {
                "messages": [
                    {"role": "system", "content": "You write product descriptions for a shop."},
                    {"role": "user", "content": f"Product {i}: {user}"},
                    {"role": "assistant", "content": answer},
                ]
            }
            roll = rng.random()
            if previous and roll < 0.02:
                example = previous
            elif previous and roll < 0.04:
                example = json.loads(json.dumps(previous))
                example["messages"][2]["content"] += " really"
            handle.write(json.dumps(example) + "\n")
            previous = example


def run(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "seeds").mkdir()
        (project / "ftboot.toml").write_text("[task]\ndescription = 'bench'\n")
        source = project / "in.jsonl"
        make_examples(n, source)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "pipeline", "--project", str(project), "build", "--input", str(source), "--json"],
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        summary = json.loads(out.stdout)
        return {
            "n": n,
            "seconds": elapsed,
            "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "peak_mb": after.ru_maxrss / 1024,
            "train": summary["train"],
            "val": summary["val"],
            "rejected": sum(summary["rejected"].values()),
        }


def main() -> None:
    print(
        f"{'examples':>9} {'seconds':>8} {'cpu s':>7} {'peak MB':>8} {'us/example':>11} {'train':>7} {'val':>6} {'rejected':>9}"
    )
    rows = []
    for n in SIZES:
        row = run(n)
        rows.append(row)
        print(
            f"{n:>9,} {row['seconds']:>8.1f} {row['cpu']:>7.1f} {row['peak_mb']:>8.0f} "
            f"{row['seconds'] / n * 1e6:>11.0f} {row['train']:>7,} {row['val']:>6,} {row['rejected']:>9,}"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        ratio = (last["seconds"] / last["n"]) / (first["seconds"] / first["n"])
        print(f"time per example at {last['n']:,} vs {first['n']:,}: x{ratio:.2f} (1.00 = linear)")
    print("targets: 100,000 examples in <= 60 s, peak <= 1,536 MB, linear growth")


if __name__ == "__main__":
    main()
