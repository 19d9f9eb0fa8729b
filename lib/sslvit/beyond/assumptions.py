"""Sweeps over broken data assumptions and the rule that says when a conclusion breaks (book chapter 9).

Three perturbations of the data model of chapter 1, each with a level (0 = the paper's data model):

* ``overlap`` ``ω`` and ``noise`` ``σ`` (:mod:`sslvit.beyond.fullq`, trained by autograd on the full ``Q``),
* scale laws ``sign``, ``lognormal``, ``pareto`` (:class:`~sslvit.core.data.DataConfig` ``scale_law``; the reduced
  engine is exact for any scales, so these run in :func:`sslvit.train`).

A **conclusion** is an effect size computed per run from its logged metrics (:data:`EFFECTS`); it **breaks**
at the first level where the mean over seeds of the effect falls below ``fraction`` (default ½) of the
mean effect of the unperturbed runs with the same seeds (:func:`break_level`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence, Union

import torch

from sslvit.core.data import DataConfig
from sslvit.beyond.fullq import Perturbation, train_fullq
from sslvit.core.training import Run, TrainConfig, TrainingDiverged, train

__all__ = ["PerturbationSweep", "EFFECTS", "effect", "break_level", "exceed_level", "feature_sweep", "scale_sweep", "train_tolerant"]


@dataclass
class PerturbationSweep:
    """Metrics of one perturbation swept over ``levels`` (level 0 = unperturbed), for ``seeds``.

    ``initial``/``final``: metric name → ``(L, S)`` float64 at step 0 / the last step (NaN where a run
    diverged); ``diverged``: ``(L, S)`` bool. ``labels``: how to print each level.
    """

    kind: str
    objective: str
    levels: list[float]
    seeds: list[int]
    initial: dict[str, torch.Tensor]
    final: dict[str, torch.Tensor]
    diverged: torch.Tensor
    labels: list[str] = field(default_factory=list)


def _own(r: PerturbationSweep) -> torch.Tensor:
    return r.final["own_area_attention"] - r.initial["own_area_attention"]


def _glob(r: PerturbationSweep) -> torch.Tensor:
    return r.final["global_area_attention"] - r.initial["global_area_attention"]


def _recon(r: PerturbationSweep) -> torch.Tensor:
    excess0 = r.initial["loss"] - r.initial["oracle_loss"]
    return 1.0 - (r.final["loss"] - r.final["oracle_loss"]) / excess0


#: conclusion → (objective, effect per run (L, S), description)
EFFECTS: dict[str, tuple[str, Callable[[PerturbationSweep], torch.Tensor], str]] = {
    "mae_own": ("mae", _own, "MAE: local queries move attention onto their own area (own-area attention gain)"),
    "mae_recon": ("mae", _recon, "MAE: reconstruction approaches the oracle (fraction of the initial excess "
                                 "loss over the oracle removed)"),
    "cl_global": ("cl", _glob, "CL: local queries collapse onto the global area (global-area attention gain)"),
}


def effect(name: str, result: PerturbationSweep) -> torch.Tensor:
    """Effect ``(L, S)`` of conclusion ``name`` (:data:`EFFECTS`) in ``result``."""
    if name not in EFFECTS:
        raise ValueError(f"effect={name!r} is not allowed: one of {tuple(EFFECTS)}")
    objective, fn, _ = EFFECTS[name]
    if result.objective != objective:
        raise ValueError(f"effect {name!r} needs a {objective.upper()} sweep, got {result.objective.upper()}")
    return fn(result)


def break_level(levels: Sequence[float], values: torch.Tensor, baseline: torch.Tensor, fraction: float = 0.5
                ) -> tuple[Optional[float], torch.Tensor]:
    """First level whose seed-mean effect is below ``fraction`` × the seed-mean unperturbed effect.

    ``values`` ``(L, S)`` effects per level and seed (NaN: diverged, which counts as broken);
    ``baseline`` ``(S,)`` the unperturbed effects. Returns ``(level or None, ratio (L,))`` with
    ``ratio = mean(values) / mean(baseline)``.
    """
    if values.ndim != 2 or values.shape[0] != len(levels):
        raise ValueError(f"values must be (L, S) with L = len(levels) = {len(levels)}, got {tuple(values.shape)}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r} is not allowed: a number strictly between 0 and 1")
    base = float(baseline.mean())
    if not base > 0:
        raise ValueError(f"the unperturbed effect is {base:.3g}, not positive: nothing can break")
    ratio = values.mean(1) / base                       # NaN if any seed diverged
    for lv, r in zip(levels, ratio.tolist()):
        if not r >= fraction:                           # NaN counts as broken
            return float(lv), ratio
    return None, ratio


def exceed_level(levels: Sequence[float], values: torch.Tensor, threshold: float
                 ) -> tuple[Optional[float], torch.Tensor]:
    """First level whose seed-mean ``values`` ``(L, S)`` exceeds ``threshold`` (NaN counts as exceeding).
    Returns ``(level or None, mean (L,))``. Used for conclusions stated as "≈ 0" (CL's NMI)."""
    if values.ndim != 2 or values.shape[0] != len(levels):
        raise ValueError(f"values must be (L, S) with L = len(levels) = {len(levels)}, got {tuple(values.shape)}")
    mean = values.mean(1)
    for lv, m in zip(levels, mean.tolist()):
        if not m <= threshold:
            return float(lv), mean
    return None, mean


def train_tolerant(runs: Sequence[Run], trainer: Callable[..., object], extra: Optional[Sequence[object]] = None,
                   **kwargs: object) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """Train ``runs`` with ``trainer`` (:func:`sslvit.train` or :func:`sslvit.beyond.fullq.train_fullq`); when some
    runs diverge, drop them and train the others again. ``extra``: per-run second argument of the trainer
    (the perturbations of ``train_fullq``).

    Returns ``(initial, final, diverged)``: metric name → ``(R,)`` at step 0 and at the last step (NaN for
    diverged runs) and ``diverged`` ``(R,)`` bool.
    """
    alive, last = list(range(len(runs))), None
    while alive:
        sub = [runs[i] for i in alive]
        args = (sub,) if extra is None else (sub, [extra[i] for i in alive])
        try:
            traj = trainer(*args, **kwargs)
        except TrainingDiverged as e:
            bad, last = {alive[i] for i in e.runs}, e
            alive = [i for i in alive if i not in bad]
            continue
        hist = traj.history  # type: ignore[attr-defined]
        initial = {k: torch.full((len(runs),), float("nan"), dtype=torch.float64) for k in hist}
        final = {k: v.clone() for k, v in initial.items()}
        idx = torch.tensor(alive)
        for k, v in hist.items():
            initial[k][idx] = v[0]
            final[k][idx] = v[-1]
        diverged = torch.ones(len(runs), dtype=torch.bool)
        diverged[idx] = False
        return initial, final, diverged
    raise TrainingDiverged("the loss of every run", last.step if last else 0, list(range(len(runs))),
                           [r.train.lr for r in runs])


def _result(kind: str, objective: str, levels: list[float], seeds: list[int], initial: dict, final: dict,
            diverged: torch.Tensor, index: list[list[int]], labels: list[str]) -> PerturbationSweep:
    ix = torch.tensor(index)                            # (L, S) run indices
    return PerturbationSweep(kind=kind, objective=objective, levels=levels, seeds=seeds,
                       initial={k: v[ix] for k, v in initial.items()}, final={k: v[ix] for k, v in final.items()},
                       diverged=diverged[ix], labels=labels)


def feature_sweep(data: DataConfig, train_cfg: TrainConfig, overlaps: Sequence[float], noises: Sequence[float],
                  seeds: Sequence[int], *, dtype: torch.dtype = torch.float64) -> dict[str, PerturbationSweep]:
    """Overlap and noise sweeps in one :func:`~sslvit.beyond.fullq.train_fullq` call.

    Level 0 (``ω = 0, σ = 0``) is trained once per seed and shared by both results. ``overlaps`` and
    ``noises`` must start with 0. Returns ``{"overlap": ..., "noise": ...}``.
    """
    overlaps, noises, seeds = [float(x) for x in overlaps], [float(x) for x in noises], list(seeds)
    if not overlaps or overlaps[0] != 0.0 or not noises or noises[0] != 0.0:
        raise ValueError("overlaps and noises must each start with the unperturbed level 0")
    perts = [Perturbation()] + [Perturbation(overlap=r) for r in overlaps[1:]] + [Perturbation(noise=s) for s in noises[1:]]
    runs, extra = [], []
    for p in perts:
        for s in seeds:
            runs.append(Run(data, replace(train_cfg, seed=s)))
            extra.append(p)
    initial, final, diverged = train_tolerant(runs, train_fullq, extra, log_every=int(train_cfg.steps),  # type: ignore[arg-type]
                                              dtype=dtype)
    S = len(seeds)
    rows = lambda first, n: [list(range(0, S))] + [list(range((first + i) * S, (first + i + 1) * S)) for i in range(n)]  # noqa: E731
    return {
        "overlap": _result("overlap", train_cfg.objective.name, overlaps, seeds, initial, final, diverged,
                           rows(1, len(overlaps) - 1), [f"ω={x:g}" for x in overlaps]),
        "noise": _result("noise", train_cfg.objective.name, noises, seeds, initial, final, diverged,
                         rows(len(overlaps), len(noises) - 1), [f"σ={x:g}" for x in noises]),
    }


def scale_sweep(data: DataConfig, train_cfg: TrainConfig, laws: dict[str, Sequence[float]], seeds: Sequence[int],
                *, dtype: torch.dtype = torch.float64, level: Optional[dict[str, Callable[[float], float]]] = None
                ) -> dict[str, PerturbationSweep]:
    """Scale-law sweeps in one :func:`sslvit.train` call (fast reduced engine).

    ``laws``: law name → its ``scale_param`` values. Level 0 of every law is the uniform law of ``data`` (the
    paper's model), trained once per seed and shared. ``level``: law name → map from ``scale_param`` to the
    plotted level (default the parameter itself; e.g. ``1/α`` for pareto).
    """
    seeds = list(seeds)
    if data.scale_law != "uniform":
        raise ValueError("data must use the uniform scale law (the unperturbed level 0)")
    configs = [data] + [replace(data, scale_law=law, scale_param=float(p)) for law, ps in laws.items() for p in ps]
    runs = [Run(c, replace(train_cfg, seed=s)) for c in configs for s in seeds]
    initial, final, diverged = train_tolerant(runs, train, log_every=int(train_cfg.steps), dtype=dtype,  # type: ignore[arg-type]
                                              progress=False)
    S, out, first = len(seeds), {}, 1
    for law, ps in laws.items():
        f = (level or {}).get(law, lambda x: x)
        index = [list(range(S))] + [list(range((first + i) * S, (first + i + 1) * S)) for i in range(len(ps))]
        out[law] = _result(law, train_cfg.objective.name, [0.0] + [float(f(p)) for p in ps], seeds, initial, final,
                           diverged, index, ["uniform"] + [f"{p:g}" for p in ps])
        first += len(ps)
    return out
