"""Mixing the two objectives: ``λ·MAE + (1 − λ)·c·CL`` (book chapter 12, beyond the paper).

iBOT {Zhou et al. 2022} and DINOv2 {Oquab et al. 2024} train one network on a masked-image-modelling loss and
a view-invariance (self-distillation) loss at once. The reduced engine does the same with the two objectives
of SPEC §3: for every training image it draws **three** masks,

* view 1, masked with ``γ_mae`` (``TrainConfig.mask_prob``, default 0.5): the MAE term;
* views 2 and 3, masked with ``γ_cl`` (``TrainConfig.cl_mask_prob``, default 0.3): the CL term (InfoNCE
  between the two, negatives from the rest of the batch as for pure CL),

and minimises

    L = λ · L_MAE(view 1) + (1 − λ) · c · L_CL(views 2, 3)

with ``λ = TrainConfig.mix ∈ [0, 1]`` and ``c = TrainConfig.mix_scale``. The two pure objectives have
different natural step sizes (SPEC §3: MAE ``1e3``, CL ``2e4``); the default ``c = 20`` is their ratio, so
that with MAE's step size ``η = 1e3`` the end points are the pure runs at their own step sizes: ``λ = 1`` is
MAE with ``η``, ``λ = 0`` is CL with ``c·η = 2e4``. The gradient is combined *after* the two backward
passes, ``∇L = λ ∇L_MAE + (1 − λ) c ∇L_CL``, so ``λ = 1`` gives the MAE gradient and ``λ = 0`` gives
``c`` times the CL gradient bit for bit (a unit test checks both).

The CL views are drawn from a separate random stream of the run (stream 3), so the images and the MAE view of
a mixed run are exactly those of the pure MAE run with the same seed: the ``λ = 1`` run *is* the MAE run.

Metrics of a mixed run (:func:`sslvit.train.evaluate`) are measured on view 1 (the MAE masking law);
``loss`` is the mixed loss and the history also holds its two parts, ``mae_loss`` and ``cl_loss``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from sslvit.core.validation import not_allowed

__all__ = ["MIX_SCALE", "CL_MASK_PROB", "validate_mix", "mix_weights", "combine", "collapse_onset"]

#: default ``c``: SPEC §3's CL step size over its MAE step size (2e4 / 1e3)
MIX_SCALE = 20.0
#: default ``γ_cl`` of the two CL views (SPEC §3's CL default)
CL_MASK_PROB = 0.3



def validate_mix(cfg: object) -> None:
    """Check and fill the mixing fields of a :class:`sslvit.train.TrainConfig` (called by its ``__post_init__``).

    For ``objective="mix"``: ``mix`` (λ) defaults to 0.5 and must lie in ``[0, 1]``; ``mix_scale`` (c) must be
    positive and finite; ``cl_mask_prob`` defaults to :data:`CL_MASK_PROB`; at least 2 images per step (the CL
    term needs a negative pool). For the pure objectives ``mix`` and ``cl_mask_prob`` must stay ``None``.
    """
    from sslvit.core.data import check_mask_prob

    objective = getattr(cfg, "objective")
    lam, scale, gamma_cl = getattr(cfg, "mix"), getattr(cfg, "mix_scale"), getattr(cfg, "cl_mask_prob")
    if objective != "mix":
        if lam is not None:
            raise not_allowed("mix", lam, "a mixing weight needs objective='mix' (leave mix=None)")
        if gamma_cl is not None:
            raise not_allowed("cl_mask_prob", gamma_cl, "the CL views' masking probability needs objective='mix'")
        return
    if lam is None:
        lam = 0.5
        object.__setattr__(cfg, "mix", lam)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= float(lam) <= 1.0:
        raise not_allowed("mix", lam, "the weight λ of the MAE term, a number in [0, 1]")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
        raise not_allowed("mix_scale", scale, "c > 0, the factor of the CL term (default 20 = 2e4 / 1e3)")
    if gamma_cl is None:
        object.__setattr__(cfg, "cl_mask_prob", CL_MASK_PROB)
    check_mask_prob(getattr(cfg, "cl_mask_prob"))
    if getattr(cfg, "images_per_step") < 2:
        raise not_allowed("batch_size", getattr(cfg, "batch_size"), "at least 2 images per step for objective='mix' "
                    "(the CL term needs negatives)")


def mix_weights(lam: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights of the two terms, ``(λ, (1 − λ)·c)``, from ``λ`` and ``c`` ``(R,)``."""
    if lam.shape != scale.shape or lam.ndim != 1:
        raise ValueError(f"lam and scale must both be (R,), got {tuple(lam.shape)} and {tuple(scale.shape)}")
    return lam, (1.0 - lam) * scale


