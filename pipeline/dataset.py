"""The final set as a Hugging Face `DatasetDict` on disk (splits `train` and `validation`).

Chat examples get one `messages` column in TRL's conversational form: every message has the same keys
(role, content as text, and name, tool_calls as a JSON string, tool_call_id, weight, null where unused), since
Arrow needs one type per column. Preference examples keep their three columns in the same message form. The
directory is written beside the old one and swapped in, so `load_from_disk` never sees half a dataset.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.schema import content_text


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    return {"role": message["role"], "content": content_text(message.get("content")), "name": message.get("name"),
            "tool_calls": json.dumps(calls) if calls else None, "tool_call_id": message.get("tool_call_id"),
            "weight": message.get("weight")}


def _row(example: dict[str, Any]) -> dict[str, Any]:
    if "input" in example:
        return {"prompt": [_message(m) for m in example["input"]["messages"]],
                "chosen": [_message(m) for m in example["preferred_output"]],
                "rejected": [_message(m) for m in example["non_preferred_output"]]}
    tools = example.get("tools")
    return {"messages": [_message(m) for m in example["messages"]], "tools": json.dumps(tools) if tools else None}


def save_dataset(directory: Path, train: list[dict[str, Any]], val: list[dict[str, Any]]) -> None:
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()
    splits = DatasetDict({"train": Dataset.from_list([_row(e) for e in train]),
                          "validation": Dataset.from_list([_row(e) for e in val])})
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        splits.save_to_disk(str(staging / "new"))
        if directory.exists():
            directory.rename(staging / "old")
        (staging / "new").rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
