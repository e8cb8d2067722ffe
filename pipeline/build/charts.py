"""The charts beside `report.md`: PNG files drawn with matplotlib's Agg backend (no display, no pyplot state).

  tokens.png       tokens per example of the built set, as a histogram
  rejections.png   examples refused, by reason: by generation's filters and by the build
  acceptance.png   reviewers' acceptance per round and per seed shown as a shot (the most shown seeds)
  similarity.png   each generated example's similarity to its nearest seed, as a histogram

A chart with nothing to show is not drawn; `draw_charts` says which and why, for the report to tell the reader.
Histograms bin at most `MAX_POINTS` values, a fixed-seed sample beyond that, which keeps a large build fast and
changes nothing one can see at this size. A build draws through a `Painter`: a worker process that imports
matplotlib (most of the cost) while the build validates, and draws while the build writes its other files.

It leaves out reading the project's files (`pipeline.build.report` gathers the figures) and interactive charts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_POINTS = 20_000
MAX_SEEDS = 25  # seeds shown in the per-seed panel: the most shown ones
DPI = 80
SIZE = (7.0, 3.6)


@dataclass
class Rate:
    """Of `total` examples, `kept` were kept (by the filters, or by the reviewers)."""

    total: int = 0
    kept: int = 0

    def add(self, kept: bool) -> None:
        self.total += 1
        self.kept += kept

    @property
    def share(self) -> float:
        return self.kept / self.total if self.total else 0.0


@dataclass
class ChartData:
    """The figures the charts show, gathered from the build and the project's stage files."""

    tokens: list[int] = field(default_factory=list)
    generation_rejects: Counter[str] = field(default_factory=Counter)
    build_rejects: Counter[str] = field(default_factory=Counter)
    review_by_round: dict[str, Rate] = field(default_factory=dict)
    review_by_seed: dict[str, Rate] = field(default_factory=dict)  # seed label -> reviews of candidates it shaped
    seed_similarity: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    file: str  # the PNG's name inside the charts directory
    title: str


@dataclass
class Drawn:
    charts: list[Chart]
    skipped: dict[str, str]  # title -> why it was not drawn


def _sample(values: Sequence[Any]) -> Sequence[Any]:
    return values if len(values) <= MAX_POINTS else random.Random(0).sample(list(values), MAX_POINTS)


def _figure(panels: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(SIZE[0], SIZE[1] * panels), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(panels, 1, i + 1) for i in range(panels)]


def _histogram(
    axes: Any, values: Sequence[float], bins: int, color: str, span: tuple[float, float] | None = None
) -> None:
    import numpy as np

    # numpy bins and `stairs` draws one outline: far quicker than `hist`'s one rectangle per bin at this size
    counts, edges = np.histogram(np.asarray(_sample(values), dtype=float), bins=bins, range=span)
    axes.stairs(counts, edges, fill=True, color=color)


def _tokens(axes: Any, data: ChartData) -> None:
    _histogram(axes, data.tokens, 40, "#4c72b0")
    axes.set(
        xlabel="tokens per example", ylabel="examples", title=f"Tokens per example ({len(data.tokens):,} examples)"
    )


def _rejections(axes: Any, data: ChartData) -> None:
    reasons = sorted(
        set(data.generation_rejects) | set(data.build_rejects),
        key=lambda r: data.generation_rejects[r] + data.build_rejects[r],
    )
    rows = range(len(reasons))
    generation = [data.generation_rejects[r] for r in reasons]
    axes.barh(rows, generation, color="#dd8452", label="generation filters")
    axes.barh(rows, [data.build_rejects[r] for r in reasons], left=generation, color="#55a868", label="build")
    axes.set_yticks(list(rows), reasons)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set(xlabel="examples refused", title="Refused, by reason")
    axes.legend(loc="lower right")


def _rates(axes: Any, rates: dict[str, Rate], title: str) -> None:
    names = list(rates)[::-1]  # barh draws bottom-up: the first name on top
    rows = range(len(names))
    axes.barh(rows, [rates[n].share * 100 for n in names], color="#4c72b0")
    axes.set_yticks(list(rows), names, fontsize=8)
    for y, name in enumerate(names):
        axes.annotate(f" {rates[name].kept}/{rates[name].total}", (rates[name].share * 100, y), va="center", fontsize=7)
    axes.set(xlim=(0, 115), xlabel="% accepted", title=title)


def _acceptance(figure_axes: list[Any], data: ChartData) -> None:
    _rates(figure_axes[0], data.review_by_round, "Accepted by reviewers, per round (accepted/reviewed)")
    shown = dict(sorted(data.review_by_seed.items(), key=lambda kv: -kv[1].total)[:MAX_SEEDS])
    _rates(figure_axes[1], shown, f"Accepted by reviewers, per seed shown as a shot (the {len(shown)} most shown)")


def _similarity(axes: Any, data: ChartData) -> None:
    _histogram(axes, data.seed_similarity, 20, "#8172b3", (0.0, 1.0))
    axes.set(
        xlabel="similarity to the nearest seed (word 3-gram Jaccard, MinHash estimate)",
        ylabel="examples",
        title=f"Similarity to the nearest seed ({len(data.seed_similarity):,} generated examples)",
    )


def draw_charts(directory: Path, data: ChartData) -> Drawn:
    """Draw every chart that has something to show into `directory`, created even when empty so that it replaces
    the charts of the build before."""
    # (chart, panels, drawing, the figures it needs: nothing to draw when empty, why not)
    plans: list[tuple[Chart, int, Callable[[Any, ChartData], None], Collection[Any], str]] = [
        (Chart("tokens.png", "Tokens per example"), 1, _tokens, data.tokens, "no example was kept"),
        (
            Chart("rejections.png", "Refused, by reason"),
            1,
            _rejections,
            data.generation_rejects + data.build_rejects,
            "nothing was refused",
        ),
        (
            Chart("acceptance.png", "Acceptance per round and per seed"),
            2,
            _acceptance,
            data.review_by_round,
            "no reviews in outputs/reviewed.jsonl for this build",
        ),
        (
            Chart("similarity.png", "Similarity to the nearest seed"),
            1,
            _similarity,
            data.seed_similarity,
            "no generated example in the set",
        ),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    drawn = Drawn([], {})
    for chart, panels, draw, has, why in plans:
        if not has:
            drawn.skipped[chart.title] = why
            continue
        figure, axes = _figure(panels)
        draw(axes if panels > 1 else axes[0], data)
        figure.savefig(directory / chart.file, format="png")
        drawn.charts.append(chart)
    return drawn


def _warm() -> None:
    from matplotlib.backends import backend_agg  # noqa: F401  (imported for the time it takes, before it is needed)


class Painter:
    """Draws the charts in one spawned worker process (spawn, not fork: a forked child would inherit the locks
    of this process's threads). Leaving the `with` block ends the worker, whatever it is doing."""

    def __enter__(self) -> Painter:
        import multiprocessing

        self._pool = multiprocessing.get_context("spawn").Pool(1)
        self._pool.apply_async(_warm)
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.terminate()
        self._pool.join()

    def draw(self, directory: Path, data: ChartData) -> Callable[[], Drawn]:
        """Start drawing; the returned function waits for the charts and raises what drawing raised."""
        return self._pool.apply_async(draw_charts, (directory, data)).get
