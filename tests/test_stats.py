"""k of n with exact intervals, and mean ± standard error (sslvit.analysis.stats, the book's reproducibility appendix)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sslvit.analysis.stats import mean_se, share


def test_never_and_always_get_one_sided_bounds():
    s = share(0, 20)
    assert s.low == 0 and math.isclose(s.high, 1 - 0.05 ** (1 / 20)) and str(s) == "0 of 20 (at most 14% at 95%)"
    a = share(20, 20)
    assert a.high == 1 and math.isclose(a.low, 0.05 ** (1 / 20)) and str(a) == "20 of 20 (at least 86% at 95%)"
    assert str(share(0, 3)) == "0 of 3 (at most 63% at 95%)"      # three seeds bound little


def test_two_sided_interval_is_clopper_pearson():
    s = share(3, 20)
    # reference values of the exact binomial interval for 3 of 20
    assert math.isclose(s.low, 0.0321, abs_tol=5e-4) and math.isclose(s.high, 0.3789, abs_tol=5e-4)
    assert str(s) == "3 of 20 (95% interval 3% to 38%)" and s.fraction == 0.15
    assert share(np.int64(2), np.int64(10)).k == 2                 # numpy integers are integers


@pytest.mark.parametrize("k, n, level, match", [(3, 2, 0.95, "k=3"), (-1, 5, 0.95, "k=-1"), (1, 0, 0.95, "n=0"),
                                                (1.0, 5, 0.95, "k=1.0"), (True, 5, 0.95, "k=True"),
                                                (1, 5, 1.0, "level=1.0"), (1, 5, True, "level=True")])
def test_bad_counts_are_named(k, n, level, match):
    with pytest.raises(ValueError, match=match):
        share(k, n, level)


def test_mean_se():
    m = mean_se([1.0, 2.0, 3.0])
    assert m.mean == 2.0 and math.isclose(m.se, 1 / math.sqrt(3)) and m.n == 3
    assert str(m) == "2.000 ± 0.577 (n = 3)"
    for bad in ([1.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="at least two finite"):
            mean_se(bad)
