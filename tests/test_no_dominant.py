"""Layouts without a dominant global area (DataConfig.allow_no_dominant, book chapter 8) and the area-level
summaries of collapsed attention (sslvit.beyond.collapse)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, information_gap, make_layout, train
from sslvit.cli import main
from sslvit.beyond.collapse import (cluster_targets, follows_largest_scale, local_coverage, local_share,
                             per_image_top, pooled_area_mass)


@pytest.mark.parametrize("cs,cc,layout", [(10, 10, "random"), (10, 30, "random"), (4, 32, "random"),
                                          (16, 16, "grid"), (4, 4, "grid")])
def test_no_dominant_layouts_tile(cs, cc, layout):
    P = 100 if layout == "random" else 64
    cfg = DataConfig(patches=P, clusters=3, global_size=cs, local_size=cc, layout=layout, allow_no_dominant=True)
    assert cfg.n_areas == 1 + (P - cs) // cc
    lay = make_layout(cfg, 0)
    for k in range(3):
        counts = torch.bincount(lay.area[k], minlength=cfg.n_areas)
        assert counts[0] == cs and counts[1:].tolist() == [cc] * (cfg.n_areas - 1)
    expected = 2 * math.log(cs) / math.log(P) - math.log(cc) / math.log(P) - 1
    assert cfg.delta == pytest.approx(expected, abs=1e-12)
    assert cfg.to_dict()["allow_no_dominant"] is True


def test_delta_goes_below_minus_one():
    assert DataConfig(patches=100, global_size=4, local_size=32, allow_no_dominant=True).delta < -1
    assert information_gap(100, 10, 10, strict=False) == pytest.approx(-0.5, abs=1e-12)
    with pytest.raises(ValueError, match="local_size"):
        information_gap(100, 10, 10)


def test_opt_in_is_required_and_tiling_still_checked():
    with pytest.raises(ValueError, match="allow_no_dominant"):
        DataConfig(patches=100, global_size=10, local_size=10)
    with pytest.raises(ValueError, match="multiple of local_size"):
        DataConfig(patches=100, global_size=10, local_size=20, allow_no_dominant=True)
    with pytest.raises(ValueError, match="allow_no_dominant"):
        DataConfig(patches=100, global_size=10, local_size=10, allow_no_dominant=1)
    with pytest.raises(ValueError, match="global_size"):
        DataConfig(patches=100, global_size=200, local_size=10, allow_no_dominant=True)
    with pytest.raises(ValueError, match="patches"):
        information_gap(100, 10, 101, strict=False)


def test_default_behaviour_unchanged():
    cfg = DataConfig()
    assert cfg.allow_no_dominant is False and cfg.delta == pytest.approx(0.25, abs=1e-12)


def synthetic_mass():
    """3 images, 3 areas, 2 queries: image 0 (cluster 0) all on area 2, image 1 (cluster 0) on area 1,
    image 2 (cluster 1) split 0.5 / 0.3 / 0.2 between areas 0, 1, 2."""
    per_image = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.5, 0.3, 0.2]], dtype=torch.float64)
    mass = per_image[:, :, None].expand(3, 3, 2).clone()
    cluster = torch.tensor([0, 0, 1])
    return mass, cluster


def test_collapse_summaries_on_a_known_example():
    mass, cluster = synthetic_mass()
    assert torch.allclose(pooled_area_mass(mass), mass[:, :, 0])
    targets = cluster_targets(mass, cluster, 3)
    assert (targets[0].share, targets[0].second_share, targets[0].images) == (0.5, 0.5, 2)
    assert {targets[0].area, targets[0].second} == {1, 2}
    assert (targets[1].area, targets[1].second, targets[1].images) == (0, 1, 1)
    assert targets[1].share == pytest.approx(0.5) and targets[1].second_share == pytest.approx(0.3)
    assert targets[2].area == -1 and targets[2].images == 0
    top, share = per_image_top(mass)
    assert top.tolist() == [2, 1, 0] and share.tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert local_share(mass) == pytest.approx((1.0 + 1.0 + 0.5) / 3)
    assert local_coverage(mass, cluster, 3) == [2, 0, 0]
    assert local_coverage(mass, cluster, 3, min_fraction=0.6) == [0, 0, 0]
    scale = torch.tensor([[1.0, 0.9, 1.2], [1.0, 1.4, 0.6], [1.0, 1.1, 1.3]], dtype=torch.float64)
    cands = torch.tensor([[1, 2], [1, 2], [1, 2]])
    assert follows_largest_scale(mass, scale, cands) == pytest.approx(2 / 3)


def test_collapse_summaries_reject_bad_shapes():
    mass, cluster = synthetic_mass()
    with pytest.raises(ValueError, match="shape"):
        pooled_area_mass(mass[0])
    with pytest.raises(ValueError, match="cluster"):
        cluster_targets(mass, cluster[:2], 2)
    with pytest.raises(ValueError, match="candidates"):
        follows_largest_scale(mass, torch.ones(3, 3), torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="min_fraction"):
        local_coverage(mass, cluster, 2, min_fraction=0.0)


def test_cl_on_equal_areas_collapses_onto_one_pattern():
    """P = 36, six equal areas of 6: CL trains (finite), every query has the same attention, and each cluster's
    attention ends concentrated on few areas (top share above the uniform 1/6)."""
    cfg = DataConfig(patches=36, clusters=2, global_size=6, local_size=6, allow_no_dominant=True)
    traj = train(Run(cfg, TrainConfig(objective="cl", lr=5e3, steps=60, batch_size=16, seed=1)), log_every=30)
    assert all(bool(torch.isfinite(v).all()) for v in traj.history.values())
    A, B = traj.correlations(0)
    assert float((A - A[:1]).abs().max()) < 1e-10 and float((B - B[:1]).abs().max()) < 1e-10
    from sslvit.core.attention import attention_of
    view = attention_of(traj, 0, batch=32, seed=5)
    for t in cluster_targets(view.mass, view.sample.cluster, 2):
        assert t.share > 0.4


def test_cli_allow_no_dominant(capsys):
    argv = ["train", "--objective", "cl", "--patches", "36", "--clusters", "2", "--global-size", "6",
            "--local-size", "6", "--batch-size", "8", "--steps", "4", "--lr", "1000", "--threads", "1", "--json"]
    assert main(argv) == 2
    assert "allow_no_dominant" in capsys.readouterr().err
    assert main(argv + ["--allow-no-dominant"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["delta"] == pytest.approx(information_gap(36, 6, 6, strict=False))
    assert summary["config"]["data"]["allow_no_dominant"] is True
