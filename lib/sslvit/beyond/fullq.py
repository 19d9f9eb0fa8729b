"""The full-``Q`` model on perturbed features, trained by autograd, many runs at once (book chapter 10).

Beyond the paper: the reduction of the one-layer ViT to its attention correlations ``(A, B)``
(:mod:`sslvit.core.engine`) needs features and position embeddings to be one orthonormal set and patches to be
exactly ``z v``. This module drops both assumptions and trains the query rows of ``Q`` directly.

**Token space.** Dimension ``D = P + K N + 1``. Position ``p`` is basis vector ``p`` (as in
:mod:`sslvit.core.data`); the last basis vector ``s`` is a direction shared by all features.

**Features with overlap ρ** (:func:`feature_vectors`): ``v_{k,j} = √(1−ρ) u_{k,j} + √ρ s`` with
``u_{k,j}`` the basis vector ``P + k N + j`` of :mod:`sslvit.core.data`. Every feature has unit norm, every pair of
distinct features (same or different cluster) has inner product exactly ``ρ``, features stay orthogonal to
the position embeddings, and ``ρ = 0`` gives back the orthonormal features of SPEC §1.

**Patch noise σ** (:func:`patch_content`): ``x_q = z_{j(q)} v_{k,j(q)} + σ ξ_q`` with ``ξ_q ~ N(0, I_D / D)``
(so ``E‖ξ_q‖² = 1``: ``σ`` is the noise norm relative to a unit-scale feature), drawn independently per
patch and per image, in all ``D`` directions (position directions included). The noise is part of the
image: both CL views share it, the MAE target ``x_p`` contains it, masked patches are still ``0``.

**Model** (SPEC §2): ``attn[p, q] = softmax_q(e_pᵀ Q h_q)``, ``h_q = x̃_q + e_q``, ``F_p = Σ_q attn[p,q] x̃_q``.
Queries are the position embeddings, so only the first ``P`` rows of ``Q`` enter the model and receive a
gradient; they are stored as ``W`` ``(R, P, D)`` (the other rows stay at their initial value ``0``).

**Training** (:func:`train_fullq`): plain gradient descent from ``Q = 0`` with the SPEC §3 objectives
written on the dense outputs, gradients by autograd. It reuses :func:`sslvit.train`'s layouts and random
streams (layout, batches, evaluation batch), so at ``ρ = 0, σ = 0`` it follows the reduced engine's
trajectory exactly (the tests check ``≤ 1e-10`` in float64). The noise has its own streams
(3: training, 4: evaluation), so runs that differ only in ``σ`` see the same images, masks and noise draws.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

from sslvit.core.data import DataConfig, Layout
from sslvit.core.engine import key_areas
from sslvit.core.metrics import area_attention, attention_distance, fp_correlations, nmi
from sslvit.core.objectives import negatives_mask
from sslvit.core.perf import keep_large_allocations
from sslvit.core.training import Run, TrainingDiverged, _Batch, _Runs, _stream
from sslvit.core.validation import not_allowed

__all__ = [
    "Perturbation",
    "FullQTrajectory",
    "feature_vectors",
    "realised_overlaps",
    "patch_content",
    "fullq_forward",
    "mae_loss_batched",
    "cl_loss_batched",
    "train_fullq",
]

NOISE_TRAIN_STREAM = 3
NOISE_EVAL_STREAM = 4



@dataclass(frozen=True)
class Perturbation:
    """How the features break SPEC §1's assumptions. overlap: ``ρ ∈ [0, 1)``, pairwise inner product of the
    features. noise: ``σ ≥ 0``, norm of the additive Gaussian noise on every patch (module docstring)."""

    overlap: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("overlap", "noise"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise not_allowed(name, value, "a finite number")
        if not 0.0 <= self.overlap < 1.0:
            raise not_allowed("overlap", self.overlap, "a pairwise feature overlap rho in [0, 1)")
        if self.noise < 0.0:
            raise not_allowed("noise", self.noise, "a noise level sigma >= 0")


def token_dim(cfg: DataConfig) -> int:
    """``D = P + K N + 1``: SPEC §1's dimension plus the shared direction ``s``."""
    return cfg.dim + 1


