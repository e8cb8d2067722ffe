"""PostgreSQL for a project's Label Studio: a team's server named by a DSN, or a local cluster that ftboot runs.

`ftboot labelstudio start --database postgres --dsn DSN` points Label Studio at an existing database (its
DJANGO_DB / POSTGRE_* settings); Label Studio migrates it on its first start. Without `--dsn`, ftboot initialises
a cluster with Debian's binaries (`initdb`, `pg_ctl` from /usr/lib/postgresql/*/bin, newest first, or on PATH) in
the data dir's `postgres/`, listening only on a Unix socket in that directory (no TCP port; the directory is the
owner's alone, so its trust authentication lets no one else in), started before Label Studio and stopped after
it. PostgreSQL refuses to run as root: under root (containers, CI) the cluster runs as Debian's `postgres`
account in `~postgres/ftboot/<hash of the data dir>/`, linked from the data dir. A fresh cluster's database is
restored from a dump migrated once per Label Studio version and kept in the per-user cache beside the SQLite one
(Label Studio's own migrations on an empty PostgreSQL take minutes). The data dir remembers the choice in
`database` (mode 0600: a DSN may hold a password, which is never printed).

`prepare` makes a data dir's database ready, SQLite's included. It leaves out Label Studio itself
(`pipeline.labelstudio.server`) and reading the data (`pipeline.labelstudio.db`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import RunError

SUPERUSER = DATABASE = "labelstudio"
PORT = 5432  # only names the socket file: the cluster listens on no TCP port
_SOCKET_MAX = 100  # a Unix socket path is at most 107 bytes


@dataclass(frozen=True)
class Postgres:
    """Where Label Studio's database is: a host name or a socket directory, and the login."""

    host: str
    port: int
    dbname: str
    user: str
    password: str

    def env(self) -> dict[str, str]:
        """Label Studio's settings for this database (core/settings/base.py)."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": self.dbname,
            "POSTGRE_USER": self.user,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": self.host,
            "POSTGRE_PORT": str(self.port),
        }

    def connect(self, **options: Any) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password or None,
            connect_timeout=10,
            **options,
        )


def from_dsn(dsn: str) -> Postgres:
    """A DSN in either form libpq takes (`postgresql://user:pw@host:5432/db` or `host=... dbname=...`)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # psycopg's ProgrammingError echoes the DSN, password included: say less
        raise RunError(
            "--dsn is not a PostgreSQL connection string (postgresql://user:password@host:5432/db)"
        ) from None
    return Postgres(
        str(parts.get("host") or "localhost"),
        int(parts.get("port") or PORT),
        str(parts.get("dbname") or "postgres"),
        str(parts.get("user") or "postgres"),
        str(parts.get("password") or ""),
    )


# --- the choice, remembered in the data dir -------------------------------------------------------------------


def _choice_file(state: Path) -> Path:
    return state / "database"


def saved(state: Path) -> dict[str, str]:
    """{'engine': 'postgres', 'dsn': ...} (no dsn: the local cluster), or {} for SQLite."""
    path = _choice_file(state)
    if not path.exists():
        return {}
    return dict(word.split("=", 1) for word in shlex.split(path.read_text(encoding="utf-8")) if "=" in word)


def remember(state: Path, dsn: str | None) -> None:
    path = _choice_file(state)
    part = path.with_suffix(".part")
    with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write("engine=postgres\n" + (f"dsn={shlex.quote(dsn)}\n" if dsn else ""))
    os.replace(part, path)


def database(state: Path) -> Postgres | None:
    """The PostgreSQL database of the data dir `state`, or None when it uses SQLite."""
    choice = saved(state)
    if not choice:
        return None
    return from_dsn(choice["dsn"]) if choice.get("dsn") else local(cluster_dir(state))


# --- the local cluster -------------------------------------------------------------------------------------------


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


def local(where: Path) -> Postgres:
    return Postgres(str(where), PORT, DATABASE, SUPERUSER, "")


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
