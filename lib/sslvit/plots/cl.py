"""Contrastive learning collapses onto the global feature (book chapter 5, SPEC §3 CL, §5 claims C7 and C8).

Two kinds of helpers:

* **computations** behind the chapter's intuition and checks: reference attention patterns
  (:func:`pattern_attention`: uniform, own area, all on the global area), the CL representation
  ``f = (1/P) Σ_p F_p`` in area coordinates (:func:`representation`), its norm and the positive-pair
  similarity under each pattern (:func:`pattern_norms`), how much attention depends on the query
  (:func:`max_row_tv`) and when a metric first crosses a level (:func:`first_crossing`);
* **figures**: metrics of groups of runs (e.g. seeds of one ``Δ``) against the training step
  (:func:`plot_area_attention`, :func:`plot_metric_vs_step`), final metrics against a swept parameter with
  the seeds' spread (:func:`plot_sweep`), and the norms of the patterns (:func:`plot_pattern_norms`).

Groups are given as ``{label: [run indices]}``; the line is the mean over the group's runs and the band
spans their minimum and maximum.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from sslvit.core import objectives
from sslvit.core.data import DataConfig, Layout, as_generator, draw_images, draw_mask
from sslvit.core.engine import key_areas

__all__ = [
    "PATTERNS",
    "pattern_attention",
    "area_mass",
    "representation",
    "pattern_norms",
    "max_row_tv",
    "first_crossing",
    "plot_area_attention",
    "plot_metric_vs_step",
    "plot_sweep",
    "plot_pattern_norms",
]

#: reference attention patterns of :func:`pattern_attention`
PATTERNS = ("uniform", "own", "global")
PATTERN_LABELS = {
    "uniform": "uniform (init, Q = 0)",
    "own": "each query on its own area",
    "global": "every query on the global area",
}


# ---- computations --------------------------------------------------------------------------------------------

def _check_image_tensors(key_area: torch.Tensor, visible: torch.Tensor) -> None:
    if key_area.dim() != 2 or visible.shape != key_area.shape:
        raise ValueError(f"key_area and visible must both be (Bt, P), got {tuple(key_area.shape)} and "
                         f"{tuple(visible.shape)}")


def pattern_attention(key_area: torch.Tensor, visible: torch.Tensor, pattern: str,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Dense attention ``(Bt, P, P)`` (rows: queries) of a reference pattern.

    ``key_area`` ``(Bt, P)`` long (area of every position, ``0`` = global), ``visible`` ``(Bt, P)`` bool.

    * ``"uniform"``: ``1/P`` on every key, masked ones included (the model at ``Q = 0``, SPEC §2);
    * ``"own"``: query ``p`` spreads uniformly over the visible patches of its own area (the SPEC §4 oracle);
    * ``"global"``: every query spreads uniformly over the visible patches of the global area.

    When the target set has no visible patch, the row spreads over all visible patches (and over all keys
    if nothing is visible).
    """
    _check_image_tensors(key_area, visible)
    if pattern not in PATTERNS:
        raise ValueError(f"pattern={pattern!r} is not allowed: one of {PATTERNS}")
    Bt, P = key_area.shape
    vis = visible.bool()
    if pattern == "uniform":
        return torch.full((Bt, P, P), 1.0 / P, dtype=dtype)
    if pattern == "own":
        target = (key_area[:, :, None] == key_area[:, None, :]) & vis[:, None, :]      # (Bt, P, P)
    else:
        target = ((key_area == 0) & vis)[:, None, :].expand(Bt, P, P)
    fallback = vis[:, None, :].expand(Bt, P, P)
    empty = ~target.any(-1, keepdim=True)
    target = torch.where(empty, fallback, target)
    target = torch.where(~target.any(-1, keepdim=True), torch.ones_like(target), target)
    w = target.to(dtype)
    return w / w.sum(-1, keepdim=True)


