"""The two losses written on the model's outputs ``F`` (book chapter 2, {prf:ref}`def-mae` and chapter 5,
{prf:ref}`def-cl`): the definitions as stated, for the full-``Q`` reference model (:mod:`sslvit.core.model`)
and the full-``Q`` trainer on perturbed features (:mod:`sslvit.beyond.fullq`). The reduced engine computes the
same numbers from the area masses (:mod:`sslvit.core.objectives.mae`, :mod:`~sslvit.core.objectives.cl`); the
tests check that they agree.

Leading axes are free: ``F``, ``X`` ``(..., Bt, P, d)`` (one batch, or one per run ``(R, Bt, P, d)``).
"""
from __future__ import annotations

from typing import Union

import torch

from sslvit.core.objectives.cl import negatives_mask

__all__ = ["mae_loss_dense", "cl_loss_dense", "infonce_dense"]


def mae_loss_dense(F: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """MAE loss ``(...)``: ``(1/(2|M|)) Σ_{p∈M} ‖F_p − x_p‖²`` per image, averaged over the images.
    ``F``, ``X`` ``(..., Bt, P, d)``, ``visible`` ``(..., Bt, P)`` bool."""
    masked = (~visible).to(F.dtype)
    err = ((F - X) ** 2).sum(-1)
    return ((err * masked).sum(-1) / (2.0 * masked.sum(-1).clamp(min=1.0))).mean(-1)


def cl_loss_dense(F1: torch.Tensor, F2: torch.Tensor, negatives: Union[int, torch.Tensor], tau: float) -> torch.Tensor:
    """InfoNCE ``(...)`` from the outputs of two views ``(..., Bt, P, d)``: representations ``f = mean_p F_p``,
    dot-product similarity over ``tau``; ``negatives``: how many of the next images are negatives (an ``int``), or
    the mask ``(..., Bt, Bt)`` of :func:`~sslvit.core.objectives.cl.negatives_mask`."""
    f1, f2 = F1.mean(-2), F2.mean(-2)                                            # (..., Bt, d)
    allowed = negatives_mask(torch.tensor([negatives]), F1.shape[-3])[0] if isinstance(negatives, int) else negatives
    return infonce_dense(f1, f2, allowed, tau)


def infonce_dense(f1: torch.Tensor, f2: torch.Tensor, allowed: torch.Tensor, tau: float) -> torch.Tensor:
    """InfoNCE ``(...)`` of the representations of two views ``(..., Bt, d)``: dot-product similarity over
    ``tau``, the positive ``f2[b]`` against the second views ``allowed[..., b, :]`` marks (``(..., Bt, Bt)``
    bool, the positive included)."""
    logits = torch.einsum("...bd,...cd->...bc", f1, f2) / tau
    logits = logits.masked_fill(~allowed, float("-inf"))
    return (torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=-2, dim2=-1)).mean(-1)
