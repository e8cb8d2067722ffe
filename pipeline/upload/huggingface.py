"""Hugging Face Hub: push the DatasetDict that `ftboot build` saved (outputs/dataset/, or dataset-dpo/) to a dataset
repo, for training elsewhere with TRL, axolotl or Unsloth. Chat sets have TRL's conversational `messages` column;
preference sets have `prompt`, `chosen` and `rejected`.

Before pushing, the JSONL files are validated like any other upload (against the build target's rules), and the
saved dataset must load, have the columns above and hold as many rows as those files, so a stale dataset/ is not
pushed. The token is $HF_TOKEN (`[upload.huggingface] token_env`) or a cached `huggingface-cli login`; the repo
is `[upload.huggingface] repo`. Nothing is trained here, so there is no job to follow and no cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.errors import InputError, RunError
from pipeline.ledgers.uploads import UploadLedger
from pipeline.llm.endpoint import read_key
from pipeline.plan import Plan
from pipeline.project import Project
from pipeline.upload.base import Provider, Started

COLUMNS = {"supervised": ("messages",), "dpo": ("prompt", "chosen", "rejected")}


def load_checked(directory: Path, shown: str, plan: Plan) -> Any:
    """The saved DatasetDict, checked against the plan (splits, columns, row counts)."""
    from datasets import DatasetDict, load_from_disk

    rebuild = "run `ftboot build" + (" --format dpo`" if plan.method == "dpo" else "`")
    if not directory.is_dir():
        raise InputError(f"{shown} does not exist", hint=rebuild)
    try:
        dataset = load_from_disk(str(directory))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{shown} is not a saved dataset: {exc}", hint=rebuild) from None
    if not isinstance(dataset, DatasetDict) or "train" not in dataset:
        raise InputError(f"{shown} has no train split", hint=rebuild)
    expected = {"train": plan.train.examples, "validation": plan.validation.examples if plan.validation else 0}
    for split, rows in expected.items():
        got = dataset.get(split)
        if got is None:
            if rows:
                raise InputError(f"{shown} has no {split} split", hint=rebuild)
            continue
        missing = [c for c in COLUMNS[plan.method] if c not in got.column_names]
        if missing:
            raise InputError(f"{shown}: the {split} split has no {', '.join(missing)} column", hint=rebuild)
        if got.num_rows != rows:
            raise InputError(
                f"{shown}: the {split} split has {got.num_rows} rows but the JSONL file has {rows}; it is out of date",
                hint=rebuild,
            )
    return dataset


def push_dataset(dataset: Any, repo: str, token: str | None, private: bool, shown: str, key_env: str) -> None:
    """Push a DatasetDict to a Hub dataset repo; any failure is one RunError that never shows the token."""
    from datasets import config

    try:
        dataset.push_to_hub(repo, private=private, token=token)
    except Exception as exc:  # the Hub client raises many types; each means the push did not complete
        reason = str(exc).replace(token, "***") if token else str(exc)
        raise RunError(
            f"pushing {shown} to the Hub repo {repo} at {config.HF_ENDPOINT} failed: {reason or type(exc).__name__}",
            hint=f"check the network and the token in {key_env}, then run the same command again",
        ) from None


def push_built(project: Project, dataset_dir: Path, repo: str) -> None:
    """Push a built `dataset/` folder (`ftboot build --push-to-hub`) with the project's Hub settings."""
    from datasets import load_from_disk

    key_env = project.config.upload.huggingface.token_env
    push_dataset(
        load_from_disk(str(dataset_dir)),
        repo,
        read_key(key_env) or None,
        project.config.upload.huggingface.private,
        project.show(dataset_dir),
        key_env,
    )


class HubProvider(Provider):
    name = "huggingface"
    label = "Hugging Face Hub"
    needs = "HF_TOKEN (or `huggingface-cli login`) and [upload.huggingface] repo"

    @property
    def target(self) -> str:  # type: ignore[override]
        # No service checks these files; the rules they were built for are the ones to hold them to.
        return self.project.config.build.target

    @property
    def default_model(self) -> str:  # type: ignore[override]
        return self.project.config.build.model  # only counts tokens here

    @property
    def key_env(self) -> str:
        return self.settings.huggingface.token_env

    @property
    def endpoint(self) -> str:
        from datasets import config  # where push_to_hub sends ($HF_ENDPOINT, else huggingface.co)

        return config.HF_ENDPOINT

    def key(self) -> str:
        if read_key(self.key_env):
            return super().key()
        from huggingface_hub import get_token

        token = get_token()
        if not token:
            raise RunError(
                f"no Hugging Face token: set {self.key_env} or run `huggingface-cli login`",
                hint="the token needs write access to the repo",
            )
        return token

    def hyperparameters(self, fmt: str) -> dict[str, Any]:
        return {}

    def start(self, plan: Plan, ledger: UploadLedger, force: bool = False) -> Started:
        repo = self.settings.huggingface.repo
        if not repo:
            raise InputError(
                "no Hub repo: set repo under [upload.huggingface] in ftboot.toml",
                hint='e.g. repo = "your-name/support-chat"',
            )
        directory = self.project.paths.build(plan.method == "dpo").dataset
        dataset = load_checked(directory, self.project.show(directory), plan)
        push_dataset(
            dataset, repo, self.key(), self.settings.huggingface.private, self.project.show(directory), self.key_env
        )
        url = f"{self.endpoint.rstrip('/')}/datasets/{repo}"
        ledger.append(
            "push",
            provider=self.name,
            endpoint=self.endpoint,
            repo=repo,
            url=url,
            method=plan.method,
            splits={split: dataset[split].num_rows for split in dataset},
            sha256=plan.train.sha256,
        )
        return Started(self.name, url=url)
