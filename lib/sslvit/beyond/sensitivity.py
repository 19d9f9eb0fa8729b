"""Which conclusions depend on our reconstruction (book chapter 14): the core claims rerun under another
reconstruction (:class:`sslvit.beyond.variants.Variant`), and other definitions of the information gap.

:func:`claim_verdicts` reads the five core claims off the final metrics of MAE and CL runs (both signs of
``Δ``, several seeds) with fixed rules, the same for every variant. Each claim has a *strict* and a *weak*
condition on every run (seed and sign of ``Δ``):

* ``mae_local`` (claims C4, C5): the MAE run puts at least half of its local queries' attention on their own
  area, and more on it than on the global area (strict and weak);
* ``phase_one`` (C5): the first-step ratio of decoupling to growth (chapter 4) exceeds 1 when ``Δ > 0`` and
  stays below 1 when ``Δ < 0`` (strict and weak);
* ``cl_global`` (C7): the CL run puts at least 0.9 (strict) / 0.5 (weak) of its local queries' attention on the
  global area (for a ``[CLS]``-like representation: the ``[CLS]`` query's attention);
* ``cl_one_pattern`` (C7): CL's NMI is at most 0.05 (strict) / 0.1 (weak);
* ``mae_vs_cl`` (C6): the MAE run's NMI is at least 0.2 and 10 times the CL run's of the same seed and sign
  (strict) / exceeds it (weak).

The verdict decides on the 95% interval of the share of runs that meet a condition
(:func:`sslvit.analysis.stats.share`), not on a handful of seeds: *holds* when the share that meets the strict
condition is at least :data:`HOLDS_AT` (0.8) at 95% confidence, *breaks* when the share that meets even the weak
condition is below :data:`BREAKS_BELOW` (0.5) at 95% confidence, *qualified* otherwise. With three seeds per sign
nothing can *hold* (6 of 6 runs bound the share only by 0.61); twenty seeds per sign allow up to two failures in 40.
:func:`gap_boundaries` compares definitions of the information gap by where they put the phase boundary
(chapter 3's exact first-step ratio ``ρ = 1``) at finite ``P``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Optional, Sequence

import torch

from sslvit.analysis.stats import Share, share
from sslvit.analysis.theory import init_rates
from sslvit.beyond.fullq import FullQTrajectory, train_fullq
from sslvit.core.attention import attention_of
from sslvit.beyond.variants import Variant
from sslvit.core.data import DataConfig, information_gap
from sslvit.core.training import Run, TrainConfig

__all__ = ["CLAIMS", "VERDICTS", "HOLDS_AT", "BREAKS_BELOW", "Verdict", "first_step_ratio", "claim_verdicts", "GAP_DEFINITIONS", "GAP_DEFINITIONS_MD",
           "GapBoundary", "gap_boundaries", "SweepResult", "sensitivity_sweep", "sweep_from_stored", "landing_areas"]

CLAIMS = ("mae_local", "phase_one", "cl_global", "cl_one_pattern", "mae_vs_cl")
VERDICTS = ("holds", "qualified", "breaks")
HOLDS_AT = 0.8
"""A claim *holds* when the share of runs meeting its strict condition is at least this, at 95% confidence."""
BREAKS_BELOW = 0.5
"""A claim *breaks* when the share of runs meeting even its weak condition is below this, at 95% confidence."""


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim (``holds``, ``qualified`` or ``breaks``), the shares of runs it was decided on
    (``strict``, ``weak``: :class:`~sslvit.analysis.stats.Share`) and the extreme values over the runs."""

    claim: str
    verdict: str
    numbers: dict[str, float] = field(default_factory=dict)
    shares: dict[str, Share] = field(default_factory=dict)


