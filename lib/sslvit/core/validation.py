"""The one error message of the library's input checks: which parameter, which value, what is allowed.

    >>> raise not_allowed("lr", -1.0, "a positive finite step size")
    ValueError: lr=-1.0 is not allowed: a positive finite step size
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["not_allowed", "check_device"]


def not_allowed(name: str, value: object, allowed: str) -> ValueError:
    """A ``ValueError`` that names the parameter ``name``, its ``value`` and what is ``allowed`` (to raise)."""
    return ValueError(f"{name}={value!r} is not allowed: {allowed}")


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
