"""Review: pull reviewers' verdicts and corrections back from Label Studio.

`pull` reads every annotation (through an export snapshot, or a JSON export saved from the UI, both read by
`pipeline.review.lsexport`), settles tasks with several reviews by the configured policy, and writes
`outputs/reviewed.jsonl` and `outputs/preferences.jsonl` from the whole current state plus the reviews of earlier
pulls that the server no longer has (`pipeline.review.reviewed`): pulling again is idempotent, picks up changed
annotations and never loses a review. A corrected example that breaks the schema is reported with its task link,
never dropped in silence; the edits of every reviewer stay in the record, whichever one the policy followed.

It leaves out sending the candidates (`pipeline.review.push`), how tasks and annotations look in Label Studio
(`pipeline.labelstudio.tasks`) and what the final training set keeps (`pipeline.build.steps`).
"""

from __future__ import annotations

import copy
import difflib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import InputError, Location
from pipeline.labelstudio.adapter import Server
from pipeline.labelstudio.tasks import ACCEPT, REJECT, Annotation, editable_turns, is_skipped, read_annotations
from pipeline.project import Project
from pipeline.review import reviewed as store
from pipeline.review.judged import JudgeAgreement, agreement, candidate_scores
from pipeline.review.lsexport import read_export
from pipeline.schema import (
    ACCEPTED_VERDICTS,
    Record,
    content_text,
    example_id,
    make_record,
    parse_example,
    validation_messages,
)


class ReviewedRecord(Record):
    """A line of reviewed.jsonl as a pull settles it: the record with its review (verdict, reviewers, diff, task)."""

    review: dict[str, Any]


def decide(annotations: list[Annotation], policy: str) -> Annotation:
    """The annotation a task's outcome follows. Annotations are oldest first and all have a verdict."""
    accepts = [a for a in annotations if a.verdict == ACCEPT]
    rejects = [a for a in annotations if a.verdict == REJECT]
    if policy == "unanimous":
        return rejects[-1] if rejects else accepts[-1]
    if policy == "majority" and len(accepts) != len(rejects):
        return (accepts if len(accepts) > len(rejects) else rejects)[-1]
    return annotations[-1]  # latest; a tied majority goes to the latest too


def apply_edits(example: dict[str, Any], annotation: Annotation) -> tuple[dict[str, Any], list[tuple[int, str, str]]]:
    """The example with the reviewer's texts in place, and the (message index, old, new) of each change. A box
    left empty is an emptied turn; whitespace at either end is not an edit."""
    corrected, changes = copy.deepcopy(example), []
    for index in editable_turns(example):
        old = content_text(example["messages"][index].get("content"))
        new = annotation.replies.get(index, "").strip()
        if new != old.strip():
            corrected["messages"][index]["content"] = new
            changes.append((index, old, new))
    return corrected, changes


def diff(changes: list[tuple[int, str, str]]) -> str:
    return "\n".join(
        line
        for index, old, new in changes
        for line in difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            f"generated messages[{index}]",
            f"reviewed messages[{index}]",
            lineterm="",
        )
    )


def problem(example: dict[str, Any]) -> str | None:
    """Why a corrected example cannot be kept, or None."""
    try:
        parse_example(example)
    except ValidationError as exc:
        return "; ".join(f"{f}: {m}" for f, m in validation_messages(exc))
    empty = [i for i in editable_turns(example) if not content_text(example["messages"][i].get("content")).strip()]
    return f"messages[{empty[0]}]: the assistant turn was emptied" if empty else None


