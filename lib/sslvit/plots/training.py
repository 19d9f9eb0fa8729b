"""Training trajectories on a log-step axis, with the phases of MAE shaded (book chapter 4).

Every function takes the logged ``steps`` and ``(T, S)`` tensors of a :class:`~sslvit.train.Trajectory`
history restricted to the ``S`` seeds of one configuration (``history[name][:, idx]``). Step 0 cannot be
drawn on a log axis, so the curves start at the first logged step ``> 0``. Each seed is a thin line, their
mean a thick one.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from sslvit.analysis.phases import Phases, interval_rates
from sslvit.core.attention import queries_by_kind

__all__ = ["PHASE_COLORS", "METRIC_LABELS", "plot_seeds", "shade_phases", "plot_phase_panel", "plot_rates_panel",
           "phase_figure", "loss_figure", "attention_before_after", "phase_length_figure"]

#: background of Phase I and Phase II
PHASE_COLORS = {"I": "#fde0c5", "II": "#d9ead3"}
#: (label, colour) of the metrics drawn in chapter 4
METRIC_LABELS = {
    "fp_own": ("own-area FP correlation $A_{p,k,j(p)}$", "#2ca02c"),
    "fp_global": ("global FP correlation $A_{p,k,\\mathrm{glob}}$", "#ff7f0e"),
    "own_area_attention": ("attention on own area", "#2ca02c"),
    "global_area_attention": ("attention on global area", "#ff7f0e"),
    "loss": ("MAE loss of the model", "#1f77b4"),
    "oracle_loss": ("loss of the oracle", "0.35"),
}
XLABEL = "training step (log scale)"


def _positive(steps: Sequence[int], values: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(list(steps), dtype=float)
    v = torch.as_tensor(values, dtype=torch.float64).numpy()
    if v.ndim == 1:
        v = v[:, None]
    if v.shape[0] != s.size:
        raise ValueError(f"values have {v.shape[0]} rows but there are {s.size} logged steps")
    keep = s > 0
    return s[keep], v[keep]


def plot_seeds(ax: plt.Axes, steps: Sequence[int], values: torch.Tensor, label: str, color: str,
               linestyle: str = "-") -> None:
    """One thin line per seed and their mean (thick, labelled) against the step, on a log-x axis.

    ``values`` ``(T,)`` or ``(T, S)``.
    """
    s, v = _positive(steps, values)
    if v.shape[1] > 1:
        ax.plot(s, v, color=color, lw=0.7, alpha=0.45, linestyle=linestyle)
    ax.plot(s, v.mean(1), color=color, lw=2.0, label=label, linestyle=linestyle)
    ax.set_xscale("log")


def shade_phases(ax: plt.Axes, phases: Sequence[Phases], last_step: int, label: bool = True,
                 label_y: float = 0.97) -> Optional[float]:
    """Shade Phase I (up to the median boundary over seeds) and Phase II, draw each seed's boundary.

    ``phases``: one :class:`~sslvit.analysis.phases.Phases` per seed. Returns the median boundary step (``None`` when
    most seeds have no Phase I; then the whole axis is shaded as Phase II, a single phase). With ``label``,
    writes "Phase I" and "Phase II" at height ``label_y`` (axes fraction) when there are two phases.
    """
    if not phases:
        raise ValueError("phases is empty")
    first = max(1.0, float(min(p.first_step for p in phases)))
    bounds = [p.boundary for p in phases if p.has_phase_one]
    if len(bounds) * 2 <= len(phases):  # most seeds have no Phase I
        ax.axvspan(first, last_step, color=PHASE_COLORS["II"], alpha=0.5, lw=0, zorder=0)
        return None
    finite = [float(b) if b is not None else float(last_step) for b in bounds]
    median = float(np.median(finite))
    ax.axvspan(first, median, color=PHASE_COLORS["I"], alpha=0.7, lw=0, zorder=0)
    ax.axvspan(median, last_step, color=PHASE_COLORS["II"], alpha=0.5, lw=0, zorder=0)
    for i, b in enumerate(finite):
        ax.axvline(b, color="0.25", lw=1.0, linestyle="--", zorder=1, label="phase boundary (per seed)" if i == 0 else None)
    if label:
        for text, x in (("Phase I", np.sqrt(first * median)), ("Phase II", np.sqrt(median * last_step))):
            ax.text(x, label_y, text, transform=ax.get_xaxis_transform(), va="top", ha="center", fontsize=8)
    return median


def plot_phase_panel(ax: plt.Axes, steps: Sequence[int], history: Mapping[str, torch.Tensor],
                     metrics: Sequence[str], phases: Optional[Sequence[Phases]] = None,
                     ylabel: str = "FP correlation", title: Optional[str] = None,
                     overtake: bool = False, marks: Optional[Mapping[str, int]] = None, label_y: float = 0.97,
                     label: bool = True) -> None:
    """Curves of ``metrics`` (``history[name]`` ``(T, S)``) on a log-step axis, phases shaded when given.

    ``overtake``: also mark the median overtaking step (``fp_own ≥ |fp_global|``) with a dotted line.
    ``marks``: extra labelled vertical lines, label → step (e.g. the default step budget).
    ``label_y``: height of the "Phase I" / "Phase II" labels (axes fraction); ``label=False`` leaves them to a
    legend.
    """
    last = int(max(steps))
    if phases is not None:
        shade_phases(ax, phases, last, label=label, label_y=label_y)
        if overtake:
            over = [p.overtake for p in phases if p.overtake is not None]
            if over:
                ax.axvline(float(np.median(over)), color="0.25", lw=1.2, linestyle=":",
                           label="own FP overtakes |global FP| (median)")
    for name in metrics:
        label, color = METRIC_LABELS.get(name, (name, None))
        plot_seeds(ax, steps, history[name], label, color)  # type: ignore[arg-type]
    for text, step in (marks or {}).items():
        ax.axvline(step, color="purple", lw=1.0, linestyle="-.", label=text)
    ax.axhline(0.0, color="0.5", lw=0.6)
    ax.set_xlim(max(1.0, float(min(s for s in steps if s > 0))), last)
    ax.set_xlabel(XLABEL)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def plot_rates_panel(ax: plt.Axes, steps: Sequence[int], fp_own: torch.Tensor, fp_global: torch.Tensor,
                     phases: Optional[Sequence[Phases]] = None, title: Optional[str] = None,
                     label_y: float = 0.1, label: bool = True) -> None:
    """Per-step growth rate of ``fp_own`` and decoupling rate of ``fp_global`` (:func:`sslvit.analysis.phases.interval_rates`)
    on log-log axes, at the geometric middle of each logged interval; ``fp_own``, ``fp_global`` ``(T, S)``.
    Phase I is where the decoupling curve lies above the growth curve. Non-positive rates are not drawn.
    ``label_y``: height of the phase labels (axes fraction)."""
    s = list(steps)
    own = torch.as_tensor(fp_own, dtype=torch.float64)
    glob = torch.as_tensor(fp_global, dtype=torch.float64)
    own, glob = (own[:, None], glob[:, None]) if own.ndim == 1 else (own, glob)
    us, vs = zip(*(interval_rates(s, own[:, r], glob[:, r]) for r in range(own.shape[1])))
    u, v = torch.stack(us, 1), torch.stack(vs, 1)                            # (T - 1, S)
    lo = np.maximum(np.asarray(s[:-1], dtype=float), 0.5)
    mid = np.sqrt(lo * np.asarray(s[1:], dtype=float))
    last = int(max(s))
    if phases is not None:
        shade_phases(ax, phases, last, label=label, label_y=label_y)
    for values, name, text in ((u, "fp_own", "growth rate of own FP"),
                               (v, "fp_global", "decoupling rate of global FP")):
        vals = values.numpy().copy()
        vals[vals <= 0] = np.nan
        color = METRIC_LABELS[name][1]
        if vals.shape[1] > 1:
            ax.plot(mid, vals, color=color, lw=0.7, alpha=0.45)
        ax.plot(mid, np.nanmean(vals, 1), color=color, lw=2.0, label=text)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(max(1.0, float(min(x for x in s if x > 0))), last)
    ax.set_xlabel(XLABEL)
    ax.set_ylabel("rate (logit units per step)")
    if title:
        ax.set_title(title)


def _figure_legend(fig: plt.Figure, axes: Sequence[plt.Axes], phases: bool = False, ncol: int = 2) -> None:
    """One legend for the whole figure, below its panels, with each label once; ``phases`` adds the two
    shadings (Phase I, Phase II)."""
    from matplotlib.patches import Patch

    seen: dict[str, object] = {}
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(l, h)
    if phases:
        seen["Phase I (shaded)"] = Patch(color=PHASE_COLORS["I"], alpha=0.7, lw=0)
        seen["Phase II (shaded)"] = Patch(color=PHASE_COLORS["II"], alpha=0.5, lw=0)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside lower center", ncol=ncol, fontsize="small")


def phase_figure(steps: Sequence[int], history: Mapping[str, torch.Tensor], groups: Mapping[str, Sequence[int]],
                 phases: Sequence[Phases], ceiling: Optional[float] = None, marks: Optional[Mapping[str, int]] = None,
                 rates: bool = True) -> plt.Figure:
    """The chapter-4 trajectory figure: one column per configuration (``groups``: title → run indices, the
    seeds). Rows: FP correlations; with ``rates``, their per-step growth and decoupling rates; the attention
    of local queries on their own and on the global area. Phases shaded from ``phases`` (one per run, indexed
    like the runs), one legend below the panels. ``ceiling``: the own-area attention ceiling ``1 − γ^{C_c}``,
    a horizontal line. ``marks``: labelled vertical lines, label → step. Drawn about as wide as a page, so its
    text is legible at the size the book shows it.
    """
    cols = len(groups)
    rows = 3 if rates else 2
    fig, axes = plt.subplots(rows, cols, figsize=(2.45 * cols + 0.7, 2.1 * rows + 1.4), squeeze=False,
                             sharex="col", layout="constrained")
    for c, (title, idx) in enumerate(groups.items()):
        idx = list(idx)
        sub = {k: v[:, idx] for k, v in history.items()}
        ph = [phases[i] for i in idx]
        plot_phase_panel(axes[0, c], steps, sub, ("fp_own", "fp_global"), ph, "FP correlation",
                         title, overtake=True, marks=marks, label=False)
        if rates:
            plot_rates_panel(axes[1, c], steps, sub["fp_own"], sub["fp_global"], ph, label=False)
            axes[1, c].set_ylabel("rate per step")
        ax = axes[-1, c]
        plot_phase_panel(ax, steps, sub, ("own_area_attention", "global_area_attention"), ph,
                         "attention mass", None, marks=marks, label=False)
        if ceiling is not None:
            ax.axhline(ceiling, color="firebrick", lw=1.0, linestyle=(0, (4, 2)),
                       label=f"ceiling $1-\\gamma^{{C_c}}$ = {ceiling:.4g}")
        ax.set_ylim(-0.02, 1.02)
        for a in axes[:-1, c]:
            a.set_xlabel("")
        for a in axes[:, c]:
            if c > 0:
                a.set_ylabel("")
    _figure_legend(fig, axes.flat, phases=True)
    return fig


def loss_figure(steps: Sequence[int], history: Mapping[str, torch.Tensor], groups: Mapping[str, Sequence[int]],
                marks: Optional[Mapping[str, int]] = None) -> plt.Figure:
    """MAE loss against the oracle's loss (chapter 4) over training (top, log-log) and their difference
    ``loss − oracle_loss`` (bottom, symmetric-log y, linear within ±1e-3), one column per configuration
    (``groups`` as in :func:`phase_figure`), one legend below the panels; about as wide as a page."""
    cols = len(groups)
    fig, axes = plt.subplots(2, cols, figsize=(2.45 * cols + 0.7, 5.4), squeeze=False, sharex="col",
                             layout="constrained")
    for c, (title, idx) in enumerate(groups.items()):
        idx = list(idx)
        ax = axes[0, c]
        for name in ("loss", "oracle_loss"):
            label, color = METRIC_LABELS[name]
            plot_seeds(ax, steps, history[name][:, idx], label, color, "-" if name == "loss" else "--")
        ax.set_yscale("log")
        ax.set_ylabel("MAE loss" if c == 0 else "")
        ax.set_title(title)
        ax = axes[1, c]
        plot_seeds(ax, steps, history["loss"][:, idx] - history["oracle_loss"][:, idx], "loss − oracle loss", "#9467bd")
        ax.axhline(0.0, color="0.2", lw=0.8)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_ylabel("loss − oracle loss" if c == 0 else "")
        ax.set_xlabel(XLABEL)
        for a in axes[:, c]:
            for text, step in (marks or {}).items():
                a.axvline(step, color="purple", lw=1.0, linestyle="-.", label=text)
            a.set_xlim(max(1.0, float(min(s for s in steps if s > 0))), max(steps))
    _figure_legend(fig, axes.flat, ncol=3)
    return fig


# ---- attention maps before and after training ------------------------------------------------------------------



def attention_before_after(maps: Sequence[tuple[str, object, object]], image: int, grid_hw: tuple[int, int],
                           queries: Optional[Sequence[int]] = None) -> plt.Figure:
    """Attention maps at initialisation and after training, two rows per configuration.

    ``maps``: ``(label, init_view, trained_view)`` per configuration, where the views are
    :class:`sslvit.core.attention.AttentionView` of the same images (same ``seed`` and ``batch``). ``image``: which
    image of the views to draw. ``queries``: query positions (default: :func:`sslvit.core.attention.queries_by_kind` on the image of
    each configuration). Uses :func:`sslvit.plots.attention.attention_grid`, then puts both rows of a
    configuration on one colour scale (0 to the largest weight of the trained map), so that the uniform
    attention at initialisation, ``1/P``, shows as dark.
    """
    from .attention import attention_grid

    if not maps:
        raise ValueError("maps is empty")
    picked = []
    for label, init, trained in maps:
        if not torch.equal(init.sample.visible, trained.sample.visible):  # type: ignore[attr-defined]
            raise ValueError(f"{label}: the two views must show the same images (same batch and seed)")
        qs = list(queries) if queries is not None else list(
            queries_by_kind(trained.key_area[image], trained.sample.visible[image]).values())  # type: ignore[attr-defined]
        picked.append(qs)
    cols = max(len(q) for q in picked)
    rows = 2 * len(maps)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 1.2, 1.95 * rows + 0.4), squeeze=False,
                             layout="constrained")
    for m, ((label, init, trained), qs) in enumerate(zip(maps, picked)):
        sub = axes[2 * m:2 * m + 2, :len(qs)]
        attn = torch.stack([init.attn[image], trained.attn[image]])  # type: ignore[attr-defined]
        key_area = torch.stack([init.key_area[image], trained.key_area[image]])  # type: ignore[attr-defined]
        vis = torch.stack([init.sample.visible[image], trained.sample.visible[image]])  # type: ignore[attr-defined]
        attention_grid(attn, key_area, vis, qs, grid_hw, row_labels=[f"{label}\ninitialisation", f"{label}\ntrained"],
                       axes=sub)
        vmax = float(attn[1][qs].max())
        for ax in sub.flat:
            for im in ax.get_images():
                im.set_clim(0.0, vmax)
        if queries is None:
            kinds = queries_by_kind(trained.key_area[image], trained.sample.visible[image])  # type: ignore[attr-defined]
            for c, (kind, q) in enumerate(kinds.items()):
                sub[0, c].set_title(f"{kind}\n(query {q})", fontsize=8)
        for ax in axes[2 * m:2 * m + 2, len(qs):].flat:
            ax.set_visible(False)
    return fig


def phase_length_figure(rows: Sequence[Mapping], law: "object", delta: float) -> plt.Figure:
    """Phase I against the number of patches (chapter 4). Left: chapter 3's exact ratio ``ρ = r_dec,0/r_grow,0`` (lines)
    and the measured first-step ratio of every run (dots) against ``P``, one colour per sign of Δ, with ``ρ = 1``
    (Phase I exists above it). Right: Phase I's length on the decoupling clock, ``r_dec,0 T_I``, of every run with
    ``Δ > 0`` (dots) and its median (line), against the model ``constant · (ρ − 1)`` of
    :class:`~sslvit.analysis.phase_length.LengthLaw` ``law`` and a ``P^Δ`` line through the first median.
    ``rows``: dicts of :meth:`~sslvit.analysis.phase_length.PhaseLength.to_dict`. Legends below the panels; the
    right panel's vertical axis is Phase I's length on the decoupling clock."""
    fig, (ax_r, ax_t) = plt.subplots(1, 2, figsize=(7.6, 4.6), layout="constrained")
    for sign, color in ((1, "#9467bd"), (-1, "#1f77b4")):
        part = [r for r in rows if np.sign(r["delta"]) == sign]
        if not part:
            continue
        ps = sorted({r["patches"] for r in part})
        exact = [next(r["ratio"] for r in part if r["patches"] == p) for p in ps]
        label = f"$\\Delta \\approx {np.median([r['delta'] for r in part]):+.2f}$"
        ax_r.loglog(ps, exact, "-", color=color, label=f"{label}: exact (chapter 3)")
        ax_r.loglog([r["patches"] for r in part], [r["first_ratio"] for r in part], "o", color=color, ms=4,
                    alpha=0.7, label=f"{label}: first step")
    ax_r.axhline(1.0, color="0.3", lw=1.0, ls="--", label="$\\rho = 1$")
    ax_r.set_xlabel("patches $P$")
    ax_r.set_ylabel("$\\rho$ (decoupling / growth at $Q = 0$)")
    ax_r.set_title("(a) Phase I exists where $\\rho > 1$")
    ax_r.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=1)
    pos = [r for r in rows if r["ratio"] > 1 and r["boundary"]]
    ax_t.loglog([r["patches"] for r in pos], [r["decouple"] * r["boundary"] for r in pos], "o", color="#9467bd",
                ms=4, alpha=0.7, label="each seed")
    ax_t.loglog(law.patches, law.median_time, "-", color="#9467bd", label="median over seeds")
    ax_t.loglog(law.patches, [law.predicted(e) for e in law.excess], "--", color="0.2",
                label=f"model ${law.constant:.2f}\\,(\\rho - 1)$")
    ax_t.loglog(law.patches, [law.median_time[0] * (p / law.patches[0]) ** delta for p in law.patches], ":",
                color="0.5", label=f"$\\propto P^{{{delta:.2f}}}$")
    ax_t.set_xlabel("patches $P$")
    ax_t.set_ylabel("$r_{\\mathrm{dec},0}\\, T_I$")
    ax_t.set_title(f"(b) length of Phase I, $\\Delta \\approx {delta:+.2f}$")
    ax_t.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=2)
    for ax in (ax_r, ax_t):
        ps = sorted({r["patches"] for r in rows})
        ax.set_xticks(ps, [str(p) for p in ps])
        ax.minorticks_off()
    ticks = [v for v in (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0) if min(law.median_time) / 1.6 <= v <= max(law.median_time) * 1.6]
    ax_t.set_yticks(ticks, [f"{v:g}" for v in ticks])
    return fig
