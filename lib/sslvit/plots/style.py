"""The common look of the book's figures."""
from __future__ import annotations

import matplotlib

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


def shown_scale(fig) -> float:
    """The factor by which the book shrinks ``fig`` (1 when its width, cropped as the notebook stores it, fits
    :data:`PAGE_WIDTH_IN`)."""
    fig.draw_without_rendering()
    width = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * _PAD_IN
    return min(1.0, PAGE_WIDTH_IN / width)


def small_texts(fig, min_pt: float = MIN_TEXT_PT) -> list[tuple[str, float]]:
    """``(text, size in points as shown)`` of every text of ``fig`` smaller than ``min_pt`` at the size the book
    shows the figure (:func:`shown_scale`)."""
    scale = shown_scale(fig)
    return [(t.get_text(), round(t.get_fontsize() * scale, 1)) for t in _texts(fig)
            if t.get_fontsize() * scale < min_pt - 1e-6]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` that overlap on the page: neighbouring tick labels of an axis, and the texts
    written into one axes (annotations, cell values). Empty for a figure whose text is legible."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    pairs = []

    def clash(texts: list) -> None:
        boxes = [(t, t.get_window_extent(renderer)) for t in texts if t.get_visible() and t.get_text().strip()]
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1:]:
                overlap_w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
                overlap_h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
                if overlap_w > 1.0 and overlap_h > 1.0:            # pixels: more than touching
                    pairs.append((a.get_text(), b.get_text()))

    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            clash([t for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs()) if lo - 1e-9 <= loc <= hi + 1e-9])
        clash(list(ax.texts))
    return pairs


def fit_text(fig, min_pt: float = MIN_TEXT_PT):
    """Raise every text of ``fig`` that the book would show smaller than ``min_pt`` points to ``min_pt`` at the
    shown size (larger text is left alone), and lay the figure out again; returns ``fig``.

    Tick labels are set through their axes (so that ticks made later keep the size). A figure wider than
    :data:`PAGE_WIDTH_IN` is shown shrunk, so its text is set larger than ``min_pt`` in the figure's own points.
    """
    if not (isinstance(min_pt, (int, float)) and not isinstance(min_pt, bool) and 0 < min_pt < 72):
        raise ValueError(f"min_pt={min_pt!r} is not allowed: a size in points between 0 and 72")
    for _ in range(4):                                     # raising text widens the figure's crop: settle
        scale = shown_scale(fig)
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
        if fig.get_layout_engine() is not None and type(fig.get_layout_engine()).__name__ == "TightLayoutEngine":
            fig.tight_layout()
    return fig
