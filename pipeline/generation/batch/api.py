"""A provider's Batch API through the openai SDK: upload an input file (`files.create(purpose="batch")`), create a
batch (`batches.create`, completion window 24h, with ftboot's tag in its metadata), read it, stream its result
files to disk, and find a file or batch that a killed run sent but never recorded.

Reads and uploads are retried by the SDK on 429, 5xx and dropped connections. Creating a batch is not: an answer
lost on the way may hide a batch that exists (and will be billed), so it is looked for by its tag first. Errors
become one plain line (`pipeline.llm.sdk`); the key is never shown. Which requests go in a batch is the stage's
business.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.llm.request import Endpoint
from pipeline.llm.sdk import client_for, sdk_error
from pipeline.writes import atomic_write

TAG = "ftboot_batch"
RETRIES = 4
LOOKBACK = 600  # seconds before a file was planned that a provider's clock may differ by
TERMINAL = ("completed", "expired", "cancelled", "failed")


@dataclass
class BatchInfo:
    id: str
    status: str
    input_file_id: str
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # why a batch failed as a whole

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def _info(batch: Any) -> BatchInfo:
    counts = batch.request_counts.model_dump() if batch.request_counts else {}
    errors = [
        f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
        for e in ((batch.errors.data or []) if batch.errors else [])
    ]
    return BatchInfo(
        batch.id, batch.status, batch.input_file_id, batch.output_file_id, batch.error_file_id, counts, errors
    )


class BatchAPI:
    def __init__(self, endpoint: Endpoint, key_env: str) -> None:
        self.label, self.key_env = endpoint.label, key_env
        self.client = client_for(endpoint, retries=RETRIES)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        import openai

        try:
            yield
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            error = sdk_error(exc, self.label, doing, self.key_env, retries=RETRIES)
            if getattr(exc, "status_code", None) in (404, 405):
                error.hint = "the endpoint may have no Batch API; online generation (without --batch) works with any"
            raise error from None

    def upload(self, path: Path) -> str:
        with self._errors(f"the upload of {path.name}"), open(path, "rb") as handle:
            # A handle, not the path: the SDK would read a whole path into memory, httpx streams a handle.
            return self.client.files.create(file=(path.name, handle, "application/jsonl"), purpose="batch").id

    def create(self, file_id: str, url: str, metadata: dict[str, str]) -> BatchInfo:
        import openai

        try:
            batch = self.client.with_options(max_retries=0).batches.create(
                input_file_id=file_id,
                endpoint=url,  # type: ignore[arg-type]  # one of the SDK's literal endpoints, chosen by mode
                completion_window="24h",
                metadata=metadata,
            )
        except (openai.APIConnectionError, openai.InternalServerError) as exc:
            found = self.find_batch(metadata[TAG], time.time() - LOOKBACK)  # the batch may exist all the same
            if found is not None:
                return found
            with self._errors("the batch request"):
                raise exc
        except openai.APIError as exc:
            with self._errors("the batch request"):
                raise exc
        return _info(batch)

    def retrieve(self, batch_id: str) -> BatchInfo:
        with self._errors(f"reading batch {batch_id}"):
            return _info(self.client.batches.retrieve(batch_id))

    def download(self, file_id: str, path: Path) -> Path:
        with (
            self._errors(f"the download of {file_id}"),
            atomic_write(path, "wb") as out,
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
        return path

    def find_batch(self, name: str, since: float) -> BatchInfo | None:
        """The batch tagged `name`, looking back to `since` (the list is newest first)."""
        with self._errors("looking for a batch sent without an answer"):
            for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get(TAG) == name:
                    return _info(batch)
                if batch.created_at < since:
                    return None
        return None

    def find_file(self, filename: str, size: int, since: float) -> str | None:
        """An uploaded input file called `filename` of `size` bytes, looking back to `since`."""
        with self._errors("looking for a file uploaded without an answer"):
            for item in self.client.files.list(purpose="batch", order="desc", limit=100):
                if item.filename == filename and item.bytes == size:
                    return item.id
                if item.created_at < since:
                    return None
        return None
