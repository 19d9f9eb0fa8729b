"""The element-wise parts of the factorised softmax (and of MAE's loss and gradient), compiled (book chapter 7,
speed): ``train(..., method="compiled")``.

A training step of the fast engine (:mod:`sslvit.core.engine`) spends most of its time in about thirty
element-wise passes over the ``(runs, images, areas, positions)`` tensors, each of which reads and writes memory
once. ``torch.compile`` (TorchInductor) turns the chains of :func:`~sslvit.core.engine.softmax_chain` and
:func:`~sslvit.core.engine.backward_chain` into a few fused C++ loops. The formulas are the same, the rounding
is not (a fused loop keeps intermediates in registers and may reorder a sum), so results agree with the plain
path to rounding, not bit for bit. Compiling needs a C++ compiler and takes tens of seconds the first time
(cached on disk afterwards); where it fails, the plain chains run, after one warning.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Optional

import torch

from sslvit.core import engine

__all__ = ["Chains", "CHAINS", "softmax", "backward"]


def softmax(a: torch.Tensor, scale: torch.Tensor, T: torch.Tensor, T_masked: torch.Tensor, empty: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~sslvit.core.engine.softmax_chain` without in-place operations (what the compiler fuses)."""
    a = (a * scale[..., None]).masked_fill(empty, float("-inf"))
    alpha = a.amax(2)
    alpha = torch.where(T_masked > 0, alpha.clamp(min=0.0), alpha)
    ea = (a - alpha[:, :, None]).exp()
    w = ea * T
    Z = w.sum(2) + torch.exp(-alpha) * T_masked
    return w / Z[:, :, None], ea, Z, alpha


def backward(m: torch.Tensor, grad_mass: torch.Tensor, ea: torch.Tensor, Z: torch.Tensor, alpha: torch.Tensor,
             scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`~sslvit.core.engine.backward_chain` without in-place operations."""
    s = (m * grad_mass).sum(2)
    g = grad_mass - s[:, :, None]
    da = m * g * scale[..., None]
    dT = ea / Z[:, :, None] * g
    dT_masked = -s * torch.exp(-alpha) / Z
    return da, dT, dT_masked


class Chains:
    """The two chains, compiled on first use (``torch.compile(..., dynamic=True)``: one compilation serves every
    shape). If compiling or running a compiled chain fails, :attr:`failure` keeps the error, a warning says so
    once, and the plain chains of :mod:`sslvit.core.engine` run from then on."""

    def __init__(self) -> None:
        self.compiled: dict[str, Callable] = {}
        self.failure: Optional[BaseException] = None

    def softmax(self, *args: Any):
        return self.call("softmax", softmax, engine.softmax_chain, args)

    def backward(self, *args: Any):
        return self.call("backward", backward, engine.backward_chain, args)

    def call(self, name: str, fn: Callable, plain: Callable, args: tuple):
        """``fn(*args)`` compiled (once per ``name``), or ``plain(*args)`` where compiling failed; ``fn`` must not
        change its arguments (``plain`` may)."""
        if self.failure is None:
            try:
                if name not in self.compiled:
                    self.compiled[name] = torch.compile(fn, dynamic=True)
                return self.compiled[name](*args)
            except Exception as e:  # no C++ compiler, an unsupported platform, ...: fall back, say so once
                self.failure = e
                warnings.warn(f"sslvit: the compiled engine is not available here ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); using the plain engine", RuntimeWarning)
        return plain(*args)


#: the chains every ``method="compiled"`` call shares (one compilation per process)
CHAINS = Chains()
