"""What an upload or an export would send, checked before any network call: the files read again line by line against the
provider's ruleset (structure with `schema.parse_example`, then the target's rules with token counts), and the
plan built from them: files and sizes, examples and tokens, epochs, the hyperparameters, and an estimated cost.

The cost comes only from the prices the user put in ftboot.toml (`[prices."MODEL"].training`, US dollars per
million training tokens); with no price the cost is unknown, never guessed. Billed tokens are the training
file's tokens times the epochs (validation tokens are not billed). Files that are not one complete build (they
do not match the build's manifest, `pipeline.buildset`) are refused. It does not talk to any provider.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.buildset import verify
from pipeline.config import Config
from pipeline.errors import InputError, InputErrors, Location
from pipeline.jsonl import read_jsonl
from pipeline.project import Project
from pipeline.rules import Ruleset
from pipeline.schema import Kind, parse_example, validation_messages
from pipeline.tokens import TokenCounter

METHODS = {"chat": "supervised", "dpo": "dpo"}
MAX_REPORTED = 20  # refusing a file lists this many problems; the rest are counted


@dataclass(frozen=True)
class FilePlan:
    role: str  # "train" or "validation"
    path: Path
    shown: str
    bytes: int
    examples: int
    tokens: int
    sha256: str


@dataclass(frozen=True)
class Plan:
    provider: str
    target: str
    model: str
    method: str
    files: tuple[FilePlan, ...]
    epochs: int
    epochs_auto: bool
    hyperparameters: dict[str, Any]
    suffix: str
    seed: int | None
    price: float | None = None
    trains: bool = True  # false for a dataset push: no epochs, no bill

    @property
    def train(self) -> FilePlan:
        return self.files[0]

    @property
    def validation(self) -> FilePlan | None:
        return self.files[1] if len(self.files) > 1 else None

    @property
    def billed_tokens(self) -> int:
        return self.train.tokens * self.epochs

    @property
    def cost(self) -> float | None:
        return None if self.price is None or not self.trains else self.billed_tokens * self.price / 1e6

    def fingerprint(self, endpoint: str) -> str:
        """Same files, same service, same settings → same fingerprint: the guard against paying twice."""
        what = [
            self.provider,
            endpoint,
            self.model,
            self.method,
            [f.sha256 for f in self.files],
            self.hyperparameters,
            self.suffix,
            self.seed,
        ]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "target": self.target,
            "model": self.model,
            "method": self.method,
            "files": [
                {"role": f.role, "path": f.shown, "bytes": f.bytes, "examples": f.examples, "tokens": f.tokens}
                for f in self.files
            ],
            "epochs": self.epochs,
            "hyperparameters": self.hyperparameters,
            "suffix": self.suffix,
            "seed": self.seed,
            "billed_tokens": self.billed_tokens,
            "price_per_million": self.price,
            "estimated_cost_usd": self.cost,
        }


def training_price(config: Config, model: str) -> float | None:
    """The configured training price for `model`: its own entry, else the longest configured name it starts with
    (a `gpt-4o-mini` price covers `gpt-4o-mini-2024-07-18`)."""
    for name in sorted(config.prices, key=len, reverse=True):
        if (model == name or model.startswith(name)) and config.prices[name].training is not None:
            return config.prices[name].training
    return None


def check_file(path: Path, shown: str, fmt: str, ruleset: Ruleset, model: str) -> tuple[int, int, list[InputError]]:
    """Read one file again: (examples, tokens, problems), each problem located by file, line and field."""
    kind: Kind = "preference" if fmt == "dpo" else "chat"
    count = tokens = 0
    counter = TokenCounter(model)
    problems: list[InputError] = []
    for line, data in read_jsonl(path, shown):
        count += 1
        try:
            example = parse_example(data, kind)
        except ValidationError as exc:
            problems += [
                InputError(message, Location(shown, line, where)) for where, message in validation_messages(exc)
            ]
            continue
        n = counter.count(data)
        tokens += n
        problems += [InputError(str(p), Location(shown, line)) for p in ruleset.check_example(example, n, model)]
    return count, tokens, problems


def make_plan(
    project: Project,
    provider: str,
    ruleset: Ruleset,
    model: str,
    fmt: str,
    hyperparameters: dict[str, Any],
    trains: bool = True,
) -> Plan:
    """Validate the built files for `ruleset` and plan the upload; raises InputErrors listing what is wrong, or
    InputError when the files are not one complete build."""
    settings = project.config.upload
    built = project.paths.build(fmt == "dpo")
    train_path, val_path = built.train, built.val
    if not train_path.exists():
        build = "ftboot build" + (" --format dpo" if fmt == "dpo" else "")
        raise InputError(f"{project.show(train_path)} does not exist", hint=f"run `{build}` first")
    verify(project.outputs, built.manifest, project.show(project.outputs))
    files, problems = [], []
    for role, path in (("train", train_path), ("validation", val_path)):
        if role == "validation" and (not path.exists() or path.stat().st_size == 0):
            continue
        shown = project.show(path)
        count, tokens, found = check_file(path, shown, fmt, ruleset, model)
        problems += found
        data = path.read_bytes()
        files.append(FilePlan(role, path, shown, len(data), count, tokens, hashlib.sha256(data).hexdigest()))
    problems += [
        InputError(str(p), Location(files[0].shown)) for p in ruleset.check_set(files[0].examples, files[0].bytes)
    ]
    if problems:
        shown_problems = problems[:MAX_REPORTED]
        if len(problems) > MAX_REPORTED:
            shown_problems.append(InputError(f"... and {len(problems) - MAX_REPORTED} more problems"))
        raise InputErrors(
            shown_problems, hint=f"nothing was sent; fix these (or rebuild with `ftboot build --target {ruleset.name}`)"
        )
    auto = settings.n_epochs == "auto"
    epochs = ruleset.default_epochs(files[0].examples) if auto else int(settings.n_epochs)
    return Plan(
        provider,
        ruleset.name,
        model,
        METHODS[fmt],
        tuple(files),
        epochs,
        auto,
        hyperparameters,
        settings.suffix,
        settings.seed,
        training_price(project.config, model),
        trains,
    )
