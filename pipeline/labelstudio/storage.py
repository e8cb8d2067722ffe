"""Which database a project's Label Studio runs on: SQLite, PostgreSQL at a DSN, or the local cluster.

`ftboot labelstudio start --database postgres --dsn DSN` points Label Studio at an existing database; Label
Studio migrates it on its first start. Without `--dsn`, `--database postgres` runs a local cluster
(`pipeline.labelstudio.pgcluster`). The data dir remembers the choice in `database` (mode 0600: a DSN may hold a
password, which is never printed), and keeps the engine it started with. `prepare` makes a data dir's database
ready, SQLite's included.

It leaves out Label Studio itself (`pipeline.labelstudio.server`), running the cluster
(`pipeline.labelstudio.pgcluster`) and reading the data (`pipeline.labelstudio.db`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import RunError
from pipeline.labelstudio.datadir import read_settings, write_settings
from pipeline.labelstudio.pgcluster import cluster, cluster_dir
from pipeline.labelstudio.postgres import Postgres, from_dsn, local


def _choice_file(state: Path) -> Path:
    return state / "database"


def saved(state: Path) -> dict[str, str]:
    """{'engine': 'postgres', 'dsn': ...} (no dsn: the local cluster), or {} for SQLite."""
    return read_settings(_choice_file(state))


def remember(state: Path, dsn: str | None) -> None:
    write_settings(_choice_file(state), {"engine": "postgres", **({"dsn": dsn} if dsn else {})})


def database(state: Path) -> Postgres | None:
    """The PostgreSQL database of the data dir `state`, or None when it uses SQLite."""
    choice = saved(state)
    if not choice:
        return None
    return from_dsn(choice["dsn"]) if choice.get("dsn") else local(cluster_dir(state))


def prepare(state: Path, engine: str | None, dsn: str | None, migrated: Callable[[str], Path]) -> bool:
    """The data dir's database made ready (SQLite copied from `migrated("sqlite")`, the local cluster started);
    True when it is new. An existing data dir keeps its engine: asking for another one is an error."""
    sqlite = state / "data" / "label_studio.sqlite3"
    chosen = saved(state)
    have = "postgres" if chosen else "sqlite" if sqlite.exists() else None
    wanted = engine or ("postgres" if dsn else have) or "sqlite"
    if have is not None and (wanted != have or (dsn is not None and not chosen.get("dsn"))):
        what = {"sqlite": "SQLite", "postgres": "PostgreSQL at a DSN" if chosen.get("dsn") else "a local PostgreSQL"}
        raise RunError(
            f"the data dir {state} already uses {what[have]}",
            hint="start without --database/--dsn, or use another data dir (LABEL_STUDIO_DATA_DIR)",
        )
    if wanted == "sqlite":
        if not sqlite.exists():
            sqlite.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copy(migrated("sqlite"), sqlite)
            sqlite.chmod(0o600)
        return have is None
    if dsn is not None or chosen.get("dsn"):
        remember(state, dsn or chosen["dsn"])  # a new DSN (a rotated password) replaces the saved one
        return have is None
    remember(state, None)
    return cluster(state, lambda: migrated("postgres"))[1]
