"""Where a project's Label Studio finds its PostgreSQL database, and how to connect to it: a team's server named by
a DSN (in either form libpq takes), or the local cluster's socket (`pipeline.labelstudio.pgcluster`).

`Postgres.env` gives Label Studio's settings for the database (its DJANGO_DB / POSTGRE_* variables);
`Postgres.connect` opens a psycopg connection. A DSN's password is never shown: a DSN that does not parse is
reported without echoing it.

It leaves out running the local cluster (`pipeline.labelstudio.pgcluster`), which database a data dir uses
(`pipeline.labelstudio.storage`) and reading the data (`pipeline.labelstudio.db`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import RunError

SUPERUSER = DATABASE = "labelstudio"
PORT = 5432  # only names the socket file: the cluster listens on no TCP port


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


def local(where: Path) -> Postgres:
    return Postgres(str(where), PORT, DATABASE, SUPERUSER, "")
