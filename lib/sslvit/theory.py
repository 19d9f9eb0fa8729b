"""Where the information gap comes from: the two competing gradients at initialisation (book chapter 3, SPEC §1).

At ``Q = 0`` attention is uniform, so for a **masked query** ``p`` in a local area ``j*`` (its own area) the
output is ``F = Σ_j F_j v_j`` with ``F_j = n_j z_j / P`` (``n_j`` visible patches of area ``j``) and the
gradient of ``½‖F − x_p‖²`` with respect to the FP correlation of area ``j`` is (SPEC §1)::

    ∂/∂A_j = F_j (z_j g_j − g·F),     g = F − x_p,  x_p = z_* v_*

Gradient descent moves ``A_j`` by ``−η ∂/∂A_j``. The **decoupling rate** of the global FP correlation is
``E[∂/∂A_global]`` (positive: it is pushed down) and the **growth rate** of the own-area FP correlation is
``−E[∂/∂A_own]`` (positive: pushed up). Their ratio scales as ``P^Δ`` with ``Δ = 2κ_s − κ_c − 1``: the
first is ``Θ((C_s/P)²)``, the second ``Θ(C_c/P)``.

The counts are independent binomials (each patch visible with probability ``1 − γ``; the query itself is
masked, so its own area has ``C_c − 1`` candidates) and the scales independent uniforms, so the
expectations are exact polynomials in their moments (:func:`init_rates`). :func:`init_rates_mc` estimates
the same numbers by Monte Carlo, and :func:`query_gradients` gives the per-image closed form that the book
checks against autograd on the real model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .data import check_mask_prob, sizes_from_kappa

__all__ = ["Rates", "uniform_moment", "binomial_moments", "init_rates", "init_rates_mc", "query_gradients",
           "rate_slope"]


@dataclass(frozen=True)
class Rates:
    """Expected rates at initialisation for one masked local query (per unit step size).

    ``decouple``: ``E[∂/∂A_global]`` (global FP pushed down at this rate). ``grow``: ``−E[∂/∂A_own]`` (own FP
    pushed up). ``ratio = decouple / grow``.
    """

    patches: int
    global_size: int
    local_size: int
    decouple: float
    grow: float

    @property
    def ratio(self) -> float:
        return self.decouple / self.grow

    @property
    def delta(self) -> float:
        from .data import information_gap

        return information_gap(self.patches, self.global_size, self.local_size)


def uniform_moment(k: int, low: float, high: float) -> float:
    """``E[z^k]`` for ``z ~ Uniform[low, high]``."""
    if high == low:
        return low**k
    return (high ** (k + 1) - low ** (k + 1)) / ((k + 1) * (high - low))


def binomial_moments(n: int, p: float) -> tuple[float, float, float]:
    """``(E[X], E[X²], E[X³])`` for ``X ~ Binomial(n, p)``, from the factorial moments."""
    f1 = n * p
    f2 = n * (n - 1) * p**2
    f3 = n * (n - 1) * (n - 2) * p**3
    return f1, f2 + f1, f3 + 3 * f2 + f1


def _check_sizes(patches: int, global_size: int, local_size: int) -> int:
    if not 0 < local_size < global_size <= patches or (patches - global_size) % local_size:
        raise ValueError(f"sizes do not tile: patches={patches}, global_size={global_size}, local_size={local_size}")
    return (patches - global_size) // local_size - 1  # other local areas besides the query's own


def init_rates(patches: int, global_size: int, local_size: int, mask_prob: float = 0.5,
               low: float = 0.5, high: float = 1.5) -> Rates:
    """Exact expected decoupling and growth rates at ``Q = 0`` (module docstring)."""
    check_mask_prob(mask_prob)
    others = _check_sizes(patches, global_size, local_size)
    P, a = float(patches), 1.0 - mask_prob
    z1, z2, z3 = (uniform_moment(k, low, high) for k in (1, 2, 3))
    g1, g2, g3 = binomial_moments(global_size, a)          # global area
    s1, s2, s3 = binomial_moments(local_size - 1, a)       # own area (the query is masked)
    _, o2, _ = binomial_moments(local_size, a)             # another local area
    EFg, EFg2, EFg3 = z1 * g1 / P, z2 * g2 / P**2, z3 * g3 / P**3
    EFs, EFs2, EFs3 = z1 * s1 / P, z2 * s2 / P**2, z3 * s3 / P**3
    EzFs2, Ez2Fs = z3 * s2 / P**2, z3 * s1 / P             # E[z_* F_*²], E[z_*² F_*]
    EzFs = z2 * s1 / P                                     # E[z_* F_*]
    EFo2 = others * z2 * o2 / P**2                         # E[Σ_o F_o²]
    EzgFg2 = z3 * g2 / P**2                                # E[z_g F_g²]
    # ∂/∂A_g = z_g F_g² − F_g³ − F_g F_*² + F_g F_* z_* − F_g Σ_o F_o²
    d_global = EzgFg2 - EFg3 - EFg * EFs2 + EFg * EzFs - EFg * EFo2
    # ∂/∂A_* = 2 z_* F_*² − z_*² F_* − F_* F_g² − F_*³ − F_* Σ_o F_o²
    d_own = 2 * EzFs2 - Ez2Fs - EFs * EFg2 - EFs3 - EFs * EFo2
    return Rates(patches, global_size, local_size, decouple=d_global, grow=-d_own)


def query_gradients(counts: torch.Tensor, scales: torch.Tensor, patches: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(∂/∂A_global, ∂/∂A_own)`` for a masked local query at ``Q = 0``.

    ``counts`` ``(..., N)`` visible patches per area and ``scales`` ``(..., N)``, with area 0 the global
    area and area 1 the query's own area (the others are the remaining local areas).
    """
    F = counts * scales / patches                          # (..., N)
    g = F.clone()
    g[..., 1] -= scales[..., 1]                            # g = F − x_p
    gF = (g * F).sum(-1)
    grads = F * (scales * g - gF[..., None])
    return grads[..., 0], grads[..., 1]


