#!/usr/bin/env python3
"""Throughput, CPU and memory of `ftboot generate` against a local OpenAI-compatible test server.

The server (tests/fake_chat.py on tests/fakeapi.py, real HTTP on 127.0.0.1) runs in its own process and answers
every request after a fixed latency with two valid, varied examples. Each measured run is the real generate code
path called as a library (`pipeline.generation.online.generate`: planning, cache, budget, openai SDK, parsing, filters,
dedup, appends), inside the project lock as `ftboot generate` runs it, in a fresh child process on a fresh copy
of the demo project, so its CPU time and peak RSS are its own. Two points, each against its own server:
250 ms at concurrency 50 (ideal 200 requests/s, target 95% of it) and 2 s at concurrency 1,000 (ideal 500
requests/s, about a top-tier provider's rate limit for a small model; target 90%). Besides the rate it prints
the client's CPU per request and the rate that CPU alone would allow on one core (1000 ms / CPU ms per request),
and the CPU per request of the worker process that screens replies beside it. On a machine shared with other
work, the rate follows the load, the CPU per request much less.

The server serves from one asyncio loop by default (`FakeAPI.serve_forever_async`): a hosted API's CPU is not on
the client's machine, and the tests' thread per connection spends 0.7-1.3 ms of these two cores per request at
1,000 connections, against 0.4-0.5 ms. `--server threads` measures against that one, as the figures before
December 2026 did.

Usage: .venv/bin/python scripts/bench_generate.py [--point 250ms|2s|all] [--requests N ...] [--concurrency C]
                                                  [--latency S] [--mode chat|completion] [--client-only]
                                                  [--reference] [--server asyncio|threads]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def serve(latency: float, concurrency: int, server: str, urls: multiprocessing.Queue) -> None:
    from tests.fake_chat import FakeChat
    from tests.fakeapi import FakeAPI

    api = FakeAPI(latency=latency)
    FakeChat(api)
    if server == "asyncio":
        api.serve_forever_async(urls.put)
        return
    if concurrency <= 100:
        # 50 server threads wake together from their 250 ms sleep; a shorter GIL switch interval than the default
        # 5 ms keeps them from queueing behind each other, so the server's answer time stays close to the latency.
        # With 1,000 threads the same setting turns every GIL hand-off into a context switch (180,000-280,000 a
        # second, half the machine's CPU in the kernel), which starves whatever client runs beside it.
        sys.setswitchinterval(0.0005)
    api.start()
    urls.put(api.url)
    while True:
        time.sleep(3600)


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds a process has used so far (the test server's, to show what it takes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bare(url: str, requests: int, concurrency: int) -> tuple[int, float]:
    """The reference: a bare aiohttp client posting one fixed chat request; (answered, seconds sending)."""
    import aiohttp

    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Write one example."}]})
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
    numbers = iter(range(requests))
    answered, first, last = 0, time.monotonic(), 0.0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal answered, last
            for _ in numbers:
                async with session.post(f"{url}/chat/completions", data=body.encode(), headers=headers) as response:
                    await response.read()
                answered, last = answered + 1, time.monotonic()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answered, last - first


def _figures(requests: int, accepted: int, wall: float, sending: float, cpu_before, cpu_after) -> dict:
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the run's screening worker, ended and waited for
    return {
        "worker_cpu_ms_per_request": 1000 * (workers.ru_utime + workers.ru_stime) / max(requests, 1),
        "requests": requests,
        "accepted": accepted,
        "wall_s": wall,
        "sending_s": sending,
        "rate": requests / sending if sending else 0.0,
        "cpu_ms_per_request": 1000 * cpu / max(requests, 1),
        "peak_rss_mb": cpu_after.ru_maxrss / 1024,
    }


def reference_run(url: str, requests: int, concurrency: int) -> dict:
    cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    answered, sending = asyncio.run(bare(url, requests, concurrency))
    wall = time.perf_counter() - started
    return _figures(answered, 0, wall, sending, cpu_before, resource.getrusage(resource.RUSAGE_SELF))


def one_run(url: str, requests: int, concurrency: int, mode: str, client_only: bool) -> dict:
    """Run `requests` requests in this process and return its figures. `client_only`: the same planned requests
    through the same client, with replies thrown away (no parsing, filters, dedup or appends)."""
    import datasketch  # noqa: F401  (imported up front: start-up is not per-request work)
    import openai  # noqa: F401

    from pipeline.generation.online import generate
    from pipeline.generation.planner import Planner
    from pipeline.generation.run import Options
    from pipeline.llm.cache import ReplyCache
    from pipeline.llm.client import Client, run_loop
    from pipeline.llm.limits import Budget
    from pipeline.llm.request import Endpoint
    from pipeline.lock import project_lock
    from pipeline.project import find_project
    from pipeline.seeds import load_seeds

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "ftboot.toml", root / "ftboot.toml")
        shutil.copytree(REPO / "seeds", root / "seeds")
        os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY="bench")
        project = find_project(root)
        if client_only:
            planner = Planner(
                project.config,
                mode=mode,
                model="gpt-4o-mini",
                scope="bench",
                response_format="json_schema",
                seeds=load_seeds(project),
                reviewed=[],
                round_=1,
            )
            with ReplyCache(root / "replies.jsonl") as cache:
                client = Client(
                    Endpoint(url, "test-bench", "gpt-4o-mini", "bench"),
                    cache,
                    Budget(max_requests=requests),
                    concurrency=concurrency,
                )
                cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                run_loop(client.run(iter(planner), lambda in_flight: True, lambda request, reply, cached: None))
                wall = time.perf_counter() - started
            return _figures(
                client.stats.sent, 0, wall, client.stats.sending, cpu_before, resource.getrusage(resource.RUSAGE_SELF)
            )
        cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        with project_lock(project.outputs, "ftboot generate"):  # the command line holds it around the same call
            summary = generate(
                project,
                Options(backend="openai", mode=mode, n=10 * requests, concurrency=concurrency, max_requests=requests),
            )
        wall = time.perf_counter() - started
        return _figures(
            summary.sent, summary.accepted, wall, summary.sending, cpu_before, resource.getrusage(resource.RUSAGE_SELF)
        )


POINTS = {"250ms": (0.25, 50, [1000, 4000]), "2s": (2.0, 1000, [10000])}  # latency s, concurrency, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--point", choices=[*POINTS, "all"], default="all", help="which point(s) to measure")
    parser.add_argument("--requests", type=int, nargs="+", help="override the point's numbers of requests")
    parser.add_argument("--concurrency", type=int, help="override the point's concurrency")
    parser.add_argument("--latency", type=float, help="override the point's server latency (seconds)")
    parser.add_argument(
        "--mode",
        choices=["chat", "completion"],
        default="chat",
        help="chat sends the JSON schema with every request; completion, the demo's mode, does not",
    )
    parser.add_argument(
        "--client-only",
        action="store_true",
        help="measure the request path alone: replies are not parsed, filtered or written",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="after each run, a bare aiohttp client on as many requests against the same server: what a minimal client reaches",
    )
    parser.add_argument(
        "--server",
        choices=["asyncio", "threads"],
        default="asyncio",
        help="the test server's I/O: one asyncio loop (default), or the tests' thread per connection, whose CPU "
        "at 1,000 connections competes with the client's on the same cores",
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, n, concurrency = args.child[0], int(args.child[1]), args.concurrency or 50
        figures = (
            reference_run(url, n, concurrency)
            if args.reference
            else one_run(url, n, concurrency, args.mode, args.client_only)
        )
        print(json.dumps(figures))
        return

    for name in POINTS if args.point == "all" else [args.point]:
        latency, concurrency, requests = POINTS[name]
        measure(
            args.latency or latency,
            args.concurrency or concurrency,
            args.requests or requests,
            args.mode,
            args.client_only,
            args.reference,
            args.server,
        )


def measure(
    latency: float,
    concurrency: int,
    requests: list[int],
    mode: str,
    client_only: bool,
    reference: bool,
    server_io: str,
) -> None:
    urls: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(latency, concurrency, server_io, urls), daemon=True)
    server.start()
    url = urls.get(timeout=30)
    ideal = concurrency / latency
    what = "the client alone, replies thrown away" if client_only else "generate"
    print(
        f"\ntest server ({server_io}): {url}, {latency * 1000:.0f} ms per reply; {what}, {mode} mode, concurrency "
        f"{concurrency}: ideal {ideal:.0f} requests/s; load average {os.getloadavg()[0]:.1f}"
    )
    print("req/s: requests answered per second from the first request sent to the last answer; start-up is the")
    print("rest of the call (seeds, filters' index, outputs read); CPU: the whole call's user+system time per")
    print(
        "request; ceiling: the rate that CPU allows on one core; worker: the screening worker process's CPU per request"
    )
    print("server ms: the test server's CPU per request, on the same two cores")
    print(
        f"{'':>9} {'requests':>9} {'accepted':>9} {'start-up s':>11} {'sending s':>10} {'req/s':>7} {'of ideal':>9} "
        f"{'CPU ms/req':>11} {'ceiling':>8} {'worker ms':>10} {'server ms':>10} {'peak RSS MB':>12} {'load':>5}"
    )
    flags = ["--client-only"] if client_only else []
    # With --reference each run is followed by the bare client's on as many requests: the pair sees the same machine.
    runs = [
        run
        for n in requests
        for run in [(n, what.split(",")[0], flags)] + ([(n, "bare aiohttp", ["--reference"])] if reference else [])
    ]
    rates: dict[str, float] = {}
    try:
        for n, label, extra in runs:
            server_before = cpu_seconds(server.pid)
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--concurrency",
                    str(concurrency),
                    "--mode",
                    mode,
                    *extra,
                    "--child",
                    url,
                    str(n),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            server_ms = 1000 * (cpu_seconds(server.pid) - server_before)
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{label[:9]:>9} {r['requests']:>9,} {r['accepted']:>9,} {r['wall_s'] - r['sending_s']:>11.2f} "
                f"{r['sending_s']:>10.1f} {r['rate']:>7.1f} {r['rate'] / ideal:>9.1%} {r['cpu_ms_per_request']:>11.2f} "
                f"{1000 / r['cpu_ms_per_request']:>8.0f} {r['worker_cpu_ms_per_request']:>10.2f} "
                f"{server_ms / max(r['requests'], 1):>10.2f} {r['peak_rss_mb']:>12.1f} {os.getloadavg()[0]:>5.1f}"
            )
            rates[label] = r["rate"]
            if label == "bare aiohttp" and r["rate"]:
                # the machine's state moves both rates; their ratio much less
                print(
                    f"{'':>9} {what.split(',')[0]} reached {rates[what.split(',')[0]] / r['rate']:.1%} of the bare client's rate"
                )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
