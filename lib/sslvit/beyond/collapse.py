"""Where did a collapsed attention go? Area-level summaries of trained attention (book chapters 8 and 10).

Beyond the paper. Under our CL objective every query has the same attention (chapter 5), so the attention of
one image is summarised by its **pooled area mass** ``M[b, j] = (1/P) Σ_p m_j(p)``: the attention mass on
the visible patches of area ``j``, averaged over the queries (= the weight of feature ``j`` in the
representation, up to the scale ``z_j``). From it:

* :func:`cluster_targets`: per cluster, the area with the largest mass over that cluster's images, its share,
  and the runner-up (chapter 8: which area does CL collapse onto?);
* :func:`per_image_top`: per image, the area with the largest mass and its share;
* :func:`follows_largest_scale`: how often the per-image top area is, among a set of candidate areas, the one
  with the largest scale ``z`` in that image;
* :func:`local_share`: mean over images of the mass on the local areas ``j ≥ 1`` (chapter 10's criterion);
* :func:`local_coverage`: per cluster, how many local areas are the top area of at least a given fraction of
  that cluster's images.

Shapes: ``mass`` ``(Bt, N, P)`` as in :class:`sslvit.core.attention.AttentionView`; ``cluster`` ``(Bt,)``;
``scale`` ``(Bt, N)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ClusterTarget", "pooled_area_mass", "cluster_targets", "per_image_top", "follows_largest_scale",
           "local_share", "local_coverage"]


def _check_mass(mass: torch.Tensor) -> None:
    if mass.dim() != 3:
        raise ValueError(f"mass must have shape (images, areas, positions), got {tuple(mass.shape)}")


def pooled_area_mass(mass: torch.Tensor) -> torch.Tensor:
    """``(Bt, N)``: attention mass on each area's visible patches, averaged over the ``P`` queries."""
    _check_mass(mass)
    return mass.mean(-1)


@dataclass(frozen=True)
class ClusterTarget:
    """Collapse target of one cluster: ``area`` (0 = global) with ``share`` of the pooled mass (normalised to
    the visible mass), the runner-up ``second`` with ``second_share``, over ``images`` images."""

    cluster: int
    area: int
    share: float
    second: int
    second_share: float
    images: int


def cluster_targets(mass: torch.Tensor, cluster: torch.Tensor, n_clusters: int) -> list[ClusterTarget]:
    """Per cluster ``k``: areas ranked by the pooled mass summed over the images of cluster ``k``, normalised
    to sum to 1. A cluster without images in the batch gets ``area = -1``. Needs at least 2 areas."""
    pooled = pooled_area_mass(mass).to(torch.float64)
    if pooled.shape[1] < 2:
        raise ValueError("cluster_targets needs at least 2 areas")
    if cluster.shape != pooled.shape[:1]:
        raise ValueError(f"cluster has shape {tuple(cluster.shape)}, expected ({pooled.shape[0]},)")
    out = []
    for k in range(n_clusters):
        sel = cluster == k
        n = int(sel.sum())
        if n == 0:
            out.append(ClusterTarget(k, -1, float("nan"), -1, float("nan"), 0))
            continue
        total = pooled[sel].sum(0)
        share = total / total.sum().clamp(min=1e-300)
        top = share.topk(2)
        out.append(ClusterTarget(k, int(top.indices[0]), float(top.values[0]), int(top.indices[1]),
                                 float(top.values[1]), n))
    return out


def per_image_top(mass: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(area (Bt,) long, share (Bt,))``: each image's area with the largest pooled mass and its share of the
    image's visible mass."""
    pooled = pooled_area_mass(mass).to(torch.float64)
    share = pooled / pooled.sum(-1, keepdim=True).clamp(min=1e-300)
    top = share.max(-1)
    return top.indices, top.values


def follows_largest_scale(mass: torch.Tensor, scale: torch.Tensor, candidates: torch.Tensor) -> float:
    """Fraction of the images whose top area (:func:`per_image_top`) is the candidate area with the largest
    scale ``z`` in that image. ``candidates``: ``(Bt, C)`` long, the candidate areas of each image."""
    top, _ = per_image_top(mass)
    if candidates.dim() != 2 or candidates.shape[0] != top.shape[0]:
        raise ValueError(f"candidates must have shape ({top.shape[0]}, C), got {tuple(candidates.shape)}")
    z = torch.gather(scale.to(torch.float64), 1, candidates)
    predicted = torch.gather(candidates, 1, z.argmax(-1, keepdim=True))[:, 0]
    return float((predicted == top).to(torch.float64).mean())


def local_share(mass: torch.Tensor) -> float:
    """Mean over images of the pooled attention mass on the local areas ``j ≥ 1`` (masked keys count as
    neither local nor global)."""
    return float(pooled_area_mass(mass)[:, 1:].sum(-1).to(torch.float64).mean())


def local_coverage(mass: torch.Tensor, cluster: torch.Tensor, n_clusters: int, min_fraction: float = 0.05
                   ) -> list[int]:
    """Per cluster: the number of local areas (``j ≥ 1``) that are the top area (:func:`per_image_top`) of at
    least ``min_fraction`` of that cluster's images (0 for a cluster without images)."""
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction={min_fraction!r} is not allowed: a fraction in (0, 1]")
    top, _ = per_image_top(mass)
    out = []
    for k in range(n_clusters):
        sel = top[cluster == k]
        if sel.numel() == 0:
            out.append(0)
            continue
        areas, counts = sel.unique(return_counts=True)
        out.append(int(((areas >= 1) & (counts >= min_fraction * sel.numel())).sum()))
    return out
