#!/usr/bin/env python3
"""Benchmark the review stage against a real Label Studio and print the figures.

It starts a throw-away Label Studio (scripts/label-studio on a temporary data dir), writes N candidates into a
temporary copy of the demo project, and measures:
  - Label Studio alone: one bulk import request of the very tasks `review push` sends (the baseline);
  - `review push` of the same candidates into a new project (read, build tasks, check existing, import);
  - `review push` again (nothing new: it lists the project's candidate ids);
  - `review pull` of a project where every task has a review, one in ten with an edit (export snapshot, settle,
    write reviewed.jsonl and preferences.jsonl);
  - `review status` of that project, as the project's own server (a read-only read of its database) and as any
    other server (through the export snapshot).

    .venv/bin/python scripts/bench_review.py            # 10,000 candidates
    .venv/bin/python scripts/bench_review.py --n 2000
    .venv/bin/python scripts/bench_review.py --database postgres   # Label Studio on a local PostgreSQL cluster
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def candidates(n: int, seeds: list) -> list[dict]:
    from pipeline.schema import make_record

    rows = []
    for i in range(n):
        features = f"Product {i}: model {i * 7919 % 100000}\n- {i % 40 + 10} cm wide\n- weighs {i % 900 + 100} g\n- comes in {i % 12} colours"
        text = (
            f"Meet product {i}, built for everyday use. It is {i % 40 + 10} cm wide and weighs only {i % 900 + 100} g, "
            f"so it goes wherever you do, and it comes in {i % 12} colours to suit your home."
        )
        example = {
            "messages": [
                {"role": "system", "content": "You write product descriptions for an online shop."},
                {"role": "user", "content": features},
                {"role": "assistant", "content": text},
            ]
        }
        rows.append(
            make_record(
                example,
                {
                    "source": "generated",
                    "shots": [s.id for s in seeds[i % 7 : i % 7 + 3]],
                    "model": "bench",
                    "round": 1,
                    "nearest_seed": seeds[i % 10].id,
                    "nearest_seed_similarity": 0.4,
                },
            ).model_dump()
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="candidates to push (default 10000)")
    parser.add_argument(
        "--database", choices=["sqlite", "postgres"], default="sqlite", help="Label Studio's database (default sqlite)"
    )
    args = parser.parse_args()
    n = args.n

    from pipeline.labelstudio.adapter import Server
    from pipeline.labelstudio.tasks import make_task
    from pipeline.project import find_project
    from pipeline.review.pull import pull
    from pipeline.review.push import push
    from pipeline.review.status import review_status
    from pipeline.schema import Record
    from pipeline.seeds import load_seeds
    from pipeline.writes import write_jsonl

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env["LABEL_STUDIO_DATA_DIR"] = os.environ["LABEL_STUDIO_DATA_DIR"] = str(work / "labelstudio")
    script = str(REPO / "scripts" / "label-studio")
    started = subprocess.run(
        [script, "start", "--database", args.database], env=env, capture_output=True, text=True, check=True
    )
    os.environ.update(line.split("=", 1) for line in started.stdout.strip().splitlines()[-2:])
    try:
        root = work / "project"
        root.mkdir()
        shutil.copy(REPO / "ftboot.toml", root)
        shutil.copytree(REPO / "seeds", root / "seeds")
        project = find_project(root)
        seeds = load_seeds(project)
        rows = candidates(n, seeds)
        write_jsonl(project.paths.candidates, rows)
        server = Server.connect(project)
        by_id = {s.id: s for s in seeds}

        tasks = [make_task(Record.model_validate(r), 1, by_id) for r in rows]
        baseline_id, _ = server.ensure_project("bench: Label Studio alone", 1)
        start = time.perf_counter()
        server.import_tasks(baseline_id, tasks)
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        pushed = push(project)
        push_time = time.perf_counter() - start
        start = time.perf_counter()
        again = push(project)
        again_time = time.perf_counter() - start
        assert (pushed.new, again.new) == (n, 0), (pushed.new, again.new)

        # Reviews imported with their tasks (the community edition has no bulk annotation API); one in ten edited.
        for i, task in enumerate(tasks):
            text = task["predictions"][0]["result"][0]["value"]["text"][0]
            reply = {
                **task["predictions"][0]["result"][0],
                "value": {"text": [text + " Edited." if i % 10 == 0 else text]},
            }
            task["annotations"] = [
                {
                    "lead_time": 10.0,
                    "result": [
                        reply,
                        {
                            "from_name": "verdict",
                            "to_name": "dialogue_1",
                            "type": "choices",
                            "value": {"choices": ["accept"]},
                        },
                    ],
                }
            ]
        toml = root / "ftboot.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8").replace("project_title = ", 'project_title = "bench: reviewed"\n# ')
        )
        reviewed_project = find_project(root)
        server.import_tasks(server.ensure_project("bench: reviewed", 1)[0], tasks)
        start = time.perf_counter()
        pulled = pull(reviewed_project)
        pull_time = time.perf_counter() - start
        assert (pulled.counts["accepted"], pulled.counts["edited"]) == (n - len(rows[::10]), len(rows[::10])), (
            pulled.counts
        )
        start = time.perf_counter()
        figures = review_status(reviewed_project)
        status_time = time.perf_counter() - start
        os.environ["LABEL_STUDIO_DATA_DIR"] = str(work / "another-server")
        start = time.perf_counter()
        remote = review_status(reviewed_project)
        remote_time = time.perf_counter() - start
        assert figures.done == n and figures == remote, (figures, remote)

        print(f"review benchmark: {n:,} candidates, Label Studio on {args.database} at {server.url}")
        for label, seconds, note in [
            ("Label Studio alone, one bulk import", baseline, ""),
            ("ftboot review push", push_time, f"  ({push_time / baseline:.2f}x the bulk import)"),
            ("ftboot review push again (0 new)", again_time, ""),
            (f"ftboot review pull ({n:,} reviewed)", pull_time, ""),
            (f"ftboot review status ({n:,} reviewed)", status_time, "  (its own server: database read)"),
            ("  the same, another server's", remote_time, "  (export snapshot)"),
        ]:
            print(f"  {label + ':':<42}{seconds:6.1f} s{note}")
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True)
        if (work / "labelstudio" / "postgres").is_symlink():  # run as root, the cluster lives outside `work`
            shutil.rmtree((work / "labelstudio" / "postgres").resolve(), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
