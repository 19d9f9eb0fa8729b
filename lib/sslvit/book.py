"""Small helpers the book's chapters share that are about the book, not the science: numbers glued into the
text at the precision that carries meaning, and the running time a chapter states at its top.

Why round before gluing: a notebook's stored outputs are recorded on one machine and compared (nbval) with a
fresh run on another, whose CPU (AVX-512, AVX2, none) changes the last bits of a float. A glued
``0.33048202372184043`` fails that comparison; ``0.330`` does not, and is all the text shows anyway.

Imports ``myst_nb`` only when called, so the library itself does not need it (``pip install "sslvit[book]"``
brings it).
"""
from __future__ import annotations

import math
import numbers
import os
import re
import time
from typing import Any, Mapping

from sslvit.core.validation import check_int

__all__ = ["glue_number", "glue_bound", "power_of_ten", "glue_figure", "glue_table", "GluedTable", "round_significant", "glue_running_time", "running_time",
           "benchmark_results", "stored_results", "STORED_RESULTS"]


def round_significant(value: Any, digits: int = 3) -> Any:
    """``value`` rounded to ``digits`` significant digits, as a plain Python number.

    Integers (Python, NumPy, 0-d tensors of an integer type) come back as ``int``, unchanged; floats (Python,
    NumPy, 0-d tensors) as ``float`` rounded to ``digits`` significant digits; ``0``, ``nan`` and ``±inf``
    unchanged. Anything else raises ``TypeError``.
    """
    digits = check_int("digits", digits, 1, allowed="a positive integer (significant digits)")
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()                                   # numpy scalar or 0-d tensor
    if isinstance(value, bool):
        raise TypeError(f"value={value!r} is a bool, not a number to round")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if value == 0 or not math.isfinite(value) else float(f"{value:.{digits}g}")
    raise TypeError(f"value={value!r} ({type(value).__name__}) is not allowed: an int or a float")


def glue_number(name: str, value: Any, digits: int = 3) -> None:
    """Glue ``value`` for the text under ``name``, rounded to ``digits`` significant digits. Returns nothing, so
    that a cell ending in it shows no stray number under it (the glued value appears in the text).

    Pick ``digits`` so that the text's format shows every glued digit (``{glue:text}`name:.3f``` of a value
    near 0.8 needs 3). Integers are glued as they are.
    """
    from myst_nb import glue

    rounded = round_significant(value, digits)
    glue(name, rounded, display=False)


