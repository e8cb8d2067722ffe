"""One project's Label Studio data dir, `.labelstudio/` (or `$LABEL_STUDIO_DATA_DIR`): what the server keeps there
(its database, log, pid and address) and the admin's credentials ftboot keeps beside it.

The directory is private to its owner (mode 0700): it holds the admin's password and token. Settings files in it
(`credentials`, and the database choice of `pipeline.labelstudio.storage`) are shell-quoted key=value lines,
written beside the file with mode 0600 and renamed over it.

It leaves out starting and stopping the server (`pipeline.labelstudio.server`) and which database it uses
(`pipeline.labelstudio.storage`).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ADMIN = "admin@example.com"


def read_settings(path: Path) -> dict[str, str]:
    """The key=value lines of a settings file, shell-quoted (the format the former shell script wrote); {} when
    there is no file."""
    if not path.exists():
        return {}
    return dict(word.split("=", 1) for word in shlex.split(path.read_text(encoding="utf-8")) if "=" in word)


def write_settings(path: Path, values: dict[str, str]) -> None:
    """Replace `path` with key=value lines that only its owner may read (they may hold a password)."""
    part = path.with_suffix(".part")
    with open(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    os.replace(part, path)


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
        values = read_settings(path)
        return Credentials(values.get("email", DEFAULT_ADMIN), values.get("password", ""), values.get("token", ""))

    def save(self, creds: Credentials) -> None:
        write_settings(self.path("credentials"), vars(creds))

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
