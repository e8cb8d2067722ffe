"""Label Studio tasks for chat examples: the labeling config, tasks made from candidates, and annotations read
back.

A task shows the conversation as dialogues (`Paragraphs`) with an editable `TextArea` after each dialogue for the
assistant turn that follows it, prefilled by a prediction whose `model_version` is the project's (Label Studio
prefills no other). A project's config has as many turn slots as its longest conversation; a task with fewer turns
says so in the unused slots. Assistant turns that call tools are shown, not edited. Messages after the last
assistant turn are not shown (a candidate ends with its assistant turn). Task data carries the candidate id, the
example and its provenance: never a key or a secret, and the task list's columns (`pipeline.labelstudio.view`).

It leaves out the server (`pipeline.labelstudio.adapter`) and what review means (policies, verdicts, preference
pairs): that is `pipeline.review.pull`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pipeline.labelstudio import view
from pipeline.schema import Record, content_text

MODEL_VERSION = "ftboot-generated"
ACCEPT, REJECT = "accept", "reject"

# Paragraphs draws audio timestamps (00:00:00) and a filter by speaker, which mean nothing here, and folds line
# breaks, which a reviewer must see.
_STYLE = (
    '.lsf-paragraphs span[class^="time--"], .lsf-paragraphs div[class^="authorFilter--"] { display: none; } '
    '.lsf-paragraphs span[class^="dialoguetext--"] { white-space: pre-wrap; }'
)


def labeling_config(slots: int) -> str:
    """The labeling config for conversations with up to `slots` editable assistant turns."""
    turns = "".join(
        f'  <Paragraphs name="dialogue_{k}" value="$dialogue_{k}" layout="dialogue" nameKey="role" textKey="content"/>\n'
        f'  <Header value="$title_{k}" size="6"/>\n'
        f'  <TextArea name="reply_{k}" toName="dialogue_{k}" editable="true" maxSubmissions="1" rows="6"/>\n'
        for k in range(1, slots + 1)
    )
    return (
        "<View>\n"
        f"  <Style>{_STYLE}</Style>\n"
        '  <Header value="$info" size="5"/>\n'
        f"{turns}"
        '  <Header value="Verdict: accept keeps the example (with your edits), reject drops it" size="6"/>\n'
        f'  <Choices name="verdict" toName="dialogue_1" choice="single-radio" required="true" showInline="true">\n'
        f'    <Choice value="{ACCEPT}" hotkey="a"/>\n'
        f'    <Choice value="{REJECT}" hotkey="r"/>\n'
        "  </Choices>\n"
        '  <Header value="Notes (optional)" size="6"/>\n'
        '  <TextArea name="notes" toName="dialogue_1" editable="true" maxSubmissions="1" rows="2"/>\n'
        "  <Collapse>\n"
        '    <Panel value="Nearest seed">\n'
        '      <Paragraphs name="seed" value="$seed" layout="dialogue" nameKey="role" textKey="content"/>\n'
        "    </Panel>\n"
        "  </Collapse>\n"
        "</View>\n"
    )


def config_slots(config: str) -> int:
    """How many turn slots a project's labeling config has."""
    return max((int(k) for k in re.findall(r'name="reply_(\d+)"', config or "")), default=0)


def editable_turns(example: dict[str, Any]) -> list[int]:
    """Indices of the assistant messages a reviewer may correct: those with text, not tool calls."""
    return [
        i for i, m in enumerate(example.get("messages", [])) if m.get("role") == "assistant" and not m.get("tool_calls")
    ]


def _shown(message: dict[str, Any]) -> dict[str, str]:
    """A message as a dialogue line: its text, or its tool calls spelled out."""
    text = content_text(message.get("content"))
    calls = [f"→ {c['function']['name']}({c['function']['arguments']})" for c in message.get("tool_calls") or []]
    role = message["role"] + (f" ({message['name']})" if message.get("name") else "")
    return {"role": role, "content": "\n".join(filter(None, [text, *calls]))}


def _dialogue(messages: list[dict[str, Any]], empty: str) -> list[dict[str, str]]:
    # Label Studio's editor fails on an empty Paragraphs list, so an empty stretch says why it is empty.
    return [_shown(m) for m in messages] or [{"role": "note", "content": empty}]


