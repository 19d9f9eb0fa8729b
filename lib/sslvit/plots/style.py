"""The common look of the book's figures."""
from __future__ import annotations

import matplotlib

__all__ = ["use_book_style", "OBJECTIVE_COLORS", "AREA_CMAP"]

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
