#!/usr/bin/env python3
"""Time and memory of batch generation's two heavy steps: planning and writing a Batch API input file
(`ftboot batch write`), and taking in an output file of the same size (`ftboot batch read`).

For each size, on a fresh copy of the demo project: a child process plans N requests and writes the input file
(`pipeline.generation.batch.send.plan_batch`, the code `batch send` uses before uploading); the parent, untimed, answers every
line as an engine would, with two valid examples of varied words each; a second child takes the output file in
(`pipeline.generation.batch.collect.collect_file`: plan order, reply cache, parsing, filters, MinHash dedup, appends, the
code `batch collect` uses after downloading, with its worker processes). Each child reports its wall time, its own
CPU time and its workers', and its RSS after start-up (imports, seeds) and at peak, so what the work adds is
visible. Targets: 50,000 requests planned and
written in at most 10 s, collected in at most 30 s.

Usage: .venv/bin/python scripts/bench_batch.py [--requests 10000 50000] [--mode chat|completion]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(step: str, root: Path, requests: int, mode: str) -> dict:
    import datasketch  # noqa: F401  (start-up, not work)

    from pipeline.generation.batch.collect import collect_file
    from pipeline.generation.batch.send import plan_batch
    from pipeline.generation.run import Options
    from pipeline.project import find_project

    project = find_project(root)
    per_request, guess = project.config.generate.per_request, project.config.generate.acceptance_guess
    options = Options(backend="openai", mode=mode, n=round(requests * per_request * guess))
    start_rss = _rss_mb()
    cpu, workers, started = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
        time.perf_counter(),
    )
    if step == "plan":
        sent = plan_batch(project, options, to=root / "requests.jsonl")
        figures = {"requests": sent.requests, "bytes": sum(f["bytes"] for f in sent.files)}
    else:
        harvest = collect_file(project, options, root / "results.jsonl")
        figures = {
            "requests": harvest.batches[0].answered,
            "accepted": harvest.batches[0].accepted,
            "rejected": harvest.batches[0].rejected,
        }
    wall = time.perf_counter() - started
    used, workers_used = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        **figures,
        "wall_s": wall,
        "cpu_s": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "workers_cpu_s": workers_used.ru_utime + workers_used.ru_stime - workers.ru_utime - workers.ru_stime,
        "start_rss_mb": start_rss,
        "peak_rss_mb": used.ru_maxrss / 1024,
    }


def answer(requests: Path, results: Path, mode: str) -> None:
    """Every input line answered with two examples of words drawn from a large vocabulary (real replies are
    varied; the test server's 60 words would make near duplicates of most of 100,000 examples)."""
    rng = random.Random(7)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(5000)
    ]

    def words(n: int) -> str:
        return " ".join(rng.choices(vocabulary, k=n))

    def example() -> tuple[str, str]:
        return (
            f"Product: {words(3)}\n- {words(6)}\n- {words(5)}",
            f"{words(14).capitalize()}. {words(12).capitalize()}.",
        )

    with open(requests, "rb") as lines, open(results, "w") as out:
        for number, raw in enumerate(lines):
            line = json.loads(raw)
            pairs = [example() for _ in range(2)]
            if mode == "chat":
                text = json.dumps(
                    {
                        "examples": [
                            {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}
                            for u, a in pairs
                        ]
                    }
                )
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            else:
                first = int(line["body"]["prompt"].rsplit("### Example ", 1)[1].split("\n", 1)[0])
                text = "\n".join(
                    ("" if i == 0 else f"### Example {first + i}\n") + f"USER: {u}\nASSISTANT: {a}\n### END\n"
                    for i, (u, a) in enumerate(pairs)
                )
                choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            body = {
                "id": f"cmpl-{number}",
                "object": "chat.completion" if mode == "chat" else "text_completion",
                "model": line["body"]["model"],
                "choices": [choice],
                "usage": {
                    "prompt_tokens": len(raw) // 4,
                    "completion_tokens": len(text) // 4,
                    "total_tokens": (len(raw) + len(text)) // 4,
                },
            }
            out.write(
                json.dumps(
                    {
                        "id": f"batch_req_{number}",
                        "custom_id": line["custom_id"],
                        "error": None,
                        "response": {"status_code": 200, "request_id": f"req_{number}", "body": body},
                    }
                )
                + "\n"
            )


def run_child(step: str, root: Path, requests: int, mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, str(root), str(requests), "--mode", mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--mode", choices=["chat", "completion"], default="chat")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "ROOT", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), int(args.child[2]), args.mode)))
        return
    print(
        f"demo project, {args.mode} mode, 2 examples per request; CPU of the process and of its workers; RSS of the "
        "process at start-up and at peak"
    )
    print(
        f"{'step':<22} {'requests':>9} {'file MB':>8} {'wall s':>7} {'CPU s':>6} {'workers':>8} {'start MB':>9} "
        f"{'peak MB':>8} {'accepted':>9}"
    )
    for n in args.requests:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shutil.copy(REPO / "ftboot.toml", root / "ftboot.toml")
            shutil.copytree(REPO / "seeds", root / "seeds")
            plan = run_child("plan", root, n, args.mode)
            answer(root / "requests.jsonl", root / "results.jsonl", args.mode)
            size = (root / "results.jsonl").stat().st_size
            collect = run_child("collect", root, n, args.mode)
            for step, r, mb in (
                ("plan + write input", plan, plan["bytes"] / 1e6),
                ("collect output", collect, size / 1e6),
            ):
                print(
                    f"{step:<22} {r['requests']:>9,} {mb:>8.1f} {r['wall_s']:>7.2f} {r['cpu_s']:>6.2f} "
                    f"{r['workers_cpu_s']:>8.2f} {r['start_rss_mb']:>9.1f} {r['peak_rss_mb']:>8.1f} {r.get('accepted', ''):>9}"
                )


if __name__ == "__main__":
    main()
