"""How long Phase I lasts, and how that length grows with the number of patches ``P`` (book chapter 4).

Chapter 3's rates at ``Q = 0`` give, for a masked local query, a decoupling rate ``r_dec,0`` of its global FP
correlation and a growth rate ``r_grow,0`` of its own one, with ``ρ = r_dec,0 / r_grow,0 ∝ P^Δ``. A one-line model of Phase I
predicts its length: while the global FP correlation ``a`` falls, the query's attention mass on the global area
falls as ``e^{z a}``, and the decoupling rate, quadratic in that mass, as ``e^{2 z a}``; Phase I ends when it
has fallen to the growth rate, ``r_dec,0 e^{2 z a} = r_grow,0``. Integrating ``da/dt = −r_dec,0 e^{2 z a}`` from ``a = 0``,

    ``T_I ≈ (r − 1) / (2 z̄ r_dec,0)``   steps, i.e.   ``r_dec,0 T_I ≈ (r − 1) / (2 z̄)``:

measured on the clock of the decoupling itself (``1 / r_dec,0`` steps), Phase I lasts ``∝ r − 1 ≈ P^Δ`` for large
``P``, and it does not exist when ``r < 1`` (``Δ < 0``). ``z̄`` is an effective feature scale, not predicted: the
book fits the one constant and tests the ``P`` dependence.

:func:`phase_one_length` measures ``T_I`` by gradient descent with the library's engine: it records the two FP
correlations at every step (cheap: means of ``A``), locates the boundary with
:func:`sslvit.analysis.phases.locate_phases` on a geometric grid of steps, and stops as soon as Phase II is
confirmed. :func:`step_size_for` sets the step size of each ``P`` so that the faster initial rate moves the
same distance per step at every ``P``.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Optional, Union

import torch

from sslvit.analysis.phases import locate_phases
from sslvit.analysis.theory import init_rates, log_log_fit
from sslvit.core.data import DataConfig
from sslvit.core.metrics import fp_correlations
from sslvit.core.runs import RunBatch
from sslvit.core.training import GradientDescent, Run, TrainConfig, check_finite, initial_correlations, loss_and_grads
from sslvit.core.validation import check_device, check_int, not_allowed

__all__ = ["PhaseLength", "LengthLaw", "geometric_grid", "step_size_for", "phase_one_length", "log_slope", "length_law"]


@dataclass(frozen=True)
class PhaseLength:
    """Phase I of one MAE run (module docstring).

    ``patches``, ``global_size``, ``local_size``, ``delta`` (of the integer sizes), ``seed``, ``lr``;
    ``ratio``: chapter 3's exact ``ρ = r_dec,0/r_grow,0``; ``decouple``, ``grow``: the exact initial rates in logits
    per step (chapter 3's rates of one query times ``η / (K P)``, :func:`step_size_for`). ``boundary``: the phase boundary (first step of
    Phase II; 0 when there is no Phase I; ``None`` when Phase I had not ended after ``steps`` steps).
    ``steps``: steps trained. ``first_ratio``: the measured ratio of the first step's rates.
    """

    patches: int
    global_size: int
    local_size: int
    delta: float
    seed: int
    lr: float
    ratio: float
    decouple: float
    grow: float
    boundary: Optional[int]
    steps: int
    first_ratio: float

    @property
    def decoupling_time(self) -> Optional[float]:
        """``r_dec,0 T_I``: Phase I's length on the clock of the initial decoupling (``None`` if it never ended)."""
        return None if self.boundary is None else self.decouple * self.boundary

    def to_dict(self) -> dict:
        return asdict(self)


def geometric_grid(last: int, ratio: float = 1.05) -> list[int]:
    """Steps ``0, 1, 2, …`` up to ``last`` spaced geometrically by ``ratio`` once that exceeds one step."""
    last = check_int("last", last, 1, allowed="a positive integer")
    if not ratio > 1:
        raise not_allowed("ratio", ratio, "a number > 1")
    grid, s = [0, 1], 1.0
    while grid[-1] < last:
        s = max(s * ratio, grid[-1] + 1)
        grid.append(min(int(round(s)), last))
    return grid


def step_size_for(data: DataConfig, mask_prob: float = 0.5, per_step: float = 0.02) -> float:
    """The step size ``η`` at which the faster of the two initial rates (chapter 3) moves the mean FP
    correlation by ``per_step`` logits per step: ``η = per_step · K P / max(r_dec,0, r_grow,0)``, with chapter 3's rates
    of one query per unit step size (the MAE loss averages over the masked queries, and ``A[p, k, ·]`` only
    receives the gradient of the images of cluster ``k``, hence the factor ``K P``)."""
    if not per_step > 0:
        raise not_allowed("per_step", per_step, "a positive number")
    return per_step * _per_query(data) / max(_rates(data, mask_prob))


def _per_query(data: DataConfig) -> float:
    """The factor between chapter 3's rates of one query and the per-step change of the mean FP correlation."""
    return float(data.clusters * data.patches)


def _rates(data: DataConfig, mask_prob: float) -> tuple[float, float]:
    rates = init_rates(data.patches, data.global_size, data.local_size, mask_prob)
    return rates.decouple, rates.grow


