"""Training TinyViT with MAE and CL (sslvit.vit.training, chapters 12-13): losses, metrics, determinism."""
from __future__ import annotations

import math

import pytest
import torch

from sslvit.vit.model import ViTConfig
from sslvit.vit.training import (ViTTrainConfig, attention_stats, info_nce, masked_patch_loss, train_vit,
                              uniform_distance)


class _Blobs:
    """A tiny task: 16 tokens on a 4 x 4 grid, each image one random constant per 2 x 2 block, plus noise."""

    patches, in_dim = 16, 3

    def batch(self, g, n):
        vals = torch.randn(n, 4, self.in_dim, generator=g)
        pos = torch.arange(16)
        block = (pos // 4 // 2) * 2 + (pos % 4) // 2
        return vals[:, block] + 0.1 * torch.randn(n, 16, self.in_dim, generator=g)

    def views(self, g, n):
        x = self.batch(g, n)
        return x + 0.3 * torch.randn(x.shape, generator=g), x + 0.3 * torch.randn(x.shape, generator=g)


VIT = ViTConfig(in_dim=3, patches=16, width=16, depth=1, heads=2, pos_std=1.0)


def test_mae_loss_by_hand():
    pred = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [5.0, 5.0]]])
    vis = torch.tensor([[False, False, True]])
    assert float(masked_patch_loss(pred, target, vis)) == pytest.approx(0.5 * (2 + 4) / 2)


def test_info_nce_perfect_and_uniform():
    """Orthogonal matching pairs at small tau: loss ≈ 0; identical representations: loss = log B."""
    z = torch.eye(4)
    assert float(info_nce(z, z, tau=0.01)) < 1e-6
    same = torch.ones(4, 3)
    assert float(info_nce(same, same, tau=0.5)) == pytest.approx(math.log(4), rel=1e-6)
    assert float(info_nce(same, same, tau=0.5, similarity="dot", symmetric=False)) == pytest.approx(math.log(4), rel=1e-6)


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_loss_decreases_and_deterministic(objective):
    cfg = ViTTrainConfig(objective=objective, steps=60, batch_size=16, lr=3e-3, seed=1, proj_dim=8)
    a = train_vit(_Blobs(), VIT, cfg)
    assert a.losses.shape == (60,) and torch.isfinite(a.losses).all()
    assert float(a.losses[-10:].mean()) < 0.8 * float(a.losses[:5].mean())
    b = train_vit(_Blobs(), VIT, cfg)
    assert torch.equal(a.losses, b.losses)
    c = train_vit(_Blobs(), VIT, ViTTrainConfig(objective=objective, steps=60, batch_size=16, lr=3e-3, seed=2, proj_dim=8))
    assert not torch.equal(a.losses, c.losses)
    assert (a.model.head is not None) == (objective == "mae")


def test_cl_with_view_masks_runs():
    cfg = ViTTrainConfig(objective="cl", steps=5, batch_size=8, view_mask_prob=0.3, proj_dim=None,
                         similarity="dot", tau=1.0, symmetric=False)
    assert torch.isfinite(train_vit(_Blobs(), VIT, cfg).losses).all()


def test_attention_stats_shapes_and_ranges():
    run = train_vit(_Blobs(), ViTConfig(in_dim=3, patches=16, width=16, depth=2, heads=2),
                    ViTTrainConfig(objective="mae", steps=3, batch_size=8))
    x = _Blobs().batch(torch.Generator().manual_seed(0), 6)
    pos = torch.arange(16)
    coords = torch.stack([pos // 4, pos % 4], 1).double()
    st = attention_stats(run.model, x, coords)
    assert st["nmi"].shape == st["distance"].shape == (2, 2)
    assert ((st["nmi"] >= 0) & (st["nmi"] <= 1)).all()
    assert (st["distance"] > 0).all() and (st["distance"] < coords.max() * 2 ** 0.5).all()
    assert "distance" not in attention_stats(run.model, x)
    assert uniform_distance(coords) == pytest.approx(float(torch.cdist(coords, coords).mean()))
    with pytest.raises(ValueError, match="coords"):
        attention_stats(run.model, x, coords[:5])


@pytest.mark.parametrize("kwargs", [dict(objective="byol"), dict(objective="mae", mask_prob=1.0),
                                    dict(objective="cl", batch_size=1), dict(objective="mae", steps=0),
                                    dict(objective="cl", similarity="l2"), dict(objective="mae", lr=-1.0),
                                    dict(objective="cl", view_mask_prob=1.0)])
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        ViTTrainConfig(**kwargs)


def test_task_mismatch_raises():
    with pytest.raises(ValueError, match="task gives"):
        train_vit(_Blobs(), ViTConfig(in_dim=4, patches=16), ViTTrainConfig(objective="mae", steps=1))
