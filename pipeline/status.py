"""Where a project stands: the count at each stage, whether the built set is older than its inputs, what to
run next, and what the size of the set means for fine-tuning. A built set that is not one complete build (its
files do not match `outputs/build.json`) is refused rather than counted; once a build exists, status points to its
report and the charts beside it. The eval stage: the held-out test items, whether `outputs/eval/eval.md` exists
(and is newer than the test set) and its verdict; `ftboot eval` is the next step once a fine-tuning job succeeded
with a model the last eval did not see, or, before any upload, when eval systems are configured and a test set
exists (the playbook's question: is prompting already good enough?).

It reads only local files (no Label Studio, no provider), so it is quick and works offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from pipeline.buildset import verify
from pipeline.config import Project
from pipeline.errors import InputError
from pipeline.jsonl import count_lines
from pipeline.ledgers.batches import BatchLedger
from pipeline.ledgers.uploads import UploadLedger
from pipeline.paths import OutputPaths
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


def size_advice(n: int) -> str:
    """What `n` examples mean for fine-tuning."""
    if n < 10:
        return f"{n} examples cannot be fine-tuned at all: providers need at least 10"
    if n < 50:
        return f"{n} examples is few: few-shot prompting with these as examples may serve better than fine-tuning"
    if n <= 100:
        return f"{n} examples is where fine-tuning gains usually start to show"
    return f"{n} examples: enough for fine-tuning to pay off on a focused task"


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


class StatusDict(TypedDict):
    """`ftboot status --json`."""

    counts: dict[str, int]
    next: str
    advice: str
    notes: list[str]
    open_batches: list[OpenBatch]
    report: BuildReport | None
    eval: EvalReport | None


@dataclass
class Status:
    counts: dict[str, int]
    next_step: str
    advice: str
    notes: list[str] = field(default_factory=list)
    batches: list[OpenBatch] = field(default_factory=list)  # open provider batches
    report: BuildReport | None = None  # the last build's report and charts
    eval: EvalReport | None = None  # the last eval's report, its verdict and whether it is current

    def as_dict(self) -> StatusDict:
        return {
            "counts": self.counts,
            "next": self.next_step,
            "advice": self.advice,
            "notes": self.notes,
            "open_batches": self.batches,
            "report": self.report,
            "eval": self.eval,
        }


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
    notes = []
    try:
        seeds = len(load_seeds(project))
    except InputError:
        seeds = 0
        notes.append("the seeds have errors: `ftboot seeds check` lists them")
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
    if stale:
        notes.append("train.jsonl is older than the seeds or the reviews: rebuild it")
    report = _report(project)
    if report:
        charts = (
            f", with {len(report['charts'])} charts in {project.show(project.paths.build().charts)}/"
            if report["charts"]
            else ""
        )
        notes.append(f"build report: {report['report']}{charts}")

    evaluated = _eval(project)
    if evaluated:
        older = " (older than test.jsonl: rerun it)" if evaluated["stale"] else ""
        notes.append(f"eval: {evaluated['report']}{older}; verdict: {evaluated['verdict'] or 'none written'}")
    elif counts["test"]:
        notes.append(f"eval: not run yet; {counts['test']:,} test items in {project.show(project.paths.test)}")
    tuned = (UploadLedger(project).fine_tuned() or (None,))[0]  # the latest fine-tuned model, if a job succeeded
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
    if batches:
        notes.append(
            f"open batches: {len(batches)} with {sum(b['requests'] for b in batches):,} requests ("
            + ", ".join(
                f"{'judge ' * (b['purpose'] == 'judge')}{b['batch_id'] or b['name']} {b['status']} "
                f"{b['completed']:,}/{b['requests']:,}"
                for b in batches
            )
            + "); `ftboot batch collect` takes in the finished ones"
        )

    if seeds < MIN_SEEDS:
        step = f"write at least {MIN_SEEDS} seeds in seeds/, then `ftboot seeds check`"
    elif batches and counts["candidates"] == 0:
        step = "`ftboot batch collect` once the open batches have finished"
    elif counts["candidates"] == 0 and counts["reviewed"] == 0 and counts["train"] == 0:
        step = "`ftboot generate` to grow the seeds into candidates"
    elif counts["candidates"] and counts["reviewed"] == 0:
        step = "`ftboot review push`, review in Label Studio, then `ftboot review pull`"
    elif counts["train"] == 0 or stale:
        step = "`ftboot build`"
    elif eval_tuned:
        step = f"`ftboot eval` to see whether the fine-tuned {tuned} beats prompting"
    elif counts["uploads"] == 0 and eval_prompting:
        step = "`ftboot eval` to see whether prompting is already good enough, then `ftboot upload --dry-run`"
    elif counts["uploads"] == 0:
        step = "`ftboot upload --dry-run`, then `ftboot upload --wait`"
    elif tuned and evaluated:
        step = f"read the verdict in {evaluated['report']}; rerun `ftboot eval` after new reviews"
    else:
        step = "`ftboot upload --status` to follow the job"
    available = counts["train"] + counts["val"] if counts["train"] and not stale else seeds + counts["accepted"]
    return Status(counts, step, size_advice(available), notes, batches, report, evaluated)
