"""Sweeps: many runs over a grid of information gaps, masking probabilities, seeds and objectives, trained in
as few batched :func:`sslvit.train` calls as possible (book chapter 6, claims C6 and C9).

A sweep has three steps:

1. **Choose the sizes.** :func:`admissible_global_sizes` lists every global-area size ``C_s`` that tiles
   ``P`` with local areas of size ``C_c`` (and fits the grid), with its information gap ``Δ``;
   :func:`global_sizes_for` picks, for each target ``Δ``, the admissible size whose ``Δ`` is closest.
2. **Build the runs.** :func:`sweep_runs` crosses data configurations × objectives × masking probabilities
   × seeds into a flat list of :class:`~sslvit.train.Run`.
3. **Train and tabulate.** :func:`run_sweep` groups the runs by what a batched call must share
   (:func:`batch_key`: ``patches``, ``clusters``, ``layout``, ``grid_shape``, ``objective``, ``steps``,
   ``batch_size``, ``optimizer``, ``tau``, ``population``), trains every group in **one** call, and returns
   a :class:`SweepResult` whose ``rows`` are a tidy table: one plain ``dict`` per run with its settings and
   its final metrics (chapter 6) (``pandas.DataFrame(result.rows)`` if pandas is at hand).
   :func:`aggregate` and :func:`pivot` summarise the rows over seeds without pandas.

Runs inside one call differ in area sizes, masking probability, step size and seed; each run draws its own
layout and batches from its own random streams, so its result does not depend on which other runs share
its call (only on the padding of the area axis, which changes nothing but float rounding).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch

from sslvit.core.data import DataConfig, information_gap
from sslvit.core.runs import SHARED_DATA, SHARED_TRAIN
from sslvit.core.training import DEFAULTS, Run, TrainConfig, Trajectory, train
from sslvit.core.validation import check_int

__all__ = [
    "admissible_global_sizes",
    "global_sizes_for",
    "sweep_runs",
    "batch_key",
    "group_runs",
    "SweepResult",
    "run_sweep",
    "aggregate",
    "pivot",
    "Pivot",
    "own_area_ceiling",
]

#: settings copied into every row (besides the metrics)
ROW_SETTINGS = ("objective", "patches", "layout", "global_size", "local_size", "n_areas", "delta", "mask_prob",
                "lr", "steps", "batch_size", "negatives", "seed")


def _positive_int(name: str, value: object) -> int:
    value = check_int(name, value, 1, allowed="a positive integer")
    return value


def own_area_ceiling(mask_prob: float, local_size: int) -> float:
    """``1 − γ^{C_c}``: the largest possible ``own_area_attention`` (chapter 4): with probability ``γ^{C_c}`` no
    patch of a query's area is visible, and then it cannot attend to its own area at all."""
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob={mask_prob!r} is not allowed: a probability strictly between 0 and 1")
    _positive_int("local_size", local_size)
    return 1.0 - mask_prob**local_size


# ---- 1. sizes ------------------------------------------------------------------------------------------------

def admissible_global_sizes(patches: int, local_size: int, layout: str = "grid",
                            grid_shape: Optional[tuple[int, int]] = None) -> list[tuple[int, float]]:
    """Every global-area size ``C_s`` allowed by :class:`~sslvit.core.data.DataConfig` with at least one local area,
    with its information gap: a list of ``(C_s, Δ)`` sorted by ``C_s`` (hence by ``Δ``).

    ``C_c < C_s < P`` and ``P − C_s`` a multiple of ``C_c`` (the areas tile the positions); for
    ``layout="grid"`` also a square ``C_c`` and at most as many local areas as there are ``√C_c × √C_c``
    blocks in the grid.
    """
    _positive_int("patches", patches)
    _positive_int("local_size", local_size)
    if patches - local_size <= local_size:
        raise ValueError(f"patches={patches}, local_size={local_size}: no room for a global area larger than a "
                         "local area next to one local area")
    # one local area: if this fails, every size fails (e.g. a non-square local size on the grid)
    DataConfig(patches=patches, global_size=patches - local_size, local_size=local_size, layout=layout,
               grid_shape=grid_shape)
    out = []
    for c_s in range(local_size + 1, patches):
        if (patches - c_s) % local_size:
            continue
        try:
            DataConfig(patches=patches, global_size=c_s, local_size=local_size, layout=layout, grid_shape=grid_shape)
        except ValueError:  # too many local blocks for the grid
            continue
        out.append((c_s, information_gap(patches, c_s, local_size)))
    if not out:
        raise ValueError(f"no global size tiles patches={patches} with local_size={local_size} and a local area")
    return out


