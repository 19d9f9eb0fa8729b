"""Mixing the two objectives: ``λ·MAE + (1 − λ)·c·CL`` (book chapter 11, beyond the paper).

iBOT {Zhou et al. 2022} and DINOv2 {Oquab et al. 2024} train one network on a masked-image-modelling loss and
a view-invariance (self-distillation) loss at once. The reduced engine does the same with the two objectives
of chapters 4 and 5: for every training image it draws **three** masks,

* view 1, masked with ``γ_mae`` (``TrainConfig.mask_prob``, default 0.5): the MAE term;
* views 2 and 3, masked with ``γ_cl`` (``TrainConfig.cl_mask_prob``, default 0.3): the CL term (InfoNCE
  between the two, negatives from the rest of the batch as for pure CL),

and minimises

    L = λ · L_MAE(view 1) + (1 − λ) · c · L_CL(views 2, 3)

with ``λ = TrainConfig.mix ∈ [0, 1]`` and ``c = TrainConfig.mix_scale``. The two pure objectives have
different natural step sizes (chapters 4 and 5: MAE ``1e3``, CL ``2e4``); the default ``c = 20`` is their ratio, so
that with MAE's step size ``η = 1e3`` the end points are the pure runs at their own step sizes: ``λ = 1`` is
MAE with ``η``, ``λ = 0`` is CL with ``c·η = 2e4``. The objective hands the trainer the gradient
with respect to each view's area masses, ``λ ∇L_MAE`` for view 1 and ``(1 − λ) c ∇L_CL`` for views 2 and 3, and
the trainer takes all three back to the correlations: ``λ = 1`` gives the MAE gradient bit for bit (the CL views
add exact zeros) and ``λ = 0`` gives ``c`` times the CL gradient up to rounding (unit tests check both).

The CL views are drawn from a separate random stream of the run (stream 3), so the images and the MAE view of
a mixed run are exactly those of the pure MAE run with the same seed: the ``λ = 1`` run *is* the MAE run.

Metrics of a mixed run (:func:`sslvit.train.evaluate`) are measured on view 1 (the MAE masking law);
``loss`` is the mixed loss and the history also holds its two parts, ``mae_loss`` and ``cl_loss``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import torch

from sslvit.core.data import check_mask_prob
from sslvit.core.objectives import MAE, BoundCL, BoundObjective, Masses, Objective, register_objective
from sslvit.core.objectives.mae import BoundMAE

from sslvit.core.validation import check_real, not_allowed

__all__ = ["MIX_SCALE", "CL_MASK_PROB", "Mixed", "mix_weights", "combine", "collapse_onset"]

#: default ``c``: CL's default step size over MAE's (2e4 / 1e3)
MIX_SCALE = 20.0
#: default ``γ_cl`` of the two CL views (CL's default masking probability)
CL_MASK_PROB = 0.3



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
    """Where collapse begins on a λ sweep (chapter 11).

    ``lams``: the ``L`` swept weights of the MAE term, strictly increasing; ``global_attention``: ``(L, S)``
    final global-area attention of local queries for ``S`` seeds. A weight is **collapsed** when every seed
    has ``global_attention ≥ threshold`` (claim C7's level 0.95). Returns ``(λ*, contiguous)``: ``λ*`` the
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


@register_objective
@dataclass(frozen=True)
class Mixed(Objective):
    """``weight · MAE(view 1) + (1 − weight) · scale · CL(views 2, 3)`` (chapter 11): ``weight`` is λ (runs trained
    together may differ in it), ``scale`` is ``c``, ``cl_mask_prob`` masks the two CL views; the MAE view uses the
    run's ``mask_prob`` and step size (MAE's defaults)."""

    weight: float = 0.5
    scale: float = MIX_SCALE
    cl_mask_prob: float = CL_MASK_PROB
    name: ClassVar[str] = "mix"
    defaults: ClassVar[dict[str, Any]] = MAE.defaults
    min_images: ClassVar[int] = 2
    n_views: ClassVar[int] = 3
    contrastive: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", check_real("weight", self.weight, 0.0, 1.0,
                                                      allowed="the weight λ of the MAE term, a number in [0, 1]"))
        object.__setattr__(self, "scale", check_real("scale", self.scale, 0.0, low_open=True,
                                                     allowed="c > 0, the factor of the CL term (default 20 = 2e4 / 1e3)"))
        object.__setattr__(self, "cl_mask_prob", check_mask_prob(self.cl_mask_prob, "cl_mask_prob"))

    def settings(self) -> dict[str, Any]:
        return {"mix": self.weight, "mix_scale": self.scale, "cl_mask_prob": self.cl_mask_prob}

    def bind(self, runs: Any) -> "BoundMixed":
        return BoundMixed(runs)


class BoundMixed(BoundObjective):
    """The mixed objective for a batch of runs: MAE on view 1 and CL on views 2 and 3 (drawn from the runs'
    separate view stream), weighted as the gradients of their area masses; metrics ``loss``, ``mae_loss``, ``cl_loss``."""

    def __init__(self, runs: Any) -> None:
        super().__init__(runs)
        self.mae, self.cl = BoundMAE(runs), BoundCL(runs)
        settings = [r.train.objective for r in runs.runs]
        self.weight = torch.tensor([o.weight for o in settings], dtype=runs.dtype, device=runs.device)     # (R,)
        self.scale = torch.tensor([float(o.scale) for o in settings], dtype=runs.dtype, device=runs.device)  # (R,)

    def views(self, run: Any) -> list[tuple[float, bool]]:
        gamma_cl = run.train.objective.cl_mask_prob
        return [(run.train.mask_prob, False), (gamma_cl, True), (gamma_cl, True)]

    def loss_and_grad(self, masses: Masses) -> tuple[torch.Tensor, list[torch.Tensor]]:
        (mae, (g_mae,)), (cl, g_cl) = self.mae.loss_and_grad(masses.select([0])), self.cl.loss_and_grad(masses.select([1, 2]))
        w_mae, w_cl = mix_weights(self.weight[masses.sl], self.scale[masses.sl])
        loss, = combine(self.weight[masses.sl], self.scale[masses.sl], [mae], [cl])
        per_run = lambda w: w.reshape(-1, 1, 1, 1).to(g_mae.dtype)  # noqa: E731
        return loss, [per_run(w_mae) * g_mae] + [per_run(w_cl) * g for g in g_cl]

    def metrics(self, masses: Masses) -> dict[str, torch.Tensor]:
        mae_loss = self.mae.metrics(masses.select([0]))["loss"].to("cpu", torch.float64)
        cl_loss = self.cl.metrics(masses.select([1, 2]))["loss"].to("cpu", torch.float64)
        loss, = combine(self.weight[masses.sl].cpu().double(), self.scale[masses.sl].cpu().double(), [mae_loss], [cl_loss])
        return {"loss": loss, "mae_loss": mae_loss, "cl_loss": cl_loss}
