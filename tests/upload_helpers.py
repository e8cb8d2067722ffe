"""A tmp_path project wired to the fine-tuning test server, shared by the upload test modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from tests.fake_finetune import FineTuneAPI
from tests.helpers import varied_examples, write_jsonl


@dataclass
class UploadProject:
    root: Path
    finetune: FineTuneAPI

    def run(self, *args: str) -> Result:
        from pipeline.cli import cli

        return CliRunner().invoke(cli, ["--project", str(self.root), "upload", *args], catch_exceptions=False)

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    def ledger(self) -> list[dict]:
        path = self.outputs / "uploads.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_project(root: Path, finetune: FineTuneAPI, upload: str = "", tables: str = "", n: int = 12) -> UploadProject:
    """ftboot.toml pointing [openai] at the test server, plus train.jsonl (n examples) and val.jsonl (2)."""
    (root / "ftboot.toml").write_text(
        f'[openai]\nbase_url = "{finetune.api.url}"\n\n'
        f'[upload]\nprovider = "openai"\nmodel = "gpt-4o-mini-2024-07-18"\npoll_interval = 0.01\nmax_retries = 2\n'
        f"{upload}\n{tables}\n",
        encoding="utf-8",
    )
    examples = varied_examples(n + 2)
    (root / "outputs").mkdir(exist_ok=True)
    write_jsonl(root / "outputs" / "train.jsonl", examples[:n])
    write_jsonl(root / "outputs" / "val.jsonl", examples[n:])
    return UploadProject(root, finetune)
