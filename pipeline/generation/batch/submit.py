"""The provider side of batch sending: upload planned input files, create their batches, and finish what a killed
run left half-way.

Every input file is recorded in the ledger before any network call (`pipeline.generation.batch.send`);
`reconcile`, run first by every command that talks to the provider, adopts a batch or file that a killed run sent
without recording it (by the batch's metadata tag, the file's name) and sends what was planned but never sent.
`send_entries` sends the files a run has just planned, which cannot have been sent before.

It leaves out what goes into a batch and how many requests (`pipeline.generation.batch.send`), the provider's
calls themselves (`pipeline.generation.batch.api`) and collecting (`pipeline.generation.batch.collect`).
"""

from __future__ import annotations

from pipeline.generation.batch.api import LOOKBACK, TAG, BatchAPI
from pipeline.generation.batch.files import url_of
from pipeline.ledgers.batches import BatchLedger, Entry
from pipeline.llm.endpoint import resolve
from pipeline.project import Project


def requests(n: int) -> str:
    return f"{n:,} request{'s' * (n != 1)}"


def api_for(project: Project, model: str) -> BatchAPI:
    remote = resolve(project.config, "openai", model)
    return BatchAPI(remote.endpoint(), remote.key_env)


def _send(project: Project, ledger: BatchLedger, api: BatchAPI, entry: Entry, fresh: bool) -> str:
    """Upload a planned input file and create its batch, unless a run killed half-way did (`fresh` = surely not)."""
    path, since = project.root / entry.input, entry.planned_ts - LOOKBACK
    if not fresh and (found := api.find_batch(entry.name, since)) is not None:
        ledger.append(
            "submitted",
            entry.name,
            batch_id=found.id,
            file_id=found.input_file_id,
            status=found.status,
            counts=found.counts,
            adopted=True,
        )
        path.unlink(missing_ok=True)
        return f"adopted batch {found.id} ({entry.name}), created by a run that stopped before recording it"
    file_id = entry.file_id or (None if fresh else api.find_file(path.name, entry.bytes, since))
    if file_id is None:
        if not path.exists():
            ledger.append("abandoned", entry.name, reason="the input file is gone and was never sent")
            return f"{entry.name} was never sent and its input file is gone: its requests will be planned again"
        file_id = api.upload(path)
    if entry.file_id is None:
        ledger.append("uploaded", entry.name, file_id=file_id)
    batch = api.create(file_id, url_of(entry.plan["endpoint"]), {TAG: entry.name, "ftboot_sha256": entry.sha256})
    ledger.append("submitted", entry.name, batch_id=batch.id, file_id=file_id, status=batch.status, counts=batch.counts)
    path.unlink(missing_ok=True)
    return f"sent batch {batch.id} ({entry.name}, {requests(entry.count)})"


def send_entries(project: Project, ledger: BatchLedger, api: BatchAPI, entries: list[Entry]) -> None:
    """Send input files this run planned (none of them can have been sent before)."""
    for entry in entries:
        _send(project, ledger, api, entry, fresh=True)


def reconcile(project: Project, ledger: BatchLedger, api: BatchAPI) -> list[str]:
    """Finish what a killed run left between planning a batch and recording it."""
    return [_send(project, ledger, api, e, fresh=False) for e in ledger.open_entries() if e.batch_id is None]
