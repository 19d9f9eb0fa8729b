"""Training: gradient descent (or Adam) on the attention correlations, many runs at once (SPEC §3, §4).

A :class:`Run` is one configuration: a :class:`~sslvit.core.data.DataConfig` and a :class:`TrainConfig`.
:func:`train` trains a list of runs as **one batched computation** (every tensor has a leading run axis)
and returns a :class:`Trajectory`: the SPEC §4 metrics at every logged step and the final ``A``, ``B``.

Runs in one call must share what fixes the tensor shapes and the loop: ``patches``, ``clusters``,
``layout`` (and grid shape), ``objective``, ``steps``, ``batch_size``, ``optimizer``, ``tau`` and
``population``. They may differ in area sizes, scale range, masking probability, step size, number of
negatives, memory-queue length, mixing weight (``objective="mix"``, chapter 12) and seed. Each run draws its layout, its training batches and its evaluation
batch from its own random streams, so a run gives the same result alone or inside a batch.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Sequence, Union

import torch

from sslvit.core import engine
from sslvit.core.perf import keep_large_allocations
from sslvit.core.data import DataConfig, Layout, check_mask_prob, draw_images, draw_mask, make_layout
from sslvit.core.metrics import area_attention, attention_distance, fp_correlations, nmi
from sslvit.core.objectives import check_negatives, cl_loss, mae_loss, mae_loss_and_grad, negatives_mask, oracle_mass
from sslvit.beyond.memory import RepresentationQueue, check_queue_length, cl_loss_with_queue, representation
from sslvit.beyond.mix import MIX_SCALE, combine, validate_mix
from sslvit.core.validation import not_allowed

__all__ = ["TrainConfig", "Run", "Trajectory", "TrainingDiverged", "train", "evaluate", "DEFAULTS"]

OBJECTIVES = ("mae", "cl", "mix")
OPTIMIZERS = ("gd", "adam")
#: SPEC §3 defaults per objective (sensible for P = 256)
DEFAULTS = {
    "mae": {"mask_prob": 0.5, "lr": 1e3, "steps": 300},
    "cl": {"mask_prob": 0.3, "lr": 2e4, "steps": 500},
    "mix": {"mask_prob": 0.5, "lr": 1e3, "steps": 300},  # chapter 12: lambda*MAE + (1-lambda)*c*CL, sslvit.beyond.mix
}
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: runs per engine call are chosen so that one (runs, images, areas, positions) tensor has at most this many
#: elements: small enough to stay in cache, large enough to amortise the per-call overhead
TRAIN_CHUNK_ELEMENTS = 2_000_000
#: the same for the dense (runs, images, positions, positions) attention of the evaluation
EVAL_CHUNK_ELEMENTS = 8_000_000
SHARED_DATA = ("patches", "clusters", "layout", "grid_shape")
SHARED_TRAIN = ("objective", "steps", "batch_size", "optimizer", "tau", "population")


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN or infinite."""