def power_of_ten(value: float) -> str:
    """``value`` as LaTeX for the text: ``10^{-6}`` for a power of ten, ``3.2 \\times 10^{-7}`` otherwise (3
    significant digits), ``0`` for zero. Raises ``ValueError`` for a number that is not finite."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value={value!r} is not allowed: a finite number")
    if value == 0:
        return "0"
    mantissa, exponent = f"{abs(value):.2e}".split("e")
    sign = "-" if value < 0 else ""
    if int(exponent) == 0:
        return f"{sign}{float(mantissa):.3g}"
    if float(mantissa) == 1.0:
        return f"{sign}10^{{{int(exponent)}}}"
    return f"{sign}{float(mantissa):.3g} \\times 10^{{{int(exponent)}}}"


def glue_bound(name: str, bound: Any) -> None:
    """Glue a bound (a tolerance such as ``1e-6``, or a :func:`sslvit.checks.below` that holds) as math for the
    text, ``$10^{-6}$``: pasted with ``{glue:md}`name:myst``` (MyST, so that the dollars are math), it reads as
    the book's other powers of ten, not as Python's ``1e-06``. A ``below`` that does not hold is glued as its
    value. Returns nothing."""
    from IPython.display import Markdown
    from myst_nb import glue

    from sslvit.checks import Below

    value = bound.value if isinstance(bound, Below) and not bound.holds else float(bound)
    glue(name, Markdown(f"${power_of_ten(value)}$"), display=False)


class GluedTable:
    """A table to glue into the text (``{glue:figure}``) that every edition can show.

    Jupyter and the web pages show an HTML table, the PDF edition (Sphinx's LaTeX builder, which drops HTML) a
    Markdown table, both built from the same rows, with LaTeX ``headers`` (``{"kappa_s": r"$\\kappa_s$"}``) and
    per-column ``formats`` (``{"Delta": "{:+.2f}"}``; unnamed columns print with
    ``str``). ``repr`` is the DataFrame's text.
    """

    def __init__(self, frame: Any, headers: Mapping[str, str] | None = None,
                 formats: Mapping[str, str] | None = None) -> None:
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame is a {type(frame).__name__}, not allowed: a pandas DataFrame")
        self.columns = [str(c) for c in frame.columns]
        for what, given in (("headers", headers or {}), ("formats", formats or {})):
            unknown = sorted(set(given) - set(self.columns))
            if unknown:
                raise ValueError(f"{what} names {unknown}, which are not columns: the columns are {self.columns}")
        for column, fmt in (formats or {}).items():
            try:
                fmt.format(0.0)
            except (ValueError, IndexError, KeyError) as err:
                raise ValueError(f"formats[{column!r}]={fmt!r} is not a format for one number, e.g. '{{:.3f}}'") from err
        self.frame, self.headers, self.formats = frame, dict(headers or {}), dict(formats or {})

    def _text(self, column: str, value: Any) -> str:
        return self.formats[column].format(value) if column in self.formats else str(value)

    def _repr_html_(self) -> str:
        """The rows as an HTML table with the same ``headers`` and ``formats`` as the PDF's, their ``$...$``
        typeset by MathJax (the table is marked ``mathjax_process``), without the DataFrame's unnamed index."""
        import html

        def cell(text: str) -> str:
            parts = re.split(r"(\$[^$]+\$)", text)
            return "".join(f"\\({html.escape(p[1:-1])}\\)" if p.startswith("$") and p.endswith("$") and len(p) > 2
                           else html.escape(p) for p in parts)

        head = "".join(f"<th>{cell(self.headers.get(c, c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{cell(self._text(c, v))}</td>" for c, v in zip(self.columns, row))
                       + "</tr>" for row in self.frame.itertuples(index=False))
        return (f'<table class="dataframe mathjax_process"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def _repr_markdown_(self) -> str:
        def cell(column: str, value: Any) -> str:
            return self._text(column, value).replace("|", "\\|")

        lines = ["| " + " | ".join(self.headers.get(c, c).replace("|", "\\|") for c in self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        for row in self.frame.itertuples(index=False):
            lines.append("| " + " | ".join(cell(c, v) for c, v in zip(self.columns, row)) + " |")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return repr(self.frame)


#: glued figures whose text cannot yet be made legible at the size the book shows them (at least 8 points,
#: nothing overlapping) by enlarging it: too many panels in a row or too many numbers in their cells for the
#: page's width. They are glued as drawn until each is redesigned; the list only shrinks.
NOT_YET_LEGIBLE: frozenset[str] = frozenset()


def glue_figure(name: str, fig: Any) -> None:
    """Glue the matplotlib figure ``fig`` as ``name`` (shown live, placed by ``{glue:figure}``) after making its
    text legible at the size the book shows it (:func:`sslvit.plots.style.fit_text`: at least 8 points at the
    PDF's text width). Raises ``ValueError`` for a ``fig`` that is not a figure, and for text that still
    overlaps once enlarged (neighbouring tick labels, or texts written into one panel): such a figure needs
    fewer ticks, fewer numbers or more room, which no automatic rule can choose. A figure named in
    :data:`NOT_YET_LEGIBLE` is glued as drawn."""
    from matplotlib.figure import Figure
    from myst_nb import glue

    from sslvit.plots.style import fit_text, overlapping_texts

    if not isinstance(fig, Figure):
        raise ValueError(f"fig={type(fig).__name__} is not allowed: a matplotlib Figure")
    if name in NOT_YET_LEGIBLE:
        glue(name, fig)                                  # as drawn, until it is redesigned
        return
    fit_text(fig)
    clashes = overlapping_texts(fig, draw=False)                  # as fit_text last drew it
    if clashes:
        raise ValueError(f"figure {name!r}: text overlaps at a legible size: {clashes[:5]} (give it fewer ticks or "
                         "numbers, or more room)")
    glue(name, fig)


def glue_table(name: str, frame: Any, headers: Mapping[str, str] | None = None,
               formats: Mapping[str, str] | None = None, display: bool = True) -> None:
    """Glue the DataFrame ``frame`` under ``name`` as a :class:`GluedTable` (HTML for Jupyter and the web
    pages, a Markdown table with LaTeX ``headers`` and ``formats`` for the PDF), shown in the notebook too
    unless ``display=False``.

    Round the numbers before (see :func:`round_significant`): the stored output is compared across machines.
    """
    from myst_nb import glue

    glue(name, GluedTable(frame, headers, formats), display=display)


def running_time(start: float, now: float | None = None) -> int:
    """Seconds from ``start`` (a :func:`time.perf_counter` reading) to ``now``, rounded to whole seconds.

    Raises ``ValueError`` for a ``start`` in the future (a clock read in another process, say).
    """
    now = time.perf_counter() if now is None else now
    if now < start:
        raise ValueError(f"start={start!r} is after now={now!r}: pass a time.perf_counter() reading of this kernel")
    return max(1, round(now - start))


def glue_running_time(chapter: str, start: float) -> None:
    """Glue the chapter's running time as ``<chapter>_runtime_s`` (whole seconds) and the machine's cores as
    ``<chapter>_runtime_cores``.

    Called by the last cell of every chapter with the ``time.perf_counter()`` reading taken in its first cell,
    so the number at the top of the page is the one measured when the page was built. The cell carries the
    tag ``nbval-ignore-output``: a running time differs at every run.
    """
    if not chapter or not chapter.replace("_", "").isalnum():
        raise ValueError(f"chapter={chapter!r} is not allowed: use a short name of letters, digits and _ (e.g. 'ch04')")
    from myst_nb import glue

    seconds, cores = running_time(start), os.cpu_count() or 1
    glue(f"{chapter}_runtime_s", seconds, display=False)
    glue(f"{chapter}_runtime_cores", cores, display=False)


def benchmark_results() -> dict:
    """The numbers of the engine benchmark the book shows (the reproducibility appendix): ``benchmarks/bench_engine.py --json``
    as measured by the book's authors, shipped with the library as ``sslvit/results/bench_engine.json``
    (rerun ``make bench`` to measure your machine)."""
    return stored_results("bench_engine")


#: the measurements shipped with the library (``sslvit/results/NAME.json``) and the script that makes each
STORED_RESULTS = {"bench_engine": "benchmarks/bench_engine.py", "phase_length": "benchmarks/phase_length.py",
                  "phase_diagram": "benchmarks/phase_diagram.py", "audit": "tests/audit/chaos_audit.py",
                  "sensitivity_seeds": "benchmarks/sensitivity_seeds.py"}


def stored_results(name: str) -> dict:
    """A measurement shipped with the library as ``sslvit/results/NAME.json``, made by the script
    :data:`STORED_RESULTS` names (``bench_engine``: the reproducibility appendix; ``phase_length``: chapter 4's Phase I at large
    ``P``; ``phase_diagram``: chapter 6's diagram at ``P = 256``; ``audit``: the reproducibility appendix's chaos audit;
    ``sensitivity_seeds``: chapter 14's twenty seeds). Rerun the script to measure on your machine."""
    import json
    from importlib.resources import files

    if name not in STORED_RESULTS:
        raise ValueError(f"name={name!r} is not allowed: one of {sorted(STORED_RESULTS)}")
    return json.loads(files("sslvit").joinpath("results", f"{name}.json").read_text())
