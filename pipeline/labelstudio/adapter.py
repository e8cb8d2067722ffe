"""The Label Studio adapter: the labeling config for chat examples, tasks made from candidates, annotations read
back, and the server client (label-studio-sdk 2.x, legacy tokens and personal access tokens alike).

A task shows the conversation as dialogues (`Paragraphs`) with an editable `TextArea` after each dialogue for the
assistant turn that follows it, prefilled by a prediction whose `model_version` is the project's (Label Studio
prefills no other). A project's config has as many turn slots as its longest conversation; a task with fewer turns
says so in the unused slots. Assistant turns that call tools are shown, not edited. Messages after the last
assistant turn are not shown (a candidate ends with its assistant turn). Task data carries the candidate id, the
example and its provenance: never a key or a secret, and the task list's columns (`pipeline.labelstudio.view`).

It leaves out what review means (policies, verdicts, preference pairs): that is `pipeline.review.sync`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pipeline.config import Project
from pipeline.errors import RunError
from pipeline.labelstudio import view
from pipeline.schema import Record, content_text

if TYPE_CHECKING:
    from label_studio_sdk import AllRolesProjectList, ImportApiRequest, RoleBasedTask

MODEL_VERSION = "ftboot-generated"
ACCEPT, REJECT = "accept", "reject"
EXPORT_TIMEOUT = 600.0

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


# --- annotations back -------------------------------------------------------------------------------------


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


# --- the server ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundProject:
    """What the pipeline reads of an existing project: its id, labeling config and overlap."""

    id: int
    label_config: str
    maximum_annotations: int | None


class Server:
    """A Label Studio server reached with the SDK; every failure becomes one `RunError` line."""

    def __init__(self, url: str, api_key: str, key_name: str) -> None:
        self.url, self.key_name = url.rstrip("/"), key_name
        with self.calls():
            from label_studio_sdk import LabelStudio

            self.ls = LabelStudio(base_url=self.url, api_key=api_key, timeout=300, max_retries=3)

    @classmethod
    def connect(cls, project: Project) -> Server:
        """The server in $LABEL_STUDIO_URL (or the config's url), checked: reachable, and the key accepted."""
        settings = project.config.labelstudio
        url = os.environ.get("LABEL_STUDIO_URL") or settings.url
        key = os.environ.get(settings.api_key_env, "")
        if not url or not key:
            missing = "LABEL_STUDIO_URL" if not url else settings.api_key_env
            raise RunError(
                f"{missing} is not set", hint="start a local one with `export $(ftboot labelstudio start | tail -2)`"
            )
        server = cls(url, key, settings.api_key_env)
        with server.calls():
            server.ls.users.whoami()
        return server

    @contextmanager
    def calls(self) -> Iterator[None]:
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except httpx.TransportError as exc:
            raise RunError(
                f"cannot reach Label Studio at {self.url} ({type(exc).__name__})",
                hint="is it running? `ftboot labelstudio status`",
            ) from None
        except ApiError as exc:
            if exc.status_code in (401, 403):
                raise RunError(f"Label Studio at {self.url} refused the API key in {self.key_name}") from None
            detail = exc.body.get("detail", exc.body) if isinstance(exc.body, dict) else exc.body
            raise RunError(f"Label Studio at {self.url} answered {exc.status_code}: {str(detail)[:300]}") from None

    def find_project(self, title: str) -> FoundProject | None:
        """The project with this title (the oldest, if several), or None."""
        with self.calls():
            # The SDK's pager drops the item type its list() is declared with; these are its items.
            projects: Iterable[AllRolesProjectList] = self.ls.projects.list(title=title, page_size=100)
            found = [
                FoundProject(_id(p.id), p.label_config or "", p.maximum_annotations)
                for p in projects
                if p.title == title
            ]
        return min(found, key=lambda p: p.id) if found else None

    def pushed_project(self, title: str) -> FoundProject:
        """The project `ftboot review push` made under this title; RunError when there is none."""
        found = self.find_project(title)
        if found is None:
            raise RunError(
                f"no Label Studio project titled {title!r} at {self.url}", hint="`ftboot review push` creates it"
            )
        return found

    def ensure_project(self, title: str, slots: int, overlap: int = 1) -> tuple[int, int]:
        """(project id, turn slots) of the project with this title, created or widened to `slots` turns; every
        task waits for `overlap` reviewers (Label Studio's overlap settings)."""
        found = self.find_project(title)
        with self.calls():
            if found is None:
                created = self.ls.projects.create(
                    title=title,
                    label_config=labeling_config(slots),
                    model_version=MODEL_VERSION,
                    show_collab_predictions=True,
                    expert_instruction=view.INSTRUCTIONS,
                    show_instruction=True,
                    maximum_annotations=overlap,
                    overlap_cohort_percentage=100,
                )
                self._review_view(_id(created.id), slots)
                return _id(created.id), slots
            if found.maximum_annotations != overlap:
                self.ls.projects.update(found.id, maximum_annotations=overlap, overlap_cohort_percentage=100)
            have = config_slots(found.label_config)
            if slots > have:
                self.ls.projects.update(found.id, label_config=labeling_config(slots))
                self._review_view(found.id, slots)
            return found.id, max(have, slots)

    def _review_view(self, project_id: int, slots: int) -> None:
        """The data manager's tab for reviewers; a widened project's tab is updated in place, tabs the reviewers
        made themselves are left alone."""
        data = view.review_tab(slots)
        mine = [v for v in self.ls.views.list(project=project_id) if dict(v.data or {}).get("title") == data["title"]]
        if mine:
            self.ls.views.update(mine[0].id, project=project_id, data=data)
        else:
            self.ls.views.create(project=project_id, data=data)

    def candidate_ids(self, project_id: int) -> set[str]:
        return self.data_values(project_id, "candidate_id")

    def data_values(self, project_id: int, key: str) -> set[str]:
        """The value of one data field over every task of a project (what is already there)."""
        with self.calls():
            tasks: Iterable[RoleBasedTask] = self.ls.tasks.list(
                project=project_id, fields="task_only", include="id,data", page_size=1000
            )
            return {str(t.data.get(key)) for t in tasks}

    def ensure_plain_project(self, title: str, label_config: str) -> int:
        """The id of the project with this title, created with `label_config` when there is none."""
        found = self.find_project(title)
        with self.calls():
            return found.id if found else _id(self.ls.projects.create(title=title, label_config=label_config).id)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> None:
        with self.calls():
            # The SDK declares the tasks as ImportApiRequest, whose predictions demand the id of a task that does not
            # exist before the import; it sends plain dicts as they are.
            self.ls.projects.import_tasks(project_id, request=cast("list[ImportApiRequest]", tasks))

    def export(self, project_id: int) -> bytes:
        """The JSON export of every task with annotations, through an export snapshot (the plain export is slow
        on big projects); `pipeline.review.lsexport` reads it."""
        from label_studio_sdk import (
            LseTaskFilterOptionsRequest,
            SerializationOptionRequest,
            SerializationOptionsRequest,
        )

        exports = self.ls.projects.exports
        with self.calls():
            created = exports.create(
                project_id,
                title="ftboot review pull",
                task_filter_options=LseTaskFilterOptionsRequest(only_with_annotations=True),
                serialization_options=SerializationOptionsRequest(
                    drafts=SerializationOptionRequest(only_id=True),
                    predictions=SerializationOptionRequest(only_id=True),
                ),
            )
            snapshot_id, status = _id(created.id), created.status
            deadline = time.monotonic() + EXPORT_TIMEOUT
            while status not in ("completed", "failed") and time.monotonic() < deadline:
                time.sleep(0.5)
                status = exports.get(project_id, snapshot_id).status
            if status != "completed":
                raise RunError(f"Label Studio's export snapshot {snapshot_id} ended {status}")
            body = b"".join(exports.download(project_id, snapshot_id, export_type="JSON"))
            exports.delete(project_id, snapshot_id)
        return body

    def reviewers(self) -> dict[int, str]:
        with self.calls():
            return {u.id: u.email or u.username or str(u.id) for u in self.ls.users.list()}

    def add_reviewer(self, email: str, password: str) -> None:
        """A new account in the organisation, signed up through its invite link as a person would (the users API
        stores no password)."""
        import httpx

        with self.calls():
            if any(u.email == email for u in self.ls.users.list()):
                raise RunError(f"{email} already has an account at {self.url}")
            invite = self.ls.organizations.invites.get_invite_link().invite_url
            with httpx.Client(base_url=self.url, timeout=60) as http:
                form = http.get(invite).raise_for_status()
                csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
                answer = http.post(
                    invite,
                    headers={"Referer": f"{self.url}{invite}"},
                    data={"csrfmiddlewaretoken": csrf.group(1) if csrf else "", "email": email, "password": password},
                )
            if answer.status_code != 302:
                raise RunError(f"Label Studio at {self.url} refused the sign-up of {email} (HTTP {answer.status_code})")

    def task_count(self, project_id: int) -> int:
        with self.calls():
            return self.ls.projects.get(project_id).task_number or 0

    def task_url(self, project_id: int, task_id: int) -> str:
        return f"{self.url}/projects/{project_id}/data?task={task_id}"


def _id(value: int | None) -> int:
    """The id of an object Label Studio returned: the SDK's models declare every id optional, a saved one has it."""
    if value is None:
        raise RunError("Label Studio answered with an object that has no id")
    return value
