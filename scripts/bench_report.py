#!/usr/bin/env python3
"""Benchmark what the report's charts and diversity figures add to `ftboot build`: the CPU the build's own process
spends on them (gathering the figures, the diversity sample, waiting for the charts, writing the report) against
the whole build's, and the CPU of the worker process that draws the charts beside it.

CPU times hold on a machine other jobs are loading, wall-clock ones do not; the wall-clock wait for the charts
shows whether the worker, which runs in parallel with the build, kept up. On a machine with a free core it adds
its CPU but not its time. The examples are
bench_build.py's. Run: .venv/bin/python scripts/bench_report.py [N]   (default 25,000)
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import make_examples

import pipeline.build.report
from pipeline.build.run import build
from pipeline.project import find_project

spent: dict[str, tuple[float, float]] = {}  # step -> (CPU, wall-clock) seconds


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = (time.process_time() - cpu, time.perf_counter() - wall)

    return run


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25_000
    start_report = pipeline.build.report.write_report

    def write_report(*args: Any, **kwargs: Any) -> Callable[[], None]:
        return timed(
            "report: wait for charts, write", timed("report: figures, diversity", start_report)(*args, **kwargs)
        )

    pipeline.build.report.write_report = write_report
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "seeds").mkdir()
        (project / "ftboot.toml").write_text("[task]\ndescription = 'bench'\n")
        make_examples(n, project / "in.jsonl")
        wall, cpu = time.perf_counter(), time.process_time()
        build(find_project(project), input_path=project / "in.jsonl")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker = children.ru_utime + children.ru_stime
    report = sum(c for c, _ in spent.values())
    print(f"{n:,} examples: build {wall:.1f} s wall, {cpu:.2f} s CPU in its own process")
    for name, (seconds, waited) in spent.items():
        print(f"  {name:<32} {seconds:6.2f} s CPU {waited:6.2f} s wall")
    print(f"  report's share of the build's own CPU: {report / cpu:.1%} (target: at most 5%)")
    print(f"chart worker: {worker:.2f} s CPU in parallel ({worker / cpu:.1%} of the build's CPU)")


if __name__ == "__main__":  # the chart worker is a spawned process, which imports this module again
    main()
