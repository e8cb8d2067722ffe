#!/usr/bin/env python3
"""Benchmark `ftboot upload`: how long the check before sending takes (every line parsed, checked against the
ruleset and counted with tiktoken) for every provider, how long a whole OpenAI upload with `--wait` takes against
the local fine-tuning test server, and how long `ftboot export --to vertex` takes (every line validated and
converted), at 10k and 50k examples.

Each run is `python -m pipeline upload ...` in a fresh process on a throw-away project, so the figures include
start-up. The test server answers at once, so the `--wait` figure is ftboot's own overhead plus the transfer.
Run from the repository root: .venv/bin/python scripts/bench_upload.py [SIZES...]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_finetune import FineTuneAPI  # noqa: E402
from tests.fakeapi import FakeAPI  # noqa: E402
from pipeline.upload import PROVIDERS  # noqa: E402

SIZES = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "po", "ru", "sa") for b in ("ba", "de", "fi", "go", "hu", "ja")]


def write_examples(path: Path, n: int, seed: int) -> None:
    """A system prompt, a ~40-word request and a ~90-word answer per example."""
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for i in range(n):
            messages = [{"role": "system", "content": "You write product descriptions for a shop."},
                        {"role": "user", "content": f"Product {i}: " + " ".join(rng.choices(WORDS, k=40))},
                        {"role": "assistant", "content": " ".join(rng.choices(WORDS, k=90))}]
            handle.write(json.dumps({"messages": messages}) + "\n")


def timed(project: Path, *args: str) -> tuple[float, str]:
    env = dict(os.environ, OPENAI_API_KEY="bench")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pipeline", "--project", str(project), *args],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return time.perf_counter() - start, out.stdout


def main() -> None:
    api = FakeAPI().start()
    FineTuneAPI(api, key="bench")
    providers = list(PROVIDERS)
    print(f"{'examples':>9} {'MB':>6} " + " ".join(f"{p + ' dry s':>17}" for p in providers)
          + f" {'openai --wait s':>16} {'export vertex s':>16}")
    try:
        for n in SIZES:
            with TemporaryDirectory() as tmp:
                project = Path(tmp)
                (project / "ftboot.toml").write_text(f'[openai]\nbase_url = "{api.url}"\n\n[upload]\npoll_interval = 0.01\n')
                (project / "outputs").mkdir()
                write_examples(project / "outputs" / "train.jsonl", n, seed=n)
                write_examples(project / "outputs" / "val.jsonl", n // 10, seed=n + 1)
                size = (project / "outputs" / "train.jsonl").stat().st_size / 1e6
                dry = [timed(project, "upload", "--provider", p, "--dry-run", "--json")[0] for p in providers]
                full, _ = timed(project, "upload", "--provider", "openai", "--wait")
                export, _ = timed(project, "export", "--to", "vertex", str(project / "vertex"))
                print(f"{n:>9} {size:>6.1f} " + " ".join(f"{d:>17.2f}" for d in dry) + f" {full:>16.2f} {export:>16.2f}")
    finally:
        api.stop()


if __name__ == "__main__":
    main()
