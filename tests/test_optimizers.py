"""Helpers of the optimiser comparison (sslvit.beyond.optimizers, book chapter 7)."""
from __future__ import annotations

import math

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.core.attention import attention_of
from sslvit.beyond.optimizers import attention_breakdown, pick_step_size


def test_pick_step_size_lowest_mean_and_skips_diverged():
    lrs = [0.01, 0.1, 1.0]
    losses = torch.tensor([[0.5, 0.7], [0.2, 0.4], [0.1, math.nan]])
    chosen, means = pick_step_size(lrs, losses)
    assert chosen == 0.1 and means[0] == pytest.approx(0.6) and math.isnan(means[2])
    assert pick_step_size(lrs, torch.tensor([[3.0], [2.0], [1.0]]))[0] == 1.0


@pytest.mark.parametrize("lrs,losses", [([], torch.zeros(0, 1)), ([0.1, 0.1], torch.zeros(2, 1)),
                                        ([-1.0], torch.zeros(1, 1)), ([0.1, 0.2], torch.zeros(3, 1)),
                                        ([0.1], torch.full((1, 2), math.inf))])
def test_pick_step_size_bad_input(lrs, losses):
    with pytest.raises(ValueError):
        pick_step_size(lrs, losses)


def test_attention_breakdown_hand_example():
    # one image, P = 4: areas [0, 0, 1, 1]; local queries 2 and 3
    key_area = torch.tensor([[0, 0, 1, 1]])
    mass = torch.zeros(1, 2, 4)
    mass[0, 0, 2], mass[0, 1, 2] = 0.5, 0.3            # query 2: 0.5 global, 0.3 own, 0.2 masked
    mass[0, 0, 3], mass[0, 1, 3] = 0.1, 0.9            # query 3: 0.1 global, 0.9 own
    b = attention_breakdown(mass, key_area)
    assert b["global"] == pytest.approx(0.3) and b["own"] == pytest.approx(0.6)
    assert b["masked"] == pytest.approx(0.1) and b["other_local"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        attention_breakdown(mass, torch.zeros(1, 4, dtype=torch.long))       # no local query
    with pytest.raises(ValueError):
        attention_breakdown(mass[:, :, :3], key_area)


def test_attention_breakdown_sums_to_one_and_matches_train_metrics():
    """On a trained run the four parts sum to 1 and global/own equal the SPEC §4 metrics on the same images."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    traj = train(Run(cfg, TrainConfig(lr=100.0, steps=5, batch_size=8, seed=1)), log_every=5)
    view = attention_of(traj, 0, batch=16, seed=3)
    b = attention_breakdown(view.mass, view.key_area)
    assert sum(b.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(v >= -1e-12 for v in b.values())
    from sslvit.core.metrics import area_attention
    own, glob = area_attention(view.mass[None], view.key_area[None])
    assert b["own"] == pytest.approx(float(own[0]), abs=1e-12) and b["global"] == pytest.approx(float(glob[0]), abs=1e-12)


def test_adam_first_step_equalises_the_two_rates():
    """The premise of chapter 7: Adam's first step moves every FP correlation with a non-zero gradient by
    exactly lr (sign of the gradient), so the first-step decoupling/growth ratio is ~1 whatever Δ, while GD's
    follows the size of the gradients (ratio < 1 for Δ < 0, > 1 for Δ > 0 at this size)."""
    cfgs = [DataConfig(patches=64, clusters=4, global_size=cs, local_size=4, layout="grid") for cs in (8, 32)]
    ratios = {}
    for opt, lr in (("gd", 1e3), ("adam", 0.1)):
        traj = train([Run(c, TrainConfig(lr=lr, steps=1, optimizer=opt, population=64, seed=0)) for c in cfgs],
                     log_every=1)
        u, v = traj.history["fp_own"][1], -traj.history["fp_global"][1]
        ratios[opt] = (v / u).tolist()
    assert ratios["gd"][0] < 0.5 < 1.5 < ratios["gd"][1]
    assert all(abs(r - 1) < 0.1 for r in ratios["adam"])