@dataclass(frozen=True)
class TrainConfig:
    """How to train (SPEC §3). ``None`` fields take the objective's default from :data:`DEFAULTS`.

    objective: ``"mae"``, ``"cl"`` or ``"mix"`` (chapter 12). mask_prob: ``γ``. lr: step size. steps: number of updates.
    batch_size: images per step (fresh every step). negatives: CL negatives per anchor, ``0..batch_size−1``
    (default ``batch_size − 1``). tau: CL temperature. optimizer: ``"gd"`` (plain gradient descent) or
    ``"adam"``. seed: the run's seed. population: if set, one fixed sample of this many images is drawn once
    and used at every step (population gradient descent) instead of fresh batches.
    queue: CL only (book chapter 11, beyond the paper): length of a MoCo-style FIFO memory queue of past
    second-view representations (detached) used as extra negatives (:mod:`sslvit.beyond.memory`); 0 = none.
    mix, mix_scale, cl_mask_prob: ``objective="mix"`` only (book chapter 12, beyond the paper, :mod:`sslvit.beyond.mix`):
    the loss ``mix·MAE + (1 − mix)·mix_scale·CL``, MAE on one view masked with ``mask_prob``, CL on two more
    views masked with ``cl_mask_prob`` (default 0.3); ``mix`` (λ, default 0.5) may differ between runs of a call.
    init_std: standard deviation of a random initialisation ``A, B ~ init_std · N(0, 1)`` drawn from the run's own
    random stream (0, the paper's setting: ``Q = 0``). A small ``init_std`` breaks the exact symmetries of
    ``Q = 0`` by a known, seeded amount instead of by rounding errors (chapter 9).
    """

    objective: str = "mae"
    mask_prob: Optional[float] = None
    lr: Optional[float] = None
    steps: Optional[int] = None
    batch_size: int = 32
    negatives: Optional[int] = None
    tau: float = 1.0
    optimizer: str = "gd"
    seed: int = 0
    population: Optional[int] = None
    queue: int = 0
    mix: Optional[float] = None
    mix_scale: float = MIX_SCALE
    cl_mask_prob: Optional[float] = None
    init_std: float = 0.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise not_allowed("objective", self.objective, f"one of {OBJECTIVES}")
        if self.optimizer not in OPTIMIZERS:
            raise not_allowed("optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        for name, value in DEFAULTS[self.objective].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        check_mask_prob(self.mask_prob)  # type: ignore[arg-type]
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise not_allowed("lr", self.lr, "a positive finite step size")
        for name in ("steps", "batch_size", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise not_allowed(name, value, "an integer")
        if self.steps < 0:  # type: ignore[operator]
            raise not_allowed("steps", self.steps, "a non-negative integer")
        if self.batch_size < 1 or (self.objective == "cl" and self.batch_size < 2):
            raise not_allowed("batch_size", self.batch_size, "at least 1 (at least 2 for CL)")
        if self.population is not None and (isinstance(self.population, bool) or not isinstance(self.population, int)
                                            or self.population < (2 if self.objective == "cl" else 1)):
            raise not_allowed("population", self.population, "None or a positive integer (at least 2 for CL)")
        if self.negatives is None:
            object.__setattr__(self, "negatives", self.images_per_step - 1)
        check_negatives(self.negatives, self.images_per_step)  # type: ignore[arg-type]
        if not (isinstance(self.tau, (int, float)) and math.isfinite(self.tau) and self.tau > 0):
            raise not_allowed("tau", self.tau, "a positive temperature")
        check_queue_length(self.queue)
        if isinstance(self.init_std, bool) or not isinstance(self.init_std, (int, float)) \
                or not math.isfinite(self.init_std) or self.init_std < 0:
            raise not_allowed("init_std", self.init_std, "a finite standard deviation >= 0 (0: start from Q = 0)")
        validate_mix(self)  # chapter 12: the fields of objective="mix"
        if self.queue and self.objective != "cl":
            raise not_allowed("queue", self.queue, "a memory queue of negatives needs objective='cl' (use 0)")

    @property
    def images_per_step(self) -> int:
        """Images in each step's batch: ``population`` if set, else ``batch_size``."""
        return self.population if self.population is not None else self.batch_size


@dataclass(frozen=True)
class Run:
    """One training configuration: data model + training settings."""

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def delta(self) -> float:
        return self.data.delta

    def to_dict(self) -> dict:
        return {"data": self.data.to_dict(), "train": asdict(self.train)}


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

    def summary(self, r: int = 0) -> dict:
        """The JSON contract of the command line for run ``r``: ``delta``, ``config``, ``final``, ``history``.

        Metrics that do not apply to the run are ``None``.
        """
        from sslvit.core.metrics import METRICS

        def row(t: int) -> dict:
            return {name: (float(self.history[name][t, r]) if name in self.history else None) for name in METRICS}

        history = [{"step": s, **row(t)} for t, s in enumerate(self.steps)]
        return {
            "delta": self.runs[r].delta,
            "config": self.runs[r].to_dict(),
            "final": row(len(self.steps) - 1),
            "history": history,
            "seconds": self.seconds,
        }


# ---- the batched state of many runs --------------------------------------------------------------------------

def _stream(seed: int, stream: int) -> torch.Generator:
    """Independent random stream ``stream`` (0 layout, 1 training, 2 evaluation, 3 CL views of ``"mix"``,
    4 initialisation) of a run's seed."""
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + stream) % (2**63))
    return g


@dataclass
class _Batch:
    cluster: torch.Tensor          # (R, Bt)
    scale: torch.Tensor            # (R, Bt, N_max)
    visible: torch.Tensor          # (R, Bt, P) bool
    visible2: Optional[torch.Tensor] = None  # (R, Bt, P) bool, second CL view
    visible3: Optional[torch.Tensor] = None  # (R, Bt, P) bool, objective "mix": second CL view (visible2 the first)