def init_rates_mc(patches: int, global_size: int, local_size: int, mask_prob: float = 0.5, low: float = 0.5,
                  high: float = 1.5, samples: int = 100_000, seed: int = 0) -> Rates:
    """Monte Carlo estimate of :func:`init_rates` over the scales and the masks (float64)."""
    check_mask_prob(mask_prob)
    others = _check_sizes(patches, global_size, local_size)
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([global_size, local_size - 1] + [local_size] * others, dtype=torch.float64)
    counts = torch.binomial(sizes.expand(samples, -1).contiguous(),
                            torch.full((samples, sizes.numel()), 1.0 - mask_prob, dtype=torch.float64), generator=g)
    scales = low + (high - low) * torch.rand(samples, sizes.numel(), generator=g, dtype=torch.float64)
    d_global, d_own = query_gradients(counts, scales, patches)
    return Rates(patches, global_size, local_size, decouple=float(d_global.mean()), grow=float(-d_own.mean()))


def rate_slope(patch_counts: Sequence[int], kappa_s: float, kappa_c: float, mask_prob: float = 0.5,
               low: float = 0.5, high: float = 1.5) -> tuple[float, list[Rates]]:
    """Least-squares slope of ``log(ratio)`` against ``log(P)`` with sizes from :func:`sizes_from_kappa`.

    Returns the slope and the rates at every ``P``. The ratio must be positive at every ``P``.
    """
    rates = [init_rates(P, *sizes_from_kappa(P, kappa_s, kappa_c), mask_prob, low, high) for P in patch_counts]
    if any(r.ratio <= 0 for r in rates):
        bad = [r.patches for r in rates if r.ratio <= 0]
        raise ValueError(f"the ratio is not positive at P={bad}: the rates do not have the expected signs there")
    x = torch.tensor([math.log(r.patches) for r in rates], dtype=torch.float64)
    y = torch.tensor([math.log(r.ratio) for r in rates], dtype=torch.float64)
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    return slope, rates
