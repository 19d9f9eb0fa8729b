"""Which conclusions depend on our reconstruction (book chapter 15): the core claims rerun under another
reconstruction (:class:`sslvit.beyond.variants.Variant`), and other definitions of the information gap.

:func:`claim_verdicts` reads the five core claims off the final metrics of MAE and CL runs (both signs of
``Δ``, several seeds) with fixed rules, the same for every variant:

* ``mae_local`` (claims C4, C5): every MAE seed puts at least half of its local queries' attention on their own
  area, and more on it than on the global area; *holds* for both signs of ``Δ``, *qualified* for one;
* ``phase_one`` (C5): the first-step ratio of decoupling to growth (chapter 4) exceeds 1 on every seed with
  ``Δ > 0`` and stays below 1 on every seed with ``Δ < 0``; *qualified* when only one side holds;
* ``cl_global`` (C7): every CL seed puts at least 0.9 of its local queries' attention on the global area (for a
  ``[CLS]``-like representation: the ``[CLS]`` query's attention); *qualified* when every seed puts at least
  0.5 there;
* ``cl_one_pattern`` (C7): CL's NMI at most 0.05 on every seed; *qualified* up to 0.1;
* ``mae_vs_cl`` (C6): every MAE seed has NMI at least 0.2 and 10 times every CL seed's; *qualified* when every
  MAE seed's NMI merely exceeds every CL seed's.

Anything else *breaks*. :func:`gap_boundaries` compares definitions of the information gap by where they put
the phase boundary (chapter 3's exact first-step ratio ``ρ = 1``) at finite ``P``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import torch

from sslvit.analysis.theory import init_rates
from sslvit.beyond.fullq import FullQTrajectory, train_fullq
from sslvit.core.attention import attention_of
from sslvit.beyond.variants import Variant
from sslvit.core.data import DataConfig, information_gap
from sslvit.core.training import Run, TrainConfig

__all__ = ["CLAIMS", "VERDICTS", "Verdict", "first_step_ratio", "claim_verdicts", "GAP_DEFINITIONS",
           "GapBoundary", "gap_boundaries", "SweepResult", "sensitivity_sweep", "landing_areas"]

CLAIMS = ("mae_local", "phase_one", "cl_global", "cl_one_pattern", "mae_vs_cl")
VERDICTS = ("holds", "qualified", "breaks")


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim (``holds``, ``qualified`` or ``breaks``) and the numbers it was read from."""

    claim: str
    verdict: str
    numbers: dict[str, float] = field(default_factory=dict)


