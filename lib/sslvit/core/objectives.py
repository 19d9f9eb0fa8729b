"""The two self-supervised objectives, MAE and CL (book chapters 4 and 5, SPEC §3).

Each objective exists twice: on the dense outputs ``F`` of the reference model (``*_dense``, the definition
as written in SPEC §3) and on the area masses ``m`` of the reduced engine (batched over runs). With
orthonormal features the two are the same number; the tests check it.

* **MAE**: ``(1/(2|M|)) Σ_{p∈M} ‖F_p − x_p‖²`` per image (``M``: masked positions), averaged over the batch.
  In area coordinates ``F_p = Σ_j m[p, j] z_j v_j`` and ``x_p = z_{j(p)} v_{j(p)}``.
* **CL** *(reconstructed)*: two views with independent masks, representation ``f = (1/P) Σ_p F_p``,
  InfoNCE with dot-product similarity and temperature ``τ``; the negatives of image ``b`` are the second
  views of the next ``n`` images of the batch (cyclically), ``n = Bt − 1`` by default.
"""
from __future__ import annotations

import torch

__all__ = [
    "mae_loss",
    "mae_loss_and_grad",
    "cl_loss",
    "representation",
    "mae_loss_dense",
    "cl_loss_dense",
    "negatives_mask",
    "oracle_mass",
    "check_negatives",
]


def mae_loss(mass: torch.Tensor, scale: torch.Tensor, visible: torch.Tensor, key_area: torch.Tensor) -> torch.Tensor:
    """MAE loss per run ``(R,)``.

    ``mass`` ``(R, Bt, N, P)``, ``scale`` ``(R, Bt, N)``, ``visible`` ``(R, Bt, P)`` bool,
    ``key_area`` ``(R, Bt, P)`` (area of each position). An image with no masked patch contributes 0.
    """
    N = mass.shape[2]
    recon = mass * scale[..., None]                                               # (R, Bt, N, P) F_p
    own = torch.nn.functional.one_hot(key_area, N).transpose(2, 3).to(mass.dtype) # (R, Bt, N, P)
    target = own * torch.gather(scale, 2, key_area)[:, :, None, :]                # x_p in area coordinates
    err = ((recon - target) ** 2).sum(2)                                          # (R, Bt, P)
    masked = (~visible).to(mass.dtype)
    per_image = (err * masked).sum(-1) / (2.0 * masked.sum(-1).clamp(min=1.0))   # (R, Bt)
    return per_image.mean(-1)


