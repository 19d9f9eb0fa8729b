"""The common look of the book's figures."""
from __future__ import annotations

import matplotlib
from sslvit.core.validation import is_real

__all__ = ["use_book_style", "OBJECTIVE_COLORS", "AREA_CMAP", "PAGE_WIDTH_IN", "MIN_TEXT_PT", "shown_scale",
           "small_texts", "overlapping_texts", "fit_text"]

#: one colour per objective, used in every chapter
OBJECTIVE_COLORS = {"mae": "#1f77b4", "cl": "#d62728"}
#: colour map for area labels (global area first)
AREA_CMAP = "tab20"


def use_book_style() -> None:
    """Seaborn's whitegrid style, readable font sizes, tight layout by default (the backend is left alone)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    matplotlib.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 120,
        "figure.autolayout": True,
        "axes.titlesize": "medium",
        "image.cmap": "viridis",
    })


#: the width at which the book shows a figure at most: the PDF's text width (A4 with Sphinx's margins); the HTML
#: column is wider, so text legible in the PDF is legible there
PAGE_WIDTH_IN = 6.27
#: the smallest text a figure may have at the size it is shown, in points
MIN_TEXT_PT = 8.0
#: the margin the notebook's inline backend adds around a figure's tight bounding box, in inches
_PAD_IN = 0.1


def _texts(fig) -> list:
    """The visible, non-empty texts of ``fig``: titles, labels, tick labels, legends, annotations, colour bars."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
            and (t.axes is None or t.axes.get_visible())]


def shown_scale(fig, draw: bool = True) -> float:
    """The factor by which the book shrinks ``fig`` (1 when its width, cropped as the notebook stores it, fits
    :data:`PAGE_WIDTH_IN`). ``draw=False`` measures the figure as last drawn."""
    if draw:
        fig.draw_without_rendering()
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * _PAD_IN
    return min(1.0, PAGE_WIDTH_IN / width)


def small_texts(fig, min_pt: float = MIN_TEXT_PT) -> list[tuple[str, float]]:
    """``(text, size in points as shown)`` of every text of ``fig`` smaller than ``min_pt`` at the size the book
    shows the figure (:func:`shown_scale`)."""
    scale = shown_scale(fig)
    return [(t.get_text(), round(t.get_fontsize() * scale, 1)) for t in _texts(fig)
            if t.get_fontsize() * scale < min_pt - 1e-6]


def _visible_texts(fig, renderer) -> list:
    """``(text, window box)`` of every text of ``fig`` that is drawn: tick labels inside their axis' view,
    titles, labels, legend entries, annotations."""
    drawn, every_tick_label = [], set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                every_tick_label.update((id(tick.label1), id(tick.label2)))
            if not ax.get_visible():
                continue
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            for label, loc in zip(axis.get_ticklabels(), axis.get_ticklocs()):
                if label.get_visible() and label.get_text().strip() and lo - span <= loc <= hi + span:
                    drawn.append(label)
    drawn += [t for t in _texts(fig) if id(t) not in every_tick_label]
    return [(t, t.get_window_extent(renderer)) for t in drawn]


