"""The phase diagram of MAE versus CL: heat maps over (information gap Δ, masking probability γ) and a metric
against Δ with the seeds' spread (book chapter 6, claim C9). Input: the tidy rows of
:func:`sslvit.analysis.sweeps.run_sweep`.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

from sslvit.analysis.sweeps import Pivot, pivot
from .style import OBJECTIVE_COLORS

__all__ = ["LABELS", "phase_heatmap", "phase_diagram", "metric_vs_delta"]

#: axis / title labels of the sweep columns and metrics
LABELS = {
    "delta": "information gap Δ",
    "mask_prob": "masking probability γ",
    "own_area_attention": "own-area attention",
    "global_area_attention": "global-area attention",
    "nmi": "NMI",
    "attention_distance": "attention distance (patches)",
    "mae": "MAE",
    "cl": "CL",
}


#: the most cells in a row of a phase diagram whose numbers are written into them (more would not be legible)
MAX_ANNOTATED_COLUMNS = 6
#: metrics whose natural colour scale is [0, 1]
UNIT_RANGE = ("own_area_attention", "global_area_attention", "nmi", "ceiling")


def _label(name: str) -> str:
    return LABELS.get(name, name)


def phase_heatmap(pv: Pivot, ax: Optional[plt.Axes] = None, vmin: Optional[float] = None,
                  vmax: Optional[float] = None, cmap: str = "viridis", digits: int = 2, annotate: bool = True,
                  title: Optional[str] = None) -> Any:
    """One heat map of ``pv.mean`` (rows: ``pv.y``, bottom to top; columns: ``pv.x``, left to right), each cell
    annotated ``mean`` and ``± std`` over the seeds (the std without its leading zero, ``±.02``) (``n`` seeds per cell). Returns the image (for a colour
    bar). Cells without data are blank."""
    if pv.mean.ndim != 2 or pv.mean.shape != (len(pv.y), len(pv.x)):
        raise ValueError(f"pivot means have shape {pv.mean.shape}, expected {(len(pv.y), len(pv.x))}")
    ax = ax or plt.gca()
    im = ax.imshow(pv.mean, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    ax.set_xticks(range(len(pv.x)), [f"{round(v, 2) + 0.0:.2f}" for v in pv.x])
    if len(pv.x) > MAX_ANNOTATED_COLUMNS:                 # too many to be legible side by side: every other one
        for i, tick in enumerate(ax.get_xticklabels()):
            tick.set_visible(i % 2 == 0)
    ax.set_yticks(range(len(pv.y)), [f"{v:g}" for v in pv.y])
    ax.set_xlabel(_label(pv.x_name))
    ax.set_ylabel(_label(pv.y_name))
    ax.grid(False)
    if annotate:
        lo = np.nanmin(pv.mean) if vmin is None else vmin
        hi = np.nanmax(pv.mean) if vmax is None else vmax
        mid = 0.5 * (lo + hi)
        for i in range(len(pv.y)):
            for j in range(len(pv.x)):
                if pv.n[i, j] == 0:
                    continue
                colour = "black" if pv.mean[i, j] > mid else "white"
                spread = f"{pv.std[i, j]:.{digits}f}".removeprefix("0")          # "±.02": a narrower cell text
                ax.text(j, i, f"{pv.mean[i, j]:.{digits}f}\n±{spread}", ha="center",
                        va="center", fontsize=7.5, color=colour)
    if title:
        ax.set_title(title)
    return im


def phase_diagram(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("own_area_attention",
                  "global_area_attention"), objectives: Sequence[str] = ("mae", "cl"), x: str = "delta",
                  y: str = "mask_prob", limits: Optional[Mapping[str, tuple[float, float]]] = None, digits: int = 2,
                  annotate: Optional[bool] = None, **where: Any) -> plt.Figure:
    """A grid of :func:`phase_heatmap`: one row per metric, one column per objective, and one colour scale per
    metric shared by the objectives: ``limits[metric]`` if given, ``(0, 1)`` for the attention masses and NMI,
    else the range of the cell means. ``where`` selects rows (e.g. ``patches=100``). ``annotate``: write each
    cell's mean and spread into it; by default only when a row has at most :data:`MAX_ANNOTATED_COLUMNS` cells,
    the most whose numbers stay legible at the width of a page. Returns the figure."""
    if len(metrics) == 0 or len(objectives) == 0:
        raise ValueError("give at least one metric and one objective")
    limits = dict(limits or {})
    counts: list[int] = []
    fig, axes = plt.subplots(len(metrics), len(objectives), squeeze=False, layout="constrained",
                             figsize=(4.2 * len(objectives) + 1.0, 2.9 * len(metrics) + 0.5))
    for i, metric in enumerate(metrics):
        pivots = [pivot(rows, metric, x=x, y=y, objective=obj, **where) for obj in objectives]
        if metric in limits:
            lo, hi = limits[metric]
        elif metric in UNIT_RANGE:
            lo, hi = 0.0, 1.0
        else:
            lo = float(min(np.nanmin(pv.mean) for pv in pivots))
            hi = float(max(np.nanmax(pv.mean) for pv in pivots))
        im = None
        for j, (obj, pv) in enumerate(zip(objectives, pivots)):
            numbers = len(pv.x) <= MAX_ANNOTATED_COLUMNS if annotate is None else annotate
            im = phase_heatmap(pv, ax=axes[i, j], vmin=lo, vmax=hi, digits=digits, annotate=numbers,
                               title=f"{_label(obj)}: {_label(metric)}")
            counts += [int(c) for c in pv.n.flat if c > 0]
        fig.colorbar(im, ax=list(axes[i]), shrink=0.9, label=_label(metric))
    lo_n, hi_n = min(counts), max(counts)
    seeds = lo_n if lo_n == hi_n else f"{lo_n}-{hi_n}"
    fig.suptitle(f"each cell: mean ± std over {seeds} seeds" if numbers else f"colour: mean over {seeds} seeds per cell",
                 fontsize="medium")
    return fig


def metric_vs_delta(rows: Sequence[Mapping[str, Any]], metric: str = "own_area_attention",
                    mask_probs: Optional[Mapping[str, float]] = None, ax: Optional[plt.Axes] = None,
                    ceiling: bool = True, **where: Any) -> plt.Axes:
    """``metric`` against Δ, one line per objective at its masking probability (default MAE γ = 0.5, CL
    γ = 0.3), markers at the seeds' mean, error bars ± one standard deviation over the seeds, and (if
    ``ceiling``) the own-area ceiling ``1 − γ^{C_c}`` of each line as a dotted line. Returns the axes."""
    mask_probs = dict(mask_probs or {"mae": 0.5, "cl": 0.3})
    if not mask_probs:
        raise ValueError("mask_probs is empty: give {objective: γ}")
    ax = ax or plt.gca()
    for obj, gamma in mask_probs.items():
        pv = pivot(rows, metric, x="delta", y="mask_prob", objective=obj, mask_prob=gamma, **where)
        colour = OBJECTIVE_COLORS.get(obj)
        ax.errorbar(pv.x, pv.mean[0], yerr=pv.std[0], marker="o", ms=4, capsize=3, color=colour,
                    label=f"{_label(obj)} (γ = {gamma:g}, {int(pv.n.max())} seeds)")
        if ceiling and metric == "own_area_attention":
            ceil = pivot(rows, "ceiling", x="delta", y="mask_prob", objective=obj, mask_prob=gamma, **where)
            ax.plot(pv.x, ceil.mean[0], ls=":", color=colour, lw=1.2, label=rf"ceiling $1 - \gamma^{{C_c}}$ (γ = {gamma:g})")
    ax.set_xlabel(_label("delta"))
    ax.set_ylabel(_label(metric))
    ax.legend(fontsize=8)
    return ax
