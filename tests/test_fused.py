"""The compiled element-wise chains of the fast engine (``method="compiled"``, book chapter 7): the same
trajectory as the plain engine to rounding, and the plain engine (with one warning) where compiling fails."""
from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.core import fused


def runs(objective: str) -> list[Run]:
    return [Run(DataConfig(patches=16, clusters=3, global_size=cs, local_size=2),
                TrainConfig(objective=objective, steps=12, batch_size=8, seed=s, lr=100.0 if objective == "mae" else 300.0))
            for cs, s in ((8, 0), (6, 1))]


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_compiled_equals_plain_to_rounding(objective):
    plain = train(runs(objective), log_every=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # where no compiler is present the plain chains run
        compiled = train(runs(objective), log_every=4, method="compiled")
    if shutil.which("g++") or shutil.which("c++"):              # with a compiler the compiled chains must run
        assert fused.CHAINS.failure is None, fused.CHAINS.failure
    assert float((plain.A - compiled.A).abs().max()) < 1e-10
    assert float((plain.B - compiled.B).abs().max()) < 1e-10
    assert float(plain.A.abs().max()) > 1e-3                 # the runs moved
    for name in plain.history:
        assert float((plain.history[name] - compiled.history[name]).abs().max()) < 1e-9, name


def test_chains_fall_back_to_the_plain_engine(monkeypatch):
    """If compiling fails, one warning, then the plain chains: bit-identical to method="fast"."""
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler here")

    chains = fused.Chains()
    monkeypatch.setattr(fused, "CHAINS", chains)
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="compiled engine is not available here.*no C\\+\\+ compiler"):
        fallback = train(runs("mae"), log_every=4, method="compiled")
    assert isinstance(chains.failure, RuntimeError)
    plain = train(runs("mae"), log_every=4)
    assert torch.equal(plain.A, fallback.A) and torch.equal(plain.B, fallback.B)


def test_compiled_chains_match_the_plain_chains():
    """The two chain pairs on random inputs (float64): same results to rounding."""
    from sslvit.core import engine

    g = torch.Generator().manual_seed(0)
    R, Bt, N, P = 2, 3, 4, 5
    a, T = torch.randn(R, Bt, N, P, generator=g, dtype=torch.float64), torch.rand(R, Bt, N, P, generator=g, dtype=torch.float64)
    scale, T_masked = torch.rand(R, Bt, N, generator=g, dtype=torch.float64) + 0.5, torch.rand(R, Bt, P, generator=g, dtype=torch.float64)
    empty = torch.zeros(R, Bt, N, 1, dtype=torch.bool)
    empty[0, 0, 1] = True
    want = engine.softmax_chain(a.clone(), scale, T, T_masked, empty)
    got = fused.softmax(a, scale, T, T_masked, empty)
    for w, x in zip(want, got):
        assert torch.allclose(w, x, rtol=1e-13, atol=1e-15)
    grad = torch.randn(R, Bt, N, P, generator=g, dtype=torch.float64)
    want = engine.backward_chain(want[0], grad.clone(), want[1], want[2], want[3], scale)
    got = fused.backward(got[0], grad, got[1], got[2], got[3], scale)
    for w, x in zip(want, got):
        assert torch.allclose(w, x, rtol=1e-12, atol=1e-15)
