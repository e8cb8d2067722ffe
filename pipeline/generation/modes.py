"""Which kind of request generation sends (chat or completion), and the early check that a run's mode fits its model.

`mode = "auto"` (the default everywhere) picks completion for the bundled local model, a base model that
continues a numbered pattern, and chat for an OpenAI-compatible endpoint, where instruction-tuned models live.
The first explicit choice wins: `--mode`, then `mode` under the backend's own table (`[local]`, `[openai]`), then
`generate.mode`.

A mode that does not fit the model shows at once: nearly every reply is prose the parser cannot read. The
`ModeCheck` watches the first replies of a run and, when most of them fail to parse, gives the `RunError` that
stops it, naming the likely cause, before the rest of the budget is spent. What it leaves out: which model is
behind an endpoint is never asked of the server; the reply texts are the evidence.
"""

from __future__ import annotations

from pipeline.config import Config
from pipeline.errors import RunError

AUTO: dict[str, str] = {"local": "completion", "openai": "chat"}
FIRST = 10  # replies watched at the start of a run
SHARE = 0.8  # of them failing to parse that stops it


def resolve_mode(config: Config, backend: str, flag: str | None = None) -> str:
    """The mode of a run: the first choice that is not "auto", else the backend's natural one."""
    section = config.local if backend == "local" else config.openai
    for chosen in (flag, section.mode, config.generate.mode):
        if chosen and chosen != "auto":
            return chosen
    return AUTO[backend]


class ModeCheck:
    """Counts the first `FIRST` replies of a run; `settle` returns the error that stops it when too many of them
    could not be parsed at all, once, and None otherwise."""

    def __init__(self, mode: str, model: str, backend: str) -> None:
        self.mode, self.model, self.backend = mode, model, backend
        self.seen = self.failed = 0

    @property
    def watching(self) -> bool:
        return self.seen < FIRST

    def settle(self, unparsed: bool) -> RunError | None:
        if not self.watching:
            return None
        self.seen += 1
        self.failed += unparsed
        if self.seen < FIRST or self.failed < SHARE * FIRST:
            return None
        other, kind = ("chat", "a chat") if self.mode == "completion" else ("completion", "a base")
        return RunError(
            f"{self.failed} of the first {FIRST} replies could not be parsed: {self.mode} mode against "
            f'{kind} model ({self.model})? set mode = "{other}" under [{self.backend}] or [generate], '
            f"or pass --mode {other}",
            hint="the replies received are cached and in outputs/rejected.jsonl; rerunning sends nothing new for them",
        )
