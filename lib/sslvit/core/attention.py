"""Look inside a trained model: the dense attention of a run on fresh images (book chapters 2, 4, 5, 6)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from sslvit.core import engine
from sslvit.core.data import Layout, Sample, sample_batch
from sslvit.core.training import Trajectory

__all__ = ["AttentionView", "attention_of"]


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
