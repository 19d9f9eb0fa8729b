"""Attention maps on the grid layout (book chapters 2, 4, 5, 6)."""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["plot_query_attention", "attention_grid"]


def _outline_areas(ax: plt.Axes, areas: np.ndarray) -> None:
    """Draw the borders between areas of an ``(H, W)`` label image."""
    H, W = areas.shape
    for i in range(H):
        for j in range(W):
            if j + 1 < W and areas[i, j] != areas[i, j + 1]:
                ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], color="white", lw=0.8)
            if i + 1 < H and areas[i, j] != areas[i + 1, j]:
                ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], color="white", lw=0.8)


def plot_query_attention(attn_row: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor, query: int,
                         grid_hw: tuple[int, int], ax: Optional[plt.Axes] = None, title: Optional[str] = None,
                         vmax: Optional[float] = None) -> plt.Axes:
    """Heat map of one query's attention over the ``H × W`` grid of keys.

    ``attn_row`` ``(P,)``, ``key_area`` ``(P,)``, ``visible`` ``(P,)``. Area borders in white, the query as
    a red square, masked keys dotted.
    """
    H, W = grid_hw
    ax = ax or plt.gca()
    img = attn_row.detach().double().reshape(H, W).numpy()
    im = ax.imshow(img, cmap="magma", vmin=0.0, vmax=vmax if vmax is not None else max(img.max(), 1e-12))
    _outline_areas(ax, key_area.reshape(H, W).numpy())
    masked = (~visible.bool()).reshape(H, W).numpy()
    ys, xs = np.nonzero(masked)
    ax.scatter(xs, ys, s=2, c="0.6", marker=".", linewidths=0)
    qy, qx = divmod(int(query), W)
    ax.add_patch(plt.Rectangle((qx - 0.5, qy - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return im


def attention_grid(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor, queries: Sequence[int],
                   grid_hw: tuple[int, int], row_labels: Optional[Sequence[str]] = None,
                   axes: Optional[np.ndarray] = None) -> plt.Figure:
    """A row of attention maps per image for the given query positions.

    ``attn`` ``(R, P, P)`` for ``R`` rows (e.g. one image under MAE and under CL), ``key_area`` and
    ``visible`` ``(R, P)``. Returns the figure, with a colour bar "attention weight".
    """
    R = attn.shape[0]
    if axes is None:
        fig, axes = plt.subplots(R, len(queries), figsize=(1.9 * len(queries) + 0.8, 1.9 * R + 0.3), squeeze=False)
    else:
        fig = axes.flat[0].figure
    for r in range(R):
        for c, q in enumerate(queries):
            im = plot_query_attention(attn[r, q], key_area[r], visible[r], q, grid_hw, ax=axes[r, c],
                                      title=f"query {q}" if r == 0 else None)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r])
    fig.colorbar(im, ax=axes, shrink=0.8, label="attention weight")
    return fig
