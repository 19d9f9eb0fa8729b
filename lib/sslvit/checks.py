"""Executable checks of the paper's claims (C1–C9, listed in the preface): every chapter states a claim, computes the numbers and
calls :func:`check`, which prints one rounded line and raises when the claim fails, so a failing claim fails
the notebook, the book build and nbval.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["AtMost", "ClaimFailed", "check", "fmt", "order_bound"]


class ClaimFailed(AssertionError):
    """A claim of the paper (or of the book) did not hold for the numbers computed."""


class AtMost(float):
    """An upper bound that stands for a number at the level of rounding noise (see :func:`order_bound`).

    A ``float`` (it compares and glues as its value); :func:`fmt` and :func:`check` print it as ``<=1e-17``.
    """

    def __repr__(self) -> str:
        return float.__repr__(self)


def order_bound(value: Any, floor: float = 0.0) -> AtMost:
    """The smallest power of ten at or above ``|value|``, and at least ``floor``: how a number at the level of
    rounding noise is reported.

    An error of ``3.47e-18`` on one CPU is ``1.73e-18`` on another; both are ``<= 1e-17``, which is what the
    number means. ``floor`` (a power of ten) keeps noise of any size below it as one bound: float64 NMI between
    ``1e-17`` and ``1e-13`` is ``<= 1e-12`` with ``floor=1e-12``. ``0`` stays ``0`` without a floor.
    Raises ``ValueError`` for ``nan``, ``inf`` or a negative ``floor``.
    """
    value = abs(float(value))
    if not math.isfinite(value):
        raise ValueError(f"value={value!r} is not allowed: a finite number")
    if not (math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor={floor!r} is not allowed: a power of ten >= 0")
    if value == 0.0:
        return AtMost(floor)
    exponent = math.ceil(math.log10(value))
    return AtMost(max(float(f"1e{exponent}"), floor))


def fmt(value: Any, digits: int = 3) -> str:
    """Round numbers for printing (stable across runs at the printed precision)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, AtMost):
        return "0" if value == 0 else f"<={float(value):.0e}"
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
    """Print ``CHECK <claim> PASS: <statement> (numbers)`` or raise :class:`ClaimFailed`.

    ``claim``: the claim id (``"C4"``) or a book label; ``statement``: the claim in words, written so that it
    reads as true when it passes; ``passed``: the verdict computed from ``numbers``; ``numbers``: the values
    the verdict depends on, printed rounded to ``digits``.
    """
    details = ", ".join(f"{k}{fmt(v, digits)}" if isinstance(v, AtMost) and v != 0 else f"{k}={fmt(v, digits)}"
                        for k, v in numbers.items())
    line = f"CHECK {claim} {'PASS' if passed else 'FAIL'}: {statement}" + (f" ({details})" if details else "")
    if not passed:
        raise ClaimFailed(line)
    print(line)