class _Runs:
    """Layouts, random streams and per-run hyper-parameters of a list of runs, as batched tensors."""

    def __init__(self, runs: Sequence[Run], dtype: torch.dtype, device: Union[str, torch.device]) -> None:
        if len(runs) == 0:
            raise ValueError("runs is empty: give at least one Run")
        for r in runs:
            if not isinstance(r, Run):
                raise TypeError(f"expected sslvit.Run objects, got {type(r).__name__}")
        first = runs[0]
        for i, r in enumerate(runs):
            for name in SHARED_DATA:
                if getattr(r.data, name) != getattr(first.data, name):
                    raise ValueError(f"runs[{i}].data.{name}={getattr(r.data, name)!r} differs from runs[0] "
                                     f"({getattr(first.data, name)!r}); runs trained together must share {SHARED_DATA}")
            for name in SHARED_TRAIN:
                if getattr(r.train, name) != getattr(first.train, name):
                    raise ValueError(f"runs[{i}].train.{name}={getattr(r.train, name)!r} differs from runs[0] "
                                     f"({getattr(first.train, name)!r}); runs trained together must share {SHARED_TRAIN}")
        self.runs = tuple(runs)
        self.dtype, self.device = dtype, torch.device(device)
        self.P, self.K = first.data.patches, first.data.clusters
        self.N = max(r.data.n_areas for r in runs)
        self.objective = first.train.objective
        self.images = first.train.images_per_step
        self.layouts = tuple(make_layout(r.data, _stream(r.train.seed, 0)) for r in runs)
        self.area = torch.stack([lay.area for lay in self.layouts]).to(self.device)        # (R, K, P)
        self.coords = self.layouts[0].coords
        self.lr = torch.tensor([r.train.lr for r in runs], dtype=dtype, device=self.device)  # (R,)
        negatives = torch.tensor([r.train.negatives for r in runs])
        self.allowed = negatives_mask(negatives, self.images).to(self.device)            # (R, Bt, Bt)
        self.train_streams = [_stream(r.train.seed, 1) for r in runs]
        # chapter 12 (objective "mix"): weight of the MAE term, factor of the CL term, stream of the CL views
        self.mix = torch.tensor([r.train.mix if r.train.mix is not None else 1.0 for r in runs], dtype=dtype, device=self.device)
        self.mix_scale = torch.tensor([float(r.train.mix_scale) for r in runs], dtype=dtype, device=self.device)
        self.cl_streams = [_stream(r.train.seed, 3) for r in runs] if self.objective == "mix" else None
        queues = [getattr(r.train, "queue", 0) for r in runs]
        self.queue = (RepresentationQueue(queues, self.N, self.images, dtype, self.device)
                      if self.objective == "cl" and any(queues) else None)  # chapter 11: MoCo-style negatives

    def draw(self, streams: Sequence[torch.Generator], batch: int,
             cl_streams: Optional[Sequence[torch.Generator]] = None) -> _Batch:
        """One batch per run from each run's own stream. For ``objective="mix"`` the two CL views (``visible2``,
        ``visible3``) come from ``cl_streams`` (default: ``streams``, after the MAE view)."""
        clusters, scales, vis, vis2, vis3 = [], [], [], [], []
        for run, g in zip(self.runs, streams):
            cluster, scale = draw_images(run.data, batch, g, self.dtype)
            clusters.append(cluster)
            scales.append(torch.nn.functional.pad(scale, (0, self.N - scale.shape[1])))
            vis.append(draw_mask(self.P, batch, run.train.mask_prob, g))  # type: ignore[arg-type]
            if self.objective == "cl":
                vis2.append(draw_mask(self.P, batch, run.train.mask_prob, g))  # type: ignore[arg-type]
            elif self.objective == "mix":  # chapter 12: the two CL views, masked with cl_mask_prob
                g_cl = g if cl_streams is None else cl_streams[len(vis3)]
                vis2.append(draw_mask(self.P, batch, run.train.cl_mask_prob, g_cl))  # type: ignore[arg-type]
                vis3.append(draw_mask(self.P, batch, run.train.cl_mask_prob, g_cl))  # type: ignore[arg-type]
        to = lambda xs: torch.stack(xs).to(self.device)  # noqa: E731
        return _Batch(to(clusters), to(scales), to(vis), to(vis2) if vis2 else None, to(vis3) if vis3 else None)


