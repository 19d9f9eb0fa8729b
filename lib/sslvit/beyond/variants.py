"""Other reconstructions of the paper's model, equally consistent with what we could read (book chapter 14).

Our reconstruction (chapters 1, 2, 5) fixes choices that the paper's public sources leave open. A
:class:`Variant` changes one or more of them; :func:`sslvit.beyond.fullq.train_fullq` trains the model with it
on the full query matrix by autograd:

* ``keys="visible"``: the softmax of a query runs over the **visible** keys only (masked keys excluded) instead
  of over all ``P`` keys;
* ``queries="content"``: the query of position ``p`` is its token ``h_p = x̃_p + e_p`` (content and position)
  instead of its position embedding ``e_p``; scores are ``h_pᵀ Q h_q`` and every row of ``Q`` is trained;
* ``similarity="cosine"``: CL compares the two views' representations by cosine similarity instead of the dot
  product (the temperature ``τ`` of the run divides it, as in SimCLR);
* ``representation="cls"``: the CL representation is the output of one extra, learned query (a ``[CLS]``-like
  token whose query vector ``u`` starts at ``0``) instead of the mean of all outputs; the position queries then
  receive no gradient from CL;
* ``masking="fixed"``: every view masks exactly ``round(γ P)`` patches, chosen uniformly, instead of masking
  each patch independently with probability ``γ``;
* ``mae_norm="patches"``: the MAE loss of an image is divided by ``2P`` instead of ``2|M|``;
* ``init_std > 0``: ``Q`` starts from ``init_std · N(0, 1)`` entries (the run's ``init`` stream) instead of
  ``0``, which breaks the exact symmetry of chapter 5.

**Where the reduction to (A, B) holds.** Chapter 2's reduction needs position-only queries and a zero start:
with ``queries="content"`` the feature rows of ``Q`` receive gradient and scores depend on the query's content,
and with ``init_std > 0`` the entries outside the position rows start non-zero and enter the scores of content
queries (for position queries they never do). The other choices keep the reduction exact, but training them
all on the full ``Q`` keeps one code path for every variant; the default :class:`Variant` is the book's model,
and the tests check that it reproduces :func:`sslvit.train` to rounding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from sslvit.core.objectives import infonce_dense, mae_loss_dense
from sslvit.core.validation import is_real, not_allowed

__all__ = ["Variant", "CHOICES", "fixed_fraction_mask", "variant_scores", "variant_forward", "cls_output",
           "mae_loss_variant", "cl_loss_variant"]

#: the allowed values of each choice; the first is the book's reconstruction
CHOICES = {
    "keys": ("all", "visible"),
    "queries": ("position", "content"),
    "similarity": ("dot", "cosine"),
    "representation": ("mean", "cls"),
    "masking": ("bernoulli", "fixed"),
    "mae_norm": ("masked", "patches"),
}


@dataclass(frozen=True)
class Variant:
    """One alternative reconstruction (module docstring). The default is the book's model."""

    keys: str = "all"
    queries: str = "position"
    similarity: str = "dot"
    representation: str = "mean"
    masking: str = "bernoulli"
    mae_norm: str = "masked"
    init_std: float = 0.0

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise not_allowed(name, getattr(self, name), " or ".join(repr(a) for a in allowed))
        if not (is_real(self.init_std) and math.isfinite(self.init_std) and self.init_std >= 0):
            raise not_allowed("init_std", self.init_std, "a finite standard deviation >= 0")

    def changes(self) -> dict[str, object]:
        """The choices that differ from the book's reconstruction."""
        base = Variant()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(base, f.name)}

    def label(self) -> str:
        changed = self.changes()
        return ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "the book's reconstruction"


def fixed_fraction_mask(patches: int, batch: int, mask_prob: float, g: torch.Generator) -> torch.Tensor:
    """Visibility ``(batch, patches)`` bool with exactly ``round(mask_prob · patches)`` masked patches per image,
    chosen uniformly (a random permutation per image from ``g``)."""
    if not 0 < mask_prob < 1:
        raise not_allowed("mask_prob", mask_prob, "a probability strictly between 0 and 1")
    n_masked = int(round(mask_prob * patches))
    order = torch.argsort(torch.rand(batch, patches, generator=g, dtype=torch.float64), dim=1)
    visible = torch.ones(batch, patches, dtype=torch.bool)
    visible.scatter_(1, order[:, :n_masked], False)
    return visible


