"""Batch API files: the input files ftboot writes and the output and error files it reads back.

An input line is `{"custom_id": KEY, "method": "POST", "url": "/v1/chat/completions", "body": {...}}`: KEY is the
request's cache key and the body is, byte for byte, what the online client sends. OpenAI's Batch API and
`vllm run-batch` read this format. `write_parts` streams planned requests into as many files as the limits need
(OpenAI's: 50,000 lines or 200 MB), each written beside its place and renamed when complete, hashing as it goes,
so memory stays flat whatever the size of the plan.

An output or error line is `{"custom_id": ..., "response": {"status_code": ..., "body": ...}, "error": ...}`.
`ResultIndex` keeps only custom_id → where its line is, so answers can be read back in the plan's order, one at a
time; `outcome` turns a line into a `Reply` or the failure's code and message.

Parsing the replies and screening their items is the generate stage's business (`pipeline.generation.online.Outputs`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError, Location
from pipeline.ledgers.batches import to_ranges
from pipeline.llm.request import PlannedRequest, Reply, reply_from_body
from pipeline.writes import atomic_write

MAX_LINES = 50_000
MAX_BYTES = 200_000_000
_CUSTOM_ID = b'"custom_id":'


def url_of(endpoint: str) -> str:
    return f"/v1/{endpoint}"


def input_line(request: PlannedRequest) -> bytes:
    # The key is hex and the url fixed: no escaping needed, and the body is already encoded.
    head = f'{{"custom_id": "{request.key}", "method": "POST", "url": "{url_of(request.endpoint)}", "body": '
    return head.encode() + request.encoded_body + b"}\n"


@dataclass
class Part:
    """One input file as written: its request numbers, size and hash."""

    path: Path
    ranges: list[list[int]]
    count: int
    bytes: int
    sha256: str


def write_parts(requests: Iterable[tuple[int, PlannedRequest]], path_of: Callable[[int], Path]) -> list[Part]:
    """Write (number, request) pairs as input files `path_of(0)`, `path_of(1)`, ... within the limits."""
    max_lines, max_bytes = MAX_LINES, MAX_BYTES
    parts: list[Part] = []
    pending = iter(requests)
    item = next(pending, None)
    while item is not None:
        numbers: list[int] = []
        size, digest, path = 0, hashlib.sha256(), path_of(len(parts))
        with atomic_write(path, "wb") as handle:
            while item is not None:
                line = input_line(item[1])
                if numbers and (len(numbers) == max_lines or size + len(line) > max_bytes):
                    break
                handle.write(line)
                digest.update(line)
                size += len(line)
                numbers.append(item[0])
                item = next(pending, None)
        parts.append(Part(path, to_ranges(numbers), len(numbers), size, digest.hexdigest()))
    return parts


def _custom_id(raw: bytes) -> str | None:
    # Lines are large (a whole completion) and many; finding the id by position avoids parsing each one twice.
    start = raw.find(_CUSTOM_ID)
    if start >= 0:
        start = raw.find(b'"', start + len(_CUSTOM_ID)) + 1
        end = raw.find(b'"', start)
        if start > 0 and end > start and b"\\" not in raw[start:end]:
            return raw[start:end].decode()
    try:
        key = json.loads(raw)["custom_id"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return None
    return key if isinstance(key, str) else None


class ResultIndex:
    """custom_id → the line that answers it, over one or more output and error files; lines read on demand."""

    def __init__(self, paths: Iterable[Path], shown: Callable[[Path], str] = str) -> None:
        self.paths = list(paths)
        self._files: list[IO[bytes]] = []
        self._where: dict[str, tuple[int, int]] = {}
        for path in self.paths:
            handle = open(path, "rb")  # noqa: SIM115 -- held for lookups by offset until close()
            self._files.append(handle)
            offset = 0
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    key = _custom_id(raw)
                    if key is None:
                        raise InputError("not a batch result line (no custom_id)", Location(shown(path), number))
                    # An answer beats an error line for the same request (a retried line in both files).
                    if key not in self._where or b'"status_code": 200' in raw or b'"status_code":200' in raw:
                        self._where[key] = (len(self._files) - 1, offset)
                offset += len(raw)

    def __len__(self) -> int:
        return len(self._where)

    def pop(self, key: str) -> dict[str, Any] | None:
        """The line for `key`, read from disk and forgotten (so what is left afterwards was not asked for)."""
        where = self._where.pop(key, None)
        if where is None:
            return None
        handle = self._files[where[0]]
        handle.seek(where[1])
        try:
            return json.loads(handle.readline())
        except (ValueError, RecursionError):
            # A line whose custom_id was found by position but which is not JSON Python reads: a failed request.
            return {"error": {"code": "malformed", "message": "the result line is not readable JSON"}}

    def discard(self, key: str) -> None:
        self._where.pop(key, None)

    def rest(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The lines no request asked for."""
        for key in list(self._where):
            yield key, self.pop(key)  # type: ignore[misc]

    def close(self) -> None:
        for handle in self._files:
            handle.close()

    def __enter__(self) -> ResultIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str:
    # A code or message of any JSON type, without repr-ing a structure that may nest a thousand deep.
    return value[:500] if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else ""


def outcome(line: Any, endpoint: str) -> Reply | tuple[str, str]:
    """A result line of any shape as the `Reply` it carries (see `reply_from_body`), or (code, message) of its
    failure."""
    if not isinstance(line, dict):
        return "malformed", "the result line is not a JSON object"
    response = line["response"] if isinstance(line.get("response"), dict) else {}
    error, body = line.get("error"), response.get("body")
    if error:
        fields = error if isinstance(error, dict) else {"message": error}
        return _text(fields.get("code")) or "error", _text(fields.get("message"))
    if response.get("status_code") != 200:
        detail = body.get("error") if isinstance(body, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else body
        return _text(response.get("status_code")) or "no-response", _text(message)
    return reply_from_body(endpoint, body)
