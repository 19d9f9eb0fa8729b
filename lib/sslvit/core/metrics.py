"""The metrics of book chapter 6: where local queries attend, FP correlations, NMI and attention distance.

All functions are batched over runs (leading axis ``R``) and return one value per run ``(R,)``. The book's
chapters 4–6 read them from a training :class:`~sslvit.train.Trajectory`.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "area_attention",
    "area_attention_per_query",
    "local_query_mean",
    "fp_correlations",
    "nmi",
    "nmi_per_image",
    "nmi_from_parts",
    "attention_distance",
    "attention_distance_per_image",
    "METRICS",
]

#: metric names recorded at every logged step (chapter 6); ``oracle_loss`` is MAE only,
#: ``attention_distance`` needs the grid layout.
METRICS = (
    "loss",
    "oracle_loss",
    "own_area_attention",
    "global_area_attention",
    "fp_own",
    "fp_global",
    "nmi",
    "attention_distance",
)


def area_attention(mass: torch.Tensor, key_area: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(own_area_attention, global_area_attention)``, each ``(...)`` (e.g. ``(R,)``, or ``(L, H)`` for the layers
    and heads of a standard ViT).

    Mean over images and over query positions in **local** areas of the attention mass on the visible
    patches of the query's own area, resp. of the global area. ``mass`` ``(..., Bt, N, P)``, ``key_area``
    ``(..., Bt, P)`` (broadcast over the leading axes of ``mass``).
    """
    key_area = key_area.expand(*mass.shape[:-2], key_area.shape[-1])
    own, glob = area_attention_per_query(mass, key_area)
    return local_query_mean(own, key_area), local_query_mean(glob, key_area)


def area_attention_per_query(mass: torch.Tensor, key_area: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention of every query on its own area and on the global area, each ``(..., Bt, P)``, from
    ``mass`` ``(..., Bt, N, P)`` and ``key_area`` ``(..., Bt, P)`` (:func:`area_attention` averages them)."""
    return torch.gather(mass, -2, key_area[..., None, :])[..., 0, :], mass[..., 0, :]


def local_query_mean(values: torch.Tensor, key_area: torch.Tensor) -> torch.Tensor:
    """Mean of a per-query quantity ``values`` ``(..., Bt, P)`` over the images and the queries in local areas
    (``key_area`` ``(..., Bt, P)`` not 0): ``(...)``."""
    local = (key_area != 0).to(values.dtype)
    return (values * local).sum((-2, -1)) / local.sum((-2, -1)).clamp(min=1.0)


def fp_correlations(A: torch.Tensor, area: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fp_own, fp_global)``, each ``(R,)``: mean over clusters and local positions ``p`` of
    ``A[p, k, j(p)]`` and ``A[p, k, 0]``. ``A`` ``(R, P, K, N)``, ``area`` ``(R, K, P)``.
    """
    A_kp = A.permute(0, 2, 1, 3)                                           # (R, K, P, N)
    local = (area != 0).to(A.dtype)
    own = torch.gather(A_kp, 3, area[..., None])[..., 0]                   # (R, K, P)
    glob = A_kp[..., 0]
    n = local.sum((1, 2)).clamp(min=1.0)
    return (own * local).sum((1, 2)) / n, (glob * local).sum((1, 2)) / n


def nmi(attn: torch.Tensor) -> torch.Tensor:
    """Normalised mutual information between query and key (Park et al. 2023), per image, averaged.

    ``attn`` ``(..., Bt, P, P)`` (rows: queries, sum to 1) → ``(...)``. With ``p(q) = 1/P`` and
    ``p(k) = Σ_q p(q) attn[q, k]``: ``NMI = MI(q; k) / sqrt(H(q) H(k))``. Identical rows give 0 (collapse
    to one pattern), a permutation matrix gives 1. When ``H(k) = 0`` the rows are identical and NMI is 0.
    """
    return nmi_per_image(attn).mean(-1)


def nmi_per_image(attn: torch.Tensor) -> torch.Tensor:
    """The NMI of every image, ``(..., Bt)`` (:func:`nmi` is their mean)."""
    return nmi_from_parts(torch.special.xlogy(attn, attn).sum(-1), attn.mean(-2))


def nmi_from_parts(row_xlogx: torch.Tensor, key_mass: torch.Tensor) -> torch.Tensor:
    """The NMI of every image ``(..., Bt)`` from ``row_xlogx`` ``(..., Bt, P)`` = ``Σ_k a[q, k] log a[q, k]`` per
    query and the key marginal ``key_mass`` ``(..., Bt, P)`` = ``p(k) = (1/P) Σ_q a[q, k]`` (the training's
    evaluation computes both without the ``P × P`` attention, :func:`sslvit.core.engine.fast_attention_parts`)."""
    P = key_mass.shape[-1]
    h_q = math.log(P)
    h_k = -torch.special.xlogy(key_mass, key_mass).sum(-1)                 # (..., Bt)
    # MI = (1/P) Σ_q Σ_k a log a − Σ_k p(k) log p(k)
    mi = row_xlogx.sum(-1) / P + h_k
    value = mi.clamp(min=0.0) / torch.sqrt(h_q * h_k).clamp(min=1e-300)
    return torch.where(h_k > 1e-12, value, torch.zeros_like(value))


def attention_distance(attn: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Mean attention distance in patch units: ``(1/P) Σ_q Σ_k attn[q, k] ‖pos_q − pos_k‖₂``, averaged over
    images. ``attn`` ``(..., Bt, P, P)``, ``coords`` ``(P, 2)`` → ``(...)``.
    """
    return attention_distance_per_image(attn, coords).mean(-1)


def attention_distance_per_image(attn: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """The mean attention distance of every image, ``(..., Bt)`` (:func:`attention_distance` is their mean)."""
    dist = torch.cdist(coords, coords).to(attn.dtype)                      # (P, P)
    return (attn * dist).sum((-1, -2)) / attn.shape[-1]
