"""The local PostgreSQL cluster that ftboot runs for a project's Label Studio when no DSN is given.

ftboot initialises a cluster with Debian's binaries (`initdb`, `pg_ctl` from /usr/lib/postgresql/*/bin, newest
first, or on PATH) in the data dir's `postgres/`, listening only on a Unix socket in that directory (no TCP port;
the directory is the owner's alone, so its trust authentication lets no one else in), started before Label
Studio and stopped after it. PostgreSQL refuses to run as root: under root (containers, CI) the cluster runs as
Debian's `postgres` account in `~postgres/ftboot/<hash of the data dir>/`, linked from the data dir. A fresh
cluster's database is restored from a dump migrated once per Label Studio version and kept in the per-user cache
beside the SQLite one (Label Studio's own migrations on an empty PostgreSQL take minutes).

It leaves out a team's server at a DSN and the connection settings (`pipeline.labelstudio.postgres`), and which
database a data dir uses (`pipeline.labelstudio.storage`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.errors import RunError
from pipeline.labelstudio.postgres import DATABASE, PORT, SUPERUSER, Postgres, local

_SOCKET_MAX = 100  # a Unix socket path is at most 107 bytes


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]), reverse=True)
    program = found[0] if found else shutil.which(name)
    if program is None:
        raise RunError(
            f"PostgreSQL's {name} was not found",
            hint="install Debian's `postgresql` package, or give a server with --dsn",
        )
    return program


def _account() -> pwd.struct_passwd | None:
    """The account the cluster runs as: None for the current user, Debian's `postgres` under root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RunError(
            "PostgreSQL cannot run as root and there is no `postgres` account",
            hint="install Debian's `postgresql` package, or run ftboot as another user",
        ) from None


def cluster_dir(state: Path) -> Path:
    """The cluster's directory (its socket too): `postgres/` in the data dir, or under root a directory of the
    `postgres` account's that `postgres/` links to."""
    link = state / "postgres"
    if link.is_symlink():
        return link.resolve()
    account = _account()
    if account is None or link.exists():
        return link
    return Path(account.pw_dir) / "ftboot" / hashlib.sha256(str(state).encode()).hexdigest()[:16]


def _pg(command: list[str], what: str, stdin: Any = subprocess.DEVNULL) -> str:
    """Run a server-side program (initdb, pg_ctl) as the cluster's account."""
    account = _account()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        stdin=stdin,
        cwd="/",
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-4:]
        raise RunError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)[:500]}")
    return done.stdout


def _make_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (account := _account()) is not None:
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(0o700)


def init_cluster(where: Path) -> None:
    """A new cluster in `where`, not started: its superuser `labelstudio`, local socket logins only."""
    if len(str(where / f".s.PGSQL.{PORT}")) > _SOCKET_MAX:
        raise RunError(
            f"the path {where} is too long for PostgreSQL's socket",
            hint="set LABEL_STUDIO_DATA_DIR to a shorter directory, or give a server with --dsn",
        )
    _make_dir(where)
    _pg(
        [
            _bin("initdb"),
            "--pgdata",
            str(where),
            "--username",
            SUPERUSER,
            "--auth-local",
            "trust",
            "--auth-host",
            "reject",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        "initdb",
    )
    with open(where / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(
            f"\n# ftboot: the socket in this directory only\nlisten_addresses = ''\n"
            f"unix_socket_directories = '{where}'\nport = {PORT}\n"
        )


def start_cluster(where: Path) -> None:
    if not running(where):
        _pg(
            [
                _bin("pg_ctl"),
                "--pgdata",
                str(where),
                "--log",
                str(where / "server.log"),
                "--wait",
                "--timeout",
                "120",
                "start",
            ],
            "starting PostgreSQL",
        )


def stop_cluster(where: Path) -> bool:
    if not running(where):
        return False
    _pg([_bin("pg_ctl"), "--pgdata", str(where), "--mode", "fast", "--wait", "stop"], "stopping PostgreSQL")
    return True


def running(where: Path) -> bool:
    if not (where / "PG_VERSION").exists():
        return False
    account = _account()
    done = subprocess.run(
        [_bin("pg_ctl"), "--pgdata", str(where), "status"],
        capture_output=True,
        cwd="/",
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
    )
    return done.returncode == 0


def _client(program: str, where: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """A client program (createdb, pg_dump, pg_restore) on the cluster's socket, as the current user."""
    done = subprocess.run(
        [_bin(program), "--host", str(where), "--port", str(PORT), "--username", SUPERUSER, *args],
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        cwd="/",
        **kwargs,
    )
    if done.returncode != 0:
        raise RunError(f"{program} failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
    return done


def dump(where: Path, into: Path) -> None:
    with open(into, "wb") as out:
        _client("pg_dump", where, "--format", "custom", "--no-owner", DATABASE, stdout=out)


def create_database(where: Path, restore: Path | None = None) -> None:
    """The `labelstudio` database in a started cluster, restored from a dump when one is given."""
    _client("createdb", where, DATABASE)
    if restore is not None:
        with open(restore, "rb") as source:
            _client("pg_restore", where, "--no-owner", "--dbname", DATABASE, stdin=source)


def new_cluster(where: Path, restore: Path | None) -> Postgres:
    """A new cluster in `where` (a half-made one there is removed), started, with the database (restored from a
    dump when one is given)."""
    shutil.rmtree(where, ignore_errors=True)
    init_cluster(where)
    start_cluster(where)
    create_database(where, restore)
    return local(where)


def cluster(state: Path, migrated: Callable[[], Path]) -> tuple[Postgres, bool]:
    """The data dir's cluster, started; made from the `migrated()` dump when it has none. (database, fresh)"""
    where = cluster_dir(state)
    ready = state / "postgres.ready"
    if ready.exists() and (where / "PG_VERSION").exists():
        start_cluster(where)
        return local(where), False
    ready.unlink(missing_ok=True)
    database = new_cluster(where, migrated())
    if where != state / "postgres":
        (state / "postgres").unlink(missing_ok=True)
        (state / "postgres").symlink_to(where)
    ready.touch()
    return database, True