def overlapping_texts(fig, draw: bool = True) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` that overlap on the page (titles, axis and tick labels, legend entries,
    annotations, cell values: any two of them). Empty for a figure whose text is legible. ``draw=False``
    measures the figure as last drawn (after :func:`fit_text`)."""
    if draw:
        fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = _visible_texts(fig, renderer)
    return [(a.get_text(), b.get_text()) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if _overlap(box_a, box_b)]


def _overlap(a, b) -> bool:
    """Whether two window boxes overlap by more than a pixel both ways (more than touching)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 1.0 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1.0


def _wrap(text, length_px: float, renderer) -> None:
    """Break the lines of ``text`` (a matplotlib Text) so that it is at most ``length_px`` long along its
    direction (its width, or its height when it is turned upright)."""
    import textwrap

    box = text.get_window_extent(renderer)
    length = box.height if abs(text.get_rotation() % 180 - 90) < 1 else box.width
    if length <= length_px or not text.get_text().strip():
        return
    s = text.get_text()
    longest = max(len(line) for line in s.split("\n"))
    chars = max(8, int(longest * length_px / length))
    if any("$" in line and len(line) > chars for line in s.split("\n")):
        return                                           # a line with math is not broken inside the math
    text.set_text("\n".join(textwrap.fill(line, chars) for line in s.split("\n")))


def _thin_ticks(ax, renderer) -> None:
    """Fewer ticks on a numeric axis whose tick labels overlap at their legible size."""
    from matplotlib.ticker import LogLocator, MaxNLocator, ScalarFormatter

    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        if not any(_overlap(a, b) for a, b in zip(boxes, boxes[1:])):
            continue
        if axis.get_scale() == "log":
            axis.set_major_locator(LogLocator(numticks=max(2, len(labels) // 2)))
        elif isinstance(axis.get_major_formatter(), (ScalarFormatter,)):
            axis.set_major_locator(MaxNLocator(nbins=max(2, len(labels) // 2)))
        elif name == "x":
            ax.tick_params(axis="x", labelrotation=30)
            for t in axis.get_ticklabels():
                t.set_horizontalalignment("right")


def fit_text(fig, min_pt: float = MIN_TEXT_PT):
    """Raise every text of ``fig`` that the book would show smaller than ``min_pt`` points to ``min_pt`` at the
    shown size (larger text is left alone), and lay the figure out again; returns ``fig``.

    Tick labels are set through their axes (so that ticks made later keep the size). A figure wider than
    :data:`PAGE_WIDTH_IN` is shown shrunk, so its text is set larger than ``min_pt`` in the figure's own points.
    Titles and axis labels longer than their axes are broken into lines, and a numeric axis whose enlarged
    tick labels collide gets fewer ticks. What this cannot mend (crowded cell values, long legends) is left
    for :func:`overlapping_texts` to report.
    """
    if not (is_real(min_pt) and 0 < min_pt < 72):
        raise ValueError(f"min_pt={min_pt!r} is not allowed: a size in points between 0 and 72")
    drawn = False
    for _ in range(4):                                     # raising text widens the figure's crop: settle
        scale = shown_scale(fig, draw=not drawn)
        floor = min_pt / scale + 0.05
        changed = False
        for ax in fig.axes:
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                labels = [t for t in axis.get_ticklabels(which="both") if t.get_text().strip()]
                if labels and min(t.get_fontsize() for t in labels) < floor - 0.05:
                    ax.tick_params(axis=name, which="both", labelsize=floor)
                    changed = True
        for text in _texts(fig):
            if text.get_fontsize() < floor - 0.05:
                text.set_fontsize(floor)
                changed = True
        if not changed:
            break
        _relayout(fig)
        renderer = fig.canvas.get_renderer()
        before = _text_state(fig)
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            box = ax.get_window_extent(renderer)
            _wrap(ax.title, box.width * 1.05, renderer)
            _wrap(ax.xaxis.label, box.width * 1.1, renderer)
            _wrap(ax.yaxis.label, box.height * 1.1, renderer)
            _thin_ticks(ax, renderer)
        if _text_state(fig) != before:
            _relayout(fig)
        drawn = True
    return fig


def _text_state(fig) -> list:
    """What wrapping and thinning can change: every text with its rotation, and the number of ticks per axes."""
    return ([(t.get_text(), t.get_rotation()) for t in _texts(fig)]
            + [len(ax.get_xticks()) + len(ax.get_yticks()) for ax in fig.axes])


def _relayout(fig) -> None:
    """Lay ``fig`` out again after its text changed: a figure laid out by tight_layout moves to the constrained
    layout, which also keeps a suptitle, outside legends and colour bars clear of the panels (where matplotlib
    allows the switch)."""
    engine = fig.get_layout_engine()
    if engine is not None and type(engine).__name__ == "TightLayoutEngine":
        try:
            fig.set_layout_engine("constrained")
        except RuntimeError:                       # colour bars made for the tight layout cannot move over
            fig.tight_layout()
    fig.draw_without_rendering()
