"""A local Label Studio for one project: start, stop, status, and the admin's credentials.

The server listens on 127.0.0.1 only, in its own session so that it outlives the command that started it, with
its data in the project's data dir (`pipeline.labelstudio.datadir`). The admin's email and password come from
LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD, or are generated on the first start; set later to other values,
they are applied to the admin with Label Studio's own `manage.py shell`, or a note says why not. The database is
SQLite unless the first start asks for PostgreSQL (`pipeline.labelstudio.storage`); the data dir keeps the one it
started with.

It leaves out installing Label Studio (`pipeline.labelstudio.install`), Label Studio's API (projects, tasks,
reviewers: `pipeline.labelstudio.adapter`) and printing (the CLI).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import RunError
from pipeline.labelstudio import pgcluster, storage
from pipeline.labelstudio.datadir import DEFAULT_ADMIN, Credentials, DataDir
from pipeline.labelstudio.install import SERVER_ENV, Note, install, migrated_database

_LISTENING = re.compile(r"Starting development server at (http://[0-9.:]+)")


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
    return {**SERVER_ENV, **(database.env() if database else {})}


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