def feature_vectors(cfg: DataConfig, overlap: Union[float, torch.Tensor], dtype: torch.dtype = torch.float64
                    ) -> torch.Tensor:
    """Features ``v_{k,j} = √(1−ρ) u_{k,j} + √ρ s``.

    ``overlap``: a float (returns ``(K, N, D)``) or a ``(R,)`` tensor of overlaps (returns ``(R, K, N, D)``).
    """
    rho = torch.as_tensor(overlap, dtype=torch.float64)
    if bool(((rho < 0) | (rho >= 1)).any()):
        raise not_allowed("overlap", overlap, "values in [0, 1)")
    P, K, N, D = cfg.patches, cfg.clusters, cfg.n_areas, token_dim(cfg)
    U = torch.zeros(K, N, D, dtype=torch.float64)
    U.view(K * N, D)[torch.arange(K * N), P + torch.arange(K * N)] = 1.0
    S = torch.zeros(D, dtype=torch.float64)
    S[-1] = 1.0
    r = rho.reshape(rho.shape + (1, 1, 1))
    return (torch.sqrt(1.0 - r) * U + torch.sqrt(r) * S).to(dtype)


def realised_overlaps(V: torch.Tensor) -> tuple[float, float, float]:
    """``(min, max, max |‖v‖ − 1|)`` of the pairwise inner products of distinct features ``V`` ``(K, N, D)``."""
    flat = V.reshape(-1, V.shape[-1]).to(torch.float64)
    G = flat @ flat.T
    off = G[~torch.eye(G.shape[0], dtype=torch.bool)]
    return float(off.min()), float(off.max()), float((G.diagonal().sqrt() - 1.0).abs().max())


