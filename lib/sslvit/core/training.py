"""Training: gradient descent (or Adam) on the attention correlations, many runs at once (book chapters 2, 4, 5).

A :class:`Run` is one configuration: a :class:`~sslvit.core.data.DataConfig` and a :class:`TrainConfig`.
:func:`train` trains a list of runs as **one batched computation** (every tensor has a leading run axis, see
:mod:`sslvit.core.runs`) and returns a :class:`Trajectory`: the metrics of chapter 6 at every logged step and the
final ``A``, ``B``. One step is: draw the images and their masked views, the objective's loss and exact gradients
(:mod:`sslvit.core.objectives`), a check that both are finite, the optimiser's update.

Runs in one call must share what fixes the tensor shapes and the loop (:data:`~sslvit.core.runs.SHARED_DATA`,
:data:`~sslvit.core.runs.SHARED_TRAIN`: the kind of objective, ``steps``, ``batch_size``, ``optimizer``, ``tau``,
``population``, ``patches``, ``clusters``, ``layout``). They may differ in area sizes, scale range, masking
probability, step size, number of negatives, the objective's own settings and seed.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import torch

from sslvit.core import engine
from sslvit.core import budget
from sslvit.core.budget import image_parts
from sslvit.core.data import DataConfig, Layout, check_mask_prob
from sslvit.core.metrics import area_attention_per_query, fp_correlations, local_query_mean, nmi_from_parts
from sslvit.core.objectives import MAE, CL, Masses, Objective, check_negatives, objective_named
from sslvit.core.perf import keep_large_allocations, release_free_memory
from sslvit.core.runs import MAX_SEED, STREAMS, ImageBatch, RunBatch, check_runs, chunks, random_stream
from sslvit.core.validation import check_device, check_dtype, check_flag, check_int, check_real, is_integer, not_allowed

__all__ = ["TrainConfig", "Run", "Trajectory", "TrainingDiverged", "TrainingInterrupted", "SATURATION", "likely_cause",
           "check_resolvable", "LoggedSteps", "train", "evaluate", "loss_and_grads", "step_gradients", "objective_metrics",
           "check_finite", "image_parts", "watched", "progress_steps", "runs_label", "GradientDescent", "Adam", "History", "logged_steps", "initial_correlations", "DEFAULTS"]

OPTIMIZERS = ("gd", "adam")
#: the defaults of the paper's two objectives (sensible for P = 256), by name
DEFAULTS = {"mae": dict(MAE.defaults), "cl": dict(CL.defaults)}
class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or infinite, or the correlations saturated the softmax: ``step``, the
    indices of the bad ``runs`` and their step sizes ``lrs`` are attributes; the message says the same and names
    the likely cause (``cause``, default: the step size)."""

    def __init__(self, what: str, step: int, runs: Sequence[int], lrs: Sequence[float],
                 cause: str = "try a smaller step size (lr / --lr)") -> None:
        self.what, self.step, self.runs, self.lrs, self.cause = what, step, list(runs), sorted(set(lrs)), cause
        verb = "" if " is " in what or " are " in what else " is NaN or infinite"
        super().__init__(f"{what}{verb} at step {step} in run(s) {self.runs} (lr={self.lrs}); {cause}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C): ``trajectory`` holds the metrics logged so far (a
    :class:`Trajectory` whose last logged step is ``step``, the step that was running is not logged)."""

    def __init__(self, trajectory: "Trajectory", step: int) -> None:
        self.trajectory, self.step = trajectory, step
        super().__init__(f"training interrupted at step {step}")


#: a correlation larger than this (per dtype: 1 / machine epsilon) makes a score's rounding unit exceed 1, so the
#: softmax can no longer resolve score differences of order 1: the attention is frozen and training means nothing
SATURATION = {torch.float64: 1.0 / torch.finfo(torch.float64).eps, torch.float32: 1.0 / torch.finfo(torch.float32).eps}


def likely_cause(runs: Sequence["Run"]) -> str:
    """The settings of ``runs`` most likely to blow up a training, in a sentence that says what to change."""
    causes = []
    if any(r.train.objective.contrastive and r.train.tau < 1e-3 for r in runs):
        causes.append("a very small temperature tau (try tau >= 0.01)")
    if any(r.train.init_std > 10 for r in runs):
        causes.append("a large initial scale init_std (try init_std <= 1)")
    if any(max(abs(r.data.low), abs(r.data.high)) > 10 or r.data.scale_law in ("lognormal", "pareto") for r in runs):
        causes.append("large or heavy-tailed data scales (low, high, scale_law)")
    causes.append("a step size too large (try a smaller step size, lr / --lr)")
    return "likely cause: " + "; or ".join(causes)


@dataclass(frozen=True)
class TrainConfig:
    """How to train a run (chapter 2, "training"). ``None`` fields take the objective's defaults.

    objective: ``"mae"``, ``"cl"`` (the paper's two, chapters 4 and 5) or an :class:`~sslvit.core.objectives.Objective`
    with its own settings (e.g. :class:`sslvit.beyond.memory.MemoryQueue`, :class:`sslvit.beyond.mix.Mixed`).
    mask_prob: ``γ``. lr: step size. steps: number of updates. batch_size: images per step (fresh every step).
    negatives: CL negatives per anchor, ``0..batch_size−1`` (default ``batch_size − 1``). tau: CL temperature.
    optimizer: ``"gd"`` (plain gradient descent) or ``"adam"``. seed: the run's seed. population: if set, one
    fixed sample of this many images is drawn once and used at every step (population gradient descent).
    init_std: standard deviation of a random start ``A, B ~ init_std · N(0, 1)`` from the run's own stream
    (0, the paper's setting: ``Q = 0``); it breaks the symmetries of ``Q = 0`` by a seeded amount (chapter 8).
    """

    objective: Union[str, Objective] = "mae"
    mask_prob: Optional[float] = None
    lr: Optional[float] = None
    steps: Optional[int] = None
    batch_size: int = 32
    negatives: Optional[int] = None
    tau: float = 1.0
    optimizer: str = "gd"
    seed: int = 0
    population: Optional[int] = None
    init_std: float = 0.0

    def __post_init__(self) -> None:
        # the objective's defaults fill the fields left at None; numbers are checked and stored as Python numbers
        objective = objective_named(self.objective) if isinstance(self.objective, str) else self.objective
        if not isinstance(objective, Objective):
            raise not_allowed("objective", self.objective, "a name such as 'mae' or 'cl', or an Objective")
        object.__setattr__(self, "objective", objective)
        for name, value in objective.defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._check_numbers()
        if not objective.contrastive:
            if self.tau != 1.0:
                raise not_allowed("tau", self.tau, f"the temperature of CL; objective {objective.name!r} has none "
                                  "(leave tau=1.0)")
            if self.negatives is not None:
                raise not_allowed("negatives", self.negatives, f"the negatives of CL; objective {objective.name!r} "
                                  "has none (leave negatives=None)")
        elif self.negatives is None:
            object.__setattr__(self, "negatives", self.images_per_step - 1)
        if objective.contrastive:
            object.__setattr__(self, "negatives", check_negatives(self.negatives, self.images_per_step))
        objective.check(self)

    def _check_numbers(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise not_allowed("optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        numbers = {
            "mask_prob": check_mask_prob(self.mask_prob),
            "lr": check_real("lr", self.lr, 0.0, low_open=True, allowed="a positive finite step size"),
            "steps": check_int("steps", self.steps, 0, allowed="a non-negative integer"),
            "batch_size": check_int("batch_size", self.batch_size, 1, allowed="a positive integer"),
            "seed": check_int("seed", self.seed, 0, MAX_SEED, allowed=f"an integer from 0 to {MAX_SEED} (larger "
                              "seeds would share random streams with smaller ones)"),
            "tau": check_real("tau", self.tau, 0.0, low_open=True, allowed="a positive finite temperature"),
            "init_std": check_real("init_std", self.init_std, 0.0,
                                   allowed="a finite standard deviation >= 0 (0: start from Q = 0)"),
        }
        if self.population is not None:
            numbers["population"] = check_int("population", self.population, 1, allowed="None or a positive integer")
        for name, value in numbers.items():
            object.__setattr__(self, name, value)

    @property
    def images_per_step(self) -> int:
        """Images in each step's batch: ``population`` if set, else ``batch_size``."""
        return self.population if self.population is not None else self.batch_size

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values: the objective by name, then its own settings."""
        shared = {k: getattr(self, k) for k in ("mask_prob", "lr", "steps", "batch_size", "negatives", "tau",
                                                 "optimizer", "seed", "population", "init_std")}
        if not self.objective.contrastive:
            shared["tau"] = None          # no temperature (negatives are already None)
        return {"objective": self.objective.name, **shared, **self.objective.settings()}


@dataclass(frozen=True)
class Run:
    """One training configuration: data model + training settings."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.data, DataConfig):
            raise TypeError(f"Run(data={self.data!r}) is not allowed: data must be a DataConfig "
                            "(Run(DataConfig(...), TrainConfig(...)), in this order)")
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"Run(train={self.train!r}) is not allowed: train must be a TrainConfig "
                            "(Run(DataConfig(...), TrainConfig(...)), in this order)")

    @property
    def delta(self) -> float:
        return self.data.delta

    def to_dict(self) -> dict:
        return {"data": self.data.to_dict(), "train": self.train.to_dict()}


@dataclass
class Trajectory:
    """What :func:`train` returns.

    ``steps``: the logged steps (0 = initialisation, then every ``log_every`` and the last step).
    ``history``: metric name → ``(T, R)`` float64 tensor (T logged steps, R runs); only the metrics that
    apply are present (``oracle_loss`` for MAE, ``attention_distance`` for the grid layout).
    ``A`` ``(R, P, K, N_max)`` and ``B`` ``(R, P, P)``: final correlations (areas past a run's ``N`` are
    padding and stay 0). ``seconds``: wall time of the training loop.
    """

    runs: tuple[Run, ...]
    steps: list[int]
    history: dict[str, torch.Tensor]
    A: torch.Tensor
    B: torch.Tensor
    layouts: tuple[Layout, ...]
    seconds: float

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def final(self) -> dict[str, torch.Tensor]:
        """Metric name → ``(R,)`` values at the last logged step."""
        return {name: values[-1] for name, values in self.history.items()}

    def correlations(self, r: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Final ``A`` ``(P, K, N)`` (without padding) and ``B`` ``(P, P)`` of run ``r``."""
        n = self.runs[r].data.n_areas
        return self.A[r, :, :, :n], self.B[r]


# ---- the pieces of a step ------------------------------------------------------------------------------------

def step_gradients(A: torch.Tensor, B: torch.Tensor, state: RunBatch, batch: ImageBatch, sl: slice,
                   method: str = "fast") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training step's loss ``(R',)`` and exact gradients ``dA``, ``dB`` for the runs ``sl`` (``A``, ``B``:
    theirs), in three moves: the area masses of every view the objective draws (the engine's forward pass), the
    objective's loss and its gradient with respect to those masses, and the exact gradient back to ``A`` and
    ``B`` (the engine's backward pass). The engine works on the runs' own areas (``n``), not on the padding up to
    the largest run of the call (whose gradient is 0)."""
    n = state.areas(sl)
    area, cluster, scale = state.area[sl], batch.cluster[sl], batch.scale[sl][..., :n]
    visible = [v[sl] for v in batch.views]
    fwds = engine.forward(A[..., :n], B, area, cluster, scale, visible, method)          # correlations → masses
    masses = Masses([f.mass for f in fwds], visible, scale, cluster, engine.key_areas(area, cluster), sl)
    loss, grads = state.objective.loss_and_grad(masses)                                   # masses → loss, dL/dm
    dA, dB = engine.backward(fwds, grads, cluster, scale, state.K)                        # dL/dm → dL/dA, dL/dB
    return loss, torch.nn.functional.pad(dA, (0, A.shape[-1] - n)), dB


def loss_and_grads(A: torch.Tensor, B: torch.Tensor, state: RunBatch, batch: ImageBatch, method: str = "fast"
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The objective's loss per run ``(R,)`` and its exact gradients ``dA``, ``dB`` (:func:`step_gradients`),
    computed in chunks of runs (:data:`~sslvit.core.budget.TRAIN_CHUNK_ELEMENTS`); a single run larger than
    :data:`~sslvit.core.budget.IMAGE_PART_ELEMENTS` is computed in parts of its images when its loss is a mean over
    images (MAE), the parts weighted by their sizes. ``method``: ``"fast"`` (factorised softmax, dense where it
    would lose precision) or ``"dense"`` (the ``P × P`` attention of every image); both give the same gradients."""
    R, images, per_image = A.shape[0], batch.cluster.shape[1], state.N * state.P
    loss = torch.empty(R, dtype=A.dtype, device=A.device)
    dA, dB = torch.empty_like(A), torch.empty_like(B)
    for sl in chunks(R, images * per_image, budget.TRAIN_CHUNK_ELEMENTS, state.n_areas):
        parts = image_parts(sl, images, per_image, budget.IMAGE_PART_ELEMENTS, state.runs[0].train.objective.splits_images)
        if len(parts) == 1:
            loss[sl], dA[sl], dB[sl] = step_gradients(A[sl], B[sl], state, batch, sl, method)
            continue
        for total in (loss[sl], dA[sl], dB[sl]):
            total.zero_()
        for part in parts:
            weight = (part.stop - part.start) / images
            for total, value in zip((loss[sl], dA[sl], dB[sl]),
                                    step_gradients(A[sl], B[sl], state, batch.images(part), sl, method)):
                total.add_(value, alpha=weight)
    state.objective.end_step()
    return loss, dA, dB


def check_finite(what: str, values: Union[torch.Tensor, Sequence[torch.Tensor]], step: int, state: RunBatch) -> None:
    """Raise :class:`TrainingDiverged` naming the runs whose ``values`` (one ``(R, ...)`` tensor, or several, e.g.
    ``(dA, dB)``) are not all finite."""
    parts = [values] if isinstance(values, torch.Tensor) else list(values)
    if all(bool(torch.isfinite(v.sum())) for v in parts):   # a finite sum has no NaN or infinite term (the common case)
        return
    bad = torch.stack([(~torch.isfinite(v.reshape(v.shape[0], -1))).any(-1) for v in parts]).any(0)
    if bool(bad.any()):
        runs = bad.nonzero().flatten().tolist()
        raise TrainingDiverged(what, step, runs, [state.runs[i].train.lr for i in runs],
                               likely_cause([state.runs[i] for i in runs]))


def check_resolvable(A: torch.Tensor, B: torch.Tensor, step: int, state: RunBatch) -> None:
    """Raise :class:`TrainingDiverged` naming the runs whose correlations exceed :data:`SATURATION` (the softmax
    can no longer resolve their scores: the loss would freeze while reporting success)."""
    limit = SATURATION[A.dtype]
    size = torch.maximum(A.abs().flatten(1).amax(1), B.abs().flatten(1).amax(1))   # (R,)
    if not bool(torch.isfinite(size).all()):
        check_finite("a correlation (A or B) after the update", (A, B), step, state)
    if bool((size > limit).any()):
        runs = (size > limit).nonzero().flatten().tolist()
        raise TrainingDiverged(f"the correlations A, B are beyond what the softmax can resolve (largest "
                               f"{float(size.max()):.3g} > {limit:.3g})", step, runs,
                               [state.runs[i].train.lr for i in runs], likely_cause([state.runs[i] for i in runs]))


class GradientDescent:
    """``A ← A − η dA``, ``B ← B − η dB`` with each run's step size ``η`` (chapter 2)."""

    def __init__(self, lr: torch.Tensor) -> None:
        self.lr4, self.lr3 = lr[:, None, None, None], lr[:, None, None]

    def step(self, A: torch.Tensor, B: torch.Tensor, dA: torch.Tensor, dB: torch.Tensor, t: int) -> None:
        A.sub_(self.lr4 * dA)
        B.sub_(self.lr3 * dB)


class Adam(GradientDescent):
    """Adam (Kingma & Ba) with the usual ``β = (0.9, 0.999)``, ``ε = 10⁻⁸`` (chapter 7)."""

    betas, eps = (0.9, 0.999), 1e-8

    def __init__(self, lr: torch.Tensor, A: torch.Tensor, B: torch.Tensor) -> None:
        super().__init__(lr)
        self.moments = [(torch.zeros_like(A), torch.zeros_like(A)), (torch.zeros_like(B), torch.zeros_like(B))]

    def step(self, A: torch.Tensor, B: torch.Tensor, dA: torch.Tensor, dB: torch.Tensor, t: int) -> None:
        b1, b2 = self.betas
        for p, g, (m, v), lr in ((A, dA, self.moments[0], self.lr4), (B, dB, self.moments[1], self.lr3)):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + self.eps))


def initial_correlations(state: RunBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """``A`` ``(R, P, K, N)`` and ``B`` ``(R, P, P)`` at step 0: zero (``Q = 0``), or a seeded random start where a
    run asks for one (``init_std``; areas past a run's ``N`` stay 0)."""
    R, P, K, N = len(state.runs), state.P, state.K, state.N
    A = torch.zeros(R, P, K, N, dtype=state.dtype, device=state.device)
    B = torch.zeros(R, P, P, dtype=state.dtype, device=state.device)
    for r, run in enumerate(state.runs):
        if run.train.init_std > 0:
            g, n = random_stream(run.train.seed, STREAMS["init"]), run.data.n_areas
            A[r, :, :, :n] = run.train.init_std * torch.randn(P, K, n, generator=g, dtype=torch.float64)
            B[r] = run.train.init_std * torch.randn(P, P, generator=g, dtype=torch.float64)
    return A, B


# ---- evaluation and logging ----------------------------------------------------------------------------------

#: the evaluation takes the attention metrics through the factorised softmax up to this many areas, the dense
#: attention above: the key marginal of the NMI costs a matrix product of ``Bt N P²`` multiply-adds there, against
#: ``Bt P²`` exponentials and passes for the dense attention (measured on 2 cores, MAE at ``P = 4096``, 449 areas:
#: 33.6 s per evaluation factorised, 17.8 s dense; at ``P = 1024``, 141 areas: 0.60 s and 0.83 s)
FACTORISED_EVALUATION_AREAS = 200

def evaluate(A: torch.Tensor, B: torch.Tensor, state: RunBatch, batch: ImageBatch, sl: slice = slice(None)
             ) -> dict[str, torch.Tensor]:
    """The metrics of chapter 6 for the runs ``sl`` on ``batch`` (attention metrics on the first view, with the
    factorised softmax, :func:`_attention_per_image`), then the objective's own (``loss``, ...). ``A``, ``B`` are those runs' correlations.

    A single run whose dense attention would exceed :data:`IMAGE_PART_ELEMENTS` is evaluated in parts of its
    images (the per-image values are the same; the objective's metrics are averaged over the parts when its
    loss is a mean over images, else computed once from the assembled area masses)."""
    images = batch.cluster.shape[1]
    runs = slice(0, A.shape[0]) if sl == slice(None) else sl
    A = A[..., :state.areas(runs)]                                  # the runs' own areas, not the padding
    parts = image_parts(runs, images, state.P * state.P, budget.IMAGE_PART_ELEMENTS)
    whole = len(parts) == 1 or not state.runs[0].train.objective.splits_images
    per_image, views, objective = [], [], {}
    with torch.no_grad():
        for part in parts:
            values, view = _attention_per_image(A, B, state, batch.images(part), sl)
            per_image.append(values)
            if whole:
                views.append(view)
            else:   # the objective's metrics are means over images: average the parts', weighted by their sizes
                for k, v in objective_metrics(A, B, state, batch.images(part), sl, view).items():
                    objective[k] = objective.get(k, 0.0) + v * ((part.stop - part.start) / images)
            if len(parts) > 1:
                release_free_memory()
        if whole:
            view = views[0] if len(views) == 1 else engine.ViewMasses(torch.cat([v.mass for v in views], 1),
                                                                      torch.cat([v.key_area for v in views], 1))
            objective = objective_metrics(A, B, state, batch, sl, view)
        per = {k: torch.cat([d[k] for d in per_image], 1) for k in per_image[0]}
        fp_own, fp_glob = fp_correlations(A, state.area[sl])
        out = {"own_area_attention": local_query_mean(per["own"], per["key_area"]),
               "global_area_attention": local_query_mean(per["global"], per["key_area"]),
               "fp_own": fp_own, "fp_global": fp_glob, "nmi": per["nmi"].mean(-1)}
        if "distance" in per:
            out["attention_distance"] = per["distance"].mean(-1)
        out.update(objective)
    return {k: v.detach().to("cpu", torch.float64) for k, v in out.items()}


def objective_metrics(A: torch.Tensor, B: torch.Tensor, state: RunBatch, batch: ImageBatch, sl: slice,
                      first: engine.ViewMasses) -> dict[str, torch.Tensor]:
    """The objective's own metrics (``loss``, ...) for the runs ``sl``: ``first`` holds the masses of the first view
    (from the forward pass the attention metrics were taken from); the other views' masses come from the
    engine's forward pass."""
    area, cluster, scale = state.area[sl], batch.cluster[sl], batch.scale[sl][..., :A.shape[-1]]
    visible = [v[sl] for v in batch.views]
    rest = [f.mass for f in engine.forward(A, B, area, cluster, scale, visible[1:])] if len(visible) > 1 else []
    return state.objective.metrics(Masses([first.mass, *rest], visible, scale, cluster, first.key_area, sl))


def _attention_per_image(A: torch.Tensor, B: torch.Tensor, state: RunBatch, batch: ImageBatch, sl: slice
                         ) -> tuple[dict[str, torch.Tensor], engine.ViewMasses]:
    """The attention of the first view of ``batch``: per-query and per-image metrics, and its masses. Through the
    factorised softmax (no ``P × P`` attention per image), or the dense attention where the factorisation would
    lose precision or cost more (more than :data:`FACTORISED_EVALUATION_AREAS` areas); the two agree to rounding
    (tests)."""
    args = (A, B, state.area[sl], batch.cluster[sl], batch.scale[sl][..., :A.shape[-1]], batch.views[0][sl])
    dist = None if state.coords is None else torch.cdist(state.coords, state.coords).to(A.device, A.dtype)  # (P, P)
    fwd = engine.fast_forward(*args) if A.shape[-1] <= FACTORISED_EVALUATION_AREAS else None
    if fwd is not None:
        parts = engine.fast_attention_parts(fwd, B, dist)
    else:
        fwd = engine.dense_forward(*args)
        parts = engine.dense_attention_parts(fwd.attn, dist)
    own, glob = area_attention_per_query(fwd.mass, fwd.key_area)
    # copies, so that the masses of a part are not kept alive by a view when the images come in parts
    out = {"own": own.clone(), "global": glob.clone(), "key_area": fwd.key_area,
           "nmi": nmi_from_parts(parts.row_xlogx, parts.key_mass)}
    if parts.distance is not None:
        out["distance"] = parts.distance.mean(-1)
    return out, engine.ViewMasses(fwd.mass, fwd.key_area)


class History:
    """The metrics at the logged steps: :meth:`add` one step's values ``{name: (R,)}``, then :meth:`stacked`."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: dict[str, list[torch.Tensor]] = {}

    def add(self, step: int, values: dict[str, torch.Tensor]) -> None:
        for name, v in values.items():
            self.values.setdefault(name, []).append(v)
        self.steps.append(step)

    def stacked(self) -> dict[str, torch.Tensor]:
        return {k: torch.stack(v) for k, v in self.values.items()}


class LoggedSteps:
    """The logged steps of a training of ``steps`` steps: step 0, every ``log_every`` (or the explicit
    ``log_steps``) and the last step. ``t in logged`` and ``len(logged)`` without listing them all."""

    def __init__(self, steps: int, log_every: int, log_steps: Optional[Sequence[int]]) -> None:
        self.steps, self.log_every = steps, check_int("log_every", log_every, 1, allowed="a positive integer")
        self.explicit = None if log_steps is None else {0, steps} | {int(s) for s in log_steps if 0 <= int(s) <= steps}

    def __contains__(self, t: object) -> bool:
        if self.explicit is not None:
            return t in self.explicit
        return isinstance(t, int) and 0 <= t <= self.steps and (t % self.log_every == 0 or t == self.steps)

    def __len__(self) -> int:
        if self.explicit is not None:
            return len(self.explicit)
        return self.steps // self.log_every + 1 + (self.steps % self.log_every != 0)

    def __iter__(self):
        return iter(sorted(self.explicit) if self.explicit is not None else
                    [t for t in range(0, self.steps + 1, self.log_every)] + ([self.steps] if self.steps % self.log_every else []))

    def __eq__(self, other: object) -> bool:
        return set(self) == set(other) if isinstance(other, (set, frozenset, LoggedSteps)) else NotImplemented


def logged_steps(steps: int, log_every: int, log_steps: Optional[Sequence[int]]) -> LoggedSteps:
    """Step 0, every ``log_every`` (or the explicit ``log_steps``) and the last step (:class:`LoggedSteps`)."""
    return LoggedSteps(steps, log_every, log_steps)


class Evaluation:
    """The fixed evaluation batch of every run (its stream 2) and the history of the metrics on it."""

    def __init__(self, state: RunBatch, eval_batch: Optional[int]) -> None:
        size = eval_batch if eval_batch is not None else state.runs[0].train.batch_size
        if not is_integer(size) or size < state.runs[0].train.objective.min_images:
            raise not_allowed("eval_batch", eval_batch, "a positive integer (at least 2 for CL)")
        self.state, self.history = state, History()
        self.batch = state.draw([random_stream(r.train.seed, STREAMS["eval"]) for r in state.runs], size)
        self.chunks = chunks(len(state.runs), size * state.P * state.P, budget.EVAL_CHUNK_ELEMENTS, state.n_areas)

    def log(self, step: int, A: torch.Tensor, B: torch.Tensor) -> None:
        parts = [evaluate(A[sl], B[sl], self.state, self.batch, sl) for sl in self.chunks]
        values = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        check_finite("the evaluation loss", values["loss"], step, self.state)
        self.history.add(step, values)


def watched() -> bool:
    """Whether someone watches this run live: stderr is a terminal, or the code runs in a Jupyter kernel
    (a notebook in JupyterLab, Colab or VS Code, where tqdm draws a widget). The default of every
    ``progress`` argument of the library."""
    if sys.stderr.isatty():
        return True
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def progress_steps(steps: int, desc: str, progress: Optional[bool] = None) -> Any:
    """The steps ``1..steps`` of a training loop, with a tqdm bar named ``desc`` when ``progress`` is true
    (default: when :func:`watched`). The bar goes away when the loop ends."""
    if not (watched() if progress is None else bool(progress)):
        return range(1, steps + 1)
    from tqdm.auto import tqdm

    # at most one redraw a second: every redraw is a widget message, and a notebook executor (nbval) that receives
    # a flood of them can time out waiting for the cell's output
    return tqdm(range(1, steps + 1), desc=desc, leave=False, mininterval=1.0)


def runs_label(runs: Sequence[Run]) -> str:
    """A progress bar's name for a batch of runs: ``"MAE x18 runs"``."""
    return f"{runs[0].train.objective.name.upper()} x{len(runs)} runs" if runs else ""


# ---- the loop ------------------------------------------------------------------------------------------------

def train(runs: Union[Run, Sequence[Run]], *, log_every: int = 10, log_steps: Optional[Sequence[int]] = None,
          eval_batch: Optional[int] = None, dtype: torch.dtype = torch.float64,
          device: Union[str, torch.device] = "cpu", progress: Optional[bool] = None, method: str = "fast") -> Trajectory:
    """Train one run or many runs as one batched computation and record the metrics of chapter 6.

    log_every / log_steps: log at step 0, every ``log_every`` steps (or at the explicit ``log_steps``) and at the
    last step. eval_batch: images in the fixed evaluation batch (default ``batch_size``). dtype: ``torch.float64``
    for results that are compared, ``torch.float32`` for speed. progress: a tqdm bar (default: when someone
    watches, :func:`watched`: a terminal or a notebook). method: ``"fast"`` (the factorised softmax) or ``"dense"`` (the ``P × P`` attention of every
    image; the same gradients, for checking: :func:`loss_and_grads`). device: where the tensors live
    (``"cpu"``, ``"cuda"``, ...; the metrics come back on the CPU). Raises :class:`TrainingDiverged`, and
    :class:`~sslvit.core.budget.TooLarge` before allocating when the call cannot fit in the free memory.
    """
    if method not in ("fast", "dense"):
        raise not_allowed("method", method, "'fast' or 'dense'")
    runs = check_runs([runs] if isinstance(runs, Run) else list(runs))
    dtype, device = check_dtype(dtype), check_device(device)
    if progress is not None:
        progress = check_flag("progress", progress)
    cfg = runs[0].train
    logged = logged_steps(int(cfg.steps), log_every, log_steps)
    if eval_batch is not None:
        eval_batch = check_int("eval_batch", eval_batch, cfg.objective.min_images,
                               allowed=f"a positive integer (at least {cfg.objective.min_images} for {cfg.objective.name!r})")
    budget.check_fits(runs, dtype, eval_batch, device, logged=len(logged))   # before anything is allocated
    keep_large_allocations()
    state = RunBatch(runs, dtype, device)
    evaluation = Evaluation(state, eval_batch)
    A, B = initial_correlations(state)
    check_resolvable(A, B, 0, state)
    optimizer = Adam(state.lr, A, B) if cfg.optimizer == "adam" else GradientDescent(state.lr)
    population = state.draw(state.train_streams, state.images, state.view_streams) if cfg.population else None
    start = time.perf_counter()
    evaluation.log(0, A, B)
    t = 0
    try:
        for t in (bar := progress_steps(int(cfg.steps), runs_label(state.runs), progress)):
            batch = population or state.draw(state.train_streams, state.images, state.view_streams)
            loss, dA, dB = loss_and_grads(A, B, state, batch, method)
            check_finite("the training loss", loss, t, state)
            check_finite("a gradient", (dA, dB), t, state)
            optimizer.step(A, B, dA, dB, t)
            check_resolvable(A, B, t, state)
            if t in logged:
                evaluation.log(t, A, B)
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{float(evaluation.history.values['loss'][-1].mean()):.4g}", refresh=False)
    except KeyboardInterrupt:
        history = evaluation.history
        raise TrainingInterrupted(Trajectory(runs=state.runs, steps=history.steps, history=history.stacked(),
                                             A=A.detach().cpu(), B=B.detach().cpu(), layouts=state.layouts,
                                             seconds=time.perf_counter() - start), t) from None
    history = evaluation.history
    return Trajectory(runs=state.runs, steps=history.steps, history=history.stacked(), A=A.detach().cpu(),
                      B=B.detach().cpu(), layouts=state.layouts, seconds=time.perf_counter() - start)