def preference_records(
    record: ReviewedRecord, generated: dict[str, Any], changes: list[tuple[int, str, str]]
) -> list[Record]:
    """One DPO line per corrected turn: the reviewer's text preferred over the generated one, in the corrected
    conversation up to that turn."""
    out = []
    for index, old, new in changes:
        prompt: dict[str, Any] = {
            "messages": record.example["messages"][:index],
            **{k: generated[k] for k in ("tools", "parallel_tool_calls") if k in generated},
        }
        example = {
            "input": prompt,
            "preferred_output": [{"role": "assistant", "content": new}],
            "non_preferred_output": [{"role": "assistant", "content": old}],
        }
        try:
            parse_example(example, "preference")
        except ValidationError:
            continue  # a turn with nothing before it has no prompt to prefer an answer for
        out.append(
            make_record(
                example,
                {
                    **record.provenance,
                    "generated_id": record.review["generated_id"],
                    "task_id": record.review["task_id"],
                    "turn": index,
                },
                kind="preference",
            )
        )
    return out


@dataclass
class PullResult:
    policy: str
    tasks: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    several: int = 0
    agreeing: int = 0
    per_seed: dict[str, Counter[str]] = field(default_factory=dict)
    preferences: int = 0
    notes: list[str] = field(default_factory=list)
    merged: store.Merged = field(default_factory=lambda: store.Merged([], []))
    judge: JudgeAgreement | None = (
        None  # how the judge's scores went with the verdicts (`pipeline.review.judged.agreement`)
    )

    def count(self, verdict: str, shots: list[Any]) -> None:
        self.counts[verdict] += 1
        for seed in shots:
            self.per_seed.setdefault(str(seed), Counter())[verdict] += 1

    @staticmethod
    def rates(counts: Counter[str]) -> dict[str, Any]:
        reviewed = sum(counts[v] for v in ("accepted", "edited", "rejected"))
        kept = counts["accepted"] + counts["edited"]
        return {
            "reviewed": reviewed,
            "acceptance_rate": round(kept / reviewed, 3) if reviewed else None,
            "edit_rate": round(counts["edited"] / kept, 3) if kept else None,
        }

    def summary(self) -> dict[str, Any]:
        settled = sum(self.counts.values()) + len(self.problems)
        return {
            "policy": self.policy,
            "tasks": self.tasks,
            **{v: self.counts[v] for v in (*ACCEPTED_VERDICTS, "rejected", "skipped")},
            "pending": max(self.tasks - settled, 0),
            **self.rates(self.counts),
            "preferences": self.preferences,
            "agreement": round(self.agreeing / self.several, 3) if self.several else None,
            "tasks_with_several_reviews": self.several,
            "problems": self.problems,
            "per_seed": {
                seed: {**self.rates(c), "accepted": c["accepted"], "edited": c["edited"]}
                for seed, c in sorted(self.per_seed.items())
            },
            "kept_from_earlier_pulls": self.merged.kept,
            "first_missed_now": self.merged.kept_now,
            "preferences_kept": self.merged.preferences_kept,
            "forgotten": self.merged.forgotten,
            "preferences_forgotten": self.merged.preferences_forgotten,
            "history": self.merged.history,
            "judge": self.judge,
            "notes": self.notes,
        }


def pull(
    project: Project, from_file: Path | None = None, policy: str | None = None, forget_missing: bool = False
) -> PullResult:
    """Settle every annotation in the project (or in an export) and merge the reviews into reviewed.jsonl and
    preferences.jsonl, keeping those an earlier pull recorded that the server no longer has (see
    `pipeline.review.reviewed`); `forget_missing` drops them instead."""
    settings = project.config.labelstudio
    result = PullResult(policy or settings.policy)
    earlier = store.load(project)
    if from_file is not None:
        shown = project.show(from_file)
        if not from_file.is_file():
            raise InputError("not a regular file", Location(shown))
        tasks, reviewers = read_export(from_file.read_bytes(), shown, result.notes), {}
        result.tasks, projects = len(tasks), {t["project"] for t in tasks if t.get("project") is not None}
        base = (os.environ.get("LABEL_STUDIO_URL") or settings.url).rstrip("/")
        link: Callable[[dict[str, Any]], str] = lambda t: (  # noqa: E731
            f"{base}/projects/{t.get('project')}/data?task={t['id']}" if base else f"task {t['id']}"
        )
    else:
        server = Server.connect(project)
        found = server.pushed_project(settings.project_title)
        tasks = read_export(server.export(found.id), f"Label Studio's export of project {found.id}", result.notes)
        for task in tasks:
            task.setdefault("project", found.id)
        reviewers, result.tasks, projects = server.reviewers(), server.task_count(found.id), {found.id}
        link = lambda t: server.task_url(found.id, t["id"])  # noqa: E731
    reviewed, preferences = settle(tasks, reviewers, result, link)
    now = time.gmtime()
    result.merged = store.merge(
        earlier, reviewed, preferences, {t["data"]["candidate_id"] for t in tasks}, projects, forget_missing, now
    )
    store.save(project, result.merged, now)
    result.judge = agreement(result.merged.reviewed, candidate_scores(project))
    result.preferences = len(result.merged.preferences)
    return result


