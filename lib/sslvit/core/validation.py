"""The one error message of the library's input checks: which parameter, which value, what is allowed.

    >>> raise not_allowed("lr", -1.0, "a positive finite step size")
    ValueError: lr=-1.0 is not allowed: a positive finite step size
"""
from __future__ import annotations

__all__ = ["not_allowed"]


def not_allowed(name: str, value: object, allowed: str) -> ValueError:
    """A ``ValueError`` that names the parameter ``name``, its ``value`` and what is ``allowed`` (to raise)."""
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")
