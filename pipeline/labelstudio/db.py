"""Reading the database of the Label Studio that ftboot runs for this project, read-only, for `review status`.

Every HTTP read path of Label Studio that carries annotations serialises far more than status needs: the export
snapshot took 79 s on 10,000 reviewed tasks, the data manager's task list 17-23 s even with `include=` narrowed
to ids and data. One SQL query over the tasks with annotations takes well under a second. It is used only when
LABEL_STUDIO_URL is the address of the server that `ftboot labelstudio start` runs from this project's data dir
(its pid alive, its url file the same), on SQLite or PostgreSQL; any other server, a team's remote one included, is read through the
API by `pipeline.review.status`. The tasks come back in the export's shape, reduced to what status reads: the
task's id and `data.example`, and each annotation's id, reviewer id, skip flag, lead time, result and times.

It leaves out writing (the connection is read-only) and what the annotations mean (`pipeline.labelstudio`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from pipeline.errors import RunError
from pipeline.labelstudio import storage
from pipeline.labelstudio.datadir import DataDir

# Label Studio's own table names (tasks.models): task, task_completion (its annotations).
_ANNOTATIONS = (
    "SELECT t.id, t.data, c.id, c.completed_by_id, c.was_cancelled, c.lead_time, c.result, "
    "c.created_at, c.updated_at FROM task t JOIN task_completion c ON c.task_id = t.id "
    "WHERE t.project_id = {project} ORDER BY t.id, c.id"
)
_TASK_COUNT = "SELECT count(*) FROM task WHERE project_id = {project}"


def local_data(project_root: Any, url: str) -> DataDir | None:
    """The project's data dir when the server at `url` is the one ftboot runs from it, else None."""
    data = DataDir.of(project_root)
    if data.pid() is None or (data.url() or "").rstrip("/") != url.rstrip("/"):
        return None
    return data


@contextmanager
def connect(data: DataDir) -> Iterator[Any]:
    """A read-only DB-API connection to the server's database, SQLite or PostgreSQL."""
    postgres = storage.database(data.state)
    if postgres is not None:
        import psycopg

        try:
            connection = postgres.connect()
        except psycopg.Error as exc:  # its first line names host and reason, never the password
            raise RunError(
                f"cannot read Label Studio's PostgreSQL database on {postgres.host}: "
                f"{str(exc).strip().splitlines()[0][:300]}"
            ) from None
        connection.read_only = True
    else:
        path = data.path("data") / "label_studio.sqlite3"
        # mode=ro: no write can happen by mistake; the timeout waits out the server's own short write locks.
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def _json(value: Any) -> Any:
    # SQLite keeps JSON as text; PostgreSQL's driver hands it over parsed.
    return json.loads(value) if isinstance(value, str | bytes) else value


def annotated_tasks(data: DataDir, project_id: int) -> tuple[list[dict[str, Any]], int]:
    """(The project's tasks with annotations, skips included, in the export's shape; how many tasks it has.)"""
    tasks: list[dict[str, Any]] = []
    with connect(data) as db:
        cursor = db.cursor()
        cursor.execute(_ANNOTATIONS.format(project=int(project_id)))
        for task_id, task_data, *annotation in cursor:
            if not tasks or tasks[-1]["id"] != task_id:
                tasks.append({"id": task_id, "data": {"example": _json(task_data)["example"]}, "annotations": []})
            annotation_id, who, cancelled, lead_time, result, created, updated = annotation
            tasks[-1]["annotations"].append(
                {
                    "id": annotation_id,
                    "completed_by": who,
                    "was_cancelled": bool(cancelled),
                    "lead_time": lead_time,
                    "result": _json(result),
                    "created_at": str(created),
                    "updated_at": str(updated),
                }
            )
        cursor.execute(_TASK_COUNT.format(project=int(project_id)))
        total = cursor.fetchone()[0]
    return tasks, int(total)
