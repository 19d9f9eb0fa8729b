"""The sample behind a number (the book's reproducibility appendix, "Numbers from runs"): how the book reports what it saw over seeds.

* :func:`share` — ``k`` of ``n`` runs with a property, with an exact (Clopper–Pearson) 95% interval for the
  probability that a run has it. A "never" (``k = 0``) or "always" (``k = n``) gets a one-sided bound: ``0 of 20``
  means "at most 14% of runs at 95% confidence", not "never".
* :func:`mean_se` — the mean of per-seed values and its standard error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats
from sslvit.core.validation import is_real

__all__ = ["Share", "share", "MeanSE", "mean_se"]


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):      # numpy integers too, never a bool
        raise ValueError(f"{name}={value!r} is not allowed: an integer >= {low}")
    value = value.__index__()  # type: ignore[attr-defined]
    if value < low:
        raise ValueError(f"{name}={value!r} is not allowed: an integer >= {low}")
    return value


@dataclass(frozen=True)
class Share:
    """``k`` of ``n`` runs; ``low``, ``high``: the 95% interval for the probability (one-sided at 0 or ``n``)."""

    k: int
    n: int
    low: float
    high: float

    @property
    def fraction(self) -> float:
        return self.k / self.n

    def __str__(self) -> str:
        if self.k == 0:
            return f"0 of {self.n} (at most {self.high:.0%} at 95%)"
        if self.k == self.n:
            return f"{self.n} of {self.n} (at least {self.low:.0%} at 95%)"
        return f"{self.k} of {self.n} (95% interval {self.low:.0%} to {self.high:.0%})"


def share(k: int, n: int, level: float = 0.95) -> Share:
    """``k`` of ``n`` runs with an exact (Clopper–Pearson) interval at ``level`` for the probability of the property.

    Two-sided for ``0 < k < n``; for ``k = 0`` the one-sided upper bound ``1 - (1 - level)^(1/n)`` (``low = 0``),
    for ``k = n`` the one-sided lower bound ``(1 - level)^(1/n)`` (``high = 1``). Raises ``ValueError`` unless
    ``n >= 1``, ``0 <= k <= n`` and ``0 < level < 1``.
    """
    n, k = _count("n", n, 1), _count("k", k, 0)
    if k > n:
        raise ValueError(f"k={k} is not allowed: at most n={n}")
    if not is_real(level) or not 0 < level < 1:
        raise ValueError(f"level={level!r} is not allowed: a probability strictly between 0 and 1")
    if k == 0:
        return Share(k, n, 0.0, 1.0 - (1.0 - level) ** (1.0 / n))
    if k == n:
        return Share(k, n, (1.0 - level) ** (1.0 / n), 1.0)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return Share(k, n, float(ci.low), float(ci.high))


@dataclass(frozen=True)
class MeanSE:
    """Mean of ``n`` per-seed values and its standard error (sample standard deviation / sqrt(n))."""

    mean: float
    se: float
    n: int

    def format(self, digits: int = 3) -> str:
        return f"{self.mean:.{digits}f} ± {self.se:.{digits}f} (n = {self.n})"

    def __str__(self) -> str:
        return self.format()


def mean_se(values: Sequence[float]) -> MeanSE:
    """Mean and standard error of per-seed ``values`` (at least two, all finite); raises ``ValueError`` otherwise."""
    vals = [float(v) for v in values]
    if len(vals) < 2 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"values={vals!r} is not allowed: at least two finite numbers")
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
    return MeanSE(m, sd / math.sqrt(len(vals)), len(vals))
