"""Helpers shared by the tests: the reduced engine's inputs with a run axis, and the reference model's
outputs read in area coordinates."""
from __future__ import annotations

import torch

from sslvit import DataConfig, Layout, Sample, dense_patches
from sslvit.core import engine


def engine_args(layout: Layout, sample: Sample, visible: torch.Tensor | None = None) -> tuple:
    """``(area, cluster, scale, visible)`` of one run (leading run axis R = 1) for :mod:`sslvit.core.engine`."""
    vis = sample.visible if visible is None else visible
    return layout.area[None], sample.cluster[None], sample.scale[None], vis[None]


def key_area(layout: Layout, sample: Sample) -> torch.Tensor:
    """Area of every position of every image, ``(1, Bt, P)``."""
    return engine.key_areas(layout.area[None], sample.cluster[None])


def random_correlations(cfg: DataConfig, seed: int, scale: float = 1.0, dtype=torch.float64):
    """Random ``A`` ``(P, K, N)`` and ``B`` ``(P, P)`` with entries ``scale · N(0, 1)``."""
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(cfg.patches, cfg.clusters, cfg.n_areas, generator=g, dtype=torch.float64)
    B = scale * torch.randn(cfg.patches, cfg.patches, generator=g, dtype=torch.float64)
    return A.to(dtype), B.to(dtype)


def outputs_from_masses(cfg: DataConfig, sample: Sample, mass: torch.Tensor) -> torch.Tensor:
    """Dense outputs ``F`` ``(Bt, P, d)`` whose coordinate on ``v_{k,j}`` is ``m[j, p] z_j`` (engine → model).

    ``mass``: ``(Bt, N, P)`` for one run.
    """
    Bt, N, P = mass.shape
    F = torch.zeros(Bt, P, cfg.dim, dtype=mass.dtype)
    for b in range(Bt):
        k = int(sample.cluster[b])
        F[b, :, P + k * N: P + (k + 1) * N] = (mass[b] * sample.scale[b][:, None]).T
    return F


def reference_patches(cfg: DataConfig, layout: Layout, sample: Sample) -> torch.Tensor:
    """``X`` ``(Bt, P, d)`` for the reference model."""
    return dense_patches(cfg, layout, sample.cluster, sample.scale)