def global_sizes_for(patches: int, local_size: int, deltas: Sequence[float], layout: str = "grid",
                     grid_shape: Optional[tuple[int, int]] = None) -> list[int]:
    """For each target information gap, the admissible ``C_s`` (:func:`admissible_global_sizes`) whose ``Δ`` is
    closest. Raises ``ValueError`` if two targets pick the same size (ask for fewer or more spread values)."""
    if len(deltas) == 0:
        raise ValueError("deltas is empty: give at least one target information gap")
    options = admissible_global_sizes(patches, local_size, layout, grid_shape)
    chosen = [min(options, key=lambda o: (abs(o[1] - d), o[0]))[0] for d in deltas]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"targets {list(deltas)} map to repeated global sizes {chosen} at patches={patches}, "
                         f"local_size={local_size}; the admissible gaps are {[round(o[1], 3) for o in options]}")
    return chosen


# ---- 2. runs -------------------------------------------------------------------------------------------------

def sweep_runs(data: Sequence[DataConfig], objectives: Sequence[str] = ("mae", "cl"),
               mask_probs: Sequence[float] = (0.3, 0.5, 0.7), seeds: Sequence[int] = (0, 1, 2),
               overrides: Optional[Mapping[str, Mapping[str, Any]]] = None, **train_kwargs: Any) -> list[Run]:
    """The full cross product data × objectives × masking probabilities × seeds, as a list of runs in that
    (nested, row-major) order.

    ``overrides``: per objective, :class:`~sslvit.train.TrainConfig` fields (e.g.
    ``{"mae": {"lr": 1e4, "steps": 150}}``); ``train_kwargs``: fields for every run. Fields left out take
    the objective's defaults (:data:`sslvit.core.training.DEFAULTS`).
    """
    for name, values in (("data", data), ("objectives", objectives), ("mask_probs", mask_probs), ("seeds", seeds)):
        if len(values) == 0:
            raise ValueError(f"{name} is empty: a sweep needs at least one value of each axis")
    for d in data:
        if not isinstance(d, DataConfig):
            raise TypeError(f"data must hold sslvit.DataConfig objects, got {type(d).__name__}")
    for obj in objectives:
        if obj not in DEFAULTS:
            raise ValueError(f"objective={obj!r} is not allowed: one of {tuple(DEFAULTS)}")
    overrides = dict(overrides or {})
    for obj in overrides:
        if obj not in DEFAULTS:
            raise ValueError(f"overrides key {obj!r} is not allowed: one of {tuple(DEFAULTS)}")
    for key in ("objective", "mask_prob", "seed"):
        if key in train_kwargs or any(key in o for o in overrides.values()):
            raise ValueError(f"{key!r} is a sweep axis: give it through objectives / mask_probs / seeds")
    runs = []
    for d in data:
        for obj in objectives:
            kwargs = {**train_kwargs, **overrides.get(obj, {})}
            for gamma in mask_probs:
                for seed in seeds:
                    runs.append(Run(d, TrainConfig(objective=obj, mask_prob=gamma, seed=seed, **kwargs)))
    return runs


def batch_key(run: Run) -> tuple:
    """What runs trained in one batched call must share (:mod:`sslvit.train`): data and training fields."""
    train = tuple(type(run.train.objective) if n == "objective" else getattr(run.train, n) for n in SHARED_TRAIN)
    return tuple(getattr(run.data, n) for n in SHARED_DATA), train


def group_runs(runs: Sequence[Run]) -> list[list[int]]:
    """Indices of ``runs`` grouped by :func:`batch_key`, groups in order of first appearance: each group is one
    :func:`sslvit.train` call, so a sweep needs exactly ``len(group_runs(runs))`` calls."""
    groups: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise TypeError(f"runs[{i}] is a {type(run).__name__}, expected sslvit.Run")
        groups.setdefault(batch_key(run), []).append(i)
    return list(groups.values())


