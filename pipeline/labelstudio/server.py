"""A local Label Studio for one project: install, start, stop, status, and the admin's credentials.

The server is the open-source `label-studio` from PyPI. It pins `openai<2`, so it lives in its own venv, in a
per-user cache shared by every project: `~/.cache/ftboot/labelstudio-<version>/` (`$FTBOOT_CACHE_DIR`, else
`$XDG_CACHE_HOME/ftboot`), beside a database migrated once per version (a fresh data dir then starts in seconds
instead of 30-50 s of migrations). `$FTBOOT_LABELSTUDIO_VENV` names an existing venv of the same version to use
instead. Each project keeps its own data dir, `.labelstudio/` (mode 0700: it holds the admin's password and
token), with the database, the log, the pid, the address and the credentials. The server listens on 127.0.0.1
only. The admin's email and password come from LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD, or are generated
on the first start; set later to other values, they are applied to the admin with Label Studio's own
`manage.py shell`, or a note says why not. The database is SQLite unless the first start asks for PostgreSQL
(`pipeline.labelstudio.storage`); the data dir keeps the one it started with.

It leaves out Label Studio's API (projects, tasks, reviewers: `pipeline.labelstudio.adapter`) and printing (the CLI).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import RunError
from pipeline.labelstudio import pgcluster, storage

VERSION = "1.23.2"
DEFAULT_ADMIN = "admin@example.com"
Note = Callable[[str], None]

# The organisation reads the legacy-token switch only when it is first created; the version check would call
# PyPI on every start.
_SERVER_ENV = {"LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LATEST_VERSION_CHECK": "false"}
_LISTENING = re.compile(r"Starting development server at (http://[0-9.:]+)")


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
            env = {**os.environ, **_SERVER_ENV}
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


# --- one project's data dir ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    token: str


@dataclass(frozen=True)
class DataDir:
    """A project's `.labelstudio/`: what the server keeps there, and what ftboot keeps beside it."""

    state: Path

    @classmethod
    def of(cls, project_root: Path) -> DataDir:
        return cls(Path(os.environ.get("LABEL_STUDIO_DATA_DIR") or project_root / ".labelstudio").resolve())

    def path(self, name: str) -> Path:
        return self.state / name

    def make(self) -> None:
        """The data dir, private to its owner, an existing one included: the database holds the API token too."""
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        if self.path("data").is_dir():
            self.path("data").chmod(0o700)
        database = self.path("data") / "label_studio.sqlite3"
        if database.exists():
            database.chmod(0o600)

    def credentials(self) -> Credentials | None:
        path = self.path("credentials")
        if not path.exists():
            return None
        # key=value lines, shell-quoted (the format the former shell script wrote)
        values = dict(word.split("=", 1) for word in shlex.split(path.read_text(encoding="utf-8")) if "=" in word)
        return Credentials(values.get("email", DEFAULT_ADMIN), values.get("password", ""), values.get("token", ""))

    def save(self, creds: Credentials) -> None:
        path = self.path("credentials")
        part = path.with_suffix(".part")
        with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in vars(creds).items()))
        os.replace(part, path)

    def pid(self) -> int | None:
        """The server's pid while it runs."""
        try:
            pid = int(self.path("server.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def url(self) -> str | None:
        path = self.path("url")
        return path.read_text().strip() if path.exists() else None


@dataclass(frozen=True)
class Running:
    url: str
    api_key: str
    state: Path


def _healthy(url: str | None) -> bool:
    import httpx

    try:
        return url is not None and httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def status(data: DataDir) -> Running | None:
    creds = data.credentials()
    if data.pid() is None or creds is None or not _healthy(url := data.url()):
        return None
    return Running(url, creds.token, data.state)  # type: ignore[arg-type]


def _server_env(data: DataDir) -> dict[str, str]:
    """Label Studio's settings for this data dir: ftboot's, and the PostgreSQL database when it has one."""
    database = storage.database(data.state)
    return {**_SERVER_ENV, **(database.env() if database else {})}


def _update_admin(program: Path, data: DataDir, old: Credentials, new: Credentials) -> str | None:
    """Apply a changed email or password to the admin with Label Studio's `manage.py shell`; None, or why not.
    The values go through the environment, not the command line that `ps` shows."""
    manage = next(program.parent.parent.glob("lib/python*/site-packages/label_studio/manage.py"), None)
    if manage is None:
        return "Label Studio's manage.py was not found"
    code = (
        "import os, sys\nfrom users.models import User\ne = os.environ\n"
        "user = User.objects.filter(email=e['FTBOOT_OLD_EMAIL']).first()\n"
        "if user is None: sys.exit('the saved admin ' + e['FTBOOT_OLD_EMAIL'] + ' is not in the database')\n"
        "if e['FTBOOT_NEW_EMAIL'] != user.email and User.objects.filter(email=e['FTBOOT_NEW_EMAIL']).exists():\n"
        "    sys.exit(e['FTBOOT_NEW_EMAIL'] + ' is already another account')\n"
        "user.email = e['FTBOOT_NEW_EMAIL']\nuser.set_password(e['FTBOOT_NEW_PASSWORD'])\nuser.save()\n"
    )
    env = {
        **os.environ,
        **_server_env(data),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data.path("data")),
        "FTBOOT_OLD_EMAIL": old.email,
        "FTBOOT_NEW_EMAIL": new.email,
        "FTBOOT_NEW_PASSWORD": new.password,
    }
    done = subprocess.run(
        [str(program.parent / "python"), str(manage), "shell", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["manage.py shell failed"])[-1][:300]
    return None


def _credentials(program: Path, data: DataDir, fresh: bool, note: Note) -> Credentials:
    """The admin's credentials: saved, or from the environment, or generated (and printed once)."""
    saved = data.credentials()
    email = os.environ.get("LABEL_STUDIO_USERNAME") or (saved.email if saved else DEFAULT_ADMIN)
    password = os.environ.get("LABEL_STUDIO_PASSWORD") or (saved.password if saved else "")
    wanted = Credentials(email, password or secrets.token_urlsafe(12), saved.token if saved else secrets.token_hex(20))
    if saved is None or fresh:
        data.save(wanted)
        if not password:
            note(f"admin login: {email} / {wanted.password} (saved in {data.path('credentials')})")
        return wanted
    if wanted == saved:
        return saved
    why = _update_admin(program, data, saved, wanted)
    if why is not None:
        note(
            f"LABEL_STUDIO_USERNAME/PASSWORD differ from the saved admin and were not applied ({why}); "
            f"log in as {saved.email} with the password in {data.path('credentials')}"
        )
        return saved
    data.save(wanted)
    note(f"admin updated from LABEL_STUDIO_USERNAME/PASSWORD: log in as {wanted.email}")
    return wanted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    data: DataDir,
    note: Note,
    port: int | None = None,
    timeout: float = 300.0,
    engine: str | None = None,
    dsn: str | None = None,
) -> Running:
    """The project's server, started unless it already runs (on `engine`'s database, or at `dsn`, for a new data
    dir); credentials applied either way."""
    program = install(note)
    data.make()
    fresh = storage.prepare(data.state, engine, dsn, lambda kind: migrated_database(program, note, kind))
    creds = _credentials(program, data, fresh, note)
    if (running := status(data)) is not None:
        return running
    log = data.path("server.log")
    env = {
        **os.environ,
        **_server_env(data),
        "LABEL_STUDIO_USERNAME": creds.email,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "LABEL_STUDIO_USER_TOKEN": creds.token,
    }
    with open(log, "w") as out:
        # its own session: the server outlives this command and stops as one process group
        server = subprocess.Popen(
            [
                str(program),
                "start",
                "--no-browser",
                "--data-dir",
                str(data.path("data")),
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(port or _free_port()),
                "--enable-legacy-api-token",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    data.path("server.pid").write_text(f"{server.pid}\n")
    data.path("url").unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            raise RunError(f"Label Studio exited while starting: {tail[:500]}", hint=f"the whole log is {log}")
        # Label Studio moves to the next port when the chosen one is taken: read the one it really listens on.
        if data.url() is None and (found := _LISTENING.search(log.read_text(errors="replace"))):
            data.path("url").write_text(found.group(1) + "\n")
        if _healthy(data.url()):
            return Running(data.url(), creds.token, data.state)  # type: ignore[arg-type]
        time.sleep(0.3)
    stop(data)
    raise RunError(f"Label Studio did not answer /health within {timeout:.0f} s", hint=f"see {log}")


def stop(data: DataDir) -> bool:
    """Stop the project's server, then its local PostgreSQL cluster; False when the server was not running."""
    pid = data.pid()
    if pid is not None:
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # a server started by this very process is reaped, not left a zombie
            if data.pid() is None:
                break
            time.sleep(0.1)
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    for name in ("server.pid", "url"):
        data.path(name).unlink(missing_ok=True)
    choice = storage.saved(data.state)
    if choice and not choice.get("dsn"):
        pgcluster.stop_cluster(pgcluster.cluster_dir(data.state))
    return pid is not None