def settle(
    tasks: list[dict[str, Any]], reviewers: dict[int, str], result: PullResult, link: Callable[[dict[str, Any]], str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The reviewed and preference lines of tasks as `lsexport.read_export` returns them, counted in `result`."""
    reviewed: list[dict[str, Any]] = []
    preferences: list[dict[str, Any]] = []
    for task in sorted(tasks, key=lambda t: t["id"]):
        settled = _settle(task, reviewers, result, link(task))
        if settled is not None:
            record, changes = settled
            reviewed.append(record.model_dump())
            if record.review["verdict"] == "edited":
                preferences += [p.model_dump() for p in preference_records(record, task["data"]["example"], changes)]
    return reviewed, preferences


def _settle(
    task: dict[str, Any], reviewers: dict[int, str], result: PullResult, link: str
) -> tuple[ReviewedRecord, list[tuple[int, str, str]]] | None:
    """The reviewed record of one task under the policy and its changes, or None (skipped, pending, or a
    reported problem)."""
    data = task["data"]
    generated, provenance = data["example"], data.get("provenance") or {}
    annotations = read_annotations(task, reviewers)
    for a in annotations:
        if a.verdict not in (ACCEPT, REJECT):
            result.problems.append(
                f"task {task['id']} ({link}): annotation {a.id} by {a.reviewer} has no accept/reject choice"
            )
    annotations = [a for a in annotations if a.verdict in (ACCEPT, REJECT)]
    if not annotations:
        if is_skipped(task):
            result.counts["skipped"] += 1
        return None
    if len(annotations) > 1:
        result.several += 1
        result.agreeing += len({a.verdict for a in annotations}) == 1
    chosen = decide(annotations, result.policy)
    corrected, changes = apply_edits(generated, chosen)
    if chosen.verdict == ACCEPT and (why := problem(corrected)):
        result.problems.append(
            f"task {task['id']} ({link}): the correction by {chosen.reviewer} breaks the schema: {why}"
        )
        return None
    verdict = "rejected" if chosen.verdict == REJECT else "edited" if changes else "accepted"
    result.count(verdict, provenance.get("shots") or [])
    review = {
        "verdict": verdict,
        "reviewers": sorted({a.reviewer for a in annotations}),
        "lead_time": chosen.lead_time,
        "notes": chosen.notes,
        "diff": diff(changes),
        "task_id": task["id"],
        "project_id": task.get("project"),
        "generated_id": data["candidate_id"],
        "annotation_id": chosen.id,
        "updated_at": chosen.updated_at,
    }
    if len(annotations) > 1:
        review["policy"] = result.policy
        review["annotations"] = [
            {
                "id": a.id,
                "reviewer": a.reviewer,
                "verdict": a.verdict,
                "lead_time": a.lead_time,
                "notes": a.notes,
                "updated_at": a.updated_at,
                "diff": diff(apply_edits(generated, a)[1]),
            }
            for a in annotations
        ]
    example = generated if verdict == "rejected" else corrected
    return ReviewedRecord(id=example_id(example), example=example, provenance=provenance, review=review), changes
