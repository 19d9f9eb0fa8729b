"""Executable checks of the paper's claims (C1–C9, listed in the preface): every chapter states a claim, computes the numbers and
calls :func:`check`, which prints one rounded line and raises when the claim fails, so a failing claim fails
the notebook, the book build and nbval.
"""
from __future__ import annotations

import math
import textwrap
from typing import Any
from sslvit.core.validation import is_real

__all__ = ["Below", "ClaimFailed", "below", "check", "decimal_power", "fmt"]


#: the width at which a CHECK line is broken (continued lines indented): it fits the page of both editions
CHECK_WIDTH = 100


class ClaimFailed(AssertionError):
    """A claim of the paper (or of the book) did not hold for the numbers computed."""


class Below(float):
    """A number at the level of rounding noise, reported against a fixed tolerance (see :func:`below`).

    As a ``float`` it is the tolerance, so a glued ``Below`` reads the same on every CPU while it holds;
    ``value`` is the number itself and ``holds`` says whether ``|value| <= tol``. :func:`fmt` and :func:`check`
    print it as ``<= 10^-10: yes`` (or ``= 3.2e-09 > 10^-10: no``).
    """

    value: float
    holds: bool

    def __new__(cls, value: float, tol: float) -> "Below":
        self = super().__new__(cls, tol)
        self.value, self.holds = value, abs(value) <= tol
        return self

    def __repr__(self) -> str:
        return float.__repr__(self) if self.holds else f"{self.value:.3g}"

    def __str__(self) -> str:
        bound = decimal_power(float(self))
        return f"<= {bound}: yes" if self.holds else f"= {self.value:.3g} > {bound}: no"


def decimal_power(value: float) -> str:
    """A positive tolerance as printed by the book, ``10^-6`` for a power of ten (``3e-07`` otherwise), not
    Python's ``1e-06``."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"10^{int(exponent)}" if mantissa == "1" else f"{mantissa}e{int(exponent)}"


def below(value: Any, tol: float) -> Below:
    """Report ``|value|`` against the fixed tolerance ``tol``: how the book prints a number at the level of
    rounding noise (the reproducibility appendix).

    Rounding noise differs between CPUs (``3.47e-18`` on one, ``1.73e-18`` on another, ``0`` on a third); whether
    it is below a tolerance chosen for the science (``1e-10`` for a float64 identity, ``1e-6`` for float32) does
    not. Raises ``ValueError`` for a ``value`` that is not a finite number or a ``tol`` that is not a positive
    finite number.
    """
    try:
        v = abs(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"value={value!r} is not allowed: a finite number") from None
    if not math.isfinite(v):
        raise ValueError(f"value={value!r} is not allowed: a finite number")
    if not (is_real(tol) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol={tol!r} is not allowed: a positive finite tolerance")
    return Below(v, float(tol))


def fmt(value: Any, digits: int = 3) -> str:
    """Round numbers for printing (stable across runs at the printed precision)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Below):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if (value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4)) else f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
    try:  # tensors and numpy scalars
        return fmt(float(value), digits)
    except (TypeError, ValueError):
        return str(value)


def check(claim: str, statement: str, passed: bool, digits: int = 3, **numbers: Any) -> None:
    """Print ``CHECK <claim> PASS: <statement> (numbers)``, broken into lines of :data:`CHECK_WIDTH` characters,
    or raise :class:`ClaimFailed`.

    ``claim``: the claim id (``"C4"``) or a book label; ``statement``: the claim in words, written so that it
    reads as true when it passes; ``passed``: the verdict computed from ``numbers``; ``numbers``: the values
    the verdict depends on, printed rounded to ``digits``.
    """
    details = ", ".join(f"{k} {v}" if isinstance(v, Below) else f"{k}={fmt(v, digits)}" for k, v in numbers.items())
    line = f"CHECK {claim} {'PASS' if passed else 'FAIL'}: {statement}" + (f" ({details})" if details else "")
    if not passed:
        raise ClaimFailed(line)
    print(textwrap.fill(line, CHECK_WIDTH, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False))
