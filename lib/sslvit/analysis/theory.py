"""Where the information gap comes from: the two competing gradients at initialisation (book chapter 3).

At ``Q = 0`` attention is uniform, so for a **masked query** ``p`` in a local area ``j*`` (its own area) the
output is ``F = Σ_j F_j v_j`` with ``F_j = n_j z_j / P`` (``n_j`` visible patches of area ``j``) and the
gradient of ``ℓ_p = ½‖F − x_p‖²`` with respect to the FP correlation of area ``j`` is (chapter 3, eq. gap-grad)::

    ∂ℓ_p/∂A_j = F_j (z_j g_j − g·F),     g = F − x_p,  x_p = z_* v_*

Gradient descent moves ``A_j`` by ``−η ∂/∂A_j``. The **decoupling rate** of the global FP correlation is
``E[∂/∂A_global]`` (positive: it is pushed down) and the **growth rate** of the own-area FP correlation is
``−E[∂/∂A_own]`` (positive: pushed up). Their ratio scales as ``P^Δ`` with ``Δ = 2κ_s − κ_c − 1``: the
first is ``Θ((C_s/P)²)``, the second ``Θ(C_c/P)``.

The counts are independent binomials (each patch visible with probability ``1 − γ``; the query itself is
masked, so its own area has ``C_c − 1`` candidates) and the scales independent uniforms, so the
expectations are exact polynomials in their moments (:func:`init_rates`). :func:`init_rates_mc` estimates
the same numbers by Monte Carlo (with standard errors), :func:`query_gradients` /
:func:`query_fp_gradient` give the per-image closed form, and :func:`closed_form_fp_gradients`,
:func:`mae_fp_gradient` check it against autograd on the real model (:class:`sslvit.core.model.OneLayerViT`).
:func:`fit_ratio` fits the log-log slope of the ratio, :func:`ratio_expansion` gives its first-order
finite-``P`` corrections, and :func:`first_step_mc` predicts the first gradient step of MAE training
(the change of the ``fp_global`` and ``fp_own`` metrics), to compare with :func:`sslvit.train`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from sslvit.core.data import DataConfig, Layout, Sample, check_mask_prob, information_gap, sizes_from_kappa
from sslvit.core.validation import check_int, is_integer

__all__ = ["Rates", "RatioFit", "FirstStep", "uniform_moment", "binomial_moments", "init_rates", "init_rates_mc",
           "query_gradients", "query_fp_gradient", "log_log_fit", "rate_slope", "fit_ratio", "slope_deviation_map",
           "ratio_expansion", "tilings", "closed_form_fp_gradients", "mae_fp_gradient", "first_step_mc"]


@dataclass(frozen=True)
class Rates:
    """Expected rates at initialisation for one masked local query (per unit step size).

    ``decouple``: ``E[∂/∂A_global]`` (global FP pushed down at this rate). ``grow``: ``−E[∂/∂A_own]`` (own FP
    pushed up). ``ratio = decouple / grow``. Monte Carlo estimates (:func:`init_rates_mc`) also carry the
    standard errors ``decouple_se``, ``grow_se`` of the two means and the number of ``samples``; the exact
    expectations (:func:`init_rates`) leave them ``None``.
    """

    patches: int
    global_size: int
    local_size: int
    decouple: float
    grow: float
    decouple_se: Optional[float] = None
    grow_se: Optional[float] = None
    samples: Optional[int] = None

    @property
    def ratio(self) -> float:
        return self.decouple / self.grow

    @property
    def delta(self) -> float:
        """Information gap of the integer sizes (:func:`sslvit.core.data.information_gap`)."""
        return information_gap(self.patches, self.global_size, self.local_size)


def uniform_moment(k: int, low: float, high: float) -> float:
    """``E[z^k]`` for ``z ~ Uniform[low, high]`` (``k ≥ 0``; ``low = high`` is the point mass)."""
    k = check_int("k", k, 0, allowed="a non-negative integer")
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"low={low}, high={high}: need finite low <= high")
    if high == low:
        return low**k
    return (high ** (k + 1) - low ** (k + 1)) / ((k + 1) * (high - low))


def binomial_moments(n: int, p: float) -> tuple[float, float, float]:
    """``(E[X], E[X²], E[X³])`` for ``X ~ Binomial(n, p)``, from the factorial moments.

    ``E[X(X−1)…(X−r+1)] = n(n−1)…(n−r+1) p^r``, and ``X² = X(X−1) + X``, ``X³ = X(X−1)(X−2) + 3X(X−1) + X``.
    """
    n = check_int("n", n, 0, allowed="a non-negative integer")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p!r} is not allowed: a probability in [0, 1]")
    f1 = n * p
    f2 = n * (n - 1) * p**2
    f3 = n * (n - 1) * (n - 2) * p**3
    return f1, f2 + f1, f3 + 3 * f2 + f1


def _check_sizes(patches: int, global_size: int, local_size: int) -> int:
    """Validate the sizes; return the number of local areas other than the query's own."""
    for name, value in (("patches", patches), ("global_size", global_size), ("local_size", local_size)):
        if not is_integer(value):
            raise ValueError(f"{name}={value!r} is not allowed: an integer")
    if not 0 < local_size < global_size <= patches or (patches - global_size) % local_size:
        raise ValueError(f"sizes do not tile: patches={patches}, global_size={global_size}, local_size={local_size}")
    if local_size < 2:
        raise ValueError(f"local_size={local_size}: a masked query in an area of size 1 has no other patch in its "
                         "own area, so its own FP correlation has no gradient (growth rate 0); use local_size >= 2")
    if patches == global_size:
        raise ValueError(f"global_size={global_size} = patches: there is no local area, hence no local query")
    return (patches - global_size) // local_size - 1  # other local areas besides the query's own


