"""What a reviewer sees around the labeling editor: the task list's columns and the project's instructions.

Each task carries short, scannable columns (the user's request and the generated answer as short text, the round,
the similarity to the nearest seed, a judge score where generation recorded one as `judge_score`); the project's
Review tab shows them, sortable, and hides the raw JSON. The reviewer guide's rules are the project's
instructions, which Label Studio shows before the first task.

It leaves out the labeling config and the tasks' other data (`pipeline.labelstudio.tasks`).
"""

from __future__ import annotations

from typing import Any

from pipeline.schema import content_text

COLUMNS = ("request", "answer", "round", "similarity", "judge")
SHORT = 160

INSTRUCTIONS = (
    "<h3>Reviewing generated examples</h3><ol>"
    "<li>Read the conversation and the assistant's response (prefilled with what the model generated).</li>"
    "<li>To <b>correct</b> it, click the pencil beside the response and edit the text in place. Fix facts, tone, "
    "length, format: whatever the example should teach.</li>"
    "<li>Choose <b>accept</b> (<code>a</code>) to keep the example as it now reads, or <b>reject</b> "
    "(<code>r</code>) to drop it: what cannot be fixed quickly, teaches the wrong thing, or repeats a seed almost "
    "word for word (a <i>similarity</i> near 1 means the model copied its nearest seed).</li>"
    "<li>Optionally write a <b>note</b>; it travels with the reviewed record.</li>"
    "<li><b>Submit</b> (<code>Ctrl+Enter</code>), or <b>Skip</b> (<code>Ctrl+Space</code>) when you cannot "
    "judge: a skip is not a review.</li></ol>"
    '<p>Do not empty a response to say "bad": reject it. The task list can be sorted by round, similarity '
    "and judge score, to start with the most copied or the weakest.</p>"
)


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHORT else text[: SHORT - 1].rstrip() + "…"


def columns(messages: list[dict[str, Any]], turns: list[int], provenance: dict[str, Any]) -> dict[str, Any]:
    """The data manager's scannable columns: the last user message before the first editable turn, that turn,
    and numbers a reviewer may sort by (None where generation did not record them)."""
    first = turns[0] if turns else len(messages)
    asked = [m for m in messages[:first] if m.get("role") == "user"]
    number = lambda v: v if isinstance(v, int | float) and not isinstance(v, bool) else None  # noqa: E731
    return {
        "request": short(content_text(asked[-1].get("content")) if asked else ""),
        "answer": short(content_text(messages[first].get("content")) if turns else ""),
        "round": number(provenance.get("round")),
        "similarity": number(provenance.get("nearest_seed_similarity")),
        "judge": number(provenance.get("judge_score")),
    }


def review_tab(slots: int) -> dict[str, Any]:
    """The data manager's Review tab for a project with `slots` turn slots: the raw columns (JSON, dialogues, and
    the built-in ones a reviewer does not need) hidden, the numbers sorted as numbers."""
    raw = [
        "candidate_id",
        "turns",
        "info",
        "seed",
        "example",
        "provenance",
        *(f"{kind}_{k}" for k in range(1, slots + 1) for kind in ("dialogue", "title")),
    ]
    builtin = [
        "inner_id",
        "completed_at",
        "avg_lead_time",
        "cancelled_annotations",
        "total_predictions",
        "annotations_results",
        "annotations_ids",
        "predictions_score",
        "predictions_model_versions",
        "predictions_results",
        "file_upload",
        "storage_filename",
        "created_at",
        "updated_at",
        "updated_by",
        "draft_exists",
    ]
    hidden = [f"tasks:{name}" for name in builtin] + [f"tasks:data.{name}" for name in raw]
    return {
        "title": "Review",
        "hiddenColumns": {"explore": hidden, "labeling": hidden},
        "columnsDisplayType": {f"tasks:data.{name}": "Number" for name in ("round", "similarity", "judge")},
    }
