"""Figures of the book, one module per topic: :mod:`~sslvit.plots.style` (the common look).

Every function takes (or creates) matplotlib axes, labels its axes with units, and returns the figure or
axes so a chapter can ``glue`` it.
"""
from .style import AREA_CMAP, OBJECTIVE_COLORS, use_book_style

__all__ = ["use_book_style", "OBJECTIVE_COLORS", "AREA_CMAP"]