def _chunks(n_runs: int, per_run: int, budget: int) -> list[slice]:
    """Split the run axis into slices of at most ``budget`` elements of ``per_run`` each (at least one run)."""
    size = max(1, budget // max(per_run, 1))
    return [slice(i, min(i + size, n_runs)) for i in range(0, n_runs, size)]


def _loss_and_grads(A: torch.Tensor, B: torch.Tensor, runs: _Runs, batch: _Batch, tau: float, method: str,
                    sl: slice = slice(None), objective: Optional[str] = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Objective per run and its exact gradients with respect to ``A`` and ``B``, for the runs ``sl``.

    ``A``, ``B`` are the correlations of the runs in ``sl``. ``method="fast"`` uses the factorised softmax
    and falls back to the dense attention for a step where the factorisation would lose precision;
    ``method="dense"`` always builds the ``P × P`` attention. ``objective``: default ``runs.objective``.
    """
    objective = runs.objective if objective is None else objective
    if objective == "mix":  # chapter 12: λ·MAE(view 1) + (1 − λ)·c·CL(views 2, 3), combined after both passes
        mae = _loss_and_grads(A, B, runs, replace(batch, visible2=None, visible3=None), tau, method, sl, "mae")
        cl = _loss_and_grads(A, B, runs, replace(batch, visible=batch.visible2, visible2=batch.visible3,
                                                 visible3=None), tau, method, sl, "cl")
        return combine(runs.mix[sl], runs.mix_scale[sl], mae, cl)  # type: ignore[return-value]
    area, cluster, scale = runs.area[sl], batch.cluster[sl], batch.scale[sl]
    views = [batch.visible[sl]] + ([batch.visible2[sl]] if batch.visible2 is not None else [])
    fwds = None
    if method == "fast":
        fwds = [engine.fast_forward(A, B, area, cluster, scale, v) for v in views]
        if any(f is None for f in fwds):
            fwds = None
    if fwds is None:
        fwds = [engine.dense_forward(A, B, area, cluster, scale, v) for v in views]
    if objective == "mae":
        loss, grad = mae_loss_and_grad(fwds[0].mass, scale, views[0], engine.key_areas(area, cluster))
        grads = [grad]
    else:
        masses = [f.mass.detach().requires_grad_(True) for f in fwds]
        if runs.queue is None:
            loss = cl_loss(masses[0], masses[1], scale, cluster, runs.allowed[sl], tau)
        else:  # chapter 11: past second views as extra negatives, then this batch's second views enter the queue
            loss = cl_loss_with_queue(masses[0], masses[1], scale, cluster, runs.allowed[sl], tau, *runs.queue.view(sl))
            runs.queue.stage(sl, representation(masses[1].detach(), scale), cluster)
        grads = list(torch.autograd.grad(loss.sum(), masses))
        loss = loss.detach()
    dA, dB = None, None
    for f, g in zip(fwds, grads):
        if isinstance(f, engine.FastForward):
            ga, gb = engine.fast_backward(f, g, cluster, scale, runs.K)
        else:
            ga, gb = engine.dense_backward(f, g, cluster, runs.K)
        dA, dB = (ga, gb) if dA is None else (dA + ga, dB + gb)
    return loss, dA, dB  # type: ignore[return-value]


def evaluate(A: torch.Tensor, B: torch.Tensor, runs: _Runs, batch: _Batch, tau: float,
             sl: slice = slice(None), objective: Optional[str] = None) -> dict[str, torch.Tensor]:
    """SPEC §4 metrics of the runs ``sl`` on ``batch`` (attention metrics on the first view), with the dense
    attention. ``A``, ``B`` are the correlations of those runs. ``objective``: default ``runs.objective``;
    for ``"mix"`` (chapter 12) ``loss`` is the mixed loss and ``mae_loss``, ``cl_loss`` are its two parts."""
    objective = runs.objective if objective is None else objective
    if objective == "mix":
        out = evaluate(A, B, runs, replace(batch, visible2=None, visible3=None), tau, sl, "mae")
        del out["oracle_loss"]  # the SPEC oracle is a reference for the MAE loss, not for the mixture
        with torch.no_grad():
            area, cluster, scale = runs.area[sl], batch.cluster[sl], batch.scale[sl]
            m2, m3 = ((engine.fast_forward(A, B, area, cluster, scale, v[sl])
                       or engine.dense_forward(A, B, area, cluster, scale, v[sl])).mass
                      for v in (batch.visible2, batch.visible3))
            out["cl_loss"] = cl_loss(m2, m3, scale, cluster, runs.allowed[sl], tau).to("cpu", torch.float64)
        out["mae_loss"] = out["loss"]
        out["loss"], = combine(runs.mix[sl].cpu().double(), runs.mix_scale[sl].cpu().double(),
                               [out["mae_loss"]], [out["cl_loss"]])
        return out
    area, cluster, scale, vis = runs.area[sl], batch.cluster[sl], batch.scale[sl], batch.visible[sl]
    with torch.no_grad():
        fwd = engine.dense_forward(A, B, area, cluster, scale, vis)
        own, glob = area_attention(fwd.mass, fwd.key_area)
        fp_own, fp_glob = fp_correlations(A, area)
        out = {"own_area_attention": own, "global_area_attention": glob, "fp_own": fp_own, "fp_global": fp_glob,
               "nmi": nmi(fwd.attn)}
        if runs.coords is not None:
            out["attention_distance"] = attention_distance(fwd.attn, runs.coords.to(A.device))
        if objective == "mae":
            out["loss"] = mae_loss(fwd.mass, scale, vis, fwd.key_area)
            oracle = oracle_mass(vis, fwd.key_area, runs.N).to(A.dtype)
            out["oracle_loss"] = mae_loss(oracle, scale, vis, fwd.key_area)
        else:
            mass1 = fwd.mass
            del fwd  # the second view needs only its area masses
            vis2 = batch.visible2[sl]
            fwd2 = engine.fast_forward(A, B, area, cluster, scale, vis2) or engine.dense_forward(A, B, area, cluster, scale, vis2)
            out["loss"] = cl_loss(mass1, fwd2.mass, scale, cluster, runs.allowed[sl], tau)
    return {k: v.detach().to("cpu", torch.float64) for k, v in out.items()}


def _diverged(what: str, values: torch.Tensor, step: int, runs: _Runs) -> TrainingDiverged:
    bad = (~torch.isfinite(values.reshape(values.shape[0], -1))).any(-1).nonzero().flatten().tolist()
    lrs = sorted({runs.runs[i].train.lr for i in bad})
    return TrainingDiverged(
        f"{what} is NaN or infinite at step {step} in run(s) {bad} (lr={lrs}); "
        "try a smaller step size (lr / --lr)"
    )


def train(
    runs: Union[Run, Sequence[Run]],
    *,
    log_every: int = 10,
    log_steps: Optional[Sequence[int]] = None,
    eval_batch: Optional[int] = None,
    dtype: torch.dtype = torch.float64,
    device: Union[str, torch.device] = "cpu",
    progress: Optional[bool] = None,
    method: str = "fast",
) -> Trajectory:
    """Train one run or many runs as one batched computation (SPEC §3) and record the SPEC §4 metrics.

    log_every: log the metrics at step 0, every ``log_every`` steps and at the last step.
    log_steps: explicit steps to log instead (e.g. geometric, for log-step plots); 0 and the last step are
    always added. eval_batch: images in the fixed evaluation batch (default ``batch_size``), drawn once per
    run from its own evaluation stream with the run's masking law. dtype: ``torch.float64`` for comparisons,
    ``torch.float32`` for speed. progress: show a tqdm bar (default: only when stderr is a terminal).
    method: ``"fast"`` (factorised softmax, :func:`sslvit.core.engine.fast_forward`) or ``"dense"`` (the
    ``P × P`` attention of every image); both compute the same gradients.

    Raises :class:`TrainingDiverged` (with the step and a hint) if a loss or gradient stops being finite.
    """
    if isinstance(runs, Run):
        runs = [runs]
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise not_allowed("log_every", log_every, "a positive integer")
    keep_large_allocations()
    if method not in ("fast", "dense"):
        raise not_allowed("method", method, "'fast' or 'dense'")
    state = _Runs(list(runs), dtype, device)
    cfg = state.runs[0].train
    steps, tau = int(cfg.steps), float(cfg.tau)  # type: ignore[arg-type]
    if log_steps is None:
        logged = set(range(0, steps + 1, log_every))
    else:
        logged = {int(s) for s in log_steps if 0 <= int(s) <= steps}
    logged |= {0, steps}
    eval_size = eval_batch if eval_batch is not None else cfg.batch_size
    if isinstance(eval_size, bool) or not isinstance(eval_size, int) or eval_size < (2 if state.objective in ("cl", "mix") else 1):
        raise not_allowed("eval_batch", eval_batch, "a positive integer (at least 2 for CL)")
    if eval_size != state.images and state.objective in ("cl", "mix"):
        eval_allowed = negatives_mask(torch.tensor([min(r.train.negatives, eval_size - 1) for r in state.runs]),  # type: ignore[type-var]
                                      eval_size).to(state.device)
    else:
        eval_allowed = state.allowed
    eval_batch_data = state.draw([_stream(r.train.seed, 2) for r in state.runs], eval_size)

    R = len(state.runs)
    train_chunks = _chunks(R, state.images * state.N * state.P, TRAIN_CHUNK_ELEMENTS)
    eval_chunks = _chunks(R, eval_size * state.P * state.P, EVAL_CHUNK_ELEMENTS)
    A = torch.zeros(R, state.P, state.K, state.N, dtype=dtype, device=state.device)
    B = torch.zeros(R, state.P, state.P, dtype=dtype, device=state.device)
    for r, run in enumerate(state.runs):  # a random start, where asked for (TrainConfig.init_std)
        if run.train.init_std > 0:
            g, n = _stream(run.train.seed, 4), run.data.n_areas
            A[r, :, :, :n] = run.train.init_std * torch.randn(state.P, state.K, n, generator=g, dtype=torch.float64)
            B[r] = run.train.init_std * torch.randn(state.P, state.P, generator=g, dtype=torch.float64)
    adam = cfg.optimizer == "adam"
    if adam:
        mA, vA, mB, vB = (torch.zeros_like(A), torch.zeros_like(A), torch.zeros_like(B), torch.zeros_like(B))
    lr4, lr3 = state.lr[:, None, None, None], state.lr[:, None, None]
    population = state.draw(state.train_streams, state.images, state.cl_streams) if cfg.population is not None else None

    history: dict[str, list[torch.Tensor]] = {}
    logged_steps: list[int] = []

    def log(step: int) -> None:
        saved, state.allowed = state.allowed, eval_allowed
        try:
            parts = [evaluate(A[sl], B[sl], state, eval_batch_data, tau, sl) for sl in eval_chunks]
        finally:
            state.allowed = saved
        values = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        if not torch.isfinite(values["loss"]).all():
            raise _diverged("the evaluation loss", values["loss"], step, state)
        for name, v in values.items():
            history.setdefault(name, []).append(v)
        logged_steps.append(step)

    show = sys.stderr.isatty() if progress is None else bool(progress)
    start = time.perf_counter()
    log(0)
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(range(1, steps + 1), desc=f"{state.objective.upper()} x{R} runs", leave=False)
    else:
        bar = range(1, steps + 1)
    for t in bar:
        batch = population if population is not None else state.draw(state.train_streams, state.images, state.cl_streams)
        loss = torch.empty(R, dtype=dtype, device=state.device)
        dA, dB = torch.empty_like(A), torch.empty_like(B)
        for sl in train_chunks:
            loss[sl], dA[sl], dB[sl] = _loss_and_grads(A[sl], B[sl], state, batch, tau, method, sl)
        if state.queue is not None:
            state.queue.commit()
        if not torch.isfinite(loss).all():
            raise _diverged("the training loss", loss, t, state)
        if not (torch.isfinite(dA).all() and torch.isfinite(dB).all()):
            raise _diverged("a gradient", torch.cat([dA.reshape(R, -1), dB.reshape(R, -1)], 1), t, state)
        if adam:
            b1, b2 = ADAM_BETAS
            for p, g, m, v, lr in ((A, dA, mA, vA, lr4), (B, dB, mB, vB, lr3)):
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + ADAM_EPS))
        else:
            A.sub_(lr4 * dA)
            B.sub_(lr3 * dB)
        if t in logged:
            log(t)
            if show:
                bar.set_postfix(loss=f"{float(history['loss'][-1].mean()):.4g}")
    seconds = time.perf_counter() - start
    return Trajectory(
        runs=state.runs,
        steps=logged_steps,
        history={k: torch.stack(v) for k, v in history.items()},
        A=A.detach().cpu(),
        B=B.detach().cpu(),
        layouts=state.layouts,
        seconds=seconds,
    )
