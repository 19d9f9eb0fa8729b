"""Figures and the live controls of the playground (book: preface, "Playground"; the runs are
:mod:`sslvit.analysis.playground`).

* :func:`story_figure`: the preface's first picture, one image with the attention of three local queries after
  MAE and after CL;
* :func:`outcome_figure`: one retrained setting, the image and its three query maps, with the metrics;
* :func:`gallery_figure`: one masked local query per setting, over a grid of settings (the static gallery);
* :func:`controls`, :func:`playground`: the controls (ipywidgets) that retrain and redraw on every change.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import PowerNorm

from sslvit.analysis.playground import (DEFAULT_STEPS, GLOBAL_SIZES, MAX_STEPS, Outcome, Setting, retrain)
from sslvit.plots.attention import plot_query_attention
from sslvit.plots.images import image_rgb
from sslvit.plots.style import fit_text

__all__ = ["story_figure", "outcome_figure", "gallery_figure", "metrics_line", "query_names", "controls", "Controls",
           "playground", "STEP_CHOICES"]

#: colour scale of every attention map: a square root, so that weak spread-out attention stays visible
GAMMA_NORM = 0.5
#: the playground's colour scale is fixed, from 0 to 1 (square root), so that settings compare at a glance and a
#: flat map (1/64 on every key, at 0 steps) is drawn dark, not in the brightest colour
LIVE_VMAX = 1.0
LIVE_TICKS = (0.0, 0.05, 0.25, 0.5, 1.0)
#: the step counts the playground's steps control offers: every count the page's experiments ask for, dense
#: where training changes fast
STEP_CHOICES = (0, 1, 2, 3, 4, 6, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500)


def query_names(outcome: Outcome) -> list[str]:
    """Panel titles of the outcome's three local queries, true to the image: "visible local query" or "masked
    local query" (at a high masking probability all three may be masked)."""
    return [f"{'visible' if bool(outcome.visible[q]) else 'masked'} local query" for q in outcome.queries]


def _grid_hw(outcome: Outcome) -> tuple[int, int]:
    return outcome.setting.data.grid_hw


