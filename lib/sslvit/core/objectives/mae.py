"""Masked reconstruction, MAE (book chapter 4, {prf:ref}`def-mae` of chapter 2): on the area masses of the
reduced engine, batched over runs.

The loss of one image is ``(1/(2|M|)) Σ_{p∈M} ‖F_p − x_p‖²`` over its masked positions ``M``, averaged over the
batch; in area coordinates ``F_p = Σ_j m[j, p] z_j v_j`` and ``x_p = z_{j(p)} v_{j(p)}``. The **oracle**
(chapter 4) is the attention that spreads every query uniformly over the visible patches of its own area: the
reference the trained MAE is compared with.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch

from sslvit.core.objectives.base import BoundObjective, Masses, Objective, register_objective

__all__ = ["mae_loss", "mae_loss_and_grad", "oracle_mass", "oracle_attention", "MAE"]


def mae_loss(mass: torch.Tensor, scale: torch.Tensor, visible: torch.Tensor, key_area: torch.Tensor) -> torch.Tensor:
    """MAE loss per run ``(R,)``.

    ``mass`` ``(R, Bt, N, P)``, ``scale`` ``(R, Bt, N)``, ``visible`` ``(R, Bt, P)`` bool,
    ``key_area`` ``(R, Bt, P)`` (area of each position). An image with no masked patch contributes 0.
    """
    return mae_loss_and_grad(mass, scale, visible, key_area, grad=False)[0]


def mae_loss_and_grad(mass: torch.Tensor, scale: torch.Tensor, visible: torch.Tensor, key_area: torch.Tensor,
                      grad: bool = True) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """:func:`mae_loss` and its gradient with respect to ``mass`` (same shapes), in closed form (``None`` when
    ``grad`` is false).

    The error of query ``p`` is ``‖F_p − x_p‖² = Σ_j m_jp² z_j² − 2 m_{j(p)p} z_{j(p)}² + z_{j(p)}²`` (``F_p`` has
    coordinate ``m_jp z_j`` on feature ``j``, ``x_p`` is ``z_{j(p)}`` on its own area's feature). With
    ``c_b = 1/(2 |M_b| Bt)``: ``loss = Σ_b c_b Σ_{p∈M_b} error_p`` and
    ``∂loss/∂m_jp = 2 c_b [p ∈ M_b] (m_jp z_j² − [j = j(p)] z_{j(p)}²)``.
    """
    Bt = mass.shape[1]
    masked = (~visible).to(mass.dtype)                                            # (R, Bt, P)
    c = 1.0 / (2.0 * masked.sum(-1).clamp(min=1.0) * Bt)                         # (R, Bt)
    z2 = scale * scale                                                            # (R, Bt, N)
    own_z2 = torch.gather(z2, 2, key_area)                                        # (R, Bt, P)
    own_m = torch.gather(mass, 2, key_area[:, :, None, :])[:, :, 0]               # (R, Bt, P)
    mz2 = mass * z2[..., None]                                                    # m_jp z_j²
    err = torch.linalg.vecdot(mz2, mass, dim=2) - 2.0 * own_m * own_z2 + own_z2   # (R, Bt, P)
    weight = c[..., None] * masked                                                # (R, Bt, P)
    loss = (err * weight).sum((1, 2))
    if not grad:
        return loss, None
    mz2.mul_(2.0 * weight[:, :, None, :])
    mz2.scatter_add_(2, key_area[:, :, None, :], (-2.0 * weight * own_z2)[:, :, None, :])
    return loss, mz2


def oracle_mass(visible: torch.Tensor, key_area: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(R, Bt, N, P)`` of the oracle attention (chapter 4), in float64.

    Query ``p`` spreads uniformly over the visible patches of its own area: all its mass is on its own area;
    when none of them is visible, over all visible patches (mass in proportion to each area's visible patches);
    when nothing is visible, it has no mass. The same attention as :func:`oracle_attention`, in area coordinates.
    """
    vis = visible.to(torch.float64)
    counts = torch.zeros(*vis.shape[:2], n_areas, dtype=vis.dtype, device=vis.device).scatter_add_(2, key_area, vis)  # (R, Bt, N)
    own_count = torch.gather(counts, 2, key_area)                                                    # (R, Bt, P)
    own = torch.nn.functional.one_hot(key_area, n_areas).transpose(2, 3).to(vis.dtype)               # (R, Bt, N, P)
    spread = counts / counts.sum(-1, keepdim=True).clamp(min=1.0)                                   # (R, Bt, N)
    has_own = (own_count > 0)[:, :, None, :]
    return torch.where(has_own, own, spread[..., None])


def oracle_attention(key_area: torch.Tensor, visible: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The oracle's dense attention ``(..., P, P)`` (rows: queries) from ``key_area`` and ``visible`` ``(..., P)``.

    Query ``p`` spreads uniformly over the visible patches of its own area; when none of them is visible, over
    all visible patches; when nothing is visible, over all keys (whose values are then all 0).
    """
    vis = visible.bool()
    target = (key_area[..., :, None] == key_area[..., None, :]) & vis[..., None, :]   # (..., P, P)
    return uniform_rows(target, vis, dtype)


def uniform_rows(target: torch.Tensor, visible: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Attention ``(..., P, P)`` spread uniformly over each row's ``target`` keys (bool ``(..., P, P)``); a row
    with no target spreads over the ``visible`` keys ``(..., P)``, and over all keys if none is visible."""
    fallback = visible[..., None, :].expand(target.shape)
    target = torch.where(~target.any(-1, keepdim=True), fallback, target)
    target = torch.where(~target.any(-1, keepdim=True), torch.ones_like(target), target)
    w = target.to(dtype)
    return w / w.sum(-1, keepdim=True)


@register_objective
@dataclass(frozen=True)
class MAE(Objective):
    """Masked reconstruction (chapter 4): one view, masked with ``mask_prob`` (default ``γ = 0.5``)."""

    name: ClassVar[str] = "mae"
    splits_images: ClassVar[bool] = True   # a mean over images of per-image terms
    defaults: ClassVar[dict[str, Any]] = {"mask_prob": 0.5, "lr": 1e3, "steps": 300}

    def bind(self, runs: Any) -> "BoundMAE":
        return BoundMAE(runs)


class BoundMAE(BoundObjective):
    """MAE for a batch of runs: one view; the metrics ``loss`` and ``oracle_loss``."""

    def views(self, run: Any) -> list[tuple[float, bool]]:
        return [(run.train.mask_prob, False)]

    def loss_and_grad(self, masses: Masses) -> tuple[torch.Tensor, list[torch.Tensor]]:
        loss, grad = mae_loss_and_grad(masses.mass[0], masses.scale, masses.visible[0], masses.key_area)
        return loss, [grad]

    def metrics(self, masses: Masses) -> dict[str, torch.Tensor]:
        mass, vis, scale, key_area = masses.mass[0], masses.visible[0], masses.scale, masses.key_area
        oracle = oracle_mass(vis, key_area, mass.shape[2]).to(mass.dtype)
        return {"loss": mae_loss(mass, scale, vis, key_area), "oracle_loss": mae_loss(oracle, scale, vis, key_area)}
