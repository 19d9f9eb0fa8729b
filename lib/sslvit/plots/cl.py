"""Figures of chapter 5 (contrastive learning collapses onto the global feature): metrics of groups of runs (e.g.
seeds of one ``Δ``) against the training step (:func:`plot_area_attention`, :func:`plot_metric_vs_step`), final
metrics against a swept parameter with the seeds' spread (:func:`plot_sweep`), and the representation norms of the
reference patterns (:func:`plot_pattern_norms`). The computations are in :mod:`sslvit.analysis.cl`.

Groups are given as ``{label: [run indices]}``; the line is the mean over the group's runs and the band
spans their minimum and maximum.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from sslvit.analysis.cl import PATTERN_LABELS, PATTERNS

__all__ = [
    "plot_area_attention",
    "plot_metric_vs_step",
    "plot_sweep",
    "plot_pattern_norms",
]

# ---- figures -------------------------------------------------------------------------------------------------

def _check_groups(groups: Mapping[str, Sequence[int]], n_runs: int) -> None:
    if not groups:
        raise ValueError("groups is empty: give {label: [run indices]}")
    for label, idx in groups.items():
        if len(idx) == 0 or any(not 0 <= int(i) < n_runs for i in idx):
            raise ValueError(f"group {label!r} has run indices {list(idx)} outside 0..{n_runs - 1} (or none)")


def _band(ax: plt.Axes, steps: np.ndarray, values: np.ndarray, color, label: Optional[str], ls: str = "-") -> None:
    """Mean line and min–max band of ``values`` ``(T, S)``."""
    ax.plot(steps, values.mean(1), color=color, ls=ls, lw=1.6, label=label)
    if values.shape[1] > 1:
        ax.fill_between(steps, values.min(1), values.max(1), color=color, alpha=0.2, lw=0)


def _x_steps(steps: Sequence[int]) -> np.ndarray:
    """Logged steps for a log-scaled axis: step 0 is drawn at 0.5."""
    s = np.asarray(list(steps), dtype=float)
    return np.where(s == 0, 0.5, s)


def plot_area_attention(steps: Sequence[int], history: Mapping[str, torch.Tensor],
                        groups: Mapping[str, Sequence[int]], axes: Optional[Sequence[plt.Axes]] = None
                        ) -> plt.Figure:
    """Three panels against the training step (log scale; step 0 drawn at 0.5), one legend below them: (a) the attention mass of
    local queries on the global area (solid) and on their own area (dashed); (b) the FP correlation
    ``fp_global``; (c) the FP correlation ``fp_own``. One colour per group of runs (mean line, min–max band).

    ``history``: a ``Trajectory.history`` (metric → ``(T, R)``), ``groups``: ``{label: [run indices]}``.
    """
    names = ("global_area_attention", "own_area_attention", "fp_global", "fp_own")
    missing = [n for n in names if n not in history]
    if missing:
        raise ValueError(f"history lacks {missing}")
    T, R = history["global_area_attention"].shape
    if len(steps) != T:
        raise ValueError(f"len(steps)={len(steps)} differs from the history length {T}")
    _check_groups(groups, R)
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.7))
    if len(axes) != 3:
        raise ValueError(f"plot_area_attention needs 3 axes, got {len(axes)}")
    fig = axes[0].figure
    x = _x_steps(steps)
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(groups)))
    for c, (label, idx) in zip(colors, groups.items()):
        idx = list(idx)
        _band(axes[0], x, history["global_area_attention"][:, idx].numpy(), c, label)
        _band(axes[0], x, history["own_area_attention"][:, idx].numpy(), c, None, ls="--")
        _band(axes[1], x, history["fp_global"][:, idx].numpy(), c, label)
        _band(axes[2], x, history["fp_own"][:, idx].numpy(), c, label)
    axes[0].plot([], [], color="0.3", ls="-", label="on the global area")
    axes[0].plot([], [], color="0.3", ls="--", label="on their own area")
    axes[0].set_ylabel("attention mass")
    axes[0].set_title("(a) local queries' attention")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("$A_{p,k,\\mathrm{glob}}$")
    axes[1].set_title("(b) global FP correlation")
    axes[2].set_ylabel("$A_{p,k,j(p)}$")
    axes[2].set_title("(c) own-area FP correlation")
    for ax in axes:
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("training step")
    if fig.get_layout_engine() is None or type(fig.get_layout_engine()).__name__ == "TightLayoutEngine":
        fig.set_layout_engine("constrained")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize="small")
    return fig


def plot_metric_vs_step(steps: Sequence[int], values: torch.Tensor, groups: Mapping[str, Sequence[int]],
                        ylabel: str, title: Optional[str] = None, ax: Optional[plt.Axes] = None,
                        yscale: str = "linear", linthresh: float = 1e-9) -> plt.Axes:
    """One metric ``values`` ``(T, R)`` against the training step (log scale), one line per group.

    ``yscale``: ``"linear"``, ``"log"`` or ``"symlog"`` (linear below ``linthresh``, so that exact zeros
    and values at rounding level can share an axis with values of order 1).
    """
    if yscale not in ("linear", "log", "symlog"):
        raise ValueError(f"yscale={yscale!r} is not allowed: 'linear', 'log' or 'symlog'")
    values = torch.as_tensor(values)
    if values.dim() != 2 or values.shape[0] != len(steps):
        raise ValueError(f"values must be (T, R) with T = len(steps) = {len(steps)}, got {tuple(values.shape)}")
    _check_groups(groups, values.shape[1])
    ax = ax or plt.gca()
    x = _x_steps(steps)
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(groups)))
    for c, (label, idx) in zip(colors, groups.items()):
        _band(ax, x, values[:, list(idx)].double().numpy(), c, label)
    ax.set_xscale("log")
    if yscale == "symlog":
        ax.set_yscale("symlog", linthresh=linthresh)
    elif yscale == "log":
        ax.set_yscale("log")
    ax.set_xlabel("training step (step 0 drawn at 0.5)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_sweep(x: Sequence[float], panels: Mapping[str, np.ndarray], xlabel: str,
               axes: Optional[Sequence[plt.Axes]] = None, symlog: bool = True, color: str = "#d62728"
               ) -> plt.Figure:
    """Final metrics against a swept parameter, one panel per metric, with every seed shown.

    ``x`` ``(n,)`` the swept values; ``panels``: ``{y label: (n, S) array}`` (``S`` seeds; ``nan`` entries,
    e.g. "never crossed", are left out of the mean and drawn as nothing). Each seed is a dot, the line joins
    the means over seeds. ``symlog``: a symmetric-log x axis, so that ``x = 0`` can be shown.
    """
    xs = np.asarray(list(x), dtype=float)
    if not panels:
        raise ValueError("panels is empty")
    for name, v in panels.items():
        if np.asarray(v).ndim != 2 or np.asarray(v).shape[0] != len(xs):
            raise ValueError(f"panel {name!r} must be an (n, S) array with n = len(x) = {len(xs)}, "
                             f"got shape {np.asarray(v).shape}")
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.3), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for ax, (name, v) in zip(axes, panels.items()):
        v = np.asarray(v, dtype=float)
        S = v.shape[1]
        jitter = (np.arange(S) - (S - 1) / 2) * 0.04
        for s in range(S):
            xj = xs * (1 + jitter[s]) if symlog else xs + jitter[s]
            ax.plot(xj, v[:, s], "o", ms=3.5, color=color, alpha=0.55, label="seeds" if s == 0 else None)
        with np.errstate(all="ignore"):
            mean = np.array([np.nanmean(row) if np.isfinite(row).any() else np.nan for row in v])
        ax.plot(xs, mean, "-", color="0.2", lw=1.2, label="mean over seeds")
        if symlog:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(-0.3, xs.max() * 1.4)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(name)
    axes[0].legend(fontsize="small", loc="best")
    return fig


def plot_pattern_norms(norms: Mapping[str, Mapping[str, Mapping[str, float]]], key: str = "norm",
                       ax: Optional[plt.Axes] = None, ylabel: str = r"mean representation norm $\mathbb{E}\,\|f\|$",
                       legend: bool = True) -> plt.Axes:
    """Grouped bars: ``norms`` is ``{config label: pattern_norms(...)}``; one group per config, one bar per
    pattern of :data:`PATTERNS`, height ``norms[label][pattern][key]`` (written above the bar).
    ``legend=False`` leaves the legend to the caller (e.g. one ``fig.legend`` for several panels)."""
    if not norms:
        raise ValueError("norms is empty")
    for label, d in norms.items():
        if any(p not in d or key not in d[p] for p in PATTERNS):
            raise ValueError(f"norms[{label!r}] must hold {PATTERNS}, each with {key!r}")
    ax = ax or plt.gca()
    labels = list(norms)
    width = 0.8 / len(PATTERNS)
    colors = {"uniform": "0.6", "own": "#1f77b4", "global": "#d62728"}
    for i, p in enumerate(PATTERNS):
        h = [norms[lab][p][key] for lab in labels]
        pos = np.arange(len(labels)) + (i - (len(PATTERNS) - 1) / 2) * width
        bars = ax.bar(pos, h, width, color=colors[p], label=PATTERN_LABELS[p])
        ax.bar_label(bars, fmt="%.2f", fontsize="x-small", rotation=90, padding=2)   # upright: no neighbour clash
    top = max(norms[lab][p][key] for lab in labels for p in PATTERNS)
    ax.set_ylim(0.0, 1.3 * top)                    # room for the bar labels
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize="x-small", loc="upper left")
    return ax
