"""Label Studio installed once per user and version: its venv and a database migrated once.

The server is the open-source `label-studio` from PyPI. It pins `openai<2`, so it lives in its own venv, in a
per-user cache shared by every project: `~/.cache/ftboot/labelstudio-<version>/` (`$FTBOOT_CACHE_DIR`, else
`$XDG_CACHE_HOME/ftboot`), beside a database migrated once per version (a fresh data dir then starts in seconds
instead of 30-50 s of migrations): an SQLite file, or a dump of a PostgreSQL database
(`pipeline.labelstudio.pgcluster`). `$FTBOOT_LABELSTUDIO_VENV` names an existing venv of the same version to use
instead. Several projects may install or migrate at once: one does, the others wait on a lock in the cache.

It leaves out one project's data dir (`pipeline.labelstudio.datadir`) and running the server
(`pipeline.labelstudio.server`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import RunError
from pipeline.labelstudio import pgcluster

VERSION = "1.23.2"
Note = Callable[[str], None]

# The organisation reads the legacy-token switch only when it is first created; the version check would call
# PyPI on every start.
SERVER_ENV = {"LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LATEST_VERSION_CHECK": "false"}


def cache_dir() -> Path:
    """This Label Studio version's per-user cache: its venv and its migrated database."""
    base = (
        os.environ.get("FTBOOT_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftboot"
    )
    return Path(base).expanduser() / f"labelstudio-{VERSION}"


def venv_dir() -> Path:
    return Path(os.environ.get("FTBOOT_LABELSTUDIO_VENV") or cache_dir() / "venv").expanduser()


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """Several projects (and people's shells) may install or migrate at once: one does, the others wait."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise RunError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)[:500]}")
    return done.stdout


def _installed(venv: Path) -> bool:
    stamp = venv / ".version"
    return (venv / "bin" / "label-studio").exists() and stamp.is_file() and stamp.read_text().strip() == VERSION


def install(note: Note) -> Path:
    """Label Studio's venv, installed when missing; returns the `label-studio` executable."""
    venv = venv_dir()
    program = venv / "bin" / "label-studio"
    if _installed(venv):
        return program
    if "FTBOOT_LABELSTUDIO_VENV" in os.environ:
        raise RunError(
            f"$FTBOOT_LABELSTUDIO_VENV ({venv}) holds no label-studio {VERSION}",
            hint="unset it to use the per-user cache, or install that version there",
        )
    with _locked("install"):
        if not _installed(venv):
            note(f"installing label-studio {VERSION} into {venv} (a few minutes, once per user)")
            _run([sys.executable, "-m", "venv", "--clear", str(venv)], "creating Label Studio's venv")
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            _run([*pip, f"label-studio=={VERSION}"], f"pip install label-studio=={VERSION}")
            (venv / ".version").write_text(VERSION + "\n")
    return program


def migrated_database(program: Path, note: Note, engine: str = "sqlite") -> Path:
    """A database with every migration of this version applied, made once (`label-studio version` migrates):
    an SQLite file, or for "postgres" a dump of a scratch cluster's database."""
    cached = cache_dir() / ("migrated.sqlite3" if engine == "sqlite" else "migrated.pgdump")
    with _locked("migrate"):
        if not cached.exists():
            note(
                f"migrating a fresh {engine} database once for label-studio {VERSION} "
                f"({'30-50 s' if engine == 'sqlite' else 'a few minutes'})"
            )
            scratch = cache_dir() / f"migrating.{os.getpid()}"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            env = {**os.environ, **SERVER_ENV}
            cluster = pgcluster.cluster_dir(scratch) if engine == "postgres" else None
            try:
                if cluster is not None:
                    env.update(pgcluster.new_cluster(cluster, None).env())
                _run(
                    [str(program), "version", "--data-dir", str(scratch)], "migrating Label Studio's database", env=env
                )
                if cluster is None:
                    shutil.copy(scratch / "label_studio.sqlite3", cached.with_suffix(".part"))
                else:
                    pgcluster.dump(cluster, cached.with_suffix(".part"))
            finally:
                if cluster is not None:
                    pgcluster.stop_cluster(cluster)
                    shutil.rmtree(cluster, ignore_errors=True)
            os.replace(cached.with_suffix(".part"), cached)
            shutil.rmtree(scratch, ignore_errors=True)
    return cached
