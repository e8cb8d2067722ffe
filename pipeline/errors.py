"""The project's exception types. Library code raises these; only `pipeline.cli` turns them into messages and exit codes.

`InputError` is bad input from the user (exit 2) and carries where it is: file, line and field.
`RunError` is a failure while running (network, server, budget; exit 1); `Transient` one that may pass if retried.
`InputWarning` is input that is accepted but worth a word (a byte-order mark); it goes through `warnings.warn`
so that a reader deep in a stage needs no channel of its own, and the CLI prints it as one `warning:` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where a problem is: `seeds/a.yaml:14: messages[2].role`."""

    file: str | Path | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line else str(self.file))
        if self.field:
            parts.append(self.field)
        return ": ".join(parts)


class FtbootError(Exception):
    """Base of every error the CLI reports as one line plus an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """The lines the CLI prints for this error, most important first."""
        return [self.message]


class InputError(FtbootError):
    """Bad input: a file, a line, a field and what is wrong with it (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, where: Location | None = None, hint: str | None = None) -> None:
        self.where = where or Location()
        text = f"{self.where}: {message}" if str(self.where) else message
        super().__init__(text, hint)


class InputErrors(InputError):
    """Several input errors found in one run, all reported together."""

    def __init__(self, errors: list[InputError], hint: str | None = None) -> None:
        self.errors = errors
        self.where = errors[0].where
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        FtbootError.__init__(self, errors[0].message + more, hint or errors[0].hint)

    def lines(self) -> list[str]:
        return [e.message for e in self.errors]


class InputWarning(UserWarning):
    """Input accepted as it is, with a located remark the CLI shows as `warning: file:line: ...`."""

    def __init__(self, message: str, where: Location | None = None) -> None:
        self.where = where or Location()
        super().__init__(f"{self.where}: {message}" if str(self.where) else message)


class RunError(FtbootError):
    """A failure at run time: unreachable server, refused key, budget reached with nothing done (exit 1)."""

    exit_code = 1


class Transient(RunError):
    """A failure that may pass: a 429 (`maybe_done` false: refused before any work), a 5xx or a lost answer
    (`maybe_done` true: the service may have acted on the request). `retry_after`: the wait the server asked for."""

    def __init__(
        self, message: str, maybe_done: bool, retry_after: float | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.maybe_done = maybe_done
        self.retry_after = retry_after
