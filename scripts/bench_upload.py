#!/usr/bin/env python3
"""Benchmark `ftboot upload`: how long the check before sending takes (every line parsed, checked against the
ruleset and counted with tiktoken) for every provider, how long a whole OpenAI upload with `--wait` takes against
the local fine-tuning test server, and how long `ftboot export --to vertex` takes (every line validated and
converted), at 10k and 50k examples. Wall time depends on the machine's load, so each figure comes with the run's
CPU seconds (user + system over all its threads) and the load average is printed.

Each run is `python -m pipeline upload ...` in a fresh process on a throw-away project, so the figures include
start-up. The test server answers at once, so the `--wait` figure is ftboot's own overhead plus the transfer.
Run from the repository root: .venv/bin/python scripts/bench_upload.py [SIZES...]
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.upload import PROVIDERS
from tests.fake_finetune import FineTuneAPI
from tests.fakeapi import FakeAPI

SIZES = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "po", "ru", "sa") for b in ("ba", "de", "fi", "go", "hu", "ja")]


def write_examples(path: Path, n: int, seed: int) -> None:
    """A system prompt, a ~40-word request and a ~90-word answer per example."""
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for i in range(n):
            messages = [
                {"role": "system", "content": "You write product descriptions for a shop."},
                {"role": "user", "content": f"Product {i}: " + " ".join(rng.choices(WORDS, k=40))},
                {"role": "assistant", "content": " ".join(rng.choices(WORDS, k=90))},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")


def timed(project: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all threads) of one run."""
    env = dict(os.environ, OPENAI_API_KEY="bench")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "--project", str(project), *args], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def shown(run: tuple[float, float]) -> str:
    return f"{run[0]:.2f} ({run[1]:.2f})"


def main() -> None:
    api = FakeAPI().start()
    FineTuneAPI(api, key="bench")
    providers = list(PROVIDERS)
    print("wall seconds (CPU seconds, all threads) per run; the load average was", os.getloadavg()[0])
    print(
        f"{'examples':>9} {'MB':>6} "
        + " ".join(f"{p + ' dry':>17}" for p in providers)
        + f" {'openai --wait':>16} {'export vertex':>16}"
    )
    try:
        for n in SIZES:
            with TemporaryDirectory() as tmp:
                project = Path(tmp)
                (project / "ftboot.toml").write_text(
                    f'[openai]\nbase_url = "{api.url}"\n\n[upload]\npoll_interval = 0.01\n'
                )
                (project / "outputs").mkdir()
                write_examples(project / "outputs" / "train.jsonl", n, seed=n)
                write_examples(project / "outputs" / "val.jsonl", n // 10, seed=n + 1)
                size = (project / "outputs" / "train.jsonl").stat().st_size / 1e6
                dry = [timed(project, "upload", "--provider", p, "--dry-run", "--json") for p in providers]
                full = timed(project, "upload", "--provider", "openai", "--wait")
                export = timed(project, "export", "--to", "vertex", str(project / "vertex"))
                print(
                    f"{n:>9} {size:>6.1f} "
                    + " ".join(f"{shown(d):>17}" for d in dry)
                    + f" {shown(full):>16} {shown(export):>16}"
                )
        print("load average after:", os.getloadavg()[0])
    finally:
        api.stop()


if __name__ == "__main__":
    main()