def init_rates(patches: int, global_size: int, local_size: int, mask_prob: float = 0.5,
               low: float = 0.5, high: float = 1.5) -> Rates:
    """Exact expected decoupling and growth rates at ``Q = 0`` (chapter 3, eqs. (gap-rdec) and (gap-rgrow)).

    Expands ``∂/∂A_global`` and ``∂/∂A_own`` into monomials of the independent ``F_j = n_j z_j / P`` and
    takes expectations with :func:`binomial_moments` and :func:`uniform_moment`.
    """
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


def query_fp_gradient(counts: torch.Tensor, scales: torch.Tensor, own: torch.Tensor, patches: int) -> torch.Tensor:
    """``∂ℓ_p/∂A_j`` for every area ``j`` of a masked query at ``Q = 0``: ``(..., N)``.

    ``counts`` ``(..., N)``: visible patches per area; ``scales`` ``(..., N)``: ``z_j``; ``own`` ``(...)``
    long: the query's area (any area, global included); ``patches``: ``P``. Implements
    ``F_j (z_j g_j − g·F)`` with ``F_j = n_j z_j / P`` and ``g = F − z_own v_own`` (chapter 3, eq. (gap-grad)).
    """
    if counts.shape != scales.shape or own.shape != counts.shape[:-1]:
        raise ValueError(f"shapes differ: counts {tuple(counts.shape)}, scales {tuple(scales.shape)}, "
                         f"own {tuple(own.shape)} (need (..., N), (..., N), (...))")
    if patches < 1:
        raise ValueError(f"patches={patches} must be positive")
    F = counts * scales / patches                                              # (..., N)
    onehot = torch.nn.functional.one_hot(own.long(), counts.shape[-1]).to(F.dtype)
    g = F - onehot * scales                                                    # g = F − x_p
    gF = (g * F).sum(-1, keepdim=True)
    return F * (scales * g - gF)


