"""Pictures of the data model and of the model's matrices (book chapters 1 and 2).

* :func:`image_rgb`, :func:`plot_image`, :func:`image_gallery`: sampled images on the ``H × W`` grid, one
  colour per area, the area's scale ``z`` as intensity, masked patches (mask token 0) in black.
* :func:`plot_area_labels`: which area every position belongs to, for one or more clusters (shows that the
  ``random`` layout scatters the areas while the ``grid`` layout uses square blocks).
* :func:`plot_kappa_plane`: the information gap ``Δ = 2κ_s − κ_c − 1`` over the ``(κ_s, κ_c)`` plane, with
  the ``Δ = 0`` line and the book's regimes as points.
* :func:`plot_matrix_blocks`: a matrix whose columns are indexed by the orthonormal set (positions, then the
  features of each cluster), with the blocks outlined (tokens ``H``, the gradient ``∂L/∂Q``).

Every function labels its axes and returns the figure (or the axes it drew on) so a chapter can glue it.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colors as mcolors
from matplotlib.patches import Patch

from sslvit.core.data import DataConfig, Layout
from sslvit.core.validation import check_int

__all__ = [
    "GLOBAL_COLOR",
    "MASK_COLOR",
    "area_colors",
    "image_rgb",
    "plot_image",
    "image_gallery",
    "plot_area_labels",
    "delta_plane",
    "plot_kappa_plane",
    "plot_matrix_blocks",
]

#: colour of the global area (the background of the grid layout)
GLOBAL_COLOR = (0.55, 0.55, 0.55)
#: colour of a masked patch (its content is the mask token 0)
MASK_COLOR = (0.0, 0.0, 0.0)
#: intensity of the lowest and the highest scale: a patch is ``white·(1 − t) + colour·t``
_T_MIN, _T_MAX = 0.25, 1.0


def area_colors(n_areas: int) -> np.ndarray:
    """``(N, 3)`` RGB colours: grey for the global area (index 0), ``tab20`` hues for the local areas
    (cycled when there are more than 20)."""
    n_areas = check_int("n_areas", n_areas, 1, allowed="a positive integer")
    cmap = plt.get_cmap("tab20")
    # skip tab20's two greys (indices 14, 15) so no local area looks like the global one
    hues = [cmap(i)[:3] for i in range(20) if i not in (14, 15)]
    out = np.empty((n_areas, 3))
    out[0] = GLOBAL_COLOR
    for j in range(1, n_areas):
        out[j] = hues[(j - 1) % len(hues)]
    return out


def _as_numpy(x: Union[torch.Tensor, np.ndarray, Sequence]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _intensity(scale: np.ndarray, low: float, high: float) -> np.ndarray:
    """Blend weight ``t ∈ [0.25, 1]`` of each scale (``low`` ↦ 0.25, ``high`` ↦ 1)."""
    if high == low:
        return np.full_like(scale, _T_MAX, dtype=float)
    u = np.clip((scale - low) / (high - low), 0.0, 1.0)
    return _T_MIN + (_T_MAX - _T_MIN) * u


def image_rgb(area_row: Union[torch.Tensor, np.ndarray], scale: Union[torch.Tensor, np.ndarray],
              grid_hw: tuple[int, int], low: float = 0.5, high: float = 1.5,
              visible: Optional[Union[torch.Tensor, np.ndarray]] = None) -> np.ndarray:
    """RGB picture ``(H, W, 3)`` of one image.

    ``area_row`` ``(P,)``: area of every position (0 = global); ``scale`` ``(N,)``: the image's per-area
    scales ``z_j ∈ [low, high]``; ``visible`` ``(P,)`` bool or ``None`` (all visible). Position ``p`` is drawn
    at row ``p // W``, column ``p % W``, coloured by its area and as intense as its area's scale
    (``white·(1 − t) + colour·t`` with ``t`` from 0.25 at ``low`` to 1 at ``high``); masked positions are black.
    """
    H, W = (int(v) for v in grid_hw)
    area = _as_numpy(area_row).astype(int).reshape(-1)
    z = _as_numpy(scale).astype(float).reshape(-1)
    if H < 1 or W < 1 or H * W != area.size:
        raise ValueError(f"grid_hw={grid_hw} does not fit {area.size} positions: need H*W == P")
    if area.min() < 0 or area.max() >= z.size:
        raise ValueError(f"area labels must lie in 0..{z.size - 1} (one scale per area), got {area.min()}..{area.max()}")
    if not low <= high:
        raise ValueError(f"low={low}, high={high}: need low <= high")
    colors = area_colors(z.size)[area]                                   # (P, 3)
    t = _intensity(z, low, high)[area][:, None]                          # (P, 1)
    rgb = (1.0 - t) + t * colors
    if visible is not None:
        vis = _as_numpy(visible).astype(bool).reshape(-1)
        if vis.size != area.size:
            raise ValueError(f"visible has {vis.size} entries, expected P={area.size}")
        rgb[~vis] = MASK_COLOR
    return rgb.reshape(H, W, 3)


def plot_image(cfg: DataConfig, layout: Layout, cluster: int, scale: Union[torch.Tensor, np.ndarray],
               visible: Optional[Union[torch.Tensor, np.ndarray]] = None, ax: Optional[plt.Axes] = None,
               title: Optional[str] = None, grid_hw: Optional[tuple[int, int]] = None) -> plt.Axes:
    """Draw one image of cluster ``cluster`` (see :func:`image_rgb`) on ``ax`` and return the axes.

    ``grid_hw`` defaults to the config's grid (``cfg.grid_hw``), which for the random layout only arranges
    the positions in index order (the random layout has no geometry).
    """
    if not 0 <= int(cluster) < cfg.clusters:
        raise ValueError(f"cluster={cluster} is not allowed: 0..{cfg.clusters - 1}")
    hw = grid_hw if grid_hw is not None else cfg.grid_hw
    ax = ax or plt.gca()
    ax.imshow(image_rgb(layout.area[int(cluster)], scale, hw, cfg.low, cfg.high, visible), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"column (0..{hw[1] - 1})")
    ax.set_ylabel(f"row (0..{hw[0] - 1})")
    if title:
        ax.set_title(title)
    return ax


def _scale_colorbar(fig: plt.Figure, axes: np.ndarray, low: float, high: float) -> None:
    """Grey colour bar explaining the intensity code of the scales."""
    t = np.linspace(_T_MIN, _T_MAX, 256)
    grey = np.stack([1 - t + t * 0.2] * 3, axis=1)
    cmap = mcolors.ListedColormap(grey)
    sm = plt.cm.ScalarMappable(norm=mcolors.Normalize(low, high), cmap=cmap)
    fig.colorbar(sm, ax=list(np.ravel(axes)), shrink=0.8, label="area scale $z$ (intensity)")


def image_gallery(cfg: DataConfig, layout: Layout, cluster: Union[torch.Tensor, Sequence[int]],
                  scale: torch.Tensor, visible: Optional[torch.Tensor] = None,
                  grid_hw: Optional[tuple[int, int]] = None) -> plt.Figure:
    """A row of images (clean) and, if ``visible`` is given, a second row with the same images masked.

    ``cluster`` ``(n,)``, ``scale`` ``(n, N)``, ``visible`` ``(n, P)`` bool (e.g. the fields of a
    :class:`~sslvit.core.data.Sample`). Returns the figure, with a legend for the areas and the mask and a grey
    colour bar for the scale.
    """
    cl = _as_numpy(cluster).astype(int).reshape(-1)
    n = cl.size
    if n < 1:
        raise ValueError("need at least one image")
    if scale.shape[0] != n or (visible is not None and visible.shape[0] != n):
        raise ValueError(f"cluster, scale and visible must describe the same {n} images")
    rows = 1 if visible is None else 2
    fig, axes = plt.subplots(rows, n, figsize=(2.1 * n + 1.6, 2.2 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for i in range(n):
        plot_image(cfg, layout, int(cl[i]), scale[i], ax=axes[0, i], title=f"image {i} (cluster {cl[i]})",
                   grid_hw=grid_hw)
        if visible is not None:
            frac = float(_as_numpy(visible[i]).mean())
            plot_image(cfg, layout, int(cl[i]), scale[i], visible[i], ax=axes[1, i],
                       title=f"masked ({1 - frac:.0%} hidden)", grid_hw=grid_hw)
        if i > 0:
            for r in range(rows):
                axes[r, i].set_ylabel("")
    handles = [Patch(color=GLOBAL_COLOR, label="global area"),
               Patch(color=area_colors(2)[1], label="local areas (one hue each)")]
    if visible is not None:
        handles.append(Patch(color=MASK_COLOR, label="masked (token 0)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    _scale_colorbar(fig, axes, cfg.low, cfg.high)
    return fig


def plot_area_labels(cfg: DataConfig, layout: Layout, clusters: Sequence[int] = (0, 1),
                     grid_hw: Optional[tuple[int, int]] = None) -> plt.Figure:
    """The area label of every position, one panel per cluster in ``clusters``.

    Positions are drawn at row ``p // W``, column ``p % W`` with ``(H, W)`` = ``grid_hw`` (default: the
    config's grid when the patch count is a square, else a ``1 × P`` strip). Global area grey, each local
    area its own hue; local areas are numbered.
    """
    clusters = [int(k) for k in clusters]
    if not clusters or any(not 0 <= k < cfg.clusters for k in clusters):
        raise ValueError(f"clusters={clusters} is not allowed: a non-empty list from 0..{cfg.clusters - 1}")
    P = cfg.patches
    if grid_hw is None:
        side = math.isqrt(P)
        grid_hw = cfg.grid_hw if cfg.layout == "grid" else ((side, side) if side * side == P else (1, P))
    H, W = grid_hw
    if H * W != P:
        raise ValueError(f"grid_hw={grid_hw} does not fit P={P} positions")
    n = len(clusters)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n + 0.4, 3.3 if H > 1 else 1.6), squeeze=False,
                             layout="constrained")
    cols = area_colors(layout.n_areas)
    for ax, k in zip(axes[0], clusters):
        labels = _as_numpy(layout.area[k]).astype(int)
        ax.imshow(cols[labels].reshape(H, W, 3), interpolation="nearest")
        if P <= 400 and H > 1:
            for p in range(P):
                if labels[p] > 0:
                    ax.text(p % W, p // W, str(labels[p]), ha="center", va="center", fontsize=5, color="white")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"cluster {k} ({cfg.layout} layout)")
        ax.set_xlabel(f"position p mod {W}" if cfg.layout == "random" else "column")
        ax.set_ylabel(f"p // {W}" if cfg.layout == "random" else "row")
    handles = [Patch(color=GLOBAL_COLOR, label=f"global area ({cfg.global_size} positions)"),
               Patch(color=cols[1] if len(cols) > 1 else GLOBAL_COLOR,
                     label=f"local areas ({cfg.local_size} positions each, numbered)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return fig


def delta_plane(resolution: int = 201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(κ_s, κ_c, Δ)`` on a ``resolution × resolution`` grid of ``[0, 1]²``; ``Δ = 2κ_s − κ_c − 1`` where
    ``0 < κ_c < κ_s ≤ 1`` and NaN elsewhere. Arrays of shape ``(resolution, resolution)``, indexed
    ``[κ_c index, κ_s index]``."""
    resolution = check_int("resolution", resolution, 2, allowed="an integer >= 2")
    ks, kc = np.meshgrid(np.linspace(0.0, 1.0, resolution), np.linspace(0.0, 1.0, resolution))
    delta = 2 * ks - kc - 1
    delta[~((kc > 0) & (kc < ks))] = np.nan
    return ks, kc, delta