def mae_loss_and_grad(mass: torch.Tensor, scale: torch.Tensor, visible: torch.Tensor, key_area: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mae_loss` and its gradient with respect to ``mass`` (same shapes), in closed form.

    With ``c_b = 1/(2 |M_b| Bt)``: ``loss = Σ_b c_b Σ_{p∈M_b} (Σ_j m_jp² z_j² − 2 m_{j(p)p} z_{j(p)}² + z_{j(p)}²)``
    and ``∂loss/∂m_jp = 2 c_b [p ∈ M_b] (m_jp z_j² − [j = j(p)] z_{j(p)}²)``.
    """
    Bt = mass.shape[1]
    masked = (~visible).to(mass.dtype)                                            # (R, Bt, P)
    c = 1.0 / (2.0 * masked.sum(-1).clamp(min=1.0) * Bt)                         # (R, Bt)
    z2 = scale * scale                                                            # (R, Bt, N)
    own_z2 = torch.gather(z2, 2, key_area)                                        # (R, Bt, P)
    own_m = torch.gather(mass, 2, key_area[:, :, None, :])[:, :, 0]               # (R, Bt, P)
    grad = mass * z2[..., None]                                                   # m_jp z_j²
    err = (grad * mass).sum(2) - 2.0 * own_m * own_z2 + own_z2                    # (R, Bt, P)
    weight = c[..., None] * masked                                                # (R, Bt, P)
    loss = (err * weight).sum((1, 2))
    grad.mul_(2.0 * weight[:, :, None, :])
    grad.scatter_add_(2, key_area[:, :, None, :], (-2.0 * weight * own_z2)[:, :, None, :])
    return loss, grad


def check_negatives(negatives: int, batch_size: int) -> None:
    """``0 ≤ negatives ≤ batch_size − 1`` (the other images of the batch)."""
    if isinstance(negatives, bool) or not isinstance(negatives, int) or not 0 <= negatives <= batch_size - 1:
        raise ValueError(
            f"negatives={negatives!r} is not allowed: an integer from 0 to batch_size - 1 = {batch_size - 1} "
            "(the other images of the batch)"
        )


def negatives_mask(negatives: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Which second views enter the InfoNCE denominator: ``(R, Bt, Bt)`` bool.

    ``allowed[r, b, c]`` is true for the positive ``c = b`` and the ``negatives[r]`` images after ``b``
    (cyclically). ``negatives``: ``(R,)`` long.
    """
    b = torch.arange(batch_size)
    offset = (b[None, :] - b[:, None]) % batch_size                   # (Bt, Bt): c − b mod Bt
    return offset[None] <= negatives[:, None, None]


def representation(mass: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """CL representation ``f = (1/P) Σ_p F_p`` in area coordinates (chapter 5, eq. cl-representation):
    ``f_j = z_j · mean_p m_j(p)`` ``(R, Bt, N)`` from area masses ``(R, Bt, N, P)`` and scales ``(R, Bt, N)``."""
    return mass.mean(-1) * scale


def in_batch_logits(f1: torch.Tensor, f2: torch.Tensor, cluster: torch.Tensor, allowed: torch.Tensor,
                    tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """InfoNCE logits ``(R, Bt, Bt)`` of representations ``f1``, ``f2`` ``(R, Bt, N)`` (−inf where not
    ``allowed``) and the positive logits ``(R, Bt)``. Features of different clusters are orthogonal, so their
    similarity is 0."""
    same = (cluster[:, :, None] == cluster[:, None, :]).to(f1.dtype)   # (R, Bt, Bt)
    logits = torch.einsum("rbn,rcn->rbc", f1, f2) * same / tau
    logits = logits.masked_fill(~allowed, float("-inf"))
    return logits, torch.diagonal(logits, dim1=1, dim2=2)


def cl_loss(
    mass1: torch.Tensor,
    mass2: torch.Tensor,
    scale: torch.Tensor,
    cluster: torch.Tensor,
    allowed: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    """InfoNCE per run ``(R,)`` from the area masses of two views.

    ``mass1``, ``mass2`` ``(R, Bt, N, P)``; ``scale`` ``(R, Bt, N)``; ``cluster`` ``(R, Bt)``;
    ``allowed`` ``(R, Bt, Bt)`` from :func:`negatives_mask`. Features of different clusters are orthogonal,
    so their similarity is 0.
    """
    logits, positive = in_batch_logits(representation(mass1, scale), representation(mass2, scale), cluster,
                                       allowed, tau)
    return (torch.logsumexp(logits, dim=-1) - positive).mean(-1)


def oracle_mass(visible: torch.Tensor, key_area: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(R, Bt, N, P)`` of the oracle attention (SPEC §4), in float64.

    Query ``p`` spreads uniformly over the visible patches of its own area; when none is visible, over all
    visible patches; when nothing is visible, it has no mass.
    """
    vis = visible.to(torch.float64)
    counts = torch.zeros(*vis.shape[:2], n_areas, dtype=vis.dtype).scatter_add_(2, key_area, vis)  # (R, Bt, N)
    own_count = torch.gather(counts, 2, key_area)                                                    # (R, Bt, P)
    own = torch.nn.functional.one_hot(key_area, n_areas).transpose(2, 3).to(vis.dtype)               # (R, Bt, N, P)
    spread = counts / counts.sum(-1, keepdim=True).clamp(min=1.0)                                   # (R, Bt, N)
    has_own = (own_count > 0)[:, :, None, :]
    return torch.where(has_own, own, spread[..., None])


# ---- the definitions on dense outputs (reference model) ------------------------------------------------------

def mae_loss_dense(F: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """MAE loss of one batch: ``F``, ``X`` ``(Bt, P, d)``, ``visible`` ``(Bt, P)`` bool → scalar."""
    masked = (~visible).to(F.dtype)
    err = ((F - X) ** 2).sum(-1)
    return ((err * masked).sum(-1) / (2.0 * masked.sum(-1).clamp(min=1.0))).mean()


def cl_loss_dense(F1: torch.Tensor, F2: torch.Tensor, negatives: int, tau: float) -> torch.Tensor:
    """InfoNCE of one batch from the outputs of two views ``(Bt, P, d)`` → scalar."""
    f1, f2 = F1.mean(1), F2.mean(1)                                    # (Bt, d)
    logits = f1 @ f2.T / tau
    allowed = negatives_mask(torch.tensor([negatives]), F1.shape[0])[0]
    logits = logits.masked_fill(~allowed, float("-inf"))
    return (torch.logsumexp(logits, -1) - torch.diagonal(logits)).mean()