def _info(provenance: dict[str, Any]) -> str:
    similarity = provenance.get("nearest_seed_similarity")
    parts = [
        f"round {provenance.get('round', '–')}",
        f"nearest seed {provenance.get('nearest_seed') or '–'}"
        + (f" (similarity {similarity:.2f})" if isinstance(similarity, int | float) else ""),
    ]
    if provenance.get("shots"):
        parts.append(f"shots {', '.join(map(str, provenance['shots']))}")
    return "Generated: " + " · ".join(parts)


def make_task(record: Record, slots: int, seeds: dict[str, Record]) -> dict[str, Any]:
    """One Label Studio task (data and the prefilling prediction) for a candidate record."""
    messages = record.example["messages"]
    turns = editable_turns(record.example)
    seed = seeds.get(str(record.provenance.get("nearest_seed")))
    data: dict[str, Any] = {
        **view.columns(messages, turns, record.provenance),
        "candidate_id": record.id,
        "turns": len(turns),
        "info": _info(record.provenance),
        "seed": _dialogue(seed.example["messages"] if seed else [], "no nearest seed recorded"),
        "example": record.example,
        "provenance": record.provenance,
    }
    result = []
    start = 0
    for k in range(1, slots + 1):
        if k <= len(turns):
            index = turns[k - 1]
            data[f"dialogue_{k}"] = _dialogue(messages[start:index], "(the assistant speaks again)")
            data[f"title_{k}"] = f"Assistant turn {k} of {len(turns)}: click the pencil to edit it"
            result.append(
                {
                    "from_name": f"reply_{k}",
                    "to_name": f"dialogue_{k}",
                    "type": "textarea",
                    "value": {"text": [content_text(messages[index].get("content"))]},
                }
            )
            start = index + 1
        else:
            data[f"dialogue_{k}"] = _dialogue(messages[start:] if k == 1 else [], f"(no assistant turn {k} here)")
            data[f"title_{k}"] = f"This conversation has no assistant turn {k}: leave the box below empty"
    return {"data": data, "predictions": [{"model_version": MODEL_VERSION, "result": result}]}


@dataclass
class Annotation:
    """One submitted annotation, read: who, when, the verdict, the text of each turn and the notes."""

    id: int
    reviewer: str
    verdict: str | None
    replies: dict[int, str]  # message index → the text the reviewer left (missing: the box was emptied)
    notes: str
    lead_time: float | None
    updated_at: str


def _text(item: dict[str, Any]) -> str:
    text = item.get("value", {}).get("text", [])
    return "\n".join(text) if isinstance(text, list) else str(text)


def read_annotations(task: dict[str, Any], reviewers: dict[int, str]) -> list[Annotation]:
    """The task's submitted annotations, oldest first. Skips (`was_cancelled`) are not reviews; drafts are never
    in `annotations`. Keys of a result item other than from_name/value (`id`, `origin`, ...) do not matter."""
    turns = editable_turns(task["data"]["example"])
    out = []
    for raw in task.get("annotations") or []:
        if raw.get("was_cancelled"):
            continue
        by_name = {item.get("from_name"): item for item in raw.get("result") or []}
        choices = by_name.get("verdict", {}).get("value", {}).get("choices") or [None]
        replies = {
            index: _text(by_name[f"reply_{k}"]) for k, index in enumerate(turns, start=1) if f"reply_{k}" in by_name
        }
        who = raw.get("completed_by")
        reviewer = (who.get("email") or str(who.get("id"))) if isinstance(who, dict) else reviewers.get(who, str(who))
        out.append(
            Annotation(
                raw["id"],
                reviewer,
                choices[0],
                replies,
                _text(by_name.get("notes", {})).strip(),
                raw.get("lead_time"),
                str(raw.get("updated_at") or raw.get("created_at") or ""),
            )
        )
    return sorted(out, key=lambda a: (a.updated_at, a.id))


def is_skipped(task: dict[str, Any]) -> bool:
    return any(a.get("was_cancelled") for a in task.get("annotations") or [])
