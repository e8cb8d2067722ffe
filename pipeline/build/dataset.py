"""The final set as a Hugging Face `DatasetDict` on disk (splits `train` and `validation`).

Chat examples get one `messages` column in TRL's conversational form: every message has the same keys
(role, content as text, and name, tool_calls as a JSON string, tool_call_id, weight, null where unused), since
Arrow needs one type per column. Preference examples keep their three columns in the same message form. The
build writes the directory into its staging directory and swaps it in with its other outputs
(`pipeline.buildset`), so `load_from_disk` never sees half a dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.schema import content_text


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    return {
        "role": message["role"],
        "content": content_text(message.get("content")),
        "name": message.get("name"),
        "tool_calls": json.dumps(calls) if calls else None,
        "tool_call_id": message.get("tool_call_id"),
        "weight": message.get("weight"),
    }


def _row(example: dict[str, Any]) -> dict[str, Any]:
    if "input" in example:
        return {
            "prompt": [_message(m) for m in example["input"]["messages"]],
            "chosen": [_message(m) for m in example["preferred_output"]],
            "rejected": [_message(m) for m in example["non_preferred_output"]],
        }
    tools = example.get("tools")
    return {"messages": [_message(m) for m in example["messages"]], "tools": json.dumps(tools) if tools else None}


def _schema(preference: bool):  # -> pyarrow.Schema
    import pyarrow as pa

    message = pa.list_(
        pa.struct(
            [
                ("role", pa.string()),
                ("content", pa.string()),
                ("name", pa.string()),
                ("tool_calls", pa.string()),
                ("tool_call_id", pa.string()),
                ("weight", pa.int64()),
            ]
        )
    )
    if preference:
        return pa.schema([("prompt", message), ("chosen", message), ("rejected", message)])
    return pa.schema([("messages", message), ("tools", pa.string())])


def _table(examples: list[dict[str, Any]], preference: bool, chunk: int = 10_000):  # -> datasets.Dataset
    import pyarrow as pa
    from datasets import Dataset

    # Converted a chunk at a time, so the Python copies of all rows never exist at once.
    schema = _schema(preference)
    parts = [
        pa.Table.from_pylist([_row(e) for e in examples[i : i + chunk]], schema=schema)
        for i in range(0, len(examples), chunk)
    ]
    return Dataset(pa.concat_tables(parts) if parts else schema.empty_table())


def save_dataset(directory: Path, train: list[dict[str, Any]], val: list[dict[str, Any]]) -> None:
    from datasets import DatasetDict, disable_progress_bars

    disable_progress_bars()
    preference = bool(train) and "input" in train[0]
    splits = DatasetDict({"train": _table(train, preference), "validation": _table(val, preference)})
    splits.save_to_disk(str(directory))
