"""The chaos audit's step-size perturbation (sslvit.core.perturb, book chapter 7): off by default, exact 1.0 then,
a tiny relative change when set, and a clear error for a bad value."""
from __future__ import annotations

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.core.perturb import STEP_SIZE_ENV, step_size_factor


def _final_A(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(STEP_SIZE_ENV, raising=False)
    else:
        monkeypatch.setenv(STEP_SIZE_ENV, value)
    run = Run(DataConfig(patches=16, clusters=2, global_size=8, local_size=2),
              TrainConfig(objective="mae", lr=100.0, steps=5, batch_size=4, seed=0))
    return train([run], log_every=5, progress=False, dtype=torch.float64).A


def test_off_by_default_and_exactly_one(monkeypatch):
    monkeypatch.delenv(STEP_SIZE_ENV, raising=False)
    assert step_size_factor() == 1.0
    monkeypatch.setenv(STEP_SIZE_ENV, " ")
    assert step_size_factor() == 1.0
    monkeypatch.setenv(STEP_SIZE_ENV, "1e-12")
    assert step_size_factor() == 1.0 + 1e-12


def test_the_perturbation_moves_the_last_bits_only(monkeypatch):
    base = _final_A(monkeypatch, None)
    assert torch.equal(base, _final_A(monkeypatch, "0"))           # eps = 0: the same bits
    moved = _final_A(monkeypatch, "1e-12")
    diff = float((moved - base).abs().max())
    assert 0 < diff <= 1e-9 * float(base.abs().max())              # a non-chaotic run changes in its last digits


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "1e-3", "-0.5"])
def test_bad_values_name_the_variable(monkeypatch, bad):
    monkeypatch.setenv(STEP_SIZE_ENV, bad)
    with pytest.raises(ValueError, match=f"{STEP_SIZE_ENV}=.*not allowed: a number with \\|eps\\| <= 1e-6"):
        step_size_factor()
