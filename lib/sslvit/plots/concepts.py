"""Schematic figures that teach an argument rather than show a measurement: drawn from code, committed as
images under ``book/images`` and shown with a ``{figure}`` directive.

* :func:`forces_figure` serves chapter 3 (``book/03_information_gap.ipynb``, "The two competing rates"): at
  ``Q = 0`` a masked query in a local area feels two gradient forces on its feature-position (FP)
  correlations, decoupling (``A_global`` falls at the rate ``r_dec = Θ((C_s/P)²)``) and growth (``A_own``
  rises at the rate ``r_grow = Θ(C_c/P)``); their ratio ``ρ ≈ (1 - γ) P^Δ`` decides whether MAE starts with a
  Phase I. The two small examples are drawn to scale from :func:`sslvit.analysis.theory.init_rates`.
* :func:`symmetry_figure` serves chapter 5 (``book/05_cl.ipynb``, "Why every query is pulled to the same
  place", exercise ``ch5-ex-symmetry``): from ``Q = 0`` every query has the same attention row; CL's loss sees
  the queries only through their mean output, so every row of ``Q`` gets the same gradient and the rows stay
  identical; MAE's loss gives every query its own target, so its rows come apart. The attention matrices are
  the reference patterns of :func:`sslvit.analysis.cl.pattern_attention` on a small image (all patches
  visible).

``python -m sslvit.plots.concepts book/images`` writes ``ch3_forces.png`` and ``ch5_symmetry.png`` there at
150 dpi, at the figures' own size (no tight bounding box, so the image is ``figsize × 150`` pixels).
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from .style import use_book_style

__all__ = ["forces_figure", "symmetry_figure", "write_figures", "FIGURES", "DPI", "EXAMPLE_SIZES", "EXAMPLE_PATCHES",
           "EXAMPLE_MASK_PROB"]

#: output file name -> the function that draws it
FIGURES = {"ch3_forces.png": "forces_figure", "ch5_symmetry.png": "symmetry_figure"}
#: resolution of the committed images
DPI = 150
#: smallest font size on these figures (the PDF shows them at their natural size, at most 6.27 in wide)
FONT = 9

# Okabe-Ito colours (safe for colour-blind readers), paired with a light and a dark tone so that the two
# forces stay apart in greyscale: the global area and decoupling orange (light), the own area and growth blue
# (dark).
_GLOBAL_FILL, _GLOBAL_LINE = "#f5d08a", "#a35f00"
_OWN_FILL, _OWN_LINE = "#8cc0e6", "#0061a0"
_LOCAL_FILL = "white"
_QUERY = "0.15"
_INK = "0.15"
_AREA_LINE = "#e69f00"


def _canvas(width: float, height: float) -> tuple[Figure, plt.Axes]:
    """A figure of ``width × height`` inches and one axes covering it whose data units are inches (origin at
    the lower left), with no frame, ticks or grid: every element is placed in inches."""
    use_book_style()
    fig = plt.figure(figsize=(width, height), layout="none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _arrow(ax: plt.Axes, start: tuple[float, float], end: tuple[float, float], color: str, lw: float = 2.4,
           head: float = 14, **kwargs) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>,head_length=0.5,head_width=0.28",
                                 mutation_scale=head, color=color, lw=lw, shrinkA=0, shrinkB=0, **kwargs))


def _title(ax: plt.Axes, x: float, y: float, text: str) -> None:
    ax.text(x, y, text, ha="left", va="top", fontsize=FONT + 1, weight="bold", color=_INK)


# ---- chapter 3: the two competing forces ----------------------------------------------------------------------

#: the patch grid of panel (a): 8 x 8 positions cut into 2 x 2 blocks; these blocks are local areas, the rest
#: is the global area (the background), as in the grid layout of chapter 1
_GRID, _BLOCK = 8, 2
_LOCAL_BLOCKS = ((0, 1), (0, 3), (1, 2), (2, 0), (3, 1), (3, 3))
_OWN_BLOCK, _QUERY_CELL = (1, 2), (2, 5)          # the query's own area and the query (row, column) in it
#: the two examples of panel (c) of :func:`forces_figure`, the sizes ``(C_s, C_c)`` of chapter 3's exercise
#: ch3-ex-first-step (one with rho > 1, one with rho < 1), at ``P = EXAMPLE_PATCHES`` and ``γ = EXAMPLE_MASK_PROB``
EXAMPLE_SIZES = ((64, 4), (16, 4))
EXAMPLE_PATCHES, EXAMPLE_MASK_PROB = 256, 0.5


def _patch_grid(ax: plt.Axes, x0: float, y0: float, cell: float) -> None:
    """Panel (a): the areas of one image on the patch grid (lower left corner ``(x0, y0)``, ``cell`` inches a
    patch) and the masked query in its own area."""
    n = _GRID
    at = lambda r, c: (x0 + c * cell, y0 + (n - 1 - r) * cell)      # lower left corner of patch (r, c)
    for r in range(n):
        for c in range(n):
            block = (r // _BLOCK, c // _BLOCK)
            fill = _OWN_FILL if block == _OWN_BLOCK else _LOCAL_FILL if block in _LOCAL_BLOCKS else _GLOBAL_FILL
            ax.add_patch(Rectangle(at(r, c), cell, cell, facecolor=fill, edgecolor="0.6", lw=0.5))
    for br, bc in _LOCAL_BLOCKS:                      # area borders
        own = (br, bc) == _OWN_BLOCK
        x, y = at(br * _BLOCK + _BLOCK - 1, bc * _BLOCK)
        ax.add_patch(Rectangle((x, y), _BLOCK * cell, _BLOCK * cell, fill=False,
                               edgecolor=_OWN_LINE if own else _INK, lw=2.0 if own else 1.1, zorder=3))
    x, y = at(*_QUERY_CELL)
    ax.add_patch(Rectangle((x, y), cell, cell, facecolor=_QUERY, edgecolor=_QUERY, zorder=4))
    ax.text(x + cell / 2, y + cell / 2, "$p$", color="white", ha="center", va="center", fontsize=FONT + 1, zorder=5)
    ax.add_patch(Rectangle((x0, y0), n * cell, n * cell, fill=False, edgecolor=_INK, lw=1.1, zorder=3))


def _swatch(ax: plt.Axes, x: float, y: float, fill: str, edge: str, text: str) -> None:
    """A legend row: a small square at ``(x, y)`` (its centre height ``y``) and ``text`` after it."""
    ax.add_patch(Rectangle((x, y - 0.08), 0.16, 0.16, facecolor=fill, edgecolor=edge, lw=1.0))
    ax.text(x + 0.25, y, text, ha="left", va="center", fontsize=FONT, color=_INK)


def _forces_query(ax: plt.Axes, top: float) -> None:
    """Panel (a) of :func:`forces_figure`: the patch grid and its legend, below ``top``."""
    _title(ax, 0.1, top, "(a) a masked local query")
    cell = 0.23
    _patch_grid(ax, 0.25, top - 0.32 - _GRID * cell, cell)
    for i, (fill, edge, text) in enumerate((
            (_GLOBAL_FILL, "0.6", r"global area ($C_s$ patches)"),
            (_LOCAL_FILL, _INK, r"local areas ($C_c$ patches each)"),
            (_OWN_FILL, _OWN_LINE, r"its own area $j_*$"),
            (_QUERY, _QUERY, r"the masked query $p$"))):
        _swatch(ax, 0.25, 2.66 - 0.24 * i, fill, edge, text)


def _forces_step(ax: plt.Axes, x0: float, top: float) -> None:
    """Panel (b) of :func:`forces_figure`: the two forces as two arrows of equal length (not to scale)."""
    _title(ax, x0, top, r"(b) the first gradient step from $Q = 0$")
    zero = 3.45
    ax.plot([x0 + 0.55, x0 + 1.25], [zero, zero], color=_INK, lw=1.0)
    ax.text(x0 + 0.5, zero, "start", ha="right", va="center", fontsize=FONT, color=_INK)
    _arrow(ax, (x0 + 0.75, zero), (x0 + 0.75, zero + 1.2), _OWN_LINE)
    _arrow(ax, (x0 + 1.05, zero), (x0 + 1.05, zero - 1.2), _GLOBAL_LINE)
    ax.text(x0 + 0.95, zero + 0.62, "growth pulls its attention\ntowards its own area:\n"
            "$A_{\\mathrm{own}}$ rises at rate $r_{\\mathrm{grow}} = \\Theta(C_c/P)$", ha="left", va="center",
            fontsize=FONT, color=_OWN_LINE, linespacing=1.5)
    ax.text(x0 + 1.25, zero - 0.62, "decoupling pushes it away\nfrom the global area:\n"
            "$A_{\\mathrm{global}}$ falls at rate\n$r_{\\mathrm{dec}} = \\Theta((C_s/P)^2)$", ha="left",
            va="center", fontsize=FONT, color=_GLOBAL_LINE, linespacing=1.5)


def _forces_outcome(ax: plt.Axes, top: float) -> None:
    """Panel (c) of :func:`forces_figure`: the ratio, and the two rates of each example as bars to scale."""
    from sslvit.analysis.theory import init_rates

    _title(ax, 0.1, top, r"(c) which force wins:  $\rho = r_{\mathrm{dec}}\,/\,r_{\mathrm{grow}} \approx "
           r"(1-\gamma)\,P^{\Delta}$,  $\Delta = 2\kappa_s - \kappa_c - 1$")
    ax.text(0.1, top - 0.27, rf"two examples at $P = {EXAMPLE_PATCHES}$, $\gamma = {EXAMPLE_MASK_PROB:g}$, bars to "
            r"scale: $r_{\mathrm{grow}}$ up, $r_{\mathrm{dec}}$ down", ha="left", va="top", fontsize=FONT, color=_INK)
    rates = [init_rates(EXAMPLE_PATCHES, c_s, c_c, EXAMPLE_MASK_PROB) for c_s, c_c in EXAMPLE_SIZES]
    unit = 0.55 / max(r.decouple for r in rates)            # inches per unit of rate: the longest bar 0.55 in
    zero, bar = 0.68, 0.14
    outcome = (r"$A_{\mathrm{global}}$ falls faster:" "\n" r"MAE starts with a Phase I",
               r"$A_{\mathrm{own}}$ grows faster from the" "\n" r"first step: no Phase I")
    for i, ((c_s, c_c), r) in enumerate(zip(EXAMPLE_SIZES, rates)):
        x = 0.25 + 3.05 * i
        ax.add_patch(Rectangle((x, zero), bar, r.grow * unit, facecolor=_OWN_FILL, edgecolor=_OWN_LINE, lw=1.0))
        ax.add_patch(Rectangle((x + bar + 0.06, zero), bar, -r.decouple * unit, facecolor=_GLOBAL_FILL,
                               edgecolor=_GLOBAL_LINE, lw=1.0))
        ax.plot([x - 0.08, x + 2 * bar + 0.14], [zero, zero], color=_INK, lw=1.0)
        sign = ">" if r.ratio > 1 else "<"
        ax.text(x + 0.55, zero + 0.12, rf"$(C_s, C_c) = ({c_s}, {c_c})$, $\Delta = {r.delta:+.2f}$:" "\n"
                rf"$\rho = {r.ratio:.2f} {sign} 1$", ha="left", va="bottom", fontsize=FONT, color=_INK,
                linespacing=1.4)
        ax.text(x + 0.55, zero - 0.08, outcome[0 if r.ratio > 1 else 1], ha="left", va="top", fontsize=FONT,
                color=_INK, linespacing=1.4)


def forces_figure() -> Figure:
    """Chapter 3's two competing forces on a masked local query at ``Q = 0``.

    (a) The areas of one image on a patch grid: the global area (the background, ``C_s`` patches), the local
    areas (``2 × 2`` blocks of ``C_c`` patches), and a masked query ``p`` in its own local area ``j_*``.
    (b) One gradient step of size ``η`` from ``Q = 0`` on this query's loss: decoupling lowers its global FP
    correlation ``A_global`` by ``η r_dec`` with ``r_dec = Θ((C_s/P)²)``, growth raises its own FP
    correlation ``A_own`` by ``η r_grow`` with ``r_grow = Θ(C_c/P)`` (chapter 3, eq. (gap-rates)); not to scale.
    (c) Their ratio ``ρ ≈ (1 - γ) P^Δ`` decides which moves faster: ``ρ > 1`` gives MAE a Phase I, ``ρ < 1``
    lets the own correlation win from the first step. The bars of (c) are to scale (one scale for all four):
    the exact expected rates of :func:`sslvit.analysis.theory.init_rates` for ``(C_s, C_c) = (64, 4)`` and
    ``(16, 4)`` at ``P = 256``, ``γ = 1/2`` (the sizes of exercise ``ch3-ex-first-step``).
    """
    W, H = 6.2, 5.1
    fig, ax = _canvas(W, H)
    _forces_query(ax, H - 0.08)
    _forces_step(ax, 2.85, H - 0.08)
    _forces_outcome(ax, 1.72)
    return fig


# ---- chapter 5: the symmetry argument --------------------------------------------------------------------------

#: the small image of the attention matrices: 16 positions sorted by area, the global area first (8 patches),
#: then two local areas of 4
_AREAS = (0,) * 8 + (1,) * 4 + (2,) * 4
#: one colour scale for the three matrices: white = 0, black = the largest weight (1/4, a query on its own area)
_ATTN_CMAP, _ATTN_MAX = "Greys", 0.25


def _attention(pattern: str):
    """The ``(P, P)`` attention of a reference pattern of :func:`sslvit.analysis.cl.pattern_attention` on the
    small image :data:`_AREAS`, every patch visible."""
    import torch

    from sslvit.analysis.cl import pattern_attention

    key_area = torch.tensor([_AREAS])
    return pattern_attention(key_area, torch.ones_like(key_area, dtype=torch.bool), pattern)[0].numpy()


def _matrix(ax: plt.Axes, attn, x0: float, y0: float, size: float, title: str, color: str) -> None:
    """Draw ``attn`` as a ``size``-inch square with its lower left corner at ``(x0, y0)``: rows are queries
    (top to bottom), columns keys; thin lines separate the areas, which are named below."""
    n = attn.shape[0]
    ax.imshow(attn, cmap=_ATTN_CMAP, vmin=0.0, vmax=_ATTN_MAX, extent=(x0, x0 + size, y0, y0 + size),
              interpolation="nearest", origin="upper")
    cell = size / n
    bounds = [i for i in range(1, n) if _AREAS[i] != _AREAS[i - 1]]
    for b in bounds:
        ax.plot([x0 + b * cell] * 2, [y0, y0 + size], color=_AREA_LINE, lw=1.0)
        ax.plot([x0, x0 + size], [y0 + size - b * cell] * 2, color=_AREA_LINE, lw=1.0)
    ax.add_patch(Rectangle((x0, y0), size, size, fill=False, edgecolor=_INK, lw=1.0))
    first_local = bounds[0] * cell
    ax.text(x0 + first_local / 2, y0 - 0.05, "global", ha="center", va="top", fontsize=FONT, color=_INK)
    ax.text(x0 + (first_local + size) / 2, y0 - 0.05, "local", ha="center", va="top", fontsize=FONT, color=_INK)
    ax.text(x0 + size / 2, y0 + size + 0.08, title, ha="center", va="bottom", fontsize=FONT, color=color,
            weight="bold", linespacing=1.4)


def symmetry_figure() -> Figure:
    """Chapter 5's symmetry argument, as attention matrices (rows: queries, columns: keys, darker: more
    attention) of a small image, 8 global and two local areas of 4 patches, every patch visible.

    Left: at step 0 (``Q = 0``) every query spreads its attention uniformly, ``1/P`` on every key, so all rows
    are the same. Top: CL's loss sees the queries only through the mean output ``f = (1/P) Σ_p F_p``, so
    every row ``e_p^T Q`` receives the same gradient and the rows stay identical at every step; the common
    row moves onto the global area. Bottom: MAE's loss ``ℓ_p`` compares each query's output with its own
    target ``x_p``, so the gradients differ between queries and the rows come apart: each query ends on its
    own area. The end states are :func:`sslvit.analysis.cl.pattern_attention`'s reference patterns
    ``"global"`` and ``"own"`` (schematic: trained rows vary from key to key within an area).
    """
    from .style import OBJECTIVE_COLORS

    W, H = 6.2, 4.1
    fig, ax = _canvas(W, H)
    size = 1.2
    left, right = (0.3, 1.3), (4.8, (2.55, 0.35))
    x_l, y_l = left
    _matrix(ax, _attention("uniform"), x_l, y_l, size, "step 0 ($Q = 0$):\n$1/P$ on every key", _INK)
    ax.text(x_l - 0.06, y_l + size / 2, "query $p$", rotation=90, ha="right", va="center", fontsize=FONT,
            color=_INK)
    ax.text(x_l + size / 2, y_l - 0.3, "key $q$", ha="center", va="top", fontsize=FONT, color=_INK)
    x_r, (y_cl, y_mae) = right
    cl, mae = OBJECTIVE_COLORS["cl"], OBJECTIVE_COLORS["mae"]
    _matrix(ax, _attention("global"), x_r, y_cl, size, "CL, after training", cl)
    _matrix(ax, _attention("own"), x_r, y_mae, size, "MAE, after training", mae)
    _arrow(ax, (x_l + size + 0.1, y_l + 0.75 * size), (x_r - 0.1, y_cl + 0.3 * size), cl, lw=1.8)
    _arrow(ax, (x_l + size + 0.1, y_l + 0.25 * size), (x_r - 0.1, y_mae + 0.7 * size), mae, lw=1.8)
    mid = (x_l + size + x_r) / 2 - 0.05                   # the texts' centre, between the matrices
    ax.text(mid, H - 0.08, "CL: the loss sees the queries only through\nthe mean $f$ of their outputs $F_p$, so every\n"
            "row $e_p^{\\top} Q$ gets the same gradient: the\nrows stay identical, and their common row\n"
            "goes to the global area (the largest push)", ha="center", va="top", fontsize=FONT, color=cl,
            linespacing=1.45)
    ax.text(mid, 0.08, "MAE: the loss $\\ell_p$ of query $p$ compares its\noutput $F_p$ with its own target "
            "$x_p$, so the\ngradients differ: the rows come apart,\nand each query ends on its own area",
            ha="center", va="bottom", fontsize=FONT, color=mae, linespacing=1.45)
    return fig


def write_figures(directory: str | Path) -> list[Path]:
    """Draw every figure of :data:`FIGURES` and save it under ``directory`` at :data:`DPI` (no tight box)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, function in FIGURES.items():
        fig = globals()[function]()
        fig.savefig(directory / name, dpi=DPI)
        plt.close(fig)
        written.append(directory / name)
    return written


if __name__ == "__main__":  # pragma: no cover - writes the committed images
    matplotlib.use("Agg")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sslvit.plots.concepts OUTPUT_DIRECTORY")
    for path in write_figures(sys.argv[1]):
        print(path)