# ---- 3. training and the tidy table --------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    ``runs``: the runs, in the order given. ``rows``: one dict per run (same order) with the settings of
    :data:`ROW_SETTINGS`, ``index`` (position in ``runs``), ``call`` (which train call), ``ceiling``
    (:func:`own_area_ceiling`), the final value of every recorded metric, and ``"{metric}@{f:g}"`` for the
    value at fraction ``f`` of the training steps for each requested checkpoint. ``calls``: one dict per
    train call (``objective``, ``patches``, ``layout``, ``steps``, ``batch_size``, ``runs``, ``seconds``:
    wall time of the call). ``trajectories``: the :class:`~sslvit.train.Trajectory` of each call.
    ``where[i] = (call, r)``: run ``i`` is run ``r`` of ``trajectories[call]``.
    """

    runs: tuple[Run, ...]
    rows: list[dict]
    calls: list[dict]
    trajectories: list[Trajectory]
    where: list[tuple[int, int]]

    def trajectory(self, index: int) -> tuple[Trajectory, int]:
        """``(trajectory, r)`` of run ``index``, e.g. for :func:`sslvit.core.attention.attention_of`."""
        if not 0 <= index < len(self.runs):
            raise ValueError(f"index={index} is not allowed: the sweep has runs 0..{len(self.runs) - 1}")
        call, r = self.where[index]
        return self.trajectories[call], r

    def select(self, **conditions: Any) -> list[dict]:
        """The rows whose fields equal the given values (floats compared with a relative tolerance 1e-9)."""
        return [row for row in self.rows if _matches(row, conditions)]


def _matches(row: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    for key, want in conditions.items():
        if key not in row:
            raise KeyError(f"no column {key!r}; the rows have {sorted(row)}")
        have = row[key]
        if isinstance(want, float) or isinstance(have, float):
            if not math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif have != want:
            return False
    return True


def run_sweep(runs: Sequence[Run], *, eval_batch: Optional[int] = None, dtype: torch.dtype = torch.float64,
              checkpoints: Sequence[float] = (), progress: Optional[bool] = None) -> SweepResult:
    """Train ``runs`` in one batched :func:`sslvit.train` call per :func:`group_runs` group and tabulate them.

    eval_batch: images in each run's evaluation batch (default: its batch size). dtype: ``torch.float64``
    (the default: results that are compared) or ``torch.float32`` (faster, last bits depend on the CPU). checkpoints: fractions ``0 < f < 1`` of the steps at which the metrics are
    also logged (e.g. ``(0.5,)`` to judge convergence); otherwise only step 0 and the last step are
    evaluated, which keeps the evaluation cost negligible. progress: tqdm bars (default: when someone watches, :func:`sslvit.core.training.watched`).
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs is empty: give at least one Run")
    for f in checkpoints:
        if not (isinstance(f, (int, float)) and 0 < f < 1):
            raise ValueError(f"checkpoint {f!r} is not allowed: a fraction strictly between 0 and 1")
    groups = group_runs(runs)
    where: list[tuple[int, int]] = [(-1, -1)] * len(runs)
    rows: list[dict] = [{} for _ in runs]
    calls, trajectories = [], []
    for call, idx in enumerate(groups):
        members = [runs[i] for i in idx]
        first = members[0]
        steps = int(first.train.steps)  # type: ignore[arg-type]
        marks = {f: int(round(f * steps)) for f in checkpoints}
        start = time.perf_counter()
        traj = train(members, log_every=max(steps, 1), log_steps=sorted(set(marks.values())),
                     eval_batch=eval_batch, dtype=dtype, progress=progress)
        seconds = time.perf_counter() - start
        trajectories.append(traj)
        calls.append({"call": call, "objective": first.train.objective.name, "patches": first.data.patches,
                      "layout": first.data.layout, "steps": steps, "batch_size": first.train.batch_size,
                      "runs": len(members), "seconds": seconds})
        position = {s: t for t, s in enumerate(traj.steps)}
        for r, i in enumerate(idx):
            where[i] = (call, r)
            rows[i] = _row(runs[i], i, call, traj, r, {f: position[s] for f, s in marks.items()})
    return SweepResult(runs=tuple(runs), rows=rows, calls=calls, trajectories=trajectories, where=where)


