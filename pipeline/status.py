"""Where a project stands: the count at each stage, whether the built set is older than its inputs, what to
run next, and what the size of the set means for fine-tuning. A built set that is not one complete build (its
files do not match `outputs/build.json`) is refused rather than counted; once a build exists, status points to its
report and the charts beside it.

It reads only local files (no Label Studio, no provider), so it is quick and works offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config import Project
from pipeline.errors import InputError
from pipeline.jsonl import count_lines
from pipeline.ledgers.batches import Ledger
from pipeline.schema import is_accepted, read_records

STAGE_FILES = {
    "candidates": "candidates.jsonl",
    "rejected": "rejected.jsonl",
    "reviewed": "reviewed.jsonl",
    "train": "train.jsonl",
    "val": "val.jsonl",
    "uploads": "uploads.jsonl",
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


@dataclass
class Status:
    counts: dict[str, int]
    next_step: str
    advice: str
    notes: list[str] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)  # open provider batches
    report: dict[str, Any] | None = None  # the last build's report and charts, as paths shown to the user

    def as_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "next": self.next_step, "advice": self.advice, "notes": self.notes,
                "open_batches": self.batches, "report": self.report}


def _accepted(project: Project) -> int:
    path = project.output("reviewed.jsonl")
    if not path.exists():
        return 0
    return sum(1 for _, record in read_records(path, project.show(path)) if is_accepted(record.model_extra or {}))


def _report(project: Project) -> dict[str, Any] | None:
    """The chat set's report and its charts, when a build wrote them."""
    report = project.output("report.md")
    if not report.exists():
        return None
    charts = project.output("report-charts")
    return {"report": project.show(report), "charts": [project.show(p) for p in sorted(charts.glob("*.png"))]}


def project_status(project: Project) -> Status:
    """Raises InputError when the built set is not one complete build (see `pipeline.buildset.verify`)."""
    from pipeline.buildset import manifest_name, verify
    from pipeline.seeds import MIN_SEEDS, load_seeds

    verify(project.outputs, manifest_name(), project.show(project.outputs))
    notes = []
    try:
        seeds = len(load_seeds(project))
    except InputError:
        seeds = 0
        notes.append("the seeds have errors: `ftboot seeds check` lists them")
    counts = {"seeds": seeds}
    counts.update({name: count_lines(project.output(file)) for name, file in STAGE_FILES.items()})
    counts["accepted"] = _accepted(project)
    counts = {k: counts[k] for k in ("seeds", "candidates", "rejected", "reviewed", "accepted", "train", "val", "uploads")}

    newest_input = max((p.stat().st_mtime for p in [*project.seeds_dir.glob("*"), project.output("reviewed.jsonl")]
                        if p.exists()), default=0.0)
    train = project.output("train.jsonl")
    stale = train.exists() and train.stat().st_mtime < newest_input
    if stale:
        notes.append("train.jsonl is older than the seeds or the reviews: rebuild it")
    report = _report(project)
    if report:
        charts = f", with {len(report['charts'])} charts in {project.show(project.output('report-charts'))}/" if report["charts"] else ""
        notes.append(f"build report: {report['report']}{charts}")

    batches = [{"name": e.name, "batch_id": e.batch_id, "status": e.status, "requests": e.count,
                "completed": e.counts.get("completed", 0), "failed": e.counts.get("failed", 0)}
               for e in Ledger(project).open_entries()]
    if batches:
        notes.append(f"open batches: {len(batches)} with {sum(b['requests'] for b in batches):,} requests ("
                     + ", ".join(f"{b['batch_id'] or b['name']} {b['status']} {b['completed']:,}/{b['requests']:,}"
                                 for b in batches) + "); `ftboot generate --collect` takes in the finished ones")

    if seeds < MIN_SEEDS:
        step = f"write at least {MIN_SEEDS} seeds in seeds/, then `ftboot seeds check`"
    elif batches and counts["candidates"] == 0:
        step = "`ftboot generate --collect` once the open batches have finished"
    elif counts["candidates"] == 0 and counts["reviewed"] == 0 and counts["train"] == 0:
        step = "`ftboot generate` to grow the seeds into candidates"
    elif counts["candidates"] and counts["reviewed"] == 0:
        step = "`ftboot review push`, review in Label Studio, then `ftboot review pull`"
    elif counts["train"] == 0 or stale:
        step = "`ftboot build`"
    elif counts["uploads"] == 0:
        step = "`ftboot upload --dry-run`, then `ftboot upload --wait`"
    else:
        step = "`ftboot upload --status` to follow the job"
    available = counts["train"] + counts["val"] if counts["train"] and not stale else seeds + counts["accepted"]
    return Status(counts, step, size_advice(available), notes, batches, report)
