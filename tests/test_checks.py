"""The claim checks' printing: rounded numbers, and fixed tolerances for numbers at the level of rounding noise."""
from __future__ import annotations

import math

import pytest

from sslvit.checks import Below, ClaimFailed, below, check, decimal_power, fmt


def test_below_reports_against_a_fixed_tolerance():
    # two CPUs with different rounding noise print the same line, and glue the same number (the tolerance)
    assert fmt(below(3.47e-18, 1e-10)) == fmt(below(-1.73e-18, 1e-10)) == fmt(below(0.0, 1e-10)) == "<= 10^-10: yes"
    assert repr(below(3.47e-18, 1e-10)) == "1e-10" and f"{below(3e-8, 1e-6):.0e}" == "1e-06"
    b = below(2e-9, 1e-10)                      # above the tolerance: says so, and glues the number itself
    assert not b.holds and b.value == 2e-9 and fmt(b) == "= 2e-09 > 10^-10: no" and repr(b) == "2e-09"
    assert isinstance(b, Below) and isinstance(b, float) and below(1e-10, 1e-10).holds
    assert fmt([below(4e-17, 1e-12), 0.5]) == "[<= 10^-12: yes, 0.500]"
    for bad in (float("nan"), float("inf"), "x", None):
        with pytest.raises(ValueError, match="value=.*finite number"):
            below(bad, 1e-10)
    for tol in (0.0, -1e-10, float("inf"), True, "1e-10"):
        with pytest.raises(ValueError, match="tol=.*positive finite"):
            below(1e-12, tol)


def test_tolerances_print_as_powers_of_ten():
    assert [decimal_power(x) for x in (1e-10, 1e-6, 3e-7, 1.0)] == ["10^-10", "10^-6", "3e-7", "10^0"]
    assert str(below(5e-7, 3e-7)) == "= 5e-07 > 3e-7: no"


def test_check_prints_tolerances(capsys):
    check("X", "a statement", True, error=below(2e-16, 1e-12), size=0.25)
    assert capsys.readouterr().out == "CHECK X PASS: a statement (error <= 10^-12: yes, size=0.250)\n"


def test_check_raises_with_the_numbers():
    with pytest.raises(ClaimFailed, match=r"CHECK C9 FAIL: false \(value=1.50\)"):
        check("C9", "false", False, value=1.5, digits=2)
    assert fmt(math.pi) == "3.142" and fmt(12345.0) == "1.23e+04" and fmt(3) == "3"


def test_long_check_lines_are_broken_to_fit_the_page(capsys):
    check("C4", "a statement " * 12, True, value=0.5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("CHECK C4 PASS: a statement") and all(line.startswith("    ") for line in lines[1:])
