"""Contrastive learning, CL (book chapter 5, {prf:ref}`def-cl`, our reconstruction): on the area masses of the
reduced engine, batched over runs.

Two views of every image with independent masks; the representation ``f = (1/P) Σ_p F_p``
({eq}`cl-representation`); InfoNCE with dot-product similarity and temperature ``τ``; the negatives of image ``b``
are the second views of the next ``n`` images of the batch (cyclically), ``n = Bt − 1`` by default. Features of
different clusters are orthogonal, so two images of different clusters have similarity 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from sslvit.core.objectives.base import BoundObjective, Masses, Objective, register_objective
from sslvit.core.validation import check_int

__all__ = ["check_negatives", "negatives_mask", "representation", "in_batch_logits", "cl_loss", "CL", "BoundCL"]


def check_negatives(negatives: int, batch_size: int) -> int:
    """``negatives`` as an ``int`` if ``0 ≤ negatives ≤ batch_size − 1`` (the other images of the batch)."""
    return check_int("negatives", negatives, 0, batch_size - 1, allowed=f"an integer from 0 to batch_size - 1 = "
                     f"{batch_size - 1} (the other images of the batch)")


def negatives_mask(negatives: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Which second views enter the InfoNCE denominator: ``(R, Bt, Bt)`` bool.

    ``allowed[r, b, c]`` is true for the positive ``c = b`` and the ``negatives[r]`` images after ``b``
    (cyclically). ``negatives``: ``(R,)`` long.
    """
    b = torch.arange(batch_size)
    offset = (b[None, :] - b[:, None]) % batch_size                   # (Bt, Bt): c − b mod Bt
    return offset[None] <= negatives[:, None, None]


def representation(mass: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """CL representation ``f = (1/P) Σ_p F_p`` in area coordinates ({eq}`cl-representation`):
    ``f_j = z_j · mean_p m[j, p]``, ``(..., N)`` from area masses ``(..., N, P)`` and scales ``(..., N)``."""
    if mass.dim() < 2 or mass.shape[:-1] != scale.shape:
        raise ValueError(f"mass (..., N, P) and scale (..., N) do not match: {tuple(mass.shape)} and "
                         f"{tuple(scale.shape)}")
    return mass.mean(-1) * scale


def in_batch_logits(f1: torch.Tensor, f2: torch.Tensor, cluster: torch.Tensor, allowed: torch.Tensor,
                    tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE logits ``(R, Bt, Bt)`` of representations ``f1``, ``f2`` ``(R, Bt, N)`` (−inf where not
    ``allowed``) and the positive logits ``(R, Bt)``."""
    same = (cluster[:, :, None] == cluster[:, None, :]).to(f1.dtype)   # (R, Bt, Bt)
    logits = torch.einsum("rbn,rcn->rbc", f1, f2) * same / tau
    logits = logits.masked_fill(~allowed, float("-inf"))
    return logits, torch.diagonal(logits, dim1=1, dim2=2)


def cl_loss(mass1: torch.Tensor, mass2: torch.Tensor, scale: torch.Tensor, cluster: torch.Tensor,
            allowed: torch.Tensor, tau: float) -> torch.Tensor:
    """InfoNCE per run ``(R,)`` from the area masses of two views ``(R, Bt, N, P)``; ``scale`` ``(R, Bt, N)``;
    ``cluster`` ``(R, Bt)``; ``allowed`` ``(R, Bt, Bt)`` from :func:`negatives_mask`."""
    logits, positive = in_batch_logits(representation(mass1, scale), representation(mass2, scale), cluster,
                                       allowed, tau)
    return (torch.logsumexp(logits, dim=-1) - positive).mean(-1)


@register_objective
@dataclass(frozen=True)
class CL(Objective):
    """Contrastive learning (chapter 5): two views masked with ``mask_prob`` (default ``γ = 0.3``), InfoNCE with
    the run's ``tau`` and ``negatives``."""

    name: ClassVar[str] = "cl"
    defaults: ClassVar[dict[str, Any]] = {"mask_prob": 0.3, "lr": 2e4, "steps": 500}
    min_images: ClassVar[int] = 2
    n_views: ClassVar[int] = 2
    contrastive: ClassVar[bool] = True

    def bind(self, runs: Any) -> "BoundCL":
        return BoundCL(runs)


class BoundCL(BoundObjective):
    """CL for a batch of runs: two views; the metric ``loss``. Subclasses change :meth:`loss` (the memory queue of
    chapter 10)."""

    def __init__(self, runs: Any) -> None:
        super().__init__(runs)
        self.negatives = torch.tensor([r.train.negatives for r in runs.runs])             # (R,)
        self.tau = float(runs.runs[0].train.tau)

    def allowed(self, images: int, sl: slice) -> torch.Tensor:
        """Which second views are negatives in a batch of ``images`` images, runs ``sl``: ``(R', Bt, Bt)``."""
        return negatives_mask(self.negatives[sl].clamp(max=images - 1), images).to(self.runs.device)

    def views(self, run: Any) -> list[tuple[float, bool]]:
        return [(run.train.mask_prob, False), (run.train.mask_prob, False)]

    def loss(self, mass1: torch.Tensor, mass2: torch.Tensor, scale: torch.Tensor, cluster: torch.Tensor,
             sl: slice) -> torch.Tensor:
        """The training loss per run from the two views' masses (autograd takes its gradient)."""
        return cl_loss(mass1, mass2, scale, cluster, self.allowed(mass1.shape[1], sl), self.tau)

    def loss_and_grad(self, masses: Masses) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # InfoNCE sees each view only through the query mean of its masses (the representation): differentiate
        # with respect to that mean ``(R, Bt, N, 1)``; its gradient divided by P is the mass gradient of every
        # query, returned as ``(R, Bt, N, 1)`` (broadcast over the queries, never written out)
        means = [m.mean(-1, keepdim=True).requires_grad_(True) for m in masses.mass]
        loss = self.loss(means[0], means[1], masses.scale, masses.cluster, masses.sl)
        P = masses.mass[0].shape[-1]
        return loss.detach(), [g.div_(P) for g in torch.autograd.grad(loss.sum(), means)]

    def metrics(self, masses: Masses) -> dict[str, torch.Tensor]:
        mass1, mass2 = masses.mass
        return {"loss": cl_loss(mass1, mass2, masses.scale, masses.cluster, self.allowed(mass1.shape[1], masses.sl),
                                self.tau)}