def patch_content(V: torch.Tensor, area: torch.Tensor, cluster: torch.Tensor, scale: torch.Tensor,
                  noise: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """Patches ``X = z v + σ ξ`` ``(R, Bt, P, D)`` (unmasked).

    ``V`` ``(R, K, N, D)`` features; ``area`` ``(R, K, P)``; ``cluster`` ``(R, Bt)``; ``scale`` ``(R, Bt, N)``;
    ``noise`` ``(R,)`` the levels ``σ``; ``xi`` ``(R, Bt, P, D)`` standard noise ``N(0, I/D)``.
    """
    R, K, N, D = V.shape
    ka = key_areas(area, cluster)                                           # (R, Bt, P)
    z = torch.gather(scale, 2, ka)                                          # (R, Bt, P)
    flat = V.reshape(R, K * N, D)
    idx = cluster[..., None] * N + ka                                       # (R, Bt, P)
    feats = torch.gather(flat[:, None].expand(-1, idx.shape[1], -1, -1), 2,
                         idx[..., None].expand(-1, -1, -1, D))              # (R, Bt, P, D)
    return z[..., None] * feats + noise[:, None, None, None] * xi


def fullq_forward(W: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs ``F`` ``(R, Bt, P, D)`` and attention ``(R, Bt, P, P)`` (rows: queries).

    ``W`` ``(R, P, D)``: the query rows ``e_pᵀ Q``; ``X`` ``(R, Bt, P, D)``; ``visible`` ``(R, Bt, P)`` bool.
    """
    P = W.shape[1]
    Xt = X * visible[..., None].to(X.dtype)                                 # mask token = 0
    scores = torch.einsum("rpd,rbqd->rbpq", W, Xt) + W[:, None, :, :P]      # e_pᵀQ x̃_q + e_pᵀQ e_q
    attn = torch.softmax(scores, dim=-1)
    return attn @ Xt, attn


def mae_loss_batched(F: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """SPEC §3 MAE per run ``(R,)``: ``F``, ``X`` ``(R, Bt, P, D)``, ``visible`` ``(R, Bt, P)``."""
    masked = (~visible).to(F.dtype)
    err = ((F - X) ** 2).sum(-1)
    return ((err * masked).sum(-1) / (2.0 * masked.sum(-1).clamp(min=1.0))).mean(-1)


def cl_loss_batched(F1: torch.Tensor, F2: torch.Tensor, allowed: torch.Tensor, tau: float) -> torch.Tensor:
    """SPEC §3 InfoNCE per run ``(R,)`` from two views' outputs ``(R, Bt, P, D)``; ``allowed`` ``(R, Bt, Bt)``."""
    f1, f2 = F1.mean(2), F2.mean(2)
    logits = torch.einsum("rbd,rcd->rbc", f1, f2) / tau
    logits = logits.masked_fill(~allowed, float("-inf"))
    return (torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=1, dim2=2)).mean(-1)


@dataclass
class FullQTrajectory:
    """What :func:`train_fullq` returns: like :class:`sslvit.train.Trajectory`, with the query rows
    ``W`` ``(R, P, D)``, the features ``V`` ``(R, K, N, D)`` and the correlations ``A`` ``(R, P, K, N)``
    (``A[p,k,j] = e_pᵀ Q v_{k,j}``) and ``B`` ``(R, P, P)`` read off the final ``W``."""

    runs: tuple[Run, ...]
    perturbations: tuple[Perturbation, ...]
    steps: list[int]
    history: dict[str, torch.Tensor]
    W: torch.Tensor
    V: torch.Tensor
    A: torch.Tensor
    B: torch.Tensor
    layouts: tuple[Layout, ...]
    seconds: float

    @property
    def final(self) -> dict[str, torch.Tensor]:
        return {name: values[-1] for name, values in self.history.items()}


def _correlations(W: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    P = W.shape[1]
    return torch.einsum("rpd,rknd->rpkn", W, V), W[:, :, :P]


def _oracle_attention(visible: torch.Tensor, key_area: torch.Tensor) -> torch.Tensor:
    """SPEC §4 oracle attention ``(R, Bt, P, P)``: uniform over the visible keys of the query's own area
    (over all visible keys when none is visible)."""
    vis = visible.to(torch.float64)
    same = (key_area[..., :, None] == key_area[..., None, :]).to(vis.dtype) * vis[..., None, :]
    own = same.sum(-1, keepdim=True)
    spread = vis[..., None, :].expand_as(same) / vis.sum(-1).clamp(min=1.0)[..., None, None]
    return torch.where(own > 0, same / own.clamp(min=1.0), spread)


def _evaluate(W: torch.Tensor, V: torch.Tensor, state: _Runs, batch: _Batch, X: torch.Tensor,
              allowed: torch.Tensor, tau: float) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        ka = key_areas(state.area, batch.cluster)
        F1, attn = fullq_forward(W, X, batch.visible)
        vis = batch.visible.to(W.dtype)
        R, Bt, P, _ = attn.shape
        mass = attn.new_zeros(R, Bt, P, state.N)
        mass.scatter_add_(3, ka[:, :, None, :].expand(R, Bt, P, P), attn * vis[:, :, None, :])
        own, glob = area_attention(mass.transpose(2, 3), ka)
        A, _ = _correlations(W, V)
        fp_own, fp_glob = fp_correlations(A, state.area)
        out = {"own_area_attention": own, "global_area_attention": glob, "fp_own": fp_own,
               "fp_global": fp_glob, "nmi": nmi(attn)}
        if state.coords is not None:
            out["attention_distance"] = attention_distance(attn, state.coords.to(W.device))
        if state.objective == "mae":
            out["loss"] = mae_loss_batched(F1, X, batch.visible)
            oracle = _oracle_attention(batch.visible, ka).to(W.dtype)
            Xt = X * vis[..., None]
            out["oracle_loss"] = mae_loss_batched(oracle @ Xt, X, batch.visible)
        else:
            F2, _ = fullq_forward(W, X, batch.visible2)
            out["loss"] = cl_loss_batched(F1, F2, allowed, tau)
    return {k: v.detach().to("cpu", torch.float64) for k, v in out.items()}


def _noise(gens: Sequence[torch.Generator], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    D = shape[-1]
    return torch.stack([torch.randn(*shape, generator=g, dtype=dtype) for g in gens]).div_(math.sqrt(D))


def train_fullq(
    runs: Union[Run, Sequence[Run]],
    perturbations: Union[Perturbation, Sequence[Perturbation], None] = None,
    *,
    log_every: int = 10,
    eval_batch: Optional[int] = None,
    dtype: torch.dtype = torch.float64,
) -> FullQTrajectory:
    """Train the full-``Q`` model on perturbed features by gradient descent (autograd), all runs at once.

    ``runs``: as for :func:`sslvit.train` (same shared fields), plus all runs must have the same number of
    areas ``N``; only plain gradient descent with fresh batches (``optimizer="gd"``, ``population=None``).
    ``perturbations``: one per run, or one for all (default: none, i.e. ``ρ = 0, σ = 0``).
    Metrics (SPEC §4, on the first view of a fixed evaluation batch) are logged at step 0, every
    ``log_every`` steps and at the last step. Raises :class:`~sslvit.train.TrainingDiverged` if a loss or a
    gradient stops being finite.
    """
    if isinstance(runs, Run):
        runs = [runs]
    runs = list(runs)
    if perturbations is None:
        perturbations = Perturbation()
    if isinstance(perturbations, Perturbation):
        perturbations = [perturbations] * len(runs)
    perturbations = list(perturbations)
    if len(perturbations) != len(runs):
        raise ValueError(f"got {len(perturbations)} perturbations for {len(runs)} runs: give one per run or one for all")
    for p in perturbations:
        if not isinstance(p, Perturbation):
            raise TypeError(f"expected sslvit.beyond.fullq.Perturbation objects, got {type(p).__name__}")
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise not_allowed("log_every", log_every, "a positive integer")
    keep_large_allocations()
    state = _Runs(runs, dtype, "cpu")
    for i, r in enumerate(state.runs):
        if r.data.n_areas != state.runs[0].data.n_areas:
            raise ValueError(f"runs[{i}] has {r.data.n_areas} areas, runs[0] {state.runs[0].data.n_areas}: "
                             "runs trained together by train_fullq must have the same number of areas")
        if r.train.objective not in ("mae", "cl") or getattr(r.train, "queue", 0):
            raise ValueError(f"runs[{i}]: train_fullq supports the SPEC §3 objectives 'mae' and 'cl' (no memory "
                             f"queue), got objective={r.train.objective!r}")
        if r.train.optimizer != "gd" or r.train.population is not None:
            raise ValueError(f"runs[{i}]: train_fullq supports plain gradient descent with fresh batches only "
                             "(optimizer='gd', population=None)")
    cfg0, tcfg = state.runs[0].data, state.runs[0].train
    steps, tau, Bt = int(tcfg.steps), float(tcfg.tau), state.images  # type: ignore[arg-type]
    R, P, D = len(runs), state.P, token_dim(cfg0)
    eval_size = eval_batch if eval_batch is not None else tcfg.batch_size
    if isinstance(eval_size, bool) or not isinstance(eval_size, int) or eval_size < (2 if state.objective == "cl" else 1):
        raise not_allowed("eval_batch", eval_batch, "a positive integer (at least 2 for CL)")
    eval_allowed = negatives_mask(torch.tensor([min(r.train.negatives, eval_size - 1) for r in state.runs]),  # type: ignore[type-var]
                                  eval_size)
    V = feature_vectors(cfg0, torch.tensor([p.overlap for p in perturbations]), dtype)  # (R, K, N, D)
    sigma = torch.tensor([p.noise for p in perturbations], dtype=dtype)
    eval_data = state.draw([_stream(r.train.seed, 2) for r in state.runs], eval_size)
    eval_xi = _noise([_stream(r.train.seed, NOISE_EVAL_STREAM) for r in state.runs], (eval_size, P, D), dtype)
    eval_X = patch_content(V, state.area, eval_data.cluster, eval_data.scale, sigma, eval_xi)
    noise_streams = [_stream(r.train.seed, NOISE_TRAIN_STREAM) for r in state.runs]

    W = torch.zeros(R, P, D, dtype=dtype, requires_grad=True)
    lr = state.lr[:, None, None]
    history: dict[str, list[torch.Tensor]] = {}
    logged: list[int] = []

    def log(step: int) -> None:
        values = _evaluate(W.detach(), V, state, eval_data, eval_X, eval_allowed, tau)
        if not torch.isfinite(values["loss"]).all():
            bad = (~torch.isfinite(values["loss"])).nonzero().flatten().tolist()
            raise TrainingDiverged(f"the evaluation loss is NaN or infinite at step {step} in run(s) {bad}; "
                                   "try a smaller step size")
        for name, v in values.items():
            history.setdefault(name, []).append(v)
        logged.append(step)

    start = time.perf_counter()
    log(0)
    for t in range(1, steps + 1):
        batch = state.draw(state.train_streams, Bt)
        xi = _noise(noise_streams, (Bt, P, D), dtype)
        X = patch_content(V, state.area, batch.cluster, batch.scale, sigma, xi)
        F1, _ = fullq_forward(W, X, batch.visible)
        if state.objective == "mae":
            loss = mae_loss_batched(F1, X, batch.visible)
        else:
            F2, _ = fullq_forward(W, X, batch.visible2)
            loss = cl_loss_batched(F1, F2, state.allowed, tau)
        (grad,) = torch.autograd.grad(loss.sum(), [W])
        if not (torch.isfinite(loss).all() and torch.isfinite(grad).all()):
            bad = (~torch.isfinite(grad.reshape(R, -1)).all(-1) | ~torch.isfinite(loss)).nonzero().flatten().tolist()
            raise TrainingDiverged(f"the training loss or gradient is NaN or infinite at step {t} in run(s) {bad}; "
                                   "try a smaller step size")
        with torch.no_grad():
            W.sub_(lr * grad)
        if t % log_every == 0 or t == steps:
            log(t)
    seconds = time.perf_counter() - start
    Wf = W.detach()
    A, B = _correlations(Wf, V)
    return FullQTrajectory(runs=state.runs, perturbations=tuple(perturbations), steps=logged,
                           history={k: torch.stack(v) for k, v in history.items()}, W=Wf, V=V, A=A, B=B,
                           layouts=state.layouts, seconds=seconds)
