"""The chaos audit's step-size perturbation (sslvit.core.perturb, the book's reproducibility appendix): off by default, exact 1.0 then,
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


def test_book_arithmetic_matches_the_makefile():
    """The Makefile's ARITHMETIC (record, nbval) and sslvit.core.perturb.BOOK_ARITHMETIC name the same settings."""
    from pathlib import Path

    from sslvit.core.perturb import BOOK_ARITHMETIC

    text = Path(__file__).resolve().parents[1].joinpath("Makefile").read_text().replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.startswith("ARITHMETIC :="))
    settings = dict(item.split("=", 1) for item in line.split(":=", 1)[1].split())
    assert settings == BOOK_ARITHMETIC


def test_in_book_arithmetic(monkeypatch):
    from sslvit.core.perturb import BOOK_ARITHMETIC, in_book_arithmetic

    for k, v in BOOK_ARITHMETIC.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(STEP_SIZE_ENV, raising=False)
    assert in_book_arithmetic()
    monkeypatch.setenv(STEP_SIZE_ENV, "1e-12")
    assert not in_book_arithmetic()
    monkeypatch.delenv(STEP_SIZE_ENV)
    monkeypatch.delenv("MKL_CBWR")
    assert not in_book_arithmetic()
