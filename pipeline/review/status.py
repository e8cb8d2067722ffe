"""Where review stands: tasks done, pending and skipped; per reviewer the tasks, median seconds per task,
acceptance and edit rates; how far reviewers agree (Cohen's kappa for two reviewers, Fleiss' kappa for more,
computed by statsmodels); and the time left at the team's pace.

A task is done when it has as many reviews as `[labelstudio] overlap` asks for, skipped when it has only skips.
The time left is the reviews still wanted × the median seconds per review ÷ the reviewers who have reviewed.
It reads the database of the server that ftboot runs for this project directly, read-only (`pipeline.labelstudio.db`:
about a second on 10,000 reviewed tasks); any other server through the same export snapshot as `pull` (deleted
once read; more than a minute on 10,000 tasks). It writes nothing and leaves out settling reviews into records
(`pipeline.review.pull.pull`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, TypedDict

from pipeline.labelstudio import db as lsdb
from pipeline.labelstudio.adapter import Server
from pipeline.labelstudio.tasks import ACCEPT, REJECT, is_skipped, read_annotations
from pipeline.project import Project
from pipeline.review.lsexport import read_export
from pipeline.review.pull import apply_edits

VERDICTS = (ACCEPT, REJECT)


class Reviewer(TypedDict):
    """One reviewer's figures; None where there is nothing to measure yet."""

    tasks: int
    median_seconds: float | None
    acceptance_rate: float | None
    edit_rate: float | None


class Kappa(TypedDict):
    method: str  # "Cohen's" or "Fleiss'"
    kappa: float | None  # None when undefined (every verdict the same)
    tasks: int


@dataclass
class ReviewStatus:
    tasks: int = 0
    done: int = 0
    pending: int = 0
    skipped: int = 0
    overlap: int = 1
    reviewers: dict[str, Reviewer] = field(default_factory=dict)
    agreement: Kappa | None = None
    seconds_left: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def kappa(ratings: list[list[str]], cohen: bool) -> Kappa | None:
    """Agreement on tasks with several verdicts. `cohen`: two reviewers, and each task's verdicts in reviewer
    order; otherwise Fleiss' kappa over the tasks with the most common number of verdicts, in any order."""
    several = [r for r in ratings if len(r) >= 2]
    if not several:
        return None
    # statsmodels brings scipy and pandas (2-5 s to import): only when there is agreement to measure
    from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

    width = Counter(len(r) for r in several).most_common(1)[0][0]
    rows = [r for r in several if len(r) == width]
    if cohen:
        table = [[sum(1 for a, b in rows if (a, b) == (x, y)) for y in VERDICTS] for x in VERDICTS]
        value, method = float(cohens_kappa(table, return_results=False)), "Cohen's"
    else:
        value, method = float(fleiss_kappa([[r.count(v) for v in VERDICTS] for r in rows])), "Fleiss'"
    return {"method": method, "kappa": round(value, 3) if value == value else None, "tasks": len(rows)}


def summarize(tasks: list[dict[str, Any]], total: int, overlap: int, reviewers: dict[int, str]) -> ReviewStatus:
    """The figures from the tasks with annotations, of `total` tasks (the others are pending, wanting `overlap`
    reviews each)."""
    status = ReviewStatus(tasks=total, overlap=overlap)
    seconds: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    by_task: list[dict[str, str]] = []
    wanted = 0
    for task in tasks:
        reviews = [a for a in read_annotations(task, reviewers) if a.verdict in VERDICTS]
        if len(reviews) >= overlap:
            status.done += 1
        elif not reviews and is_skipped(task):
            status.skipped += 1
        else:
            status.pending += 1
            wanted += overlap - len(reviews)
        latest: dict[str, str] = {}
        for a in reviews:
            verdict = a.verdict or ""  # always set: `reviews` holds only those with a verdict
            if a.lead_time is not None:
                seconds[a.reviewer].append(a.lead_time)
            edited = a.verdict == ACCEPT and bool(apply_edits(task["data"]["example"], a)[1])
            counts[a.reviewer][verdict] += 1
            counts[a.reviewer]["edited"] += edited
            latest[a.reviewer] = verdict
        by_task.append(latest)
    untouched = max(total - len(tasks), 0)
    status.pending += untouched
    wanted += untouched * overlap
    for who, c in counts.items():
        reviewed = c[ACCEPT] + c[REJECT]
        status.reviewers[who] = {
            "tasks": reviewed,
            "median_seconds": statistics.median(seconds[who]) if seconds[who] else None,
            "acceptance_rate": round(c[ACCEPT] / reviewed, 3) if reviewed else None,
            "edit_rate": round(c["edited"] / c[ACCEPT], 3) if c[ACCEPT] else None,
        }
    names = sorted(status.reviewers)
    if len(names) == 2:
        status.agreement = kappa([[t[names[0]], t[names[1]]] for t in by_task if len(t) == 2], cohen=True)
    else:
        status.agreement = kappa([list(t.values()) for t in by_task], cohen=False)
    everyone = [s for values in seconds.values() for s in values]
    if everyone and names:
        status.seconds_left = round(wanted * statistics.median(everyone) / len(names), 1)
    return status


def review_status(project: Project) -> ReviewStatus:
    settings = project.config.labelstudio
    server = Server.connect(project)
    found = server.pushed_project(settings.project_title)
    overlap = found.maximum_annotations or settings.overlap
    data = lsdb.local_data(project.root, server.url)
    if data is not None:
        tasks, total = lsdb.annotated_tasks(data, found.id)
    else:
        tasks = read_export(server.export(found.id), f"Label Studio's export of project {found.id}")
        total = server.task_count(found.id)
    return summarize(tasks, total, overlap, server.reviewers())
