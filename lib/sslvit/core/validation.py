"""The library's input checks and their one error message: which parameter, which value, what is allowed.

    >>> raise not_allowed("lr", -1.0, "a positive finite step size")
    ValueError: lr=-1.0 is not allowed: a positive finite step size

:func:`check_int`, :func:`check_real` and :func:`check_flag` are the checks of integers, real numbers and
flags that every configuration uses: NumPy scalars are accepted where their value is allowed (and returned as
Python numbers), ``True``/``False`` are refused where a number is meant, strings are refused everywhere.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import torch

__all__ = ["not_allowed", "check_device", "is_integer", "is_real", "check_int", "check_real", "check_flag",
           "check_dtype", "DTYPES"]

#: the floating-point precisions the engine computes in
DTYPES = (torch.float64, torch.float32)


def not_allowed(name: str, value: object, allowed: str) -> ValueError:
    """A ``ValueError`` that names the parameter ``name``, its ``value`` and what is ``allowed`` (to raise)."""
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or NumPy, integer or float), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def _range(what: str, low: Optional[float], high: Optional[float], low_open: bool = False,
           high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"{what} {'>' if low_open else '>='} {low:g} and {'<' if high_open else '<='} {high:g}"
    if low is not None:
        return f"{what} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{what} {'<' if high_open else '<='} {high:g}"
    return what


def check_int(name: str, value: Any, low: Optional[int] = None, high: Optional[int] = None,
              allowed: Optional[str] = None) -> int:
    """``value`` as a Python ``int`` if it is an integer in ``[low, high]`` (either end may be ``None``), else
    :func:`not_allowed` naming ``name`` (``allowed``: the message's description, default from the bounds)."""
    if not is_integer(value) or (low is not None and value < low) or (high is not None and value > high):
        raise not_allowed(name, value, allowed or _range("an integer", low, high))
    return int(value)


def check_real(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None, *,
               low_open: bool = False, high_open: bool = False, allowed: Optional[str] = None) -> float:
    """``value`` as a Python ``float`` if it is a finite real number in the interval from ``low`` to ``high``
    (closed unless ``low_open`` / ``high_open``; either end may be ``None``), else :func:`not_allowed`."""
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise not_allowed(name, value, allowed or _range("a finite number", low, high, low_open, high_open))
    return float(value)


def check_flag(name: str, value: Any) -> bool:
    """``value`` as a Python ``bool`` if it is ``True`` or ``False`` (or a NumPy bool), else :func:`not_allowed`."""
    if not (isinstance(value, bool) or type(value).__name__ == "bool_"):
        raise not_allowed(name, value, "True or False")
    return bool(value)


def check_dtype(dtype: Any) -> torch.dtype:
    """``dtype`` if it is one of :data:`DTYPES` (``torch.float64`` or ``torch.float32``), else :func:`not_allowed`."""
    if not isinstance(dtype, torch.dtype) or dtype not in DTYPES:
        raise not_allowed("dtype", dtype, "torch.float64 or torch.float32 (a torch.dtype, not a string)")
    return dtype


def check_device(device: Any) -> torch.device:
    """``device`` as a :class:`torch.device` that this machine has (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise not_allowed("device", device, "a torch device such as 'cpu', 'cuda' or 'cuda:0'") from e
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise not_allowed("device", device, f"a device this machine has: torch.cuda.is_available() is "
                          f"{torch.cuda.is_available()}, {torch.cuda.device_count()} CUDA device(s); use 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise not_allowed("device", device, "a device this machine has (MPS is not available); use 'cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise not_allowed("device", device, "'cpu', 'cuda[:i]' or 'mps'")
    return dev