def phase_one_length(data: DataConfig, seed: int = 0, *, mask_prob: float = 0.5, per_step: float = 0.02,
                     max_steps: int = 400, patience: int = 2, grid_ratio: float = 1.05, batch_size: int = 32,
                     dtype: torch.dtype = torch.float64, device: Union[str, torch.device] = "cpu") -> PhaseLength:
    """Train MAE by gradient descent from ``Q = 0`` until Phase II is confirmed and return Phase I's length.

    ``data``: the data model (any layout); ``seed``: the run's seed (layout, batches). The step size is
    :func:`step_size_for` ``(data, mask_prob, per_step)``. Every step draws a fresh batch of ``batch_size``
    images; the FP correlations ``fp_own``, ``fp_global`` (chapter 6) are recorded at every step and the phases
    located on :func:`geometric_grid` ``(…, grid_ratio)`` with ``patience`` (chapter 4's definition). Training
    stops once ``patience`` own-led intervals follow the boundary, or after ``max_steps``.
    """
    max_steps = check_int("max_steps", max_steps, 2, allowed="an integer >= 2")
    lr = step_size_for(data, mask_prob, per_step)
    run = Run(data, TrainConfig(objective="mae", mask_prob=mask_prob, lr=lr, steps=max_steps, seed=seed,
                                batch_size=batch_size))
    state = RunBatch([run], dtype, check_device(device))
    A, B = initial_correlations(state)
    optimizer = GradientDescent(state.lr)
    grid = geometric_grid(max_steps, grid_ratio)
    own, glob = [], []
    boundary: Optional[int] = None                       # set once Phase II is confirmed
    for t in range(max_steps + 1):
        if t > 0:
            loss, dA, dB = loss_and_grads(A, B, state, state.draw(state.train_streams, state.images), "fast")
            check_finite("the training loss", loss, t, state)
            optimizer.step(A, B, dA, dB, t)
        o, g = fp_correlations(A, state.area)
        own.append(float(o[0]))
        glob.append(float(g[0]))
        if t in grid and t >= 2:
            steps = [s for s in grid if s <= t]
            found = locate_phases(steps, [own[s] for s in steps], [glob[s] for s in steps], patience).boundary
            if found is not None and _confirmed(steps, found, patience):   # not an own-led stretch cut short
                boundary = found
                break
    decouple, grow = (lr * rate / _per_query(data) for rate in _rates(data, mask_prob))
    return PhaseLength(patches=data.patches, global_size=data.global_size, local_size=data.local_size,
                       delta=data.delta, seed=seed, lr=lr, ratio=decouple / grow, decouple=decouple, grow=grow,
                       boundary=boundary, steps=t,
                       first_ratio=(glob[0] - glob[1]) / (own[1] - own[0]) if own[1] != own[0] else math.inf)


def _confirmed(steps: list[int], boundary: int, patience: int) -> bool:
    """Whether ``patience`` intervals of ``steps`` start at or after ``boundary`` (Phase II confirmed)."""
    return sum(1 for s in steps[:-1] if s >= boundary) >= patience


@dataclass(frozen=True)
class LengthLaw:
    """The ``P`` dependence of Phase I over runs of one pair ``(κ_s, κ_c)`` with ``Δ > 0`` (module docstring).

    ``patches``: the distinct ``P``; ``median_time``: median over seeds of ``r_dec,0 T_I`` at each ``P``;
    ``excess``: ``r − 1`` at each ``P`` (chapter 3, exact); ``measured_slope`` and ``predicted_slope``: the
    least-squares log-log slopes of the two against ``P``; ``constant``: ``1 / (2 z̄)``, the geometric mean of
    ``r_dec,0 T_I / (r − 1)`` over all runs; ``spread``: the largest factor between one run's ``r_dec,0 T_I`` and
    ``constant · (r − 1)``.
    """

    patches: list[int]
    median_time: list[float]
    excess: list[float]
    measured_slope: float
    predicted_slope: float
    constant: float
    spread: float

    def predicted(self, excess: float) -> float:
        """The model's ``r_dec,0 T_I`` for a ratio ``r = 1 + excess``."""
        return self.constant * excess


def log_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (:func:`sslvit.analysis.theory.log_log_fit`)."""
    return log_log_fit(x, y)[0]


def length_law(rows: list[dict]) -> LengthLaw:
    """:class:`LengthLaw` of ``rows`` (dicts of :meth:`PhaseLength.to_dict`, all with ``ratio > 1`` and a
    boundary ``> 0``, at least two values of ``patches``)."""
    bad = [r for r in rows if not r["ratio"] > 1 or not r["boundary"]]
    if bad or not rows:
        raise ValueError(f"length_law needs runs with ratio > 1 and a Phase I that ended; {len(bad)} of "
                         f"{len(rows)} runs are not")
    patches = sorted({r["patches"] for r in rows})
    times = {P: sorted(r["decouple"] * r["boundary"] for r in rows if r["patches"] == P) for P in patches}
    median = [statistics.median(times[P]) for P in patches]
    excess = [next(r["ratio"] for r in rows if r["patches"] == P) - 1 for P in patches]
    factors = [r["decouple"] * r["boundary"] / (r["ratio"] - 1) for r in rows]
    constant = math.exp(sum(math.log(f) for f in factors) / len(factors))
    return LengthLaw(patches=patches, median_time=median, excess=excess,
                     measured_slope=log_slope([float(p) for p in patches], median),
                     predicted_slope=log_slope([float(p) for p in patches], excess), constant=constant,
                     spread=max(max(f / constant, constant / f) for f in factors))