def first_step_ratio(history: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(R,)`` ratio of the decoupling of the global FP correlation to the growth of the own one over the first
    step (chapter 4), from a history logged at steps 0 and 1 (rows 0 and 1)."""
    own, glob = history["fp_own"], history["fp_global"]
    if own.shape[0] < 2:
        raise ValueError("first_step_ratio needs the metrics logged at steps 0 and 1 (log_steps=[0, 1, ...])")
    return -(glob[1] - glob[0]) / (own[1] - own[0])


def _grade(holds: bool, qualified: bool) -> str:
    return "holds" if holds else ("qualified" if qualified else "breaks")


def claim_verdicts(mae: Mapping[str, Mapping[str, torch.Tensor]], cl: Mapping[str, Mapping[str, torch.Tensor]]
                   ) -> dict[str, Verdict]:
    """The five verdicts (module docstring). ``mae``, ``cl``: ``{"+": history, "-": history}`` for the runs with
    ``Δ > 0`` and ``Δ < 0``, each a history of :func:`sslvit.beyond.fullq.train_fullq` (metric → ``(T, R)``,
    logged at steps 0, 1 and the last step; CL histories may carry ``cls_global_attention``)."""
    for name, runs in (("mae", mae), ("cl", cl)):
        if set(runs) != {"+", "-"}:
            raise ValueError(f"{name} must map '+' and '-' (the two signs of Delta) to histories, got {sorted(runs)}")
    last = {(o, s): {k: v[-1] for k, v in runs[s].items()} for o, runs in (("mae", mae), ("cl", cl)) for s in "+-"}
    local = {s: bool(((last["mae", s]["own_area_attention"] >= 0.5)
                      & (last["mae", s]["own_area_attention"] > last["mae", s]["global_area_attention"])).all())
             for s in "+-"}
    out = {"mae_local": Verdict("mae_local", _grade(all(local.values()), any(local.values())),
                                {"min_own_pos": float(last["mae", "+"]["own_area_attention"].min()),
                                 "min_own_neg": float(last["mae", "-"]["own_area_attention"].min())})}
    ratio = {s: first_step_ratio(mae[s]) for s in "+-"}
    pos, neg = bool((ratio["+"] > 1).all()), bool((ratio["-"] < 1).all())
    out["phase_one"] = Verdict("phase_one", _grade(pos and neg, pos or neg),
                               {"min_ratio_pos": float(ratio["+"].min()), "max_ratio_neg": float(ratio["-"].max())})
    key = "cls_global_attention" if "cls_global_attention" in cl["+"] else "global_area_attention"
    glob = min(float(last["cl", s][key].min()) for s in "+-")
    out["cl_global"] = Verdict("cl_global", _grade(glob >= 0.9, glob >= 0.5), {"min_global": glob})
    cl_nmi = max(float(last["cl", s]["nmi"].max()) for s in "+-")
    out["cl_one_pattern"] = Verdict("cl_one_pattern", _grade(cl_nmi <= 0.05, cl_nmi <= 0.1), {"max_cl_nmi": cl_nmi})
    mae_nmi = min(float(last["mae", s]["nmi"].min()) for s in "+-")
    out["mae_vs_cl"] = Verdict("mae_vs_cl", _grade(mae_nmi >= max(0.2, 10 * cl_nmi), mae_nmi > cl_nmi),
                               {"min_mae_nmi": mae_nmi, "max_cl_nmi": cl_nmi})
    return out


#: candidate definitions of the information gap, as functions of ``(P, C_s, C_c, γ)``: all have the public
#: clues' form (a log-ratio of the two rates at initialisation, divided by ``log P``), with more or less of the
#: finite-``P`` detail of chapter 3's leading term ``ρ ≈ (1−γ) C_s² / (P (C_c − 1))``
GAP_DEFINITIONS: dict[str, Callable[[float, float, float, float], float]] = {
    "2κs − κc − 1 (the book's)": lambda P, s, c, g: information_gap(P, s, c, strict=False),
    "with the masking factor 1 − γ": lambda P, s, c, g: (math.log(1 - g) + 2 * math.log(s) - math.log(c)) / math.log(P) - 1,
    "with 1 − γ and C_c − 1": lambda P, s, c, g: (math.log(1 - g) + 2 * math.log(s) - math.log(c - 1)) / math.log(P) - 1,
    "κs − κc (sizes only)": lambda P, s, c, g: (math.log(s) - math.log(c)) / math.log(P),
}


@dataclass(frozen=True)
class GapBoundary:
    """Where ``ρ = 1`` at one ``(P, C_c, γ)``: ``global_size`` the (interpolated) size ``C_s`` at which chapter
    3's exact first-step ratio crosses 1, and for each definition of the gap the size at which it vanishes."""

    patches: int
    local_size: int
    mask_prob: float
    global_size: float
    predicted: dict[str, float]

    def error(self, name: str) -> float:
        """``|log C_s(predicted) − log C_s(ρ = 1)| / log P``: the error of a definition in units of ``κ_s``."""
        return abs(math.log(self.predicted[name]) - math.log(self.global_size)) / math.log(self.patches)


def _zero(f: Callable[[float], float], lo: float, hi: float) -> float:
    """A zero of the increasing ``f`` on ``[lo, hi]`` by bisection (``lo`` or ``hi`` if it has none inside)."""
    if f(lo) >= 0:
        return lo
    if f(hi) <= 0:
        return hi
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return 0.5 * (lo + hi)


def gap_boundaries(patch_counts: Sequence[int], local_sizes: Sequence[int], mask_prob: float = 0.5
                   ) -> list[GapBoundary]:
    """For every ``P`` and ``C_c``, the global-area size at which chapter 3's exact first-step ratio ``ρ``
    crosses 1 (log-linear interpolation between the integer sizes around the crossing) and the size at which
    each definition of :data:`GAP_DEFINITIONS` is 0. Raises ``ValueError`` when ``ρ`` does not cross 1 for
    ``C_c < C_s < P``."""
    out = []
    for P in patch_counts:
        for c in local_sizes:
            sizes = [s for s in range(c + 1, P) if (P - s) % c == 0]
            if len(sizes) < 2:
                raise ValueError(f"P={P}, C_c={c}: fewer than two admissible global sizes")
            logr = [math.log(init_rates(P, s, c, mask_prob).ratio) for s in sizes]
            cross = [i for i in range(len(sizes) - 1) if logr[i] < 0 <= logr[i + 1]]
            if not cross:
                raise ValueError(f"P={P}, C_c={c}: the first-step ratio does not cross 1 for C_c < C_s < P")
            i = cross[0]
            t = -logr[i] / (logr[i + 1] - logr[i])
            boundary = math.exp(math.log(sizes[i]) + t * (math.log(sizes[i + 1]) - math.log(sizes[i])))
            predicted = {name: _zero(lambda s: f(P, s, c, mask_prob), c + 1e-9, float(P))
                         for name, f in GAP_DEFINITIONS.items()}
            out.append(GapBoundary(P, c, mask_prob, boundary, predicted))
    return out


@dataclass
class SweepResult:
    """What :func:`sensitivity_sweep` returns for one variant: the verdicts, and the histories of its runs
    (``histories[objective][sign]``: metric → ``(T, R)`` over the logged steps ``steps``)."""

    verdicts: dict[str, Verdict]
    histories: dict[str, dict[str, dict[str, torch.Tensor]]]
    steps: list[int]
    seconds: float


def sensitivity_sweep(variant: Variant, data: Mapping[str, DataConfig], train: Mapping[str, TrainConfig],
                      seeds: Sequence[int], log_steps: Sequence[int]) -> SweepResult:
    """Train MAE and CL under ``variant`` on the data of both signs of ``Δ`` (``data["+"]``, ``data["-"]``), one
    run per seed, with the settings ``train["mae"]``, ``train["cl"]`` (their ``seed`` is replaced), and grade the
    five claims (:func:`claim_verdicts`). ``log_steps`` must contain 0 and 1 (the first-step ratio)."""
    if not {0, 1} <= set(log_steps):
        raise ValueError(f"log_steps={list(log_steps)} must contain 0 and 1 (the first-step ratio)")
    histories: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    seconds, steps = 0.0, []
    for objective in ("mae", "cl"):
        histories[objective] = {}
        for sign in ("+", "-"):
            runs = [Run(data[sign], replace(train[objective], seed=s)) for s in seeds]
            traj = train_fullq(runs, variant=variant, log_steps=log_steps)
            histories[objective][sign], steps, seconds = traj.history, traj.steps, seconds + traj.seconds
    return SweepResult(claim_verdicts(histories["mae"], histories["cl"]), histories, steps, seconds)


def landing_areas(traj: FullQTrajectory, batch: int = 64, seed: int = 99) -> list[dict]:
    """Where each run puts the attention of its local queries, cluster by cluster (chapter 15's cosine study).

    For every run of ``traj`` (position queries, e.g. cosine-similarity CL) and every cluster ``k``: the mean
    attention mass of the local queries of ``batch`` fresh images of that cluster on each area, on the visible
    keys (:func:`sslvit.core.attention.attention_of`). Returns one dict per (run, cluster): ``run``, ``seed``,
    ``cluster``, ``areas`` (``N``), ``top_area`` (``0`` is the global area), ``on_global`` (``top_area == 0``),
    ``global_share`` and ``top_share`` (attention on the global and on the top area).
    """
    rows = []
    for r, run in enumerate(traj.runs):
        view = attention_of(traj, r, batch=batch, seed=seed)
        local = (view.key_area != 0).to(view.mass.dtype)                            # (B, P) local queries
        mass = (view.mass * local[:, None, :]).sum(2) / local.sum(1, keepdim=True)   # (B, N) per image and area
        for k in range(run.data.clusters):
            chosen = view.sample.cluster == k
            if not bool(chosen.any()):
                continue
            m = mass[chosen].mean(0)
            top = int(m.argmax())
            rows.append({"run": r, "seed": run.train.seed, "cluster": k, "areas": run.data.n_areas, "top_area": top,
                         "on_global": top == 0, "global_share": float(m[0]), "top_share": float(m[top])})
    return rows
