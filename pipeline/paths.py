"""Every file and directory ftboot writes under `outputs/`, each named once: `project.paths.reviewed`, ...

`BuildSet` names what one build writes. A build writes it into a staging directory that `pipeline.buildset`
then swaps into `outputs/`, so the build names its staged files and everyone else the final ones through the
same `BuildSet`, and the two cannot drift apart. What is not an output is left out: `seeds/`, `ftboot.toml`,
the files a user passes on the command line, and the lock and staging names, which `pipeline.lock` and
`pipeline.buildset` keep to themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuildSet:
    """The entries of one build under `directory` (outputs/ or a staging directory): the chat set's, or with
    `dpo` the preference set's, whose names carry `-dpo`. The test set is one for both."""

    directory: Path
    dpo: bool = False

    def _named(self, stem: str, extension: str = "") -> Path:
        return self.directory / f"{stem}{'-dpo' if self.dpo else ''}{extension}"

    @property
    def train(self) -> Path:
        return self._named("train", ".jsonl")

    @property
    def val(self) -> Path:
        return self._named("val", ".jsonl")

    @property
    def rejected(self) -> Path:
        return self._named("build-rejected", ".jsonl")

    @property
    def report(self) -> Path:
        return self._named("report", ".md")

    @property
    def charts(self) -> Path:
        return self._named("report", "-charts")

    @property
    def dataset(self) -> Path:
        """The Hugging Face `datasets` copy of train and val."""
        return self._named("dataset")

    @property
    def test(self) -> Path:
        return self.directory / "test.jsonl"

    @property
    def manifest(self) -> str:
        """The name of the manifest that stamps the set; it lives in outputs/ only, beside the swapped-in set."""
        return self._named("build", ".json").name

    def entries(self, held_out: bool) -> dict[str, Path]:
        """What a build writes, keyed as its result names them; the test set only when it held one out."""
        entries = {
            "train": self.train,
            "val": self.val,
            "build-rejected": self.rejected,
            "report": self.report,
            "dataset": self.dataset,
        }
        if held_out:
            entries["test"] = self.test
        entries["report-charts"] = self.charts
        return entries


@dataclass(frozen=True)
class OutputPaths:
    """The outputs of a project whose outputs/ is `directory`."""

    directory: Path

    def build(self, dpo: bool = False) -> BuildSet:
        return BuildSet(self.directory, dpo)

    @property
    def candidates(self) -> Path:
        return self.directory / "candidates.jsonl"

    @property
    def rejected(self) -> Path:
        """What generation's filters and the judge turned away (the build's refusals are `BuildSet.rejected`)."""
        return self.directory / "rejected.jsonl"

    @property
    def reviewed(self) -> Path:
        return self.directory / "reviewed.jsonl"

    @property
    def preferences(self) -> Path:
        return self.directory / "preferences.jsonl"

    @property
    def history(self) -> Path:
        """Dated copies of reviewed.jsonl and preferences.jsonl, kept before a pull replaces them."""
        return self.directory / "history"

    @property
    def test(self) -> Path:
        return self.build().test

    @property
    def cache(self) -> Path:
        return self.directory / "cache"

    @property
    def replies(self) -> Path:
        """The cache of every model reply, keyed by request, so no paid request is sent twice."""
        return self.cache / "replies.jsonl"

    @property
    def server_log(self) -> Path:
        """The local llama.cpp server's log."""
        return self.cache / "local-server.log"

    @property
    def batches(self) -> Path:
        """The request and result files of provider batches."""
        return self.directory / "batches"

    @property
    def batch_ledger(self) -> Path:
        return self.directory / "batches.jsonl"

    @property
    def uploads(self) -> Path:
        """The ledger of uploads and fine-tuning jobs."""
        return self.directory / "uploads.jsonl"

    def export(self, target: str) -> Path:
        """Where `ftboot build --export TARGET` writes by default."""
        return self.directory / f"export-{target}"

    @property
    def eval(self) -> Path:
        return self.directory / "eval"

    @property
    def eval_json(self) -> Path:
        return self.eval / "eval.json"

    @property
    def eval_md(self) -> Path:
        return self.eval / "eval.md"

    @property
    def answers(self) -> Path:
        """Every eval answer, appended as it arrives, so a killed eval resumes."""
        return self.eval / "answers.jsonl"

    @property
    def human_pairs(self) -> Path:
        """The order the pairs pushed for human comparison were shown in."""
        return self.eval / "human-pairs.jsonl"