def area_mass(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(Bt, N, P)``: ``m[j, p]`` = attention of query ``p`` on the visible patches of area ``j``.

    ``attn`` ``(Bt, P, P)``, ``key_area`` ``(Bt, P)``, ``visible`` ``(Bt, P)`` bool. Masked keys carry
    value 0, so their attention is in no area (SPEC §2).
    """
    _check_image_tensors(key_area, visible)
    Bt, P = key_area.shape
    if attn.shape != (Bt, P, P):
        raise ValueError(f"attn must be (Bt, P, P) = {(Bt, P, P)}, got {tuple(attn.shape)}")
    if isinstance(n_areas, bool) or not isinstance(n_areas, int) or n_areas <= int(key_area.max()):
        raise ValueError(f"n_areas={n_areas!r} is not allowed: an integer above the largest area id "
                         f"{int(key_area.max())}")
    mass = attn.new_zeros(Bt, P, n_areas)
    mass.scatter_add_(2, key_area[:, None, :].expand(Bt, P, P), attn * visible.to(attn.dtype)[:, None, :])
    return mass.transpose(1, 2)


def representation(mass: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """CL representation ``f = (1/P) Σ_p F_p`` in area coordinates, ``(..., N)``.

    ``F_p`` has coordinate ``m[j, p] z_j`` on the feature ``v_{k,j}`` (SPEC §2), so
    ``f_j = z_j · mean_p m[j, p]``. ``mass`` ``(..., N, P)``, ``scale`` ``(..., N)``. Features of different
    clusters are orthogonal, so ``f1 · f2 = Σ_j f1_j f2_j`` for two images of the same cluster and 0 otherwise.
    """
    if mass.dim() < 2 or mass.shape[:-1] != scale.shape:
        raise ValueError(f"mass (..., N, P) and scale (..., N) do not match: {tuple(mass.shape)} and "
                         f"{tuple(scale.shape)}")
    return objectives.representation(mass, scale)


def pattern_norms(cfg: DataConfig, layout: Layout, batch: int = 256, mask_prob: float = 0.3,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean representation norm and positive-pair similarity under each reference pattern (chapter 5).

    Draws ``batch`` images of ``cfg`` with two independent masks (the two CL views, masking probability
    ``mask_prob``), builds each :data:`PATTERNS` attention on both views and returns
    ``{pattern: {"norm": E‖f‖, "positive": E[f1·f2], "global_share": E[f_global² / ‖f‖²]}}`` (averages over
    the images and both views for the norm and the share).
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is not allowed: a positive integer")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob={mask_prob!r} is not allowed: a probability strictly between 0 and 1")
    if layout.area.shape != (cfg.clusters, cfg.patches):
        raise ValueError(f"layout.area has shape {tuple(layout.area.shape)}, expected (K, P) = "
                         f"{(cfg.clusters, cfg.patches)} for this DataConfig")
    g = as_generator(seed)
    cluster, scale = draw_images(cfg, batch, g, torch.float64)
    views = [draw_mask(cfg.patches, batch, mask_prob, g) for _ in range(2)]
    key_area = key_areas(layout.area[None], cluster[None])[0]                      # (Bt, P)
    out: dict[str, dict[str, float]] = {}
    for pattern in PATTERNS:
        fs = []
        for vis in views:
            attn = pattern_attention(key_area, vis, pattern)
            fs.append(representation(area_mass(attn, key_area, vis, cfg.n_areas), scale))  # (Bt, N)
        norms = torch.stack([f.norm(dim=-1) for f in fs])                          # (2, Bt)
        share = torch.stack([f[:, 0] ** 2 / (f ** 2).sum(-1) for f in fs])
        out[pattern] = {"norm": float(norms.mean()), "positive": float((fs[0] * fs[1]).sum(-1).mean()),
                        "global_share": float(share.mean())}
    return out


def max_row_tv(attn: torch.Tensor, queries: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Largest total-variation distance between two query rows of the same image, ``(Bt,)``.

    ``attn`` ``(Bt, P, P)`` (rows: queries, each sums to 1). ``TV(a, b) = ½ Σ_k |a_k − b_k|`` is 0 for
    identical rows and 1 for rows on disjoint keys; the maximum over all pairs of queries (or over the pairs
    of ``queries``, a ``(P,)`` bool selection) is 0 exactly when the attention does not depend on the query.
    """
    if attn.dim() != 3 or attn.shape[1] != attn.shape[2]:
        raise ValueError(f"attn must be (Bt, P, P), got {tuple(attn.shape)}")
    if queries is not None:
        if queries.shape != (attn.shape[1],) or queries.dtype != torch.bool:
            raise ValueError(f"queries must be a (P,) bool selection, got {tuple(queries.shape)} {queries.dtype}")
        if not bool(queries.any()):
            raise ValueError("queries selects no query")
        attn = attn[:, queries]
    out = []
    for a in attn:                                                                  # (Q, P), one image at a time
        out.append(0.5 * torch.cdist(a[None], a[None], p=1.0)[0].max())
    return torch.stack(out)


def first_crossing(steps: Sequence[int], values: torch.Tensor, level: float) -> torch.Tensor:
    """First logged step at which each run's metric reaches ``level``, ``(R,)`` float (``nan`` if never).

    ``steps`` ``(T,)`` increasing, ``values`` ``(T, R)`` (a ``Trajectory.history`` entry). With geometric
    ``log_steps`` the answer is exact up to the spacing of the logged steps.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() != 2 or values.shape[0] != len(steps):
        raise ValueError(f"values must be (T, R) with T = len(steps) = {len(steps)}, got {tuple(values.shape)}")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError("steps must be strictly increasing")
    if not math.isfinite(level):
        raise ValueError(f"level={level!r} is not allowed: a finite number")
    hit = values >= level
    first = hit.to(torch.int64).argmax(0)
    s = torch.tensor(list(steps), dtype=torch.float64)[first]
    return torch.where(hit.any(0), s, torch.full_like(s, float("nan")))


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
    """Three panels against the training step (log scale; step 0 drawn at 0.5): (a) the attention mass of
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
    axes[0].set_ylabel("attention mass of local queries")
    axes[0].set_title("(a) where local queries attend")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("fp_global: mean A[p, k, global]")
    axes[1].set_title("(b) FP correlation with the global feature")
    axes[2].set_ylabel("fp_own: mean A[p, k, j(p)]")
    axes[2].set_title("(c) FP correlation with the own area")
    for ax in axes:
        ax.axhline(0.0, color="0.4", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("training step (0 drawn at 0.5)")
    axes[0].legend(fontsize="x-small", loc="center right")
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
                       ax: Optional[plt.Axes] = None, ylabel: str = "mean representation norm E‖f‖",
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
        ax.bar_label(bars, fmt="%.2f", fontsize="x-small")
    top = max(norms[lab][p][key] for lab in labels for p in PATTERNS)
    ax.set_ylim(0.0, 1.12 * top)                   # room for the bar labels
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize="x-small", loc="upper left")
    return ax
