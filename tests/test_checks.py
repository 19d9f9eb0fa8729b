"""The claim checks' printing: rounded numbers, and bounds for numbers at the level of rounding noise."""
from __future__ import annotations

import math

import pytest

from sslvit.checks import AtMost, ClaimFailed, check, fmt, order_bound


def test_order_bound_is_the_next_power_of_ten():
    assert order_bound(3.47e-18) == 1e-17 and order_bound(1.73e-18) == 1e-17    # two CPUs, one bound
    assert order_bound(-2.5e-8) == 1e-7 and order_bound(1e-7) == 1e-7
    assert order_bound(0.0) == 0.0 and order_bound(0.0, floor=1e-12) == 1e-12
    assert order_bound(5.9e-17, floor=1e-12) == 1e-12 and order_bound(3.6e-13, floor=1e-12) == 1e-12
    assert order_bound(2e-11, floor=1e-12) == 1e-10
    assert isinstance(order_bound(1e-9), AtMost) and isinstance(order_bound(1e-9), float)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            order_bound(bad)
    with pytest.raises(ValueError, match="floor"):
        order_bound(1e-9, floor=-1.0)


def test_bounds_print_as_bounds(capsys):
    assert fmt(order_bound(3.47e-18)) == "<=1e-17" and fmt(order_bound(0.0)) == "0"
    assert fmt([order_bound(4e-17, floor=1e-12), 0.5]) == "[<=1e-12, 0.500]"
    assert repr(order_bound(3.47e-18)) == "1e-17" and f"{order_bound(3e-8):.0e}" == "1e-07"
    check("X", "a statement", True, error=order_bound(2e-16), size=0.25)
    assert capsys.readouterr().out == "CHECK X PASS: a statement (error<=1e-15, size=0.250)\n"


def test_check_raises_with_the_numbers():
    with pytest.raises(ClaimFailed, match=r"CHECK C9 FAIL: false \(value=1.50\)"):
        check("C9", "false", False, value=1.5, digits=2)
    assert fmt(math.pi) == "3.142" and fmt(12345.0) == "1.23e+04" and fmt(3) == "3"
