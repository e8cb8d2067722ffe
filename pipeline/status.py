"""Where a project stands: the count at each stage, whether the built set is older than its inputs, what to
run next, and what the size of the set means for fine-tuning. A built set that is not one complete build (its
files do not match `outputs/build.json`) is refused rather than counted; once a build exists, status points to its
report and the charts beside it. The eval stage: the held-out test items, whether `outputs/eval/eval.md` exists
(and is newer than the test set) and its verdict; `ftboot eval` is the next step once a fine-tuning job succeeded
with a model the last eval did not see, or, before any upload, when eval systems are configured and a test set
exists (the playbook's question: is prompting already good enough?).

It reads only local files (no Label Studio, no provider), so it is quick and works offline. It returns data
(`Status`, the next step as a `Step`); wording it, the notes and what the size means is `pipeline.cli.status`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypedDict

from pipeline.buildset import verify
from pipeline.errors import InputError
from pipeline.jsonl import count_lines
from pipeline.ledgers.batches import BatchLedger
from pipeline.ledgers.uploads import UploadLedger
from pipeline.paths import OutputPaths
from pipeline.project import Project
from pipeline.schema import is_accepted, read_records
from pipeline.seeds import MIN_SEEDS, load_seeds


def stage_files(paths: OutputPaths) -> dict[str, Path]:
    """The files whose lines `status` counts, by the name it counts them under."""
    built = paths.build()
    return {
        "candidates": paths.candidates,
        "rejected": paths.rejected,
        "reviewed": paths.reviewed,
        "train": built.train,
        "val": built.val,
        "test": built.test,
        "uploads": paths.uploads,
    }


class BuildReport(TypedDict):
    report: str  # paths as shown to the user
    charts: list[str]


class EvalReport(TypedDict):
    report: str
    verdict: str | None  # the line under "## Verdict" in eval.md
    models: list[str]  # the models eval.json says it asked
    stale: bool  # older than test.jsonl


class OpenBatch(TypedDict):
    name: str
    purpose: str
    batch_id: str | None
    status: str
    requests: int
    completed: int
    failed: int


class Step(StrEnum):
    """What to run next; `pipeline.cli.status` words it."""

    SEEDS = "seeds"  # write at least MIN_SEEDS seeds
    COLLECT = "collect"  # open batches will bring candidates or judge scores
    GENERATE = "generate"
    REVIEW = "review"
    BUILD = "build"
    EVAL_TUNED = "eval-tuned"  # a fine-tuned model the last eval did not ask
    EVAL_PROMPTING = "eval-prompting"  # before any upload: is prompting already good enough?
    UPLOAD = "upload"
    VERDICT = "verdict"  # read the last eval's verdict
    FOLLOW = "follow"  # follow the upload's job


@dataclass
class Status:
    counts: dict[str, int]
    step: Step
    available: int  # examples the set has or would have: what its size means for fine-tuning
    seeds_error: bool = False  # the seeds do not load
    stale: bool = False  # train.jsonl is older than the seeds or the reviews
    tuned: str | None = None  # the latest fine-tuned model, if a job succeeded
    batches: list[OpenBatch] = field(default_factory=list)  # open provider batches
    report: BuildReport | None = None  # the last build's report and charts
    charts_dir: str = ""  # where the build's charts are, as shown to the user
    eval: EvalReport | None = None  # the last eval's report, its verdict and whether it is current
    test_file: str = ""  # the held-out test set, as shown to the user


def _accepted(project: Project) -> int:
    path = project.paths.reviewed
    if not path.exists():
        return 0
    return sum(1 for _, record in read_records(path, project.show(path)) if is_accepted(record.model_extra or {}))


def _report(project: Project) -> BuildReport | None:
    """The chat set's report and its charts, when a build wrote them."""
    report, charts = project.paths.build().report, project.paths.build().charts
    if not report.exists():
        return None
    return {"report": project.show(report), "charts": [project.show(p) for p in sorted(charts.glob("*.png"))]}


def _eval(project: Project) -> EvalReport | None:
    """The last eval: its report, the verdict line, the models it asked, and whether it is older than the test set."""
    report = project.paths.eval_md
    if not report.exists():
        return None
    lines = report.read_text(encoding="utf-8").splitlines()
    after = lines[lines.index("## Verdict") + 1 :] if "## Verdict" in lines else []
    verdict = next((line.strip() for line in after if line.strip()), None)
    try:
        systems = json.loads((project.paths.eval_json).read_text(encoding="utf-8"))["systems"]
        models = sorted({str(row.get("model")) for row in systems.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        models = []
    test = project.paths.test
    stale = test.exists() and test.stat().st_mtime > report.stat().st_mtime
    return {"report": project.show(report), "verdict": verdict, "models": models, "stale": stale}


def project_status(project: Project) -> Status:
    """Raises InputError when the built set is not one complete build (see `pipeline.buildset.verify`)."""
    verify(project.outputs, project.paths.build().manifest, project.show(project.outputs))
    seeds_error = False
    try:
        seeds = len(load_seeds(project))
    except InputError:
        seeds, seeds_error = 0, True
    counts = {"seeds": seeds}
    counts.update({name: count_lines(path) for name, path in stage_files(project.paths).items()})
    counts["accepted"] = _accepted(project)
    counts = {
        k: counts[k]
        for k in ("seeds", "candidates", "rejected", "reviewed", "accepted", "train", "val", "test", "uploads")
    }
    newest_input = max(
        (p.stat().st_mtime for p in [*project.seeds_dir.glob("*"), project.paths.reviewed] if p.exists()),
        default=0.0,
    )
    train = project.paths.build().train
    stale = train.exists() and train.stat().st_mtime < newest_input
    evaluated = _eval(project)
    tuned = (UploadLedger(project).fine_tuned() or (None,))[0]
    seen = evaluated["models"] if evaluated and not evaluated["stale"] else None  # None: no current eval
    eval_tuned = tuned is not None and tuned not in (seen or [])
    eval_prompting = bool(project.config.eval.systems) and counts["test"] > 0 and seen is None
    batches: list[OpenBatch] = [
        {
            "name": e.name,
            "purpose": e.purpose,
            "batch_id": e.batch_id,
            "status": e.status,
            "requests": e.count,
            "completed": e.counts.get("completed", 0),
            "failed": e.counts.get("failed", 0),
        }
        for e in BatchLedger(project).open_entries()
    ]
    judging = any(b["purpose"] == "judge" for b in batches)

    if seeds < MIN_SEEDS:
        step = Step.SEEDS
    elif batches and (counts["candidates"] == 0 or (judging and counts["reviewed"] == 0)):
        step = Step.COLLECT  # the candidates, or their judge scores, are still to come
    elif counts["candidates"] == 0 and counts["reviewed"] == 0 and counts["train"] == 0:
        step = Step.GENERATE
    elif counts["candidates"] and counts["reviewed"] == 0:
        step = Step.REVIEW
    elif counts["train"] == 0 or stale:
        step = Step.BUILD
    elif eval_tuned:
        step = Step.EVAL_TUNED
    elif counts["uploads"] == 0 and eval_prompting:
        step = Step.EVAL_PROMPTING
    elif counts["uploads"] == 0:
        step = Step.UPLOAD
    elif tuned and evaluated:
        step = Step.VERDICT
    else:
        step = Step.FOLLOW
    available = counts["train"] + counts["val"] if counts["train"] and not stale else seeds + counts["accepted"]
    return Status(
        counts,
        step,
        available,
        seeds_error,
        stale,
        tuned,
        batches,
        _report(project),
        project.show(project.paths.build().charts),
        evaluated,
        project.show(project.paths.test),
    )