def first_step_ratio(history: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(R,)`` ratio of the decoupling of the global FP correlation to the growth of the own one over the first
    step (chapter 4), from a history logged at steps 0 and 1 (rows 0 and 1)."""
    own, glob = history["fp_own"], history["fp_global"]
    if own.shape[0] < 2:
        raise ValueError("first_step_ratio needs the metrics logged at steps 0 and 1 (log_steps=[0, 1, ...])")
    return -(glob[1] - glob[0]) / (own[1] - own[0])


def _verdict(claim: str, strict: Mapping[str, torch.Tensor], weak: Mapping[str, torch.Tensor],
             numbers: dict[str, float]) -> Verdict:
    """Grade one claim from its per-run conditions (``{"+": (R,) bool, "-": (R,) bool}``), pooled over both signs."""
    pooled = {name: share(int(sum(int(c[s].sum()) for s in "+-")), int(sum(c[s].numel() for s in "+-")))
              for name, c in (("strict", strict), ("weak", weak))}
    grade = ("holds" if pooled["strict"].low >= HOLDS_AT else
             "breaks" if pooled["weak"].high < BREAKS_BELOW else "qualified")
    return Verdict(claim, grade, numbers, pooled)


def claim_verdicts(mae: Mapping[str, Mapping[str, torch.Tensor]], cl: Mapping[str, Mapping[str, torch.Tensor]]
                   ) -> dict[str, Verdict]:
    """The five verdicts (module docstring). ``mae``, ``cl``: ``{"+": history, "-": history}`` for the runs with
    ``Δ > 0`` and ``Δ < 0``, each a history of :func:`sslvit.beyond.fullq.train_fullq` (metric → ``(T, R)``,
    logged at steps 0, 1 and the last step; CL histories may carry ``cls_global_attention``); run ``r`` of MAE and
    of CL have the same seed."""
    for name, runs in (("mae", mae), ("cl", cl)):
        if set(runs) != {"+", "-"}:
            raise ValueError(f"{name} must map '+' and '-' (the two signs of Delta) to histories, got {sorted(runs)}")
    last = {(o, s): {k: v[-1] for k, v in runs[s].items()} for o, runs in (("mae", mae), ("cl", cl)) for s in "+-"}
    for s in "+-":
        if last["mae", s]["nmi"].shape != last["cl", s]["nmi"].shape:
            raise ValueError(f"MAE and CL must have the same runs (seeds) for Delta {s}")
    own = {s: last["mae", s]["own_area_attention"] for s in "+-"}
    local = {s: (own[s] >= 0.5) & (own[s] > last["mae", s]["global_area_attention"]) for s in "+-"}
    out = {"mae_local": _verdict("mae_local", local, local, {"min_own_pos": float(own["+"].min()),
                                                              "min_own_neg": float(own["-"].min())})}
    ratio = {s: first_step_ratio(mae[s]) for s in "+-"}
    phases = {"+": ratio["+"] > 1, "-": ratio["-"] < 1}
    out["phase_one"] = _verdict("phase_one", phases, phases, {"min_ratio_pos": float(ratio["+"].min()),
                                                               "max_ratio_neg": float(ratio["-"].max())})
    key = "cls_global_attention" if "cls_global_attention" in cl["+"] else "global_area_attention"
    glob = {s: last["cl", s][key] for s in "+-"}
    out["cl_global"] = _verdict("cl_global", {s: glob[s] >= 0.9 for s in "+-"}, {s: glob[s] >= 0.5 for s in "+-"},
                                {"min_global": min(float(glob[s].min()) for s in "+-")})
    cl_nmi = {s: last["cl", s]["nmi"] for s in "+-"}
    max_cl_nmi = max(float(cl_nmi[s].max()) for s in "+-")
    out["cl_one_pattern"] = _verdict("cl_one_pattern", {s: cl_nmi[s] <= 0.05 for s in "+-"},
                                     {s: cl_nmi[s] <= 0.1 for s in "+-"}, {"max_cl_nmi": max_cl_nmi})
    mae_nmi = {s: last["mae", s]["nmi"] for s in "+-"}
    out["mae_vs_cl"] = _verdict("mae_vs_cl", {s: mae_nmi[s] >= torch.clamp(10 * cl_nmi[s], min=0.2) for s in "+-"},
                                {s: mae_nmi[s] > cl_nmi[s] for s in "+-"},
                                {"min_mae_nmi": min(float(mae_nmi[s].min()) for s in "+-"), "max_cl_nmi": max_cl_nmi})
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

#: each definition's name as MyST Markdown with its math typeset, for the text of chapter 14
GAP_DEFINITIONS_MD: dict[str, str] = {
    "2κs − κc − 1 (the book's)": r"$2\kappa_s - \kappa_c - 1$ (the book's)",
    "with the masking factor 1 − γ": r"with the masking factor $1 - \gamma$",
    "with 1 − γ and C_c − 1": r"with $1 - \gamma$ and $C_c - 1$",
    "κs − κc (sizes only)": r"$\kappa_s - \kappa_c$ (sizes only)",
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
                      seeds: Sequence[int], log_steps: Sequence[int], progress: Optional[bool] = None) -> SweepResult:
    """Train MAE and CL under ``variant`` on the data of both signs of ``Δ`` (``data["+"]``, ``data["-"]``), one
    run per seed, with the settings ``train["mae"]``, ``train["cl"]`` (their ``seed`` is replaced), and grade the
    five claims (:func:`claim_verdicts`). ``log_steps`` must contain 0 and 1 (the first-step ratio). ``progress``:
    a bar for each of the four trainings (default: when someone watches, :func:`sslvit.core.training.watched`)."""
    if not {0, 1} <= set(log_steps):
        raise ValueError(f"log_steps={list(log_steps)} must contain 0 and 1 (the first-step ratio)")
    histories: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    seconds, steps = 0.0, []
    for objective in ("mae", "cl"):
        histories[objective] = {}
        for sign in ("+", "-"):
            runs = [Run(data[sign], replace(train[objective], seed=s)) for s in seeds]
            traj = train_fullq(runs, variant=variant, log_steps=log_steps, progress=progress)
            histories[objective][sign], steps, seconds = traj.history, traj.steps, seconds + traj.seconds
    return SweepResult(claim_verdicts(histories["mae"], histories["cl"]), histories, steps, seconds)


def sweep_from_stored(sweep: Mapping[str, Mapping], steps: Sequence[int] = (0, 1, 60)) -> dict[str, SweepResult]:
    """The sweeps of a stored measurement (``benchmarks/sensitivity_seeds.py``, ``"sweep"``: variant → objective
    → sign → metric → ``[[value per run] per logged step]``) as :class:`SweepResult` objects, graded again by
    :func:`claim_verdicts`, so that chapter 14 reads twenty seeds without training them."""
    out = {}
    for name, by_objective in sweep.items():
        histories = {obj: {sign: {m: torch.tensor(v, dtype=torch.float64) for m, v in metrics.items()}
                           for sign, metrics in by_sign.items()} for obj, by_sign in by_objective.items()}
        out[name] = SweepResult(claim_verdicts(histories["mae"], histories["cl"]), histories, list(steps), 0.0)
    return out


def landing_areas(traj: FullQTrajectory, batch: int = 64, seed: int = 99) -> list[dict]:
    """Where each run puts the attention of its local queries, cluster by cluster (chapter 14's cosine study).

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
