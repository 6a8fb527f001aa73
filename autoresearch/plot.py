"""``results --plot FILE.png``: the progress picture of one tag (needs the ``plot`` extra).

Every experiment is a dot over its number: discards grey, keeps green and labelled with
their (shortened) description; the running best is a step line; crashes, which have no
value, are red crosses along the bottom edge. The y axis names the metric and its
direction. This is the chart karpathy/autoresearch's analysis notebook draws.

matplotlib is imported only here, only when plotting, and drives the Agg canvas directly
(no pyplot, no global backend state).
"""

from __future__ import annotations

from pathlib import Path

from autoresearch.errors import ConfigError, EnvironmentProblem
from autoresearch.experiment import Experiment

LABEL_CHARS = 40  # descriptions longer than this are cut with "…"
MAX_LABELS = 40  # at most this many keeps are labelled: the largest improvements
COLOURS = {"keep": "#2ca02c", "discard": "#b0b0b0", "crash": "#d62728", "best": "#1f77b4"}


def _matplotlib():
    """matplotlib's Figure and Agg canvas, or the one-line hint to install the extra."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EnvironmentProblem(
            "--plot needs the plot extra: pip install 'autoresearch[plot]'") from None
    return Figure, FigureCanvasAgg


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def _number_of(experiment: Experiment, position: int) -> int:
    """The experiment's logged number, else its 1-based position."""
    return experiment.number or position + 1


def _points(experiments: list[Experiment], status: str) -> tuple[list[int], list[float]]:
    """(numbers, values) of the experiments with ``status`` that have a value."""
    xs, ys = [], []
    for position, experiment in enumerate(experiments):
        if experiment.status == status and experiment.value is not None:
            xs.append(_number_of(experiment, position))
            ys.append(experiment.value)
    return xs, ys


def _label_priority(experiment: Experiment) -> float:
    """The baseline (no delta) first, then the keeps that moved the value most."""
    delta = experiment.delta
    return float("inf") if delta is None else abs(delta)


def _label_keeps(ax, experiments: list[Experiment]) -> None:
    """Write the description next to the keeps that improved most (the baseline too)."""
    keeps = [(position, e) for position, e in enumerate(experiments)
             if e.kept and e.value is not None]
    keeps.sort(key=lambda pair: _label_priority(pair[1]), reverse=True)
    for position, experiment in keeps[:MAX_LABELS]:
        ax.annotate(_short(experiment.description),
                    (_number_of(experiment, position), experiment.value),
                    xytext=(4, 6), textcoords="offset points", rotation=30, fontsize=7,
                    color=COLOURS["keep"])


def _draw_best(ax, experiments: list[Experiment], series: list[float | None]) -> None:
    xs = [_number_of(e, p) for p, e in enumerate(experiments)]
    known = [(x, y) for x, y in zip(xs, series) if y is not None]
    if known:
        ax.step(*zip(*known), where="post", color=COLOURS["best"], linewidth=1.5,
                label="running best")


def _draw_crashes(ax, experiments: list[Experiment]) -> None:
    """Crashes have no value: red crosses on the bottom edge, at their number."""
    xs = [_number_of(e, p) for p, e in enumerate(experiments) if e.crashed]
    if xs:
        ax.scatter(xs, [0.02] * len(xs), transform=ax.get_xaxis_transform(), marker="x",
                   color=COLOURS["crash"], s=30, label=f"crash ({len(xs)})", clip_on=False)





def plot_progress(experiments: list[Experiment], best: list[float | None], path: Path, *,
                  title: str, metric: str, direction: str) -> None:
    """Draw one tag's experiments (all of them, in order) and the running ``best`` after
    each into the PNG file ``path``."""
    Figure, Canvas = _matplotlib()
    figure = Figure(figsize=(12, 6), dpi=100)
    Canvas(figure)
    ax = figure.add_subplot()
    for status, size in (("discard", 12), ("keep", 36)):
        xs, ys = _points(experiments, status)
        ax.scatter(xs, ys, s=size, color=COLOURS[status], label=f"{status} ({len(xs)})",
                   zorder=3 if status == "keep" else 2)
    _draw_best(ax, experiments, best)
    _draw_crashes(ax, experiments)
    _label_keeps(ax, experiments)
    words = "lower is better" if direction == "lower_is_better" else "higher is better"
    ax.set_xlabel("experiment #")
    ax.set_ylabel(f"{metric or 'metric'} ({words})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)  # "best" is slow on many points
    figure.tight_layout()
    _save(figure, path)


def _save(figure, path: Path) -> None:
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise ConfigError(f"--plot {path}: cannot write it: {exc.strerror or exc}") from None
