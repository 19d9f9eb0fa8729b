"""The engine's cost against the number of patches (the book's reproducibility appendix): time per training step and per evaluation,
and peak memory, from the rows of the benchmark's scaling section (``benchmarks/bench_engine.py``, part c)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt

__all__ = ["scaling_figure"]


def scaling_figure(rows: Sequence[dict], exponent: float) -> plt.Figure:
    """Two panels: milliseconds per training step and per evaluation against ``P`` (log-log, with the fitted
    power law of the step), and the peak memory of the process in GB. ``rows``: dicts with ``patches``,
    ``ms_per_step``, ``seconds_per_evaluation``, ``peak_memory_gb``."""
    P = [r["patches"] for r in rows]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    step = [r["ms_per_step"] for r in rows]
    ax_t.loglog(P, step, "o-", color="C0", label="one training step (fast engine)")
    ax_t.loglog(P, [1e3 * r["seconds_per_evaluation"] for r in rows], "s--", color="C1",
                label="one evaluation (dense attention)")
    ref = [step[-1] * (p / P[-1]) ** exponent for p in P]
    ax_t.loglog(P, ref, ":", color="grey", label=f"$\\propto P^{{{exponent:.2f}}}$ (fit of the step)")
    ax_t.set_xlabel("patches $P$")
    ax_t.set_ylabel("time (ms)")
    ax_t.legend(fontsize=8)
    ax_m.semilogx(P, [r["peak_memory_gb"] for r in rows], "o-", color="C2")
    ax_m.set_xlabel("patches $P$")
    ax_m.set_ylabel("peak memory of the process (GB)")
    ax_m.set_ylim(bottom=0)
    for ax in (ax_t, ax_m):
        ax.set_xticks(P, [str(p) for p in P])
        ax.minorticks_off()
    fig.tight_layout()
    return fig
