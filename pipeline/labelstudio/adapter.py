"""The Label Studio adapter: a server reached with the SDK (label-studio-sdk 2.x, legacy tokens and personal access
tokens alike): projects found, created and widened, tasks imported, annotations exported, reviewers added. Every
failure becomes one `RunError` line that names the server and never the key.

It leaves out what a task and an annotation hold (`pipeline.labelstudio.tasks`) and what review means (policies,
verdicts, preference pairs): that is `pipeline.review.pull`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from pipeline.errors import RunError
from pipeline.labelstudio import view
from pipeline.labelstudio.tasks import MODEL_VERSION, config_slots, labeling_config
from pipeline.llm.endpoint import read_key
from pipeline.project import Project

if TYPE_CHECKING:
    from label_studio_sdk import AllRolesProjectList, ImportApiRequest, RoleBasedTask

EXPORT_TIMEOUT = 600.0


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
        key = read_key(settings.api_key_env)
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