def variant_scores(Q: torch.Tensor, Xt: torch.Tensor, variant: Variant) -> torch.Tensor:
    """Scores ``(R, Bt, P, P)`` (rows: queries). ``Q`` ``(R, D, D)``; ``Xt`` ``(R, Bt, P, D)`` masked patches.

    Position queries: ``e_pᵀ Q h_q``; content queries: ``h_pᵀ Q h_q`` with ``h = x̃ + e``.
    """
    P = Xt.shape[2]
    rows = Q[:, :P]                                                          # (R, P, D)  e_pᵀ Q
    if variant.queries == "content":
        queries = torch.einsum("rbpd,rde->rbpe", Xt, Q) + rows[:, None]      # (R, Bt, P, D)  h_pᵀ Q
        return torch.einsum("rbpd,rbqd->rbpq", queries, Xt) + queries[..., :P]
    return torch.einsum("rpd,rbqd->rbpq", rows, Xt) + rows[:, None, :, :P]


def _softmax(scores: torch.Tensor, visible: torch.Tensor, keys: str) -> torch.Tensor:
    if keys == "visible":
        keep = visible[:, :, None, :] | ~visible.any(-1)[:, :, None, None]   # an image with no visible key: all keys
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1)


def variant_forward(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor, variant: Variant
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``F`` ``(R, Bt, P, D)`` and attention ``(R, Bt, P, P)`` of the one-layer model under ``variant``.

    ``Q`` ``(R, D, D)``; ``X`` ``(R, Bt, P, D)`` patches; ``visible`` ``(R, Bt, P)`` bool.
    """
    Xt = X * visible[..., None].to(X.dtype)
    attn = _softmax(variant_scores(Q, Xt, variant), visible, variant.keys)
    return attn @ Xt, attn


def cls_output(u: torch.Tensor, X: torch.Tensor, visible: torch.Tensor, variant: Variant
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Output ``(R, Bt, D)`` and attention ``(R, Bt, P)`` of the ``[CLS]``-like query ``u`` ``(R, D)``: scores
    ``u · h_q`` over the keys (all or visible, as the variant says)."""
    P = X.shape[2]
    Xt = X * visible[..., None].to(X.dtype)
    scores = torch.einsum("rd,rbqd->rbq", u, Xt) + u[:, None, :P]
    attn = _softmax(scores[:, :, None, :], visible, variant.keys)[:, :, 0]
    return torch.einsum("rbq,rbqd->rbd", attn, Xt), attn


def mae_loss_variant(F: torch.Tensor, X: torch.Tensor, visible: torch.Tensor, variant: Variant) -> torch.Tensor:
    """MAE loss ``(R,)``: ``Σ_{p∈M} ‖F_p − x_p‖²`` divided by ``2|M|`` (the book's
    :func:`~sslvit.core.objectives.mae_loss_dense`) or by ``2P`` (``mae_norm="patches"``) per image, averaged
    over the images."""
    if variant.mae_norm == "masked":
        return mae_loss_dense(F, X, visible)
    masked = (~visible).to(F.dtype)
    return ((((F - X) ** 2).sum(-1) * masked).sum(-1) / (2.0 * F.shape[-2])).mean(-1)


def cl_loss_variant(f1: torch.Tensor, f2: torch.Tensor, allowed: torch.Tensor, tau: float, variant: Variant
                    ) -> torch.Tensor:
    """InfoNCE ``(R,)`` of the representations of two views ``(R, Bt, D)`` (the book's
    :func:`~sslvit.core.objectives.infonce_dense`), of the unit vectors with ``similarity="cosine"``; ``allowed``
    ``(R, Bt, Bt)``: the positive and the negatives of each anchor."""
    if variant.similarity == "cosine":
        f1 = f1 / f1.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        f2 = f2 / f2.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return infonce_dense(f1, f2, allowed, tau)
