#!/usr/bin/env python3
"""Throughput of `ftboot eval`'s answering and the time its scoring takes, against a local test server.

Answering: the server (tests/fake_eval.py on tests/fakeapi.py, real HTTP on 127.0.0.1, in its own process)
answers every chat request after a fixed 250 ms. 1,000 test items x 3 systems go through the real eval code path
(`pipeline.eval.evaluate`: planning, reply cache, budget, openai SDK, answers.jsonl, scoring, report) on a fresh
copy of the demo project at concurrency 50. The ideal rate at 250 ms and concurrency 50 is 200 requests/s; the
target is 90% of it, measured over the sending window (first request sent to last answer, per system).

Scoring: chrF and ROUGE-L of 3,000 answers, each system's mean with a 1,000-resample bootstrap interval, and the
paired difference used by the verdict; the target is at most 10 s on 2 cores.

Usage: .venv/bin/python scripts/bench_eval.py [--items 1000] [--concurrency 50] [--latency 0.25]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SYSTEMS = ("oracle", "paraphrase", "noise")


def serve(latency: float, examples: list[dict], urls: multiprocessing.Queue) -> None:
    from tests.fake_eval import FakeEval
    from tests.fakeapi import FakeAPI

    sys.setswitchinterval(0.0005)  # 50 threads waking together answer close to the latency (see bench_generate)
    api = FakeAPI(latency=latency)
    FakeEval(api).learn(examples)
    api.start()
    urls.put(api.url)
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.25)
    args = parser.parse_args()

    import os

    from pipeline.eval import Options, evaluate
    from pipeline.eval.scores import bootstrap, chrf_scores, paired_difference, rouge_l_scores
    from pipeline.project import find_project
    from tests.fake_chat import edit_config
    from tests.fake_eval import noise, paraphrase
    from tests.helpers import varied_examples, write_jsonl

    examples = varied_examples(args.items, seed=11)
    urls: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.latency, examples, urls), daemon=True)
    server.start()
    url = urls.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "ftboot.toml", root / "ftboot.toml")
        shutil.copytree(REPO / "seeds", root / "seeds")
        (root / "outputs").mkdir()
        write_jsonl(root / "outputs" / "test.jsonl", examples)
        edit_config(root, "eval", concurrency=args.concurrency)
        with open(root / "ftboot.toml", "a", encoding="utf-8") as handle:
            handle.write("".join(f'\n[eval.systems.{name}]\nmodel = "{name}"\n' for name in SYSTEMS))
        os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="bench-placeholder-not-a-key")
        sending: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def progress(step: str, done: int, total: int | None) -> None:
            now, used = time.monotonic(), time.process_time()
            window = sending.setdefault(step, [now, now])
            window[1] = now
            cpu.setdefault(step, [used, used])[1] = used

        started = time.monotonic()
        result = evaluate(find_project(root), Options(systems=list(SYSTEMS)), progress)
        wall = time.monotonic() - started
    server.terminate()
    requests = args.items * len(SYSTEMS)
    # The progress callback first fires at a system's first answer, one latency after its first request.
    window = sum(end - start + args.latency for start, end in sending.values())
    ideal = args.concurrency / args.latency
    rate = requests / window
    print(
        f"answering: {requests} requests ({args.items} items x {len(SYSTEMS)} systems), concurrency "
        f"{args.concurrency}, {args.latency * 1000:.0f} ms server: {rate:.0f} requests/s over the sending window "
        f"({window:.1f} s) = {100 * rate / ideal:.0f}% of the ideal {ideal:.0f}/s; whole eval {wall:.1f} s"
    )
    client_cpu = sum(end - start for start, end in cpu.values())
    print(
        f"client CPU while answering: {1000 * client_cpu / requests:.2f} ms per request "
        f"({100 * client_cpu / window:.0f}% of one core); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"sent {result['requests']['sent']}, verdict: {result['verdict']}")

    references = [e["messages"][-1]["content"] for e in examples]
    answers = [references, [paraphrase(r) for r in references], [noise(r, str(i)) for i, r in enumerate(references)]]
    started = time.monotonic()
    chrf = [chrf_scores(a, references) for a in answers]
    rouge = [rouge_l_scores(a, references) for a in answers]
    for scores in chrf + rouge:
        bootstrap(scores, 1000)
    paired_difference(chrf[0], chrf[1], 1000)
    scoring = time.monotonic() - started
    print(
        f"scoring: {sum(map(len, answers))} answers (chrF, ROUGE-L, 1,000-resample bootstrap intervals) in {scoring:.2f} s"
    )


if __name__ == "__main__":
    main()