def plot_kappa_plane(points: Sequence[Union[DataConfig, tuple[str, float, float]]] = (),
                     ax: Optional[plt.Axes] = None, resolution: int = 201) -> plt.Figure:
    """The information gap ``Δ = 2κ_s − κ_c − 1`` over the admissible triangle ``0 < κ_c < κ_s ≤ 1``.

    ``points``: regimes to mark, each a :class:`DataConfig` (placed at its exact ``κ_s = log C_s / log P``,
    ``κ_c = log C_c / log P`` and described as ``P, (C_s, C_c)``) or a tuple ``(label, κ_s, κ_c)``; they are
    numbered 1, 2, ... on the plot and listed with their ``Δ`` in the legend. The ``Δ = 0`` line
    ``κ_c = 2κ_s − 1`` is drawn and labelled. Returns the figure.
    """
    ks, kc, delta = delta_plane(resolution)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.2, 4.8))
    else:
        fig = ax.figure
    im = ax.pcolormesh(ks, kc, delta, cmap="RdBu_r", vmin=-1, vmax=1, shading="nearest", rasterized=True)
    fig.colorbar(im, ax=ax, label=r"information gap $\Delta = 2\kappa_s - \kappa_c - 1$")
    line = np.linspace(0.5, 1.0, 50)
    ax.plot(line, 2 * line - 1, color="k", lw=1.8, label=r"$\Delta = 0$: $\kappa_c = 2\kappa_s - 1$")
    ax.plot([0, 1], [0, 1], color="0.3", lw=0.8, ls="--", label=r"$\kappa_c = \kappa_s$ (excluded)")
    ax.text(0.86, 0.1, r"$\Delta > 0$: global dominates", ha="center", va="center", fontsize=9)
    ax.text(0.55, 0.45, r"$\Delta < 0$" + "\nlocal\ncompetitive", ha="center", va="center", fontsize=9)
    for i, pt in enumerate(points, start=1):
        if isinstance(pt, DataConfig):
            label = f"P={pt.patches}, $(C_s, C_c)$=({pt.global_size}, {pt.local_size})"
            x, y = pt.kappa_s, pt.kappa_c
            d = pt.delta
        else:
            label, x, y = pt
            if not 0 < y < x <= 1:
                raise ValueError(f"point {label!r}: need 0 < kappa_c < kappa_s <= 1, got ({x}, {y})")
            d = 2 * x - y - 1
        ax.plot(x, y, marker="o", ms=11, mfc="gold", mec="k", ls="none")
        ax.text(x, y, str(i), ha="center", va="center", fontsize=7, fontweight="bold")
        ax.plot([], [], marker=f"${i}$", color="k", ls="none", label=f"{label}: $\\Delta$={d:+.2f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(r"$\kappa_s$ (global area size $C_s = P^{\kappa_s}$)")
    ax.set_ylabel(r"$\kappa_c$ (local area size $C_c = P^{\kappa_c}$)")
    ax.set_title(r"Information gap over the $(\kappa_s, \kappa_c)$ plane")
    ax.legend(loc="upper left", fontsize=7, framealpha=0.9)
    return fig


def plot_matrix_blocks(M: Union[torch.Tensor, np.ndarray], cfg: DataConfig, ax: Optional[plt.Axes] = None,
                       title: Optional[str] = None, row_kind: str = "position", label: str = "value",
                       log: bool = False, cmap: str = "viridis") -> plt.Axes:
    """Heat map of a matrix whose columns are the orthonormal set ``(e_1..e_P, v_{0,0}..v_{K−1,N−1})``.

    ``M``: ``(rows, d)`` with ``d = cfg.dim``. ``row_kind``: ``"position"`` (rows are the ``P`` positions, or
    ``d`` rows ordered like the columns, e.g. ``∂L/∂Q``) or ``"token"`` (rows are the ``P`` tokens of one
    image). Lines separate the position block from each cluster's feature block (and, for ``d`` rows, the
    position rows from the feature rows). ``log``: colour by ``log10 |M|`` (zeros left blank). Returns ``ax``.
    """
    m = _as_numpy(M).astype(float)
    if m.ndim != 2 or m.shape[1] != cfg.dim:
        raise ValueError(f"M must have shape (rows, d={cfg.dim}), got {tuple(m.shape)}")
    if row_kind not in ("position", "token"):
        raise ValueError(f"row_kind={row_kind!r} is not allowed: 'position' or 'token'")
    ax = ax or plt.gca()
    P, N, K = cfg.patches, cfg.n_areas, cfg.clusters
    if log:
        with np.errstate(divide="ignore"):
            shown = np.where(m != 0, np.log10(np.abs(m)), np.nan)
    else:
        shown = m
    im = ax.imshow(shown, cmap=cmap, interpolation="nearest", aspect="auto")
    ax.figure.colorbar(im, ax=ax, label=(r"$\log_{10}|$" + label + "$|$") if log else label)
    bounds = [P + k * N for k in range(K + 1)]
    for b in bounds[:-1]:
        ax.axvline(b - 0.5, color="red", lw=0.8)
    if m.shape[0] == cfg.dim:
        ax.axhline(P - 0.5, color="red", lw=0.8)
    ticks = [P / 2] + [P + (k + 0.5) * N for k in range(K)]
    ax.set_xticks([t - 0.5 for t in ticks], ["positions $e_q$"] + [f"$v_{{{k},\\cdot}}$" for k in range(K)],
                  fontsize=8)
    ax.set_xlabel("column: coordinate (positions, then the features of each cluster)")
    if row_kind == "token":
        ax.set_ylabel("row: token $h_q$ (position $q$)")
    elif m.shape[0] == cfg.dim:
        ax.set_ylabel("row: coordinate (positions, then features)")
    else:
        ax.set_ylabel("row: position $p$")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax

