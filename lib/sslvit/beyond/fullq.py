"""The full-``Q`` model on perturbed features, trained by autograd, many runs at once (book chapter 9).

Beyond the paper: the reduction of the one-layer ViT to its attention correlations ``(A, B)``
(:mod:`sslvit.core.engine`) needs features and position embeddings to be one orthonormal set and patches to be
exactly ``z v``. This module drops both assumptions and trains the query rows of ``Q`` directly.

**Token space.** Dimension ``d = P + K N + 1`` (``D`` in the code). Position ``p`` is basis vector ``p`` (as in
:mod:`sslvit.core.data`); the last basis vector ``v_⋆`` is a direction shared by all features.

**Features with overlap ω** (:func:`feature_vectors`): ``v_{k,j} = √(1−ω) v°_{k,j} + √ω v_⋆`` with
``v°_{k,j}`` the basis vector ``P + k N + j`` of :mod:`sslvit.core.data`. Every feature has unit norm, every pair of
distinct features (same or different cluster) has inner product exactly ``ω``, features stay orthogonal to
the position embeddings, and ``ω = 0`` gives back the orthonormal features of chapter 1.

**Patch noise σ** (:func:`patch_content`): ``x_q = z_{j(q)} v_{k,j(q)} + σ ξ_q`` with ``ξ_q ~ N(0, I_d / d)``
(so ``E‖ξ_q‖² = 1``: ``σ`` is the noise norm relative to a unit-scale feature), drawn independently per
patch and per image, in all ``D`` directions (position directions included). The noise is part of the
image: both CL views share it, the MAE target ``x_p`` contains it, masked patches are still ``0``.

**Model** (chapter 2): ``attn[p, q] = softmax_q(e_pᵀ Q h_q)``, ``h_q = x̃_q + e_q``, ``F_p = Σ_q attn[p,q] x̃_q``.
Queries are the position embeddings, so only the first ``P`` rows of ``Q`` enter the model and receive a
gradient; they are stored as ``W`` ``(R, P, D)`` (the other rows stay at their initial value ``0``).

**Training** (:func:`train_fullq`): plain gradient descent from ``Q = 0`` with the objectives of chapters 4 and 5
written on the dense outputs, gradients by autograd. It reuses :func:`sslvit.train`'s layouts and random
streams (layout, batches, evaluation batch), so at ``ω = 0, σ = 0`` it follows the reduced engine's
trajectory exactly (the tests check ``≤ 1e-10`` in float64). The noise has its own streams
(3: training, 4: evaluation), so runs that differ only in ``σ`` see the same images, masks and noise draws.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

from sslvit.core.data import DataConfig, Layout
from sslvit.core.engine import area_masses, key_areas
from sslvit.core.metrics import area_attention, attention_distance, fp_correlations, nmi
from sslvit.core.objectives import CL, MAE, negatives_mask, oracle_attention
from sslvit.core.perf import keep_large_allocations
from sslvit.core.runs import STREAMS, ImageBatch, RunBatch, random_stream
from sslvit.core.training import History, Run, check_finite, logged_steps, progress_steps, runs_label
from sslvit.core.validation import check_flag, is_integer, is_real, not_allowed
from sslvit.beyond.variants import (Variant, cl_loss_variant, cls_output, fixed_fraction_mask, mae_loss_variant,
                                     variant_forward)

__all__ = [
    "Perturbation",
    "FullQTrajectory",
    "feature_vectors",
    "realised_overlaps",
    "patch_content",
    "fullq_forward",
    "train_fullq",
    "MASK_TRAIN_STREAM",
    "MASK_EVAL_STREAM",
    "VARIANT_INIT_STREAM",
]

#: the full-Q trainer's random streams (ids from the one table, :data:`sslvit.core.runs.STREAMS`): noise on the
#: features (training, evaluation), a variant's fixed-fraction masks (training, evaluation) and its random start
NOISE_TRAIN_STREAM, NOISE_EVAL_STREAM = STREAMS["noise_train"], STREAMS["noise_eval"]
MASK_TRAIN_STREAM, MASK_EVAL_STREAM = STREAMS["mask_train"], STREAMS["mask_eval"]
VARIANT_INIT_STREAM = STREAMS["variant_init"]



@dataclass(frozen=True)
class Perturbation:
    """How the features break the assumptions of chapter 1. overlap: ``ω ∈ [0, 1)``, pairwise inner product of the
    features. noise: ``σ ≥ 0``, norm of the additive Gaussian noise on every patch (module docstring)."""

    overlap: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("overlap", "noise"):
            value = getattr(self, name)
            if not (is_real(value) and math.isfinite(value)):
                raise not_allowed(name, value, "a finite number")
        if not 0.0 <= self.overlap < 1.0:
            raise not_allowed("overlap", self.overlap, "a pairwise feature overlap omega in [0, 1)")
        if self.noise < 0.0:
            raise not_allowed("noise", self.noise, "a noise level sigma >= 0")


def token_dim(cfg: DataConfig) -> int:
    """``D = P + K N + 1``: chapter 1's dimension plus the shared direction ``s``."""
    return cfg.dim + 1


def feature_vectors(cfg: DataConfig, overlap: Union[float, torch.Tensor], dtype: torch.dtype = torch.float64
                    ) -> torch.Tensor:
    """Features ``v_{k,j} = √(1−ω) v°_{k,j} + √ω v_⋆``.

    ``overlap``: a float (returns ``(K, N, D)``) or a ``(R,)`` tensor of overlaps (returns ``(R, K, N, D)``).
    """
    omega = torch.as_tensor(overlap, dtype=torch.float64)
    if bool(((omega < 0) | (omega >= 1)).any()):
        raise not_allowed("overlap", overlap, "values in [0, 1)")
    P, K, N, D = cfg.patches, cfg.clusters, cfg.n_areas, token_dim(cfg)
    U = torch.zeros(K, N, D, dtype=torch.float64)
    U.view(K * N, D)[torch.arange(K * N), P + torch.arange(K * N)] = 1.0
    S = torch.zeros(D, dtype=torch.float64)
    S[-1] = 1.0
    r = omega.reshape(omega.shape + (1, 1, 1))
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
    """Outputs ``F`` ``(R, Bt, P, D)`` and attention ``(R, Bt, P, P)`` (rows: queries) of the book's model.

    ``W`` ``(R, P, D)``: the query rows ``e_pᵀ Q`` (position queries read no other row of ``Q``, so ``W`` stands
    for ``Q`` in :func:`sslvit.beyond.variants.variant_forward`); ``X`` ``(R, Bt, P, D)``; ``visible``
    ``(R, Bt, P)`` bool.
    """
    return variant_forward(W, X, visible, Variant())


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
    variant: Variant = Variant()

    @property
    def final(self) -> dict[str, torch.Tensor]:
        return {name: values[-1] for name, values in self.history.items()}

    def correlations(self, run: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``A`` ``(P, K, N)`` and ``B`` ``(P, P)`` of run ``run``, as :meth:`sslvit.train.Trajectory.correlations`
        (so :func:`sslvit.core.attention.attention_of` reads the attention of position queries off them)."""
        if not 0 <= run < len(self.runs):
            raise ValueError(f"run={run} is not allowed: the trajectory has runs 0..{len(self.runs) - 1}")
        return self.A[run], self.B[run]


def _correlations(W: torch.Tensor, V: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    P = W.shape[1]
    return torch.einsum("rpd,rknd->rpkn", W, V), W[:, :, :P]


def _evaluate(Q: torch.Tensor, u: torch.Tensor, V: torch.Tensor, state: RunBatch, batch: ImageBatch,
              X: torch.Tensor, allowed: torch.Tensor, tau: float, variant: Variant) -> dict[str, torch.Tensor]:
    """The metrics of chapter 6 on the evaluation batch (attention metrics on the first view), and the loss;
    with a ``[CLS]``-like query also the share of its attention on the visible global area."""
    with torch.no_grad():
        ka = key_areas(state.area, batch.cluster)
        F1, attn = variant_forward(Q, X, batch.views[0], variant)
        own, glob = area_attention(area_masses(attn, ka, batch.views[0], state.N), ka)
        A, _ = _correlations(Q[:, :state.P], V)
        fp_own, fp_glob = fp_correlations(A, state.area)
        out = {"own_area_attention": own, "global_area_attention": glob, "fp_own": fp_own,
               "fp_global": fp_glob, "nmi": nmi(attn)}
        if state.coords is not None:
            out["attention_distance"] = attention_distance(attn, state.coords.to(Q.device))
        out.update(_losses(Q, u, X, batch, allowed, tau, variant, F1))
        if variant.representation == "cls":
            _, a_cls = cls_output(u, X, batch.views[0], variant)
            out["cls_global_attention"] = (a_cls * ((ka == 0) & batch.views[0]).to(a_cls.dtype)).sum(-1).mean(-1)
        if isinstance(state.runs[0].train.objective, MAE):
            Xt = X * batch.views[0][..., None].to(Q.dtype)
            oracle = oracle_attention(ka, batch.views[0]).to(Q.dtype)
            out["oracle_loss"] = mae_loss_variant(oracle @ Xt, X, batch.views[0], variant)
    return {k: v.detach().to("cpu", torch.float64) for k, v in out.items()}


def _losses(Q: torch.Tensor, u: torch.Tensor, X: torch.Tensor, batch: ImageBatch, allowed: torch.Tensor,
            tau: float, variant: Variant, F1: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """``{"loss": (R,)}``: the MAE loss of the first view, or the InfoNCE of the two views (chapters 2, 5), under
    ``variant``."""
    if len(batch.views) == 1:
        F1 = variant_forward(Q, X, batch.views[0], variant)[0] if F1 is None else F1
        return {"loss": mae_loss_variant(F1, X, batch.views[0], variant)}
    if variant.representation == "cls":
        f1, f2 = (cls_output(u, X, v, variant)[0] for v in batch.views)
    else:
        F1 = variant_forward(Q, X, batch.views[0], variant)[0] if F1 is None else F1
        f1, f2 = F1.mean(-2), variant_forward(Q, X, batch.views[1], variant)[0].mean(-2)
    return {"loss": cl_loss_variant(f1, f2, allowed, tau, variant)}


def _noise(gens: Sequence[torch.Generator], shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    D = shape[-1]
    return torch.stack([torch.randn(*shape, generator=g, dtype=dtype) for g in gens]).div_(math.sqrt(D))


def _check_fullq_runs(state: RunBatch) -> None:
    for i, r in enumerate(state.runs):
        if r.data.n_areas != state.runs[0].data.n_areas:
            raise ValueError(f"runs[{i}] has {r.data.n_areas} areas, runs[0] {state.runs[0].data.n_areas}: "
                             "runs trained together by train_fullq must have the same number of areas")
        if type(r.train.objective) not in (MAE, CL):
            raise ValueError(f"runs[{i}]: train_fullq supports the paper's objectives 'mae' and 'cl', got "
                             f"objective={r.train.objective!r}")
        if r.train.optimizer != "gd" or r.train.population is not None:
            raise ValueError(f"runs[{i}]: train_fullq supports plain gradient descent with fresh batches only "
                             "(optimizer='gd', population=None)")
        if r.train.init_std != 0:
            raise ValueError(f"runs[{i}]: train_fullq starts from Q = 0 or from its variant's random start "
                             f"(Variant(init_std=...)), not from TrainConfig(init_std={r.train.init_std!r}); leave "
                             "init_std=0")


class _FullQData:
    """Features, noise levels and the fixed evaluation images (with their noise) of the runs of one call."""

    def __init__(self, state: RunBatch, perturbations: Sequence[Perturbation], eval_batch: Optional[int],
                 variant: Variant) -> None:
        train0, dtype = state.runs[0].train, state.dtype
        self.variant = variant
        self.mask_streams = [random_stream(r.train.seed, MASK_TRAIN_STREAM) for r in state.runs]
        size = eval_batch if eval_batch is not None else train0.batch_size
        if not is_integer(size) or size < train0.objective.min_images:
            raise not_allowed("eval_batch", eval_batch, "a positive integer (at least 2 for CL)")
        # CL's negatives (an objective without negatives leaves them None; its mask is then unused)
        negatives = torch.tensor([state.images - 1 if r.train.negatives is None else r.train.negatives
                                  for r in state.runs])
        self.allowed = negatives_mask(negatives, state.images)                         # (R, Bt, Bt)
        self.eval_allowed = negatives_mask(negatives.clamp(max=size - 1), size)
        self.D = token_dim(state.runs[0].data)
        self.V = feature_vectors(state.runs[0].data, torch.tensor([p.overlap for p in perturbations]), dtype)
        self.sigma = torch.tensor([p.noise for p in perturbations], dtype=dtype)
        self.eval = self.masked(state, state.draw([random_stream(r.train.seed, STREAMS["eval"]) for r in state.runs],
                                                  size), [random_stream(r.train.seed, MASK_EVAL_STREAM) for r in state.runs])
        xi = _noise([random_stream(r.train.seed, NOISE_EVAL_STREAM) for r in state.runs], (size, state.P, self.D), dtype)
        self.eval_X = self.content(state, self.eval, xi)
        self.noise_streams = [random_stream(r.train.seed, NOISE_TRAIN_STREAM) for r in state.runs]

    def content(self, state: RunBatch, batch: ImageBatch, xi: torch.Tensor) -> torch.Tensor:
        return patch_content(self.V, state.area, batch.cluster, batch.scale, self.sigma, xi)

    def masked(self, state: RunBatch, batch: ImageBatch, streams: Sequence[torch.Generator]) -> ImageBatch:
        """``batch`` with its views redrawn with exactly ``round(γ P)`` masked patches (``masking="fixed"``)."""
        if self.variant.masking != "fixed":
            return batch
        images = batch.cluster.shape[1]
        views = tuple(torch.stack([fixed_fraction_mask(state.P, images, float(run.train.mask_prob), g)
                                   for run, g in zip(state.runs, streams)]) for _ in batch.views)
        return ImageBatch(batch.cluster, batch.scale, views)

    def train_batch(self, state: RunBatch) -> tuple[ImageBatch, torch.Tensor]:
        batch = self.masked(state, state.draw(state.train_streams, state.images), self.mask_streams)
        xi = _noise(self.noise_streams, (state.images, state.P, self.D), state.dtype)
        return batch, self.content(state, batch, xi)


def _as_perturbations(perturbations, n: int) -> list[Perturbation]:
    if perturbations is None:
        perturbations = Perturbation()
    if isinstance(perturbations, Perturbation):
        perturbations = [perturbations] * n
    perturbations = list(perturbations)
    if len(perturbations) != n:
        raise ValueError(f"got {len(perturbations)} perturbations for {n} runs: give one per run or one for all")
    for p in perturbations:
        if not isinstance(p, Perturbation):
            raise TypeError(f"expected sslvit.beyond.fullq.Perturbation objects, got {type(p).__name__}")
    return perturbations


def _initial_query(state: RunBatch, D: int, variant: Variant) -> tuple[torch.Tensor, torch.Tensor]:
    """``Q`` ``(R, D, D)`` and the ``[CLS]``-like query ``u`` ``(R, D)``, zero or ``init_std · N(0, 1)`` from each
    run's :data:`VARIANT_INIT_STREAM`; both require grad (only the position rows of ``Q`` move for position
    queries)."""
    R, dtype = len(state.runs), state.dtype
    Q, u = torch.zeros(R, D, D, dtype=dtype), torch.zeros(R, D, dtype=dtype)
    if variant.init_std > 0:
        for r, run in enumerate(state.runs):
            g = random_stream(run.train.seed, VARIANT_INIT_STREAM)
            Q[r] = variant.init_std * torch.randn(D, D, generator=g, dtype=dtype)
            u[r] = variant.init_std * torch.randn(D, generator=g, dtype=dtype)
    return Q.requires_grad_(True), u.requires_grad_(True)


def train_fullq(
    runs: Union[Run, Sequence[Run]],
    perturbations: Union[Perturbation, Sequence[Perturbation], None] = None,
    *,
    variant: Optional[Variant] = None,
    log_every: int = 10,
    log_steps: Optional[Sequence[int]] = None,
    eval_batch: Optional[int] = None,
    dtype: torch.dtype = torch.float64,
    progress: Optional[bool] = None,
) -> FullQTrajectory:
    """Train the full-``Q`` model on perturbed features by gradient descent (autograd), all runs at once.

    ``runs``: as for :func:`sslvit.train` (same shared fields), plus all runs must have the same number of
    areas ``N``; only plain gradient descent with fresh batches. ``perturbations``: one per run, or one for all
    (default: none, i.e. ``ω = 0, σ = 0``). ``variant``: another reconstruction of the model and objectives
    (:class:`sslvit.beyond.variants.Variant`, chapter 14; default the book's). Metrics (chapter 6, on the first
    view of a fixed evaluation batch) are logged at step 0, every ``log_every`` steps (or at ``log_steps``) and
    at the last step. Raises :class:`~sslvit.core.training.TrainingDiverged` if a loss or a gradient stops being
    finite. ``progress``: a tqdm bar (default: when someone watches,
    :func:`sslvit.core.training.watched`).
    """
    runs = [runs] if isinstance(runs, Run) else list(runs)
    variant = Variant() if variant is None else variant
    if not isinstance(variant, Variant):
        raise TypeError(f"variant must be a sslvit.beyond.variants.Variant, got {type(variant).__name__}")
    perturbations = _as_perturbations(perturbations, len(runs))
    if progress is not None:
        progress = check_flag("progress", progress)
    steps = int(runs[0].train.steps) if runs else 0
    logged = logged_steps(steps, log_every, log_steps)
    keep_large_allocations()
    state = RunBatch(runs, dtype, "cpu")
    _check_fullq_runs(state)
    data, tau, history = _FullQData(state, perturbations, eval_batch, variant), float(state.runs[0].train.tau), History()
    Q, u = _initial_query(state, data.D, variant)
    lr = state.lr[:, None, None]
    start = time.perf_counter()
    for t in itertools.chain([0], progress_steps(steps, runs_label(runs) + " (full Q)", progress)):
        if t > 0:
            batch, X = data.train_batch(state)
            loss = _losses(Q, u, X, batch, data.allowed, tau, variant)["loss"]
            grad, grad_u = torch.autograd.grad(loss.sum(), [Q, u], allow_unused=True)
            grad = torch.zeros_like(Q) if grad is None else grad                  # CL with a [CLS] query: Q unused
            grad_u = torch.zeros_like(u) if grad_u is None else grad_u            # every other variant: u unused
            check_finite("the training loss or gradient", (loss, grad, grad_u), t, state)
            with torch.no_grad():
                Q.sub_(lr * grad)
                u.sub_(lr[:, :, 0] * grad_u)
        if t in logged:
            values = _evaluate(Q.detach(), u.detach(), data.V, state, data.eval, data.eval_X, data.eval_allowed,
                               tau, variant)
            check_finite("the evaluation loss", values["loss"], t, state)
            history.add(t, values)
    W = Q.detach()[:, :state.P]
    A, B = _correlations(W, data.V)
    return FullQTrajectory(runs=state.runs, perturbations=tuple(perturbations), steps=history.steps,
                           history=history.stacked(), W=W, V=data.V, A=A, B=B, layouts=state.layouts,
                           seconds=time.perf_counter() - start, variant=variant)