def _draw_image(ax: plt.Axes, outcome: Outcome, title: str = "the image (black: masked)") -> None:
    cfg = outcome.setting.data
    ax.imshow(image_rgb(outcome.key_area, outcome.scale, _grid_hw(outcome), cfg.low, cfg.high, outcome.visible),
              interpolation="nearest")
    for q in outcome.queries:
        qy, qx = divmod(int(q), _grid_hw(outcome)[1])
        ax.add_patch(plt.Rectangle((qx - 0.5, qy - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def _draw_maps(axes: Sequence[plt.Axes], outcome: Outcome, vmax: float, titles: bool = True):
    im = None
    for ax, q, name in zip(axes, outcome.queries, query_names(outcome)):
        im = plot_query_attention(outcome.attn[q], outcome.key_area, outcome.visible, q, _grid_hw(outcome), ax=ax,
                                  title=name if titles else None, vmax=vmax)
        im.set_norm(PowerNorm(GAMMA_NORM, vmin=0.0, vmax=vmax))
        ax.title.set_fontsize(9)
    return im


def metrics_line(outcome: Outcome) -> str:
    """The end-of-training metrics of an outcome in one line (rounded)."""
    m = outcome.metrics
    return (f"own area {m['own_area_attention']:.2f}, global area (background) {m['global_area_attention']:.2f}, "
            f"NMI {m['nmi']:.2f}, distance {m['attention_distance']:.2f}")


def story_figure(mae: Outcome, cl: Outcome) -> plt.Figure:
    """The same image and the same three local queries (red squares) after MAE (top row) and after CL (bottom
    row): the image on the left, then each query's attention over the grid (square-root colour scale shared by
    all panels; white lines: area borders; grey dots: masked patches). Raises ``ValueError`` unless both
    outcomes show the same image, mask and queries."""
    if not (mae.key_area.equal(cl.key_area) and mae.visible.equal(cl.visible) and mae.queries == cl.queries):
        raise ValueError("mae and cl must show the same image, mask and queries: retrain both with the same "
                         "global_size, seed, view_mask_prob and image_seed")
    fig, axes = plt.subplots(2, 4, figsize=(9.0, 4.9), layout="constrained")
    vmax = float(max(o.attn[o.queries].max() for o in (mae, cl)))
    for r, (name, outcome) in enumerate((("MAE", mae), ("CL", cl))):
        _draw_image(axes[r, 0], outcome, "the image (black: masked)" if r == 0 else "the same image")
        axes[r, 0].set_ylabel(name, fontsize=12, fontweight="bold")
        im = _draw_maps(axes[r, 1:], outcome, vmax, titles=(r == 0))
    fig.colorbar(im, ax=axes[:, 1:], shrink=0.85, label="attention weight (square-root scale)")
    return fig


def outcome_figure(outcome: Outcome) -> plt.Figure:
    """One retrained setting: the image and its three local queries' attention on the fixed scale
    :data:`LIVE_VMAX` (square root), the setting and the metrics in the title."""
    fig, axes = plt.subplots(1, 4, figsize=(9.0, 2.9), layout="constrained")
    _draw_image(axes[0], outcome)
    im = _draw_maps(axes[1:], outcome, LIVE_VMAX)
    bar = fig.colorbar(im, ax=axes[1:], shrink=0.85, label="attention weight (square root)")
    bar.set_ticks(LIVE_TICKS, labels=[f"{t:g}" for t in LIVE_TICKS])
    fig.suptitle(f"{outcome.setting.label(math=True)}\n{metrics_line(outcome)}", fontsize=10)
    return fit_text(fig)                              # legible at the width the page shows it


def gallery_figure(outcomes: Sequence[Sequence[Outcome]], row_labels: Sequence[str],
                   col_labels: Sequence[str]) -> plt.Figure:
    """A grid of settings (``outcomes[r][c]``): in each panel the attention of the masked local query (red
    square), with its own-area and global-area attention in the title. One shared square-root colour scale."""
    R, C = len(outcomes), len(outcomes[0]) if outcomes else 0
    if R == 0 or C == 0 or any(len(row) != C for row in outcomes) or len(row_labels) != R or len(col_labels) != C:
        raise ValueError(f"outcomes must be a non-empty R x C grid with R={len(row_labels)} row labels and "
                         f"C={len(col_labels)} column labels")
    fig, axes = plt.subplots(R, C, figsize=(1.75 * C + 1.2, 1.85 * R + 0.4), squeeze=False, layout="constrained")
    vmax = float(max(o.attn[o.queries[1]].max() for row in outcomes for o in row))
    im = None
    for r, row in enumerate(outcomes):
        for c, o in enumerate(row):
            q = o.queries[1]
            im = plot_query_attention(o.attn[q], o.key_area, o.visible, q, _grid_hw(o), ax=axes[r, c], vmax=vmax)
            im.set_norm(PowerNorm(GAMMA_NORM, vmin=0.0, vmax=vmax))
            m = o.metrics
            numbers = f"own {m['own_area_attention']:.2f}, glob {m['global_area_attention']:.2f}"
            axes[r, c].set_title(f"{col_labels[c]}\n{numbers}" if r == 0 else numbers, fontsize=8)
        axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight (square-root scale)")
    return fig


@dataclass
class Controls:
    """The playground's widgets (:func:`controls`): ``objective``, ``size`` (``C_s``, with its ``Δ`` in the
    label), ``gamma``, ``steps``, ``status`` (what the last change did), ``out`` (the figure) and ``box`` (all of
    them, as displayed)."""

    objective: Any
    size: Any
    gamma: Any
    steps: Any
    status: Any
    out: Any
    box: Any

    def setting(self) -> Setting:
        """The :class:`Setting` the controls show now."""
        return Setting(objective=self.objective.value, global_size=self.size.value,
                       mask_prob=round(self.gamma.value, 2), steps=self.steps.value)


def controls(setting: Optional[Setting] = None, draw: Optional[Callable[[Setting], None]] = None) -> Controls:
    """The playground's widgets, wired: every change calls ``draw`` once with the new :class:`Setting`
    (default: retrain and redraw in ``out``). A new objective starts from its own ``γ`` and steps, and the
    status line says so. Needs ipywidgets (the ``book`` extra)."""
    import ipywidgets as w

    setting = setting or Setting()
    wide = {"description_width": "7em"}
    objective = w.ToggleButtons(options=[("MAE", "mae"), ("CL", "cl")], value=setting.objective,
                                description="objective", style=wide)
    size = w.Dropdown(options=[(f"{c}   (Δ = {Setting(global_size=c).delta:+.2f})", c) for c in GLOBAL_SIZES],
                      value=setting.global_size, description=r"\(C_s\) (global)", style=wide,
                      layout=w.Layout(width="20em"))
    gamma = w.FloatSlider(value=setting.mask_prob, min=0.05, max=0.95, step=0.05, description="γ (masking)",
                          continuous_update=False, style=wide, readout_format=".2f")
    if setting.steps not in STEP_CHOICES:
        raise ValueError(f"setting.steps={setting.steps} is not allowed in the playground: one of {STEP_CHOICES}")
    steps = w.SelectionSlider(options=list(STEP_CHOICES), value=setting.steps, description="steps",
                              continuous_update=False, style=wide)
    status, out = w.HTML(), w.Output()
    box = w.VBox([w.HBox([objective, size]), w.HBox([gamma, steps]), status, out])
    made = Controls(objective, size, gamma, steps, status, out, box)
    busy = [False]                                   # set while one change moves other controls

    def redraw(*_):
        if not busy[0]:
            (draw or _draw_in(out))(made.setting())

    def new_objective(change):                       # a new objective starts from its own defaults, and says so
        busy[0] = True
        fresh = Setting(objective=change["new"])
        gamma.value, steps.value = fresh.mask_prob, fresh.steps
        busy[0] = False
        status.value = (f"{change['new'].upper()} starts from its own defaults: γ = {fresh.mask_prob:g}, "
                        f"{fresh.steps} steps (change them below).")
        redraw()

    def changed(_):
        status.value = ""
        redraw()

    objective.observe(new_objective, names="value")
    for control in (size, gamma, steps):
        control.observe(changed, names="value")
    return made


def _draw_in(out) -> Callable[[Setting], None]:
    from IPython.display import display

    def draw(s: Setting) -> None:
        start = time.perf_counter()
        fig = outcome_figure(retrain(s))
        with out:
            out.clear_output(wait=True)
            display(fig)
            print(f"retrained and drawn in {time.perf_counter() - start:.2f} s")
        plt.close(fig)
    return draw


def playground(setting: Optional[Setting] = None):  # pragma: no cover - needs a live kernel and a browser
    """Controls for the objective, ``C_s`` (hence ``Δ``), ``γ`` and the number of steps; every change retrains
    the model (a fraction of a second at ``P = 64``) and redraws :func:`outcome_figure`. Displays them (a
    saved notebook that has not run shows one line saying so) and returns the widget."""
    from IPython.display import display

    c = controls(setting)
    _draw_in(c.out)(c.setting())
    bundle = c.box._repr_mimebundle_()
    bundle["text/plain"] = "The playground's controls: they appear when this cell runs in Jupyter or Colab."
    display(bundle, raw=True)
    return c.box