def _row(run: Run, index: int, call: int, traj: Trajectory, r: int, marks: Mapping[float, int]) -> dict:
    d, t = run.data, run.train
    row: dict[str, Any] = {"index": index, "call": call}
    values = {"objective": t.objective.name, "patches": d.patches, "layout": d.layout, "global_size": d.global_size,
              "local_size": d.local_size, "n_areas": d.n_areas, "delta": d.delta, "mask_prob": float(t.mask_prob),  # type: ignore[arg-type]
              "lr": float(t.lr), "steps": int(t.steps), "batch_size": t.batch_size, "negatives": t.negatives,  # type: ignore[arg-type]
              "seed": t.seed}
    row.update({k: values[k] for k in ROW_SETTINGS})
    row["ceiling"] = own_area_ceiling(float(t.mask_prob), d.local_size)  # type: ignore[arg-type]
    for name, hist in traj.history.items():
        row[name] = float(hist[-1, r])
        for f, pos in marks.items():
            row[f"{name}@{f:g}"] = float(hist[pos, r])
    return row


# ---- summaries over seeds ------------------------------------------------------------------------------------

def aggregate(rows: Iterable[Mapping[str, Any]], by: Sequence[str], metrics: Sequence[str]) -> list[dict]:
    """Mean, sample standard deviation (``ddof = 1``; 0 for a single row), min, max and count of each metric
    over the rows sharing the values of ``by`` (typically: everything but the seed).

    Returns one dict per group, in order of first appearance: the ``by`` fields, ``n``, and
    ``{metric}_mean``, ``{metric}_std``, ``{metric}_min``, ``{metric}_max``.
    """
    if len(by) == 0 or len(metrics) == 0:
        raise ValueError("give at least one field in `by` and one metric")
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        missing = [k for k in (*by, *metrics) if k not in row]
        if missing:
            raise KeyError(f"rows lack the column(s) {missing}")
        groups.setdefault(tuple(row[k] for k in by), []).append(row)
    if not groups:
        raise ValueError("rows is empty")
    out = []
    for key, members in groups.items():
        entry: dict[str, Any] = dict(zip(by, key))
        entry["n"] = len(members)
        for m in metrics:
            v = np.array([float(row[m]) for row in members])
            entry[f"{m}_mean"] = float(v.mean())
            entry[f"{m}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
            entry[f"{m}_min"] = float(v.min())
            entry[f"{m}_max"] = float(v.max())
        out.append(entry)
    return out


@dataclass(frozen=True)
class Pivot:
    """A metric over a 2-D grid of settings: ``x`` ``(X,)`` and ``y`` ``(Y,)`` sorted values;
    ``mean``, ``std`` (``ddof = 1``), ``min``, ``max`` ``(Y, X)`` arrays (NaN where a cell has no rows);
    ``n`` ``(Y, X)`` counts."""

    metric: str
    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    n: np.ndarray


def pivot(rows: Iterable[Mapping[str, Any]], metric: str, x: str = "delta", y: str = "mask_prob",
          **where: Any) -> Pivot:
    """Seeds' statistics of ``metric`` on the ``y × x`` grid, over the rows matching ``where`` (e.g.
    ``objective="mae"``). Values of ``x`` and ``y`` are grouped with a relative tolerance 1e-9."""
    chosen = [row for row in rows if _matches(row, where)]
    if not chosen:
        raise ValueError(f"no rows match {where}")
    for row in chosen:
        for k in (metric, x, y):
            if k not in row:
                raise KeyError(f"no column {k!r}; the rows have {sorted(row)}")

    def distinct(name: str) -> np.ndarray:
        vals: list[float] = []
        for row in chosen:
            v = float(row[name])
            if not any(math.isclose(v, u, rel_tol=1e-9, abs_tol=1e-12) for u in vals):
                vals.append(v)
        return np.array(sorted(vals))

    xs, ys = distinct(x), distinct(y)
    cells: list[list[list[float]]] = [[[] for _ in xs] for _ in ys]
    for row in chosen:
        i = int(np.argmin(np.abs(ys - float(row[y]))))
        j = int(np.argmin(np.abs(xs - float(row[x]))))
        cells[i][j].append(float(row[metric]))
    shape = (len(ys), len(xs))
    stats = {k: np.full(shape, np.nan) for k in ("mean", "std", "min", "max")}
    n = np.zeros(shape, dtype=int)
    for i in range(len(ys)):
        for j in range(len(xs)):
            v = np.array(cells[i][j])
            n[i, j] = len(v)
            if len(v):
                stats["mean"][i, j] = v.mean()
                stats["std"][i, j] = v.std(ddof=1) if len(v) > 1 else 0.0
                stats["min"][i, j] = v.min()
                stats["max"][i, j] = v.max()
    return Pivot(metric=metric, x_name=x, y_name=y, x=xs, y=ys, n=n, **stats)

