"""Figures of the information-gap chapter (book chapter 3): the two competing rates at initialisation, their
ratio against ``P`` on log-log axes, fitted slopes against ``Δ``, where the asymptotics hold in the
``(κ_s, κ_c)`` plane, and the ratio at a fixed ``P`` against ``Δ``.

Every function takes optional axes, labels them and returns the figure (or the axes) so the chapter can
``glue`` it. Inputs are :class:`sslvit.analysis.theory.RatioFit` objects or plain sequences.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize

from sslvit.analysis.theory import RatioFit

__all__ = ["delta_color", "plot_ratio_fits", "plot_rates", "plot_slope_vs_delta", "plot_deviation_map",
           "plot_ratio_vs_delta"]

_DELTA_CMAP = "coolwarm"


def delta_color(delta: float, vmax: float = 0.5) -> tuple:
    """Colour of a configuration by its gap: blue for ``Δ < 0``, red for ``Δ > 0``, black for ``Δ = 0``."""
    if abs(delta) < 1e-9:
        return (0.0, 0.0, 0.0, 1.0)
    x = 0.5 + 0.5 * max(-1.0, min(1.0, delta / vmax))
    # skip the pale centre of the colour map so small gaps stay visible
    x = 0.5 + (x - 0.5) * 0.75 + (0.125 if x > 0.5 else -0.125)
    return plt.get_cmap(_DELTA_CMAP)(x)


def _label(fit: RatioFit) -> str:
    return rf"$\kappa_s$ = {fit.kappa_s:g}, $\kappa_c$ = {fit.kappa_c:g}: $\Delta$ = {fit.delta:+.2f}, slope {fit.slope:+.3f}"


def _check_fits(fits: Sequence[RatioFit]) -> None:
    if len(fits) == 0:
        raise ValueError("fits is empty: give at least one RatioFit")
    for f in fits:
        if not isinstance(f, RatioFit):
            raise TypeError(f"expected sslvit.analysis.theory.RatioFit objects, got {type(f).__name__}")


def plot_ratio_fits(fits: Sequence[RatioFit], ax: Optional[plt.Axes] = None, title: Optional[str] = None) -> plt.Axes:
    """Ratio (decoupling rate / growth rate) against ``P`` on log-log axes, one colour per ``(κ_s, κ_c)``:
    markers are the exact rates, dashed lines the least-squares fits; the legend gives ``Δ`` and the slope."""
    _check_fits(fits)
    ax = ax or plt.gca()
    for fit in sorted(fits, key=lambda f: -f.delta):
        color = delta_color(fit.delta)
        P = np.array(fit.patches, dtype=float)
        ax.plot(P, fit.ratios, "o", ms=3.5, color=color, label=_label(fit))
        ax.plot(P, fit.fitted(P), "--", lw=1.0, color=color)
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("number of patches $P$")
    ax.set_ylabel("decoupling rate / growth rate")
    ax.set_title(title or "Ratio of the two rates at initialisation (dashed: fits)")
    ax.legend(fontsize="x-small", loc="best", ncol=1)
    return ax


def plot_rates(fits: Sequence[RatioFit], axes: Optional[Sequence[plt.Axes]] = None) -> plt.Figure:
    """Two panels: decoupling rate ``E[∂/∂A_global]`` and growth rate ``−E[∂/∂A_own]`` against ``P`` (log-log),
    each with a dotted reference line of slope ``2κ_s − 2`` resp. ``κ_c − 1`` through its largest-``P`` point;
    one legend below the panels. Drawn about as wide as a page."""
    _check_fits(fits)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(7.6, 4.2), layout="constrained")
    else:
        fig = axes[0].figure
    for fit in sorted(fits, key=lambda f: -f.delta):
        color = delta_color(fit.delta)
        P = np.array(fit.patches, dtype=float)
        for ax, values, expo in ((axes[0], [r.decouple for r in fit.rates], 2 * fit.kappa_s - 2),
                                 (axes[1], [r.grow for r in fit.rates], fit.kappa_c - 1)):
            ax.plot(P, values, "o-", ms=3, lw=1.0, color=color,
                    label=rf"$\kappa_s = {fit.kappa_s:g}$, $\kappa_c = {fit.kappa_c:g}$ ($\Delta = {fit.delta:+.2f}$)")
            ref = values[-1] * (P / P[-1]) ** expo
            ax.plot(P, ref, ":", lw=1.6, color=color)
    for ax, what in ((axes[0], r"$\mathbb{E}[\partial \ell / \partial A_{\mathrm{global}}]$"),
                     (axes[1], r"$-\mathbb{E}[\partial \ell / \partial A_{\mathrm{own}}]$")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("number of patches $P$")
        ax.set_ylabel(what)
    axes[0].set_title(r"(a) global FP pushed down")
    axes[1].set_title(r"(b) own FP pushed up")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], ls=":", lw=1.6, color="0.3"))
    labels.append(r"dotted: slope $2\kappa_s - 2$ in (a), $\kappa_c - 1$ in (b)")
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize="small")
    return fig


def plot_slope_vs_delta(fits_by_range: Mapping[str, Sequence[RatioFit]], ax: Optional[plt.Axes] = None,
                        band: float = 0.1) -> plt.Axes:
    """Fitted slope against ``Δ``, one marker style per range of ``P`` (mapping label → fits), with the
    identity line and a ``± band`` strip."""
    if len(fits_by_range) == 0:
        raise ValueError("fits_by_range is empty")
    ax = ax or plt.gca()
    deltas = [f.delta for fits in fits_by_range.values() for f in fits]
    lo, hi = min(deltas) - 0.1, max(deltas) + 0.1
    grid = np.linspace(lo, hi, 2)
    ax.fill_between(grid, grid - band, grid + band, color="0.85", label=rf"$|\mathrm{{slope}} - \Delta| \leq$ {band:g}")
    ax.plot(grid, grid, "k-", lw=0.9, label=r"slope = $\Delta$")
    markers = ["o", "s", "^", "D", "v"]
    for (label, fits), marker in zip(fits_by_range.items(), markers):
        _check_fits(fits)
        filled = marker == "o"
        ax.scatter([f.delta for f in fits], [f.slope for f in fits], marker=marker, s=30,
                   facecolors=[delta_color(f.delta) for f in fits] if filled else "none",
                   edgecolors=[delta_color(f.delta) for f in fits], label=label, zorder=3)
    ax.set_xlabel(r"information gap $\Delta = 2\kappa_s - \kappa_c - 1$")
    ax.set_ylabel("fitted log-log slope of the ratio")
    ax.set_title(r"Fitted exponent against $\Delta$")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax


def plot_deviation_map(kappa_s_values: Sequence[float], kappa_c_values: Sequence[float], deviation: np.ndarray,
                       ax: Optional[plt.Axes] = None, title: Optional[str] = None, vmax: float = 0.2) -> plt.Axes:
    """Heat map of ``slope − Δ`` over ``(κ_c, κ_s)`` (rows ``κ_s``, columns ``κ_c``); cells with
    ``|slope − Δ| > 0.1`` outlined, undefined cells (NaN) grey; the line ``Δ = 0`` dashed."""
    dev = np.asarray(deviation, dtype=float)
    ks, kc = np.asarray(kappa_s_values, dtype=float), np.asarray(kappa_c_values, dtype=float)
    if dev.shape != (ks.size, kc.size):
        raise ValueError(f"deviation has shape {dev.shape}, expected {(ks.size, kc.size)}")
    if ks.size < 2 or kc.size < 2:
        raise ValueError("need at least two values of each kappa for a map")
    ax = ax or plt.gca()
    dks, dkc = ks[1] - ks[0], kc[1] - kc[0]
    extent = (kc[0] - dkc / 2, kc[-1] + dkc / 2, ks[0] - dks / 2, ks[-1] + dks / 2)
    ax.set_facecolor("0.8")
    ax.grid(False)
    im = ax.imshow(np.ma.masked_invalid(dev), origin="lower", extent=extent, aspect="auto", cmap="PuOr_r",
                   norm=Normalize(-vmax, vmax))
    for i in range(ks.size):
        for j in range(kc.size):
            if np.isfinite(dev[i, j]) and abs(dev[i, j]) > 0.1:
                ax.add_patch(plt.Rectangle((kc[j] - dkc / 2, ks[i] - dks / 2), dkc, dks, fill=False, ec="k", lw=1.2))
    x = np.linspace(extent[0], extent[1], 50)
    ax.plot(x, (1 + x) / 2, "k--", lw=0.9, label=r"$\Delta = 0$")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(r"$\kappa_c$ (local area size $P^{\kappa_c}$)")
    ax.set_ylabel(r"$\kappa_s$ (global area size $P^{\kappa_s}$)")
    ax.set_title(title or r"slope $- \Delta$")
    ax.legend(fontsize="x-small", loc="lower right")
    ax.figure.colorbar(im, ax=ax, label=r"fitted slope $- \Delta$")
    return ax


def plot_ratio_vs_delta(deltas: Sequence[float], ratios: Sequence[float], patches: int, mask_prob: float,
                        ax: Optional[plt.Axes] = None, highlight: Optional[Sequence[tuple[float, float, str]]] = None
                        ) -> plt.Axes:
    """Ratio at one ``P`` against the gap of every tiling ``(C_s, C_c)`` (log scale), with the leading-order
    law ``(1 − γ) P^Δ``, the line ``ratio = 1`` (above: the global FP falls faster than the own FP grows) and
    ``Δ = 0``. ``highlight``: optional ``(Δ, ratio, label)`` points to mark."""
    d, r = np.asarray(deltas, dtype=float), np.asarray(ratios, dtype=float)
    if d.shape != r.shape or d.size == 0:
        raise ValueError(f"deltas and ratios must be non-empty and of the same length, got {d.shape}, {r.shape}")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob={mask_prob} must be in (0, 1)")
    ax = ax or plt.gca()
    ax.scatter(d, r, s=6, c=[delta_color(x) for x in d], alpha=0.6, linewidths=0,
               label=rf"every tiling $(C_s, C_c)$ of $P$ = {patches}")
    grid = np.linspace(d.min(), d.max(), 200)
    ax.plot(grid, (1 - mask_prob) * patches**grid, "k-", lw=1.0, label=rf"$(1 - \gamma) P^{{\Delta}}$, $\gamma$ = {mask_prob:g}")
    ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
    ax.axvline(0.0, color="0.3", lw=0.8, ls="--")
    cross = math.log(1 / (1 - mask_prob)) / math.log(patches)
    ax.axvline(cross, color="tab:green", lw=0.9, ls="-.", label=rf"$(1 - \gamma) P^{{\Delta}} = 1$ at $\Delta$ = {cross:.3f}")
    if highlight:
        for hd, hr, text in highlight:
            ax.plot([hd], [hr], "o", ms=7, mfc="none", mec="k")
            ax.annotate(text, (hd, hr), xytext=(-10, 12), textcoords="offset points", fontsize="x-small", ha="right",
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.5", lw=0.5),
                        arrowprops=dict(arrowstyle="-", color="0.3", lw=0.7))
    ax.set_yscale("log")
    ax.set_xlabel(r"information gap $\Delta$ of the integer sizes")
    ax.set_ylabel("decoupling rate / growth rate")
    ax.set_title(f"Which rate wins at initialisation, $P$ = {patches}")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax
