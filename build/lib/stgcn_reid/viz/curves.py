"""Curves of several models or settings on one plot: CMC, and a metric over training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_cmc(
    curves: Mapping[str, np.ndarray | list[float]],
    path: str | Path,
    title: str = "CMC curve",
    dpi: int = 100,
) -> Path:
    """Draw CMC curves (fractions, index ``r - 1`` = rank ``r``) on one axis and save a PNG.

    The legend gives each curve's rank-1. A ``matplotlib.figure.Figure`` is used directly
    (not ``pyplot``), so nothing depends on, or changes, the global backend and no window
    is ever opened.
    """
    if not curves:
        raise ValueError("curves is empty: pass at least one {label: cmc} entry")
    figure = Figure(figsize=(6, 4.5), dpi=dpi)
    axes = figure.add_subplot()
    for label, values in curves.items():
        cmc = np.asarray(values, dtype=float)
        if cmc.ndim != 1 or cmc.size == 0:
            raise ValueError(f"curve {label!r} must be a non-empty 1-D array, got {cmc.shape}")
        if np.any(~np.isfinite(cmc)) or cmc.min() < 0 or cmc.max() > 1:
            raise ValueError(f"curve {label!r} must hold fractions in [0, 1]")
        ranks = np.arange(1, cmc.size + 1)
        axes.plot(
            ranks,
            100 * cmc,
            marker="." if cmc.size <= 20 else None,
            label=f"{label} (R1 {100 * cmc[0]:.1f}%)",
        )
    axes.set_ylim(top=100.5)
    return _save(figure, axes, path, (title, "rank", "matching rate (%)"), "lower right")


def plot_metric_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str,
    xlabel: str = "epoch",
    ylabel: str = "val mAP (%)",
    dpi: int = 100,
) -> Path:
    """Draw ``{label: (x, y)}`` curves (y in %) on one axis, one marker per point, as a PNG."""
    if not curves:
        raise ValueError("curves is empty: pass at least one {label: (x, y)} entry")
    figure = Figure(figsize=(6, 4.5), dpi=dpi)
    axes = figure.add_subplot()
    for label, (x, y) in curves.items():
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"curve {label!r} needs as many x as y values, at least one")
        axes.plot(x, y, marker="o", label=label)
    return _save(figure, axes, path, (title, xlabel, ylabel), "best")


def _save(
    figure: Figure, axes: Axes, path: str | Path, text: tuple[str, str, str], legend: str
) -> Path:
    """Title and axis labels (``text``), grid and legend, then the PNG at ``path``."""
    title, xlabel, ylabel = text
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc=legend)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out
