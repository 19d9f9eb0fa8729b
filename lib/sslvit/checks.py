"""Executable checks of the paper's claims (SPEC §5): every chapter states a claim, computes the numbers and
calls :func:`check`, which prints one rounded line and raises when the claim fails, so a failing claim fails
the notebook, the book build and nbval.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ClaimFailed", "check", "fmt"]


class ClaimFailed(AssertionError):
    """A claim of the paper (or of the book) did not hold for the numbers computed."""


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
