"""Unit tests of sslvit.analysis.phase_length (book chapter 4): Phase I's length against P."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from sslvit import DataConfig
from sslvit.analysis.phase_length import (geometric_grid, length_law, log_slope, phase_one_length,
                                          step_size_for)
from sslvit.analysis.theory import init_rates
from sslvit.book import STORED_RESULTS, stored_results

pytestmark = pytest.mark.filterwarnings("ignore:Sparse:UserWarning")

POSITIVE = DataConfig(patches=64, clusters=4, global_size=22, local_size=3)   # Δ ≈ +0.22
NEGATIVE = DataConfig(patches=64, clusters=4, global_size=7, local_size=3)    # Δ ≈ -0.33


def test_geometric_grid_is_increasing_and_reaches_the_end():
    grid = geometric_grid(300, 1.05)
    assert grid[:4] == [0, 1, 2, 3] and grid[-1] == 300
    assert all(b > a for a, b in zip(grid, grid[1:]))
    assert 1.0 < grid[-1] / grid[-2] <= 1.06          # geometric at the end
    with pytest.raises(ValueError, match="last"):
        geometric_grid(0)
    with pytest.raises(ValueError, match="ratio"):
        geometric_grid(10, 1.0)


def test_step_size_moves_the_faster_rate_by_per_step():
    """The first step's change of the faster FP correlation is per_step (up to the batch's sampling noise)."""
    result = phase_one_length(POSITIVE, seed=0, per_step=0.02, max_steps=2)
    assert result.decouple == pytest.approx(0.02)      # Δ > 0: decoupling is the faster rate
    assert result.grow == pytest.approx(0.02 / result.ratio)
    assert result.ratio == pytest.approx(init_rates(64, 22, 3).ratio)
    assert result.lr == pytest.approx(step_size_for(POSITIVE))
    with pytest.raises(ValueError, match="per_step"):
        step_size_for(POSITIVE, per_step=0.0)


def test_phase_one_exists_only_for_a_positive_gap():
    pos = phase_one_length(POSITIVE, seed=0, max_steps=200)
    neg = phase_one_length(NEGATIVE, seed=0, max_steps=200)
    assert pos.ratio > 1 and pos.boundary is not None and pos.boundary > 1
    assert pos.steps < 200                              # stopped once Phase II was confirmed
    assert pos.first_ratio > 1
    assert neg.ratio < 1 and neg.boundary == 0 and neg.decoupling_time == 0.0


def test_too_few_steps_leave_phase_one_unfinished():
    result = phase_one_length(POSITIVE, seed=0, max_steps=3)
    assert result.boundary is None and result.decoupling_time is None and result.steps == 3
    with pytest.raises(ValueError, match="max_steps"):
        phase_one_length(POSITIVE, max_steps=1)


def test_phase_one_length_is_deterministic():
    a = phase_one_length(POSITIVE, seed=1, max_steps=100)
    b = phase_one_length(POSITIVE, seed=1, max_steps=100)
    assert a == b


def test_log_slope_and_length_law_recover_a_power_law():
    assert log_slope([1.0, 10.0, 100.0], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="distinct"):
        log_slope([1.0, 1.0], [1.0, 2.0])
    rows = []
    for P in (64, 256, 1024):
        excess = 0.1 * P**0.5
        for seed, noise in enumerate((0.9, 1.0, 1.1)):
            decouple = 0.02
            rows.append(dict(patches=P, ratio=1 + excess, decouple=decouple, boundary=0.3 * excess * noise / decouple))
    law = length_law(rows)
    assert law.predicted_slope == pytest.approx(0.5)
    assert law.measured_slope == pytest.approx(0.5)
    assert law.constant == pytest.approx(0.3 * math.exp((math.log(0.9) + math.log(1.1)) / 3))
    assert law.spread == pytest.approx(max(0.33 / law.constant, law.constant / 0.27))
    with pytest.raises(ValueError, match="ratio > 1"):
        length_law(rows + [dict(patches=64, ratio=0.5, decouple=0.02, boundary=0)])


def test_stored_phase_lengths_cover_both_signs_and_four_sizes():
    data = stored_results("phase_length")
    runs = data["runs"]
    assert sorted({r["patches"] for r in runs}) == [64, 256, 1024, 4096]
    assert {r["seed"] for r in runs} == {0, 1, 2}
    assert any(r["delta"] > 0 for r in runs) and any(r["delta"] < 0 for r in runs)
    assert set(STORED_RESULTS) == {"bench_engine", "phase_length", "phase_diagram", "audit", "sensitivity_seeds"}
    from importlib.resources import files
    shipped = {f.name.removesuffix(".json") for f in files("sslvit").joinpath("results").iterdir() if f.name.endswith(".json")}
    assert shipped == set(STORED_RESULTS)             # every shipped measurement is named, with its script
    diagram = stored_results("phase_diagram")["runs"]
    assert len(diagram) == 288 and {r["objective"] for r in diagram} == {"mae", "cl"}
    with pytest.raises(ValueError, match="not allowed"):
        stored_results("nothing")
