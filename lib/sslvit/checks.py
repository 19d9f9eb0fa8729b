"""Executable checks of the paper's claims (SPEC §5): every chapter states a claim, computes the numbers and
calls :func:`check`, which prints one rounded line and raises when the claim fails, so a failing claim fails
the notebook, the book build and nbval.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["ClaimFailed", "check", "fmt", "order_bound"]


class ClaimFailed(AssertionError):
    """A claim of the paper (or of the book) did not hold for the numbers computed."""


def order_bound(value: Any) -> float:
    """The smallest power of ten at or above ``|value|`` (``0.0`` for ``0``): how a number at the level of
    rounding noise is reported.

    An error of ``3.47e-18`` on one CPU is ``1.73e-18`` on another; both are ``<= 1e-17``, which is what the
    number means. Raises ``ValueError`` for ``nan`` or ``inf``.
    """
    value = abs(float(value))
    if not math.isfinite(value):
        raise ValueError(f"value={value!r} is not allowed: a finite number")
    if value == 0.0:
        return 0.0
    exponent = math.ceil(math.log10(value))
    return float(f"1e{exponent}")


def fmt(value: Any, digits: int = 3) -> str:
    """Round numbers for printing (stable across runs at the printed precision)."""
    if isinstance(value, bool):
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
    """Print ``CHECK <claim> PASS: <statement> (numbers)`` or raise :class:`ClaimFailed`.

    ``claim``: the SPEC id (``"C4"``) or a book label; ``statement``: the claim in words, written so that it
    reads as true when it passes; ``passed``: the verdict computed from ``numbers``; ``numbers``: the values
    the verdict depends on, printed rounded to ``digits``.
    """
    details = ", ".join(f"{k}={fmt(v, digits)}" for k, v in numbers.items())
    line = f"CHECK {claim} {'PASS' if passed else 'FAIL'}: {statement}" + (f" ({details})" if details else "")
    if not passed:
        raise ClaimFailed(line)
    print(line)