def query_gradients(counts: torch.Tensor, scales: torch.Tensor, patches: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(∂/∂A_global, ∂/∂A_own)`` for a masked local query at ``Q = 0``.

    ``counts`` ``(..., N)`` visible patches per area and ``scales`` ``(..., N)``, with area 0 the global
    area and area 1 the query's own area (the others are the remaining local areas).
    """
    own = torch.ones(counts.shape[:-1], dtype=torch.long)
    grads = query_fp_gradient(counts, scales, own, patches)
    return grads[..., 0], grads[..., 1]


def _check_samples(samples: int) -> None:
    samples = check_int("samples", samples, 2, allowed="an integer >= 2 (for a standard error)")


def _binomial_counts(sizes: Sequence[int], p: float, n: int, g: torch.Generator) -> torch.Tensor:
    """``(n, len(sizes))`` float64 draws, column ``j`` from ``Binomial(sizes[j], p)``, by inverse CDF.

    One uniform per entry and a lookup in the exact CDF (from ``lgamma``) of each distinct size: much faster
    than :func:`torch.binomial` for the many small areas of large ``P``.
    """
    u = torch.rand(n, len(sizes), generator=g, dtype=torch.float64)
    out = torch.empty_like(u)
    size_t = torch.tensor(list(sizes))
    for size in sorted(set(int(c) for c in sizes)):
        cols = (size_t == size).nonzero().flatten()
        k = torch.arange(size + 1, dtype=torch.float64)
        if 0.0 < p < 1.0:
            log_pmf = (math.lgamma(size + 1) - torch.lgamma(k + 1) - torch.lgamma(size - k + 1)
                       + k * math.log(p) + (size - k) * math.log1p(-p))
            cdf = log_pmf.exp().cumsum(0)
        else:
            cdf = torch.ones(size + 1, dtype=torch.float64) if p == 0.0 else (k >= size).to(torch.float64)
        cdf[-1] = 1.0 + 1e-12                                  # guard against rounding of the last entry
        out[:, cols] = torch.searchsorted(cdf, u[:, cols].contiguous(), right=True).clamp(max=size).to(torch.float64)
    return out


def _chunks(samples: int, width: int, budget: int = 1 << 22) -> list[int]:
    size = max(1, budget // max(1, width))
    return [min(size, samples - i) for i in range(0, samples, size)]


def init_rates_mc(patches: int, global_size: int, local_size: int, mask_prob: float = 0.5, low: float = 0.5,
                  high: float = 1.5, samples: int = 100_000, seed: int = 0) -> Rates:
    """Monte Carlo estimate of :func:`init_rates` over the scales and the masks (float64).

    Draws ``samples`` independent (counts, scales) pairs, evaluates :func:`query_gradients` and returns the
    sample means with their standard errors (``std / √samples``). Sampled in chunks, so large ``P`` fits.
    """
    check_mask_prob(mask_prob)
    others = _check_sizes(patches, global_size, local_size)
    _check_samples(samples)
    g = torch.Generator().manual_seed(seed)
    sizes = [global_size, local_size - 1] + [local_size] * others
    sums = torch.zeros(2, dtype=torch.float64)
    squares = torch.zeros(2, dtype=torch.float64)
    for n in _chunks(samples, len(sizes)):
        counts = _binomial_counts(sizes, 1.0 - mask_prob, n, g)
        scales = low + (high - low) * torch.rand(n, len(sizes), generator=g, dtype=torch.float64)
        d_global, d_own = query_gradients(counts, scales, patches)
        values = torch.stack([d_global, -d_own])                              # (2, n)
        sums += values.sum(1)
        squares += (values * values).sum(1)
    mean = sums / samples
    var = (squares - samples * mean * mean).clamp(min=0.0) / (samples - 1)
    se = (var / samples).sqrt()
    return Rates(patches, global_size, local_size, decouple=float(mean[0]), grow=float(mean[1]),
                 decouple_se=float(se[0]), grow_se=float(se[1]), samples=samples)


# ---- the log-log slope of the ratio ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RatioFit:
    """Least-squares fit ``log ratio ≈ intercept + slope · log P`` for one ``(κ_s, κ_c)``.

    ``delta`` is the nominal gap ``2κ_s − κ_c − 1``; ``rates`` holds the exact rates at every ``P`` (sizes
    from :func:`sslvit.core.data.sizes_from_kappa`).
    """

    kappa_s: float
    kappa_c: float
    rates: tuple[Rates, ...]
    slope: float
    intercept: float

    @property
    def delta(self) -> float:
        """Nominal gap ``2κ_s − κ_c − 1`` (exactly 0 when it is 0 up to rounding of the κ's)."""
        d = 2 * self.kappa_s - self.kappa_c - 1
        return 0.0 if abs(d) < 1e-12 else d

    @property
    def deviation(self) -> float:
        """``slope − Δ``."""
        return self.slope - self.delta

    @property
    def patches(self) -> list[int]:
        return [r.patches for r in self.rates]

    @property
    def ratios(self) -> list[float]:
        return [r.ratio for r in self.rates]

    def fitted(self, patches: Sequence[float]) -> list[float]:
        """The fitted ratio ``exp(intercept) · P^slope`` at ``patches``."""
        return [math.exp(self.intercept + self.slope * math.log(p)) for p in patches]


def log_log_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares line through ``(log x, log y)``: ``(slope, intercept)``, so that ``y ≈ e^intercept · x^slope``.

    The one fit behind every power law of the book: chapter 3's ``P^Δ`` law of the rate ratio, chapter 4's
    length of Phase I against ``P``, the reproducibility appendix's step time against ``P``. Needs at least two distinct positive
    ``x`` and positive ``y`` of the same length (``ValueError`` otherwise).
    """
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y) or len(set(x)) < 2 or min(x) <= 0 or min(y) <= 0:
        raise ValueError(f"need at least two distinct positive x and positive y of the same length, got x={x}, y={y}")
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    slope = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    return slope, my - slope * mx


def fit_ratio(patch_counts: Sequence[int], kappa_s: float, kappa_c: float, mask_prob: float = 0.5,
              low: float = 0.5, high: float = 1.5) -> RatioFit:
    """Exact rates at every ``P`` of ``patch_counts`` (sizes closest to ``P^κ``) and the log-log slope of
    their ratio. Raises ``ValueError`` if the sizes do not exist or the ratio is not positive at some ``P``.
    """
    if len(patch_counts) < 2:
        raise ValueError(f"patch_counts={list(patch_counts)}: need at least two values of P for a slope")
    rates = [init_rates(P, *sizes_from_kappa(P, kappa_s, kappa_c), mask_prob, low, high) for P in patch_counts]
    if any(r.ratio <= 0 for r in rates):
        bad = [r.patches for r in rates if r.ratio <= 0]
        raise ValueError(f"the ratio is not positive at P={bad}: the rates do not have the expected signs there")
    slope, intercept = log_log_fit([r.patches for r in rates], [r.ratio for r in rates])
    return RatioFit(kappa_s, kappa_c, tuple(rates), slope, intercept)


def rate_slope(patch_counts: Sequence[int], kappa_s: float, kappa_c: float, mask_prob: float = 0.5,
               low: float = 0.5, high: float = 1.5) -> tuple[float, list[Rates]]:
    """Least-squares slope of ``log(ratio)`` against ``log(P)`` with sizes from :func:`sizes_from_kappa`.

    Returns the slope and the rates at every ``P`` (:func:`fit_ratio` returns the whole fit).
    """
    fit = fit_ratio(patch_counts, kappa_s, kappa_c, mask_prob, low, high)
    return fit.slope, list(fit.rates)


def slope_deviation_map(patch_counts: Sequence[int], kappa_s_values: Sequence[float],
                        kappa_c_values: Sequence[float], mask_prob: float = 0.5, low: float = 0.5,
                        high: float = 1.5) -> torch.Tensor:
    """``slope − Δ`` on a grid: ``(len(kappa_s_values), len(kappa_c_values))`` float64.

    NaN where ``κ_c ≥ κ_s`` or where the sizes do not exist at some ``P`` (``C_s ≤ C_c`` after rounding,
    ``C_c < 2``) or the ratio is not positive.
    """
    out = torch.full((len(kappa_s_values), len(kappa_c_values)), float("nan"), dtype=torch.float64)
    for i, ks in enumerate(kappa_s_values):
        for j, kc in enumerate(kappa_c_values):
            if not 0 < kc < ks <= 1:
                continue
            try:
                out[i, j] = fit_ratio(patch_counts, float(ks), float(kc), mask_prob, low, high).deviation
            except ValueError:
                pass
    return out


def ratio_expansion(patches: int, global_size: int, local_size: int, mask_prob: float = 0.5, low: float = 0.5,
                    high: float = 1.5) -> tuple[float, float]:
    """The ratio to leading order and with its first-order finite-``P`` corrections.

    Chapter 3, eqs. (gap-D), (gap-G) and (gap-ratio).

    With ``a = 1 − γ``, ``μ_k = E[z^k]``, ``c = μ₁μ₂/μ₃``, ``s = C_s/P``, ``l = C_c/P``::

        leading = a C_s² / (P (C_c − 1))
        first   = leading · D / G
        D = 1 − a s + c (C_c/C_s)(γ + a s) + (γ/a − c (1 + γ)) / C_s           # r_dec / (a² μ₃ s²)
        G = 1 + c a² s² + c a (a C_c + γ)(1 − s − l)/P − 2 (a (C_c − 1) + γ)/P   # r_grow / (a μ₃ (C_c−1)/P)

    The corrections decay as ``P^{κ_s−1}``, ``P^{κ_c−κ_s}``, ``P^{−κ_s}``, ``P^{2κ_s−2}`` and ``P^{κ_c−1}``;
    ``C_c − 1`` (not ``C_c``) carries a ``P^{−κ_c}`` correction. The dropped terms are products of two of
    these small quantities.
    """
    check_mask_prob(mask_prob)
    _check_sizes(patches, global_size, local_size)
    a, g, P, Cs, Cc = 1.0 - mask_prob, mask_prob, float(patches), float(global_size), float(local_size)
    m1, m2, m3 = (uniform_moment(k, low, high) for k in (1, 2, 3))
    c, s, l = m1 * m2 / m3, Cs / P, Cc / P
    leading = a * Cs * Cs / (P * (Cc - 1))
    D = 1 - a * s + c * (Cc / Cs) * (g + a * s) + (g / a - c * (1 + g)) / Cs
    G = 1 + c * a * a * s * s + c * a * (a * Cc + g) * (1 - s - l) / P - 2 * (a * (Cc - 1) + g) / P
    return leading, leading * D / G


def tilings(patches: int, min_local: int = 2) -> list[tuple[int, int]]:
    """Every ``(C_s, C_c)`` with ``C_c ≥ min_local``, at least one local area, ``C_c < C_s`` and
    ``P − C_s`` a multiple of ``C_c``, sorted."""
    if patches < 3:
        raise ValueError(f"patches={patches}: need at least 3 patches for a global and a local area")
    out = []
    for c_c in range(max(2, min_local), patches):
        for m in range(1, patches // c_c + 1):
            c_s = patches - m * c_c
            if c_s > c_c:
                out.append((c_s, c_c))
    return sorted(out)


# ---- the closed form against autograd on the real model -------------------------------------------------------

def _area_counts(cfg: DataConfig, layout: Layout, sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    """``(key_area (B, P), counts (B, N))``: area of every position and visible patches per area."""
    key_area = layout.area[sample.cluster]                                     # (B, P)
    counts = torch.zeros(key_area.shape[0], cfg.n_areas, dtype=sample.scale.dtype)
    counts.scatter_add_(1, key_area, sample.visible.to(sample.scale.dtype))
    return key_area, counts


def closed_form_fp_gradients(cfg: DataConfig, layout: Layout, sample: Sample) -> torch.Tensor:
    """``∂ℓ_p/∂A[p, c_b, :]`` for every image ``b`` and query ``p``: ``(B, P, N)``, zero for visible queries.

    ``ℓ_p = ½‖F_p − x_p‖²`` at ``Q = 0`` (chapter 3, eq. (gap-grad); :func:`query_fp_gradient`); every query
    has the same output ``F``, only ``x_p`` (the query's own area) differs.
    """
    key_area, counts = _area_counts(cfg, layout, sample)
    B, P = key_area.shape
    grads = query_fp_gradient(counts[:, None, :].expand(B, P, -1), sample.scale[:, None, :].expand(B, P, -1),
                              key_area, cfg.patches)                           # (B, P, N)
    return grads * (~sample.visible)[..., None].to(grads.dtype)


def mae_fp_gradient(cfg: DataConfig, layout: Layout, sample: Sample, method: str = "closed") -> torch.Tensor:
    """Gradient of the batch MAE loss (chapter 4) with respect to ``A`` at ``Q = 0``: ``(P, K, N)``.

    ``method="autograd"``: build the dense patches, run :class:`sslvit.core.model.OneLayerViT` (``Q = 0``), take
    :func:`sslvit.core.objectives.mae_loss_dense` and read ``A``'s rows off ``Q.grad``.
    ``method="closed"``: ``(1/B) Σ_b [c_b = k] · closed_form_b[p] / |M_b|`` from
    :func:`closed_form_fp_gradients` (the per-image weight ``1/(2|M_b|)`` of the loss and the batch mean).
    Works in the sample's dtype (use float64 to compare).
    """
    if method == "autograd":
        from sslvit.core.data import dense_patches
        from sslvit.core.model import OneLayerViT, correlations_from_q
        from sslvit.core.objectives import mae_loss_dense

        model = OneLayerViT(cfg, dtype=sample.scale.dtype)
        X = dense_patches(cfg, layout, sample.cluster, sample.scale)
        F, _ = model(X, sample.visible)
        mae_loss_dense(F, X, sample.visible).backward()
        A, _ = correlations_from_q(model.Q.grad, cfg)
        return A.detach().clone()
    if method != "closed":
        raise ValueError(f"method={method!r} is not allowed: 'closed' or 'autograd'")
    per_query = closed_form_fp_gradients(cfg, layout, sample)                  # (B, P, N)
    B = per_query.shape[0]
    n_masked = (~sample.visible).sum(-1).clamp(min=1).to(per_query.dtype)      # (B,)
    weighted = per_query / (B * n_masked[:, None, None])
    out = torch.zeros(cfg.clusters, cfg.patches, cfg.n_areas, dtype=per_query.dtype)
    out.index_add_(0, sample.cluster, weighted)
    return out.permute(1, 0, 2).contiguous()


# ---- the first step of MAE training ----------------------------------------------------------------------------

@dataclass(frozen=True)
class FirstStep:
    """Expected change of ``fp_global`` and ``fp_own`` (chapter 4) in the first MAE gradient step, per unit
    step size, with ``Δ = −lr · E[Y] / (K (P − C_s))`` (:func:`first_step_mc`).

    ``d_global``, ``d_own``: expected changes per unit ``lr`` (``d_global < 0``: decoupling; ``d_own > 0``:
    growth). ``sd_global``, ``sd_own``: the standard deviation of one image's contribution on the same
    scale, so a batch of ``B`` images has sampling error ``sd / √B``. ``se_global``, ``se_own``: Monte Carlo
    standard errors of ``d_global``, ``d_own``.
    """

    d_global: float
    d_own: float
    sd_global: float
    sd_own: float
    se_global: float
    se_own: float
    samples: int

    @property
    def ratio(self) -> float:
        """``−d_global / d_own``: how much faster the global FP falls than the own FP grows."""
        return -self.d_global / self.d_own

    def batch_se(self, batch: int) -> tuple[float, float]:
        """Sampling error of the first-step changes of a batch of ``batch`` images (per unit ``lr``)."""
        return self.sd_global / math.sqrt(batch), self.sd_own / math.sqrt(batch)


def first_step_mc(cfg: DataConfig, mask_prob: float = 0.5, samples: int = 100_000, seed: int = 0) -> FirstStep:
    """Monte Carlo prediction of the first gradient step of MAE training from ``Q = 0`` (chapter 3).

    One image contributes ``Y = Σ_a m_a ∂ℓ^{(a)}/∂A / |M|`` summed over the local areas ``a`` (``m_a`` masked
    queries of area ``a``, all with the same closed-form gradient, ``|M|`` masked patches in the image) to
    ``Σ_p A[p, c, ·]`` of its cluster; ``fp_global`` and ``fp_own`` average ``A`` over the ``K (P − C_s)``
    local positions of all clusters, and one step of gradient descent subtracts ``lr`` times the batch mean.
    Only the sizes, ``K``, ``P`` and the scale range of ``cfg`` matter (not the layout).
    """
    check_mask_prob(mask_prob)
    _check_sizes(cfg.patches, cfg.global_size, cfg.local_size)
    _check_samples(samples)
    g = torch.Generator().manual_seed(seed)
    P, N = cfg.patches, cfg.n_areas
    size_list = [cfg.global_size] + [cfg.local_size] * (N - 1)
    sizes = torch.tensor(size_list, dtype=torch.float64)
    sums = torch.zeros(2, dtype=torch.float64)
    squares = torch.zeros(2, dtype=torch.float64)
    for n in _chunks(samples, N):
        counts = _binomial_counts(size_list, 1.0 - mask_prob, n, g)
        z = cfg.low + (cfg.high - cfg.low) * torch.rand(n, N, generator=g, dtype=torch.float64)
        F = counts * z / P                                                     # (n, N)
        F2 = (F * F).sum(-1, keepdim=True)                                     # ‖F‖²
        m = sizes - counts                                                     # masked patches per area
        n_masked = m.sum(-1)                                                   # |M|
        zl, Fl, ml = z[:, 1:], F[:, 1:], m[:, 1:]                              # local areas as own areas
        d_global = F[:, :1] * (z[:, :1] * F[:, :1] - F2 + zl * Fl)             # (n, N−1) per own area
        d_own = Fl * (2 * zl * Fl - zl * zl - F2)
        weight = ml / n_masked.clamp(min=1.0)[:, None]
        Y = torch.stack([(weight * d_global).sum(-1), (weight * d_own).sum(-1)])  # (2, n)
        sums += Y.sum(1)
        squares += (Y * Y).sum(1)
    scale = -1.0 / (cfg.clusters * (P - cfg.global_size))
    mean = sums / samples
    sd = ((squares - samples * mean * mean).clamp(min=0.0) / (samples - 1)).sqrt()
    return FirstStep(d_global=float(scale * mean[0]), d_own=float(scale * mean[1]),
                     sd_global=float(abs(scale) * sd[0]), sd_own=float(abs(scale) * sd[1]),
                     se_global=float(abs(scale) * sd[0] / math.sqrt(samples)),
                     se_own=float(abs(scale) * sd[1] / math.sqrt(samples)), samples=samples)
