"""Look inside a trained model: the dense attention of a run on fresh images, and which queries of an image to
show (book chapters 2, 4, 5, 6 and the playground)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from sslvit.core import engine
from sslvit.core.data import Layout, Sample, sample_batch
from sslvit.core.training import Trajectory

__all__ = ["AttentionView", "attention_of", "spread_queries", "queries_by_kind"]


@dataclass(frozen=True)
class AttentionView:
    """Dense attention of one run on a batch of images.

    ``attn`` ``(Bt, P, P)`` (rows: queries); ``key_area`` ``(Bt, P)`` area of every position; ``sample``
    (clusters, scales, visibility); ``layout`` of the run; ``mass`` ``(Bt, N, P)`` area masses.
    """

    attn: torch.Tensor
    key_area: torch.Tensor
    mass: torch.Tensor
    sample: Sample
    layout: Layout


def attention_of(traj: Trajectory, run: int = 0, batch: int = 8, mask_prob: Optional[float] = None,
                 seed: int = 12345, A: Optional[torch.Tensor] = None, B: Optional[torch.Tensor] = None) -> AttentionView:
    """Attention of run ``run`` of ``traj`` (its final ``A``, ``B`` unless given) on ``batch`` fresh images.

    ``mask_prob`` defaults to the run's masking probability; ``A`` ``(P, K, N)`` and ``B`` ``(P, P)`` can be
    given to look at other correlations (e.g. zeros for the initialisation).
    """
    if not 0 <= run < len(traj.runs):
        raise ValueError(f"run={run} is not allowed: the trajectory has runs 0..{len(traj.runs) - 1}")
    spec = traj.runs[run]
    cfg, layout = spec.data, traj.layouts[run]
    A_r, B_r = traj.correlations(run)
    A_r = A_r if A is None else A
    B_r = B_r if B is None else B
    gamma = spec.train.mask_prob if mask_prob is None else mask_prob
    sample = sample_batch(cfg, batch, gamma, seed, dtype=A_r.dtype)  # type: ignore[arg-type]
    with torch.no_grad():
        fwd = engine.dense_forward(A_r[None], B_r[None], layout.area[None], sample.cluster[None],
                                   sample.scale[None], sample.visible[None])
    return AttentionView(attn=fwd.attn[0], key_area=fwd.key_area[0], mass=fwd.mass[0], sample=sample, layout=layout)


def spread_queries(key_area: torch.Tensor, visible: torch.Tensor, width: int, background: bool = False) -> list[int]:
    """Query positions of one image to look at, spread over the grid: a visible local query near the top-left
    corner, a masked local query near the centre, a visible local query near the bottom-right corner, and with
    ``background=True`` a fourth, the position of the global area nearest the centre. Each local query has at
    least one other visible patch in its own area (so that MAE can attend to it); a kind that does not occur is
    replaced by the nearest local position of any kind.

    ``key_area`` ``(P,)`` (0 = global), ``visible`` ``(P,)`` bool, ``width``: grid width. Chapter 6 and the
    playground show these queries.
    """
    if key_area.ndim != 1 or key_area.shape != visible.shape or key_area.numel() % width:
        raise ValueError(f"key_area and visible must be (P,) with P a multiple of width={width}, got "
                         f"{tuple(key_area.shape)}, {tuple(visible.shape)}")
    area, vis = key_area.long(), visible.bool()
    pos = torch.arange(area.numel())
    row, col = (pos // width).double(), (pos % width).double()
    height = area.numel() // width
    centre = ((height - 1) / 2, (width - 1) / 2)
    n_visible = torch.zeros(int(area.max()) + 1, dtype=torch.float64).index_add_(0, area, vis.double())
    local = area > 0
    usable = local & (n_visible[area] - vis.double() >= 1)

    def nearest(mask: torch.Tensor, r: float, c: float) -> int:
        mask = mask if bool(mask.any()) else local
        d = torch.where(mask, (row - r) ** 2 + (col - c) ** 2, torch.full_like(row, math.inf))
        return int(d.argmin())

    queries = [nearest(usable & vis, 0, 0), nearest(usable & ~vis, *centre), nearest(usable & vis, height - 1, width - 1)]
    if background:
        queries.append(nearest(area == 0, *centre))
    return queries


def queries_by_kind(key_area: torch.Tensor, visible: torch.Tensor) -> dict[str, int]:
    """One query position of each kind for one image, by kind (the first such position in raster order; a kind
    that does not occur is left out): a masked local query whose area has a visible patch, a visible local query,
    a masked local query whose whole area is masked, a position of the global area. Chapter 4's attention maps
    show these; :func:`spread_queries` picks queries spread over the grid instead.

    ``key_area`` ``(P,)`` area of every position (0 = global), ``visible`` ``(P,)`` bool.
    """
    if key_area.ndim != 1 or key_area.shape != visible.shape:
        raise ValueError(f"key_area and visible must both be (P,), got {tuple(key_area.shape)}, {tuple(visible.shape)}")
    area = key_area.long()
    vis = visible.bool()
    n_areas = int(area.max()) + 1
    counts = torch.zeros(n_areas, dtype=torch.long).scatter_add_(0, area, vis.long())
    own_visible = counts[area]                                 # visible patches in the position's area
    local = area != 0
    masks = {
        "masked local": local & ~vis & (own_visible > 0),
        "visible local": local & vis,
        "masked local, block masked": local & ~vis & (own_visible == 0),
        "global area": ~local,
    }
    return {kind: int(m.nonzero()[0, 0]) for kind, m in masks.items() if bool(m.any())}
