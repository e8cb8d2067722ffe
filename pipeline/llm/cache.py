"""Every reply a paid request brought back, on disk, keyed by the hash of the whole request.

The store is one append-only JSONL log (`outputs/cache/replies.jsonl`): a line is `{"key": ..., "reply": ...}`
written and flushed through `writes.Appender`, so a killed run loses at most the line it was writing, and that torn
line is cut off the next time the cache opens. In memory the cache keeps only key → byte offset (about 100 bytes
an entry), never the replies, so 50,000 entries cost a few megabytes and a lookup is one seek and one line read.

It stores what a request returned, not what generate made of it: parsing and filtering run again on a cache hit.
Failed requests are never cached, so a rerun tries them again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.writes import Appender

_KEY_PREFIX = b'{"key":"'


class ReplyCache:
    """An append-only key → reply store. Open it with `with ReplyCache(path) as cache:`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._appender = Appender(path)  # cuts a torn last line before the scan below reads the file
        self._offsets: dict[str, int] = {}
        self._size = 0
        with open(path, "rb") as handle:
            for raw in handle:
                key = self._line_key(raw)
                if key is not None:
                    self._offsets[key] = self._size
                self._size += len(raw)
        self._reader = open(path, "rb")  # noqa: SIM115 -- held for reads by offset until close()

    @staticmethod
    def _line_key(raw: bytes) -> str | None:
        # Lines this class wrote start with the key; reading it by position keeps opening a large cache fast.
        if raw.startswith(_KEY_PREFIX):
            end = raw.find(b'"', len(_KEY_PREFIX))
            if end > 0:
                return raw[len(_KEY_PREFIX) : end].decode()
        try:
            return str(json.loads(raw)["key"])
        except (ValueError, KeyError, TypeError):
            return None

    def __len__(self) -> int:
        return len(self._offsets)

    def __contains__(self, key: str) -> bool:
        return key in self._offsets

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply for `key`, or None."""
        offset = self._offsets.get(key)
        if offset is None:
            return None
        self._reader.seek(offset)
        return json.loads(self._reader.readline())["reply"]

    def put(self, key: str, reply: dict[str, Any]) -> None:
        if key in self._offsets:
            return
        self._appender.write({"key": key, "reply": reply})
        self._offsets[key] = self._size
        self._size = os.stat(self.path).st_size  # the appender flushed, so the file's size is where the next line goes

    def close(self) -> None:
        self._appender.close()
        self._reader.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
