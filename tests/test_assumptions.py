"""The break rule and the sweeps of book chapter 9 (sslvit.beyond.assumptions)."""
from __future__ import annotations

import math

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.beyond.assumptions import EFFECTS, break_level, effect, exceed_level, feature_sweep, scale_sweep, train_tolerant

CFG = DataConfig(patches=16, clusters=2, global_size=8, local_size=2)


def test_break_level_first_level_below_half():
    levels = [0.0, 0.5, 1.0, 2.0]
    vals = torch.tensor([[1.0, 1.2], [0.9, 0.8], [0.5, 0.4], [0.9, 0.9]], dtype=torch.float64)
    lv, ratio = break_level(levels, vals, torch.tensor([1.0, 1.2], dtype=torch.float64))
    assert lv == 1.0 and abs(float(ratio[2]) - 0.45 / 1.1) < 1e-12   # the first, not the last, failing level
    lv, _ = break_level(levels, vals[:2].repeat(2, 1), torch.tensor([1.0, 1.2], dtype=torch.float64))
    assert lv is None
    nan = vals.clone()
    nan[1, 0] = float("nan")                                       # a diverged seed breaks the level
    assert break_level(levels, nan, vals[0])[0] == 0.5


def test_exceed_level():
    vals = torch.tensor([[0.0, 0.0], [0.05, 0.1], [0.3, 0.0]], dtype=torch.float64)
    assert exceed_level([0, 1, 2], vals, 0.1)[0] == 2.0
    assert exceed_level([0, 1, 2], vals, 0.5)[0] is None


def test_break_level_bad_input():
    with pytest.raises(ValueError, match="not positive"):
        break_level([0.0], torch.zeros(1, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="fraction"):
        break_level([0.0], torch.ones(1, 2), torch.ones(2), fraction=1.5)
    with pytest.raises(ValueError, match=r"\(L, S\)"):
        break_level([0.0, 1.0], torch.ones(1, 2), torch.ones(2))


def test_train_tolerant_drops_diverged_runs():
    """A trainer that diverges on the runs with lr > 1000 (TrainingDiverged names them, as sslvit.train does)."""
    from sslvit.core.training import TrainingDiverged

    def trainer(runs, **kw):
        bad = [i for i, r in enumerate(runs) if r.train.lr > 1000.0]
        if bad:
            raise TrainingDiverged("the training loss", 3, bad, [runs[i].train.lr for i in bad])
        return train(runs, **kw)

    ok = Run(CFG, TrainConfig(objective="mae", lr=100.0, steps=10, batch_size=8, seed=0))
    bad = Run(CFG, TrainConfig(objective="mae", lr=1e4, steps=10, batch_size=8, seed=1))
    initial, final, diverged = train_tolerant([ok, bad, ok, bad], trainer, log_every=10, progress=False)
    assert diverged.tolist() == [False, True, False, True]
    alone = train(ok, log_every=10, progress=False)
    assert float(final["own_area_attention"][0]) == float(alone.final["own_area_attention"][0])
    assert math.isnan(float(final["loss"][1])) and not math.isnan(float(initial["loss"][2]))
    with pytest.raises(TrainingDiverged, match="every run"):
        train_tolerant([bad], trainer, log_every=10, progress=False)


def test_sweeps_shapes_and_shared_baseline():
    tc = TrainConfig(objective="mae", lr=300.0, steps=8, batch_size=8)
    fs = feature_sweep(CFG, tc, [0.0, 0.5], [0.0, 0.5, 1.0], [0, 1], dtype=torch.float64)
    assert fs["overlap"].final["loss"].shape == (2, 2) and fs["noise"].final["loss"].shape == (3, 2)
    assert torch.equal(fs["overlap"].final["loss"][0], fs["noise"].final["loss"][0])
    ss = scale_sweep(CFG, tc, {"sign": [0.5], "pareto": [3.0, 1.5]}, [0, 1], dtype=torch.float64,
                     level={"pareto": lambda a: 1.0 / a})
    assert ss["pareto"].levels == [0.0, 1 / 3.0, 1 / 1.5] and ss["pareto"].labels == ["uniform", "3", "1.5"]
    assert torch.equal(ss["sign"].final["loss"][0], ss["pareto"].final["loss"][0])
    # the unperturbed sweeps agree with the reduced engine trained directly
    ref = train([Run(CFG, TrainConfig(objective="mae", lr=300.0, steps=8, batch_size=8, seed=s)) for s in (0, 1)],
                log_every=8, progress=False)
    assert float((ss["sign"].final["loss"][0] - ref.final["loss"]).abs().max()) <= 1e-12
    assert float((fs["noise"].final["loss"][0] - ref.final["loss"]).abs().max()) <= 1e-10
    e = effect("mae_own", fs["noise"])
    assert e.shape == (3, 2) and bool(torch.isfinite(e).all())
    with pytest.raises(ValueError, match="needs a CL sweep"):
        effect("cl_global", fs["noise"])
    with pytest.raises(ValueError, match="effect"):
        effect("nope", fs["noise"])
    assert set(EFFECTS) >= {"mae_own", "mae_recon", "cl_global"}


def test_sweeps_validate():
    tc = TrainConfig(objective="mae", lr=300.0, steps=2, batch_size=8)
    with pytest.raises(ValueError, match="start with"):
        feature_sweep(CFG, tc, [0.5], [0.0], [0])
    with pytest.raises(ValueError, match="uniform"):
        scale_sweep(DataConfig(**{**CFG.__dict__, "scale_law": "sign"}), tc, {"sign": [0.5]}, [0])
