"""A real Label Studio for the test session, and reviewers who annotate through its API.

`labelstudio` starts the server once per session and database with `ftboot labelstudio start` on a throw-away
data dir (the migrated database is cached per user, so a start takes about 4 s on SQLite and 10-20 s on a local
PostgreSQL cluster after the first) and stops it at the end. The review tests of the modules in `BOTH_DATABASES`
run on SQLite and on PostgreSQL; the others (the browser test among them) on SQLite only, to keep the suite short. A
checkout's `.venv-labelstudio`, when there is one, stands in for the per-user cache's venv (the same version).
`review_project` is the demo project with its own Label Studio project title and the server's URL and key in
the environment. `Reviewer.submit` posts what the labeling editor posts on Submit: the prefilled prediction's
result (its text changed where the reviewer edited, `origin: prediction-changed`), the choice, the notes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
DATABASES = ("sqlite", "postgres")
BOTH_DATABASES = {"test_review", "test_review_keep", "test_review_status", "test_review_status_read"}
POSTGRES_ONLY = {"test_labelstudio_pg"}
ADMIN, PASSWORD = "admin@example.com", "ftboot-test-admin"


@dataclass
class LabelStudioServer:
    url: str
    api_key: str
    state: Path
    env: dict[str, str]

    def client(self):  # -> label_studio_sdk.LabelStudio
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.api_key)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.api_key}"}, timeout=60)

    def user(self, email: str) -> int:
        """The id of the user with this email, created when missing."""
        ls = self.client()
        for user in ls.users.list():
            if user.email == email:
                return user.id
        return ls.users.create(username=email.split("@")[0], email=email, password=uuid.uuid4().hex).id


def server_env(**extra: str) -> dict[str, str]:
    """The environment without any LABEL_STUDIO_ variable of the caller's, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    if "FTBOOT_LABELSTUDIO_VENV" not in env and (REPO / ".venv-labelstudio" / "bin" / "label-studio").exists():
        env["FTBOOT_LABELSTUDIO_VENV"] = str(REPO / ".venv-labelstudio")
    return {**env, **extra}


def ftboot_labelstudio(
    command: str | list[str], env: dict[str, str], project: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """`ftboot labelstudio COMMAND [ARGS]` in a process of its own, as a user runs it."""
    words = [command] if isinstance(command, str) else command
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "--project", str(project), "labelstudio", *words],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def server_lines(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.strip().splitlines()[-2:])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "labelstudio" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        databases = (
            DATABASES if module in BOTH_DATABASES else DATABASES[1:] if module in POSTGRES_ONLY else DATABASES[:1]
        )
        metafunc.parametrize("labelstudio", databases, indirect=True, scope="session")


@pytest.fixture(scope="session")
def labelstudio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from pipeline.labelstudio.pgcluster import cluster_dir

    database = getattr(request, "param", "sqlite")
    state = tmp_path_factory.mktemp(f"ls-{database}")
    env = server_env(LABEL_STUDIO_DATA_DIR=str(state), LABEL_STUDIO_USERNAME=ADMIN, LABEL_STUDIO_PASSWORD=PASSWORD)
    started = ftboot_labelstudio(["start", "--database", database], env)
    if started.returncode != 0:
        pytest.fail(f"ftboot labelstudio start --database {database} failed:\n{started.stderr[-3000:]}")
    lines = server_lines(started.stdout)
    server = LabelStudioServer(lines["LABEL_STUDIO_URL"], lines["LABEL_STUDIO_API_KEY"], state, env)
    yield server
    ftboot_labelstudio("stop", env)
    if (state / "postgres").is_symlink():  # a cluster run as root lives outside the throw-away data dir
        shutil.rmtree(cluster_dir(state), ignore_errors=True)


