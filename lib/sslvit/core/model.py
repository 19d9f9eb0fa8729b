"""The one-layer softmax ViT of the paper, as a plain reference ``nn.Module`` (book chapter 2).

Tokens are ``h_q = x̃_q + e_q`` (content, zero where masked, plus position embedding). The query of
position ``p`` is its position embedding, so with one trainable matrix ``Q ∈ R^{d×d}``::

    attn[p, q] = softmax_q( e_pᵀ Q h_q )          # (P, P) per image
    F_p        = Σ_q attn[p, q] x̃_q               # value = identity on content

This module is the reference: every entry of ``Q`` is a parameter and autograd differentiates it. The fast
engine (:mod:`sslvit.core.engine`) trains the same model on the only entries of ``Q`` that gradient descent ever
moves, the attention correlations ``A`` (FP) and ``B`` (PP); :func:`correlations_from_q` reads them off.
"""
from __future__ import annotations

import torch
from torch import nn

from sslvit.core.data import DataConfig

__all__ = ["OneLayerViT", "correlations_from_q", "q_from_correlations"]


class OneLayerViT(nn.Module):
    """One-layer softmax attention with position queries and identity values.

    ``Q``: ``(d, d)`` parameter, initialised at zero (uniform attention).
    """

    def __init__(self, cfg: DataConfig, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        self.Q = nn.Parameter(torch.zeros(cfg.dim, cfg.dim, dtype=dtype))
        self.register_buffer("E", torch.eye(cfg.patches, cfg.dim, dtype=dtype))  # (P, d) position embeddings

    def forward(self, X: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``X``: ``(B, P, d)`` patches; ``visible``: ``(B, P)`` bool.

        Returns the outputs ``F`` ``(B, P, d)`` and the attention ``(B, P, P)`` (rows: queries, columns: keys).
        """
        X_tilde = X * visible[..., None].to(X.dtype)               # (B, P, d) mask token = 0
        H = X_tilde + self.E                                       # (B, P, d) tokens
        queries = self.E @ self.Q                                  # (P, d)    e_pᵀ Q
        scores = torch.einsum("pd,bqd->bpq", queries, H)           # (B, P, P)
        attn = torch.softmax(scores, dim=-1)                       # (B, P, P)
        F = attn @ X_tilde                                         # (B, P, d)
        return F, attn


def correlations_from_q(Q: torch.Tensor, cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """FP correlations ``A[p,k,j] = e_pᵀ Q v_{k,j}`` ``(P, K, N)`` and PP correlations ``B[p,q] = e_pᵀ Q e_q`` ``(P, P)``."""
    P, K, N = cfg.patches, cfg.clusters, cfg.n_areas
    A = Q[:P, P:].reshape(P, K, N)
    B = Q[:P, :P]
    return A, B


def q_from_correlations(A: torch.Tensor, B: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """The ``(d, d)`` matrix whose correlations are ``A`` ``(P, K, N)`` and ``B`` ``(P, P)``, zero elsewhere."""
    P = cfg.patches
    Q = torch.zeros(cfg.dim, cfg.dim, dtype=A.dtype)
    Q[:P, :P] = B
    Q[:P, P:] = A.reshape(P, -1)
    return Q