def combine(lam: torch.Tensor, scale: torch.Tensor, mae: Sequence[torch.Tensor], cl: Sequence[torch.Tensor]
            ) -> tuple[torch.Tensor, ...]:
    """``λ·x + (1 − λ)·c·y`` for every pair ``(x, y)`` of ``mae`` and ``cl``.

    ``lam``, ``scale``: ``(R,)``; ``mae`` and ``cl``: equally long sequences of tensors with a leading run axis
    ``R`` (e.g. ``(loss (R,), dA (R, P, K, N), dB (R, P, P))``). With ``λ = 1`` the result is ``x`` and with
    ``λ = 0`` it is ``c·y``, exactly.
    """
    if len(mae) != len(cl):
        raise ValueError(f"mae and cl must have the same number of tensors, got {len(mae)} and {len(cl)}")
    w_mae, w_cl = mix_weights(lam, scale)
    out = []
    for x, y in zip(mae, cl):
        if x.shape != y.shape or x.shape[0] != lam.shape[0]:
            raise ValueError(f"shapes {tuple(x.shape)} and {tuple(y.shape)} must agree and start with R={lam.shape[0]}")
        shape = (-1,) + (1,) * (x.ndim - 1)
        out.append(w_mae.reshape(shape).to(x.dtype) * x + w_cl.reshape(shape).to(y.dtype) * y)
    return tuple(out)


def collapse_onset(lams: Sequence[float], global_attention: torch.Tensor, threshold: float = 0.95
                   ) -> tuple[Optional[float], bool]:
    """Where collapse begins on a λ sweep (chapter 12).

    ``lams``: the ``L`` swept weights of the MAE term, strictly increasing; ``global_attention``: ``(L, S)``
    final global-area attention of local queries for ``S`` seeds. A weight is **collapsed** when every seed
    has ``global_attention ≥ threshold`` (SPEC's C7 level 0.95). Returns ``(λ*, contiguous)``: ``λ*`` the
    largest collapsed weight (``None`` if none is collapsed), and whether the collapsed weights are exactly
    those ``≤ λ*`` (collapse sets in below a single onset rather than in scattered places).
    """
    lam = torch.as_tensor(lams, dtype=torch.float64)
    glob = torch.as_tensor(global_attention, dtype=torch.float64)
    if lam.ndim != 1 or lam.numel() < 1:
        raise ValueError("lams must be a non-empty one-dimensional sequence")
    if lam.numel() > 1 and not bool((lam.diff() > 0).all()):
        raise ValueError("lams must be strictly increasing")
    if glob.ndim != 2 or glob.shape[0] != lam.numel() or glob.shape[1] < 1:
        raise ValueError(f"global_attention must be (L, S) with L={lam.numel()}, got {tuple(glob.shape)}")
    if not bool(torch.isfinite(glob).all()):
        raise ValueError("global_attention contains NaN or infinite values")
    collapsed = (glob >= threshold).all(1)
    if not bool(collapsed.any()):
        return None, True
    last = int(collapsed.nonzero().max())
    contiguous = bool(collapsed[: last + 1].all())
    return float(lam[last]), contiguous