@pytest.fixture
def review_project(project: Path, labelstudio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo project, with a Label Studio project of its own, and the server in the environment (its data dir
    too, as when the project's own server runs: `review status` then reads its database)."""
    config = project / "ftboot.toml"
    title = f"test {uuid.uuid4().hex[:10]}"
    text = re.sub(r"(?m)^project_title = .*$", f'project_title = "{title}"', config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LABEL_STUDIO_URL", labelstudio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.api_key)
    monkeypatch.setenv("LABEL_STUDIO_DATA_DIR", str(labelstudio.state))
    return project


def manual_region(from_name: str, to_name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    """One region of an annotation's result as a person's click in the Label Studio editor makes it."""
    return {
        "id": uuid.uuid4().hex[:10],
        "from_name": from_name,
        "to_name": to_name,
        "type": kind,
        "origin": "manual",
        "value": value,
    }


@dataclass
class Reviewer:
    """Annotates tasks of one project through the API, as the labeling editor does."""

    server: LabelStudioServer
    project_id: int

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Candidate id → task (with its predictions)."""
        with self.server.http() as http:
            rows = (
                http.get("/api/tasks", params={"project": self.project_id, "page_size": 10000, "fields": "all"})
                .raise_for_status()
                .json()["tasks"]
            )
            out = {}
            for row in rows:
                row["predictions"] = http.get("/api/predictions", params={"task": row["id"]}).raise_for_status().json()
                out[row["data"]["candidate_id"]] = row
            return out

    def submit(
        self,
        task: dict[str, Any],
        verdict: str | None,
        edits: dict[int, str] | None = None,
        notes: str = "",
        by: str | None = None,
        lead_time: float = 12.5,
        cancelled: bool = False,
    ) -> int:
        """Submit an annotation; `edits` maps turn slot (1, 2, ...) to the new text (None removes the box's text)."""
        prediction = task["predictions"][0]
        result = []
        for item in prediction["result"]:
            slot = int(item["from_name"].split("_")[1])
            item = {**item, "id": uuid.uuid4().hex[:10], "origin": "prediction"}
            if edits and slot in edits:
                if edits[slot] is None:
                    continue
                item = {**item, "value": {"text": [edits[slot]]}, "origin": "prediction-changed"}
            result.append(item)
        if verdict:
            result.append(manual_region("verdict", "dialogue_1", "choices", {"choices": [verdict]}))
        if notes:
            result.append(manual_region("notes", "dialogue_1", "textarea", {"text": [notes]}))
        body: dict[str, Any] = {
            "result": [] if cancelled else result,
            "lead_time": lead_time,
            "was_cancelled": cancelled,
            "parent_prediction": prediction["id"],
            "project": self.project_id,
        }
        if by:
            body["completed_by"] = self.server.user(by)
        with self.server.http() as http:
            answer = http.post(f"/api/tasks/{task['id']}/annotations", params={"project": self.project_id}, json=body)
            return answer.raise_for_status().json()["id"]

    def update(
        self, annotation_id: int, task: dict[str, Any], verdict: str, edits: dict[int, str] | None = None
    ) -> None:
        """Change a submitted annotation, as reopening and updating it in the editor does."""
        with self.server.http() as http:
            old = http.get(f"/api/annotations/{annotation_id}").raise_for_status().json()
        result = [r for r in old["result"] if r["from_name"] != "verdict"]
        for item in result:
            slot = item["from_name"].removeprefix("reply_")
            if edits and slot.isdigit() and int(slot) in edits:
                item["value"] = {"text": [edits[int(slot)]]}
                item["origin"] = "prediction-changed"
        result.append(
            {
                "id": uuid.uuid4().hex[:10],
                "from_name": "verdict",
                "to_name": "dialogue_1",
                "type": "choices",
                "origin": "manual",
                "value": {"choices": [verdict]},
            }
        )
        with self.server.http() as http:
            http.patch(f"/api/annotations/{annotation_id}", json={"result": result}).raise_for_status()

    def draft(self, task: dict[str, Any], verdict: str) -> None:
        with self.server.http() as http:
            http.post(
                f"/api/tasks/{task['id']}/drafts",
                json={
                    "lead_time": 3.0,
                    "result": [
                        {
                            "from_name": "verdict",
                            "to_name": "dialogue_1",
                            "type": "choices",
                            "value": {"choices": [verdict]},
                        }
                    ],
                },
            ).raise_for_status()


def project_id(server: LabelStudioServer, title: str) -> int:
    return next(p.id for p in server.client().projects.list() if p.title == title)
