"""Real-image tokens (sslvit.vit.realdata, chapter 13): patchify round trip, pool, views, bad input."""
from __future__ import annotations

import pytest
import torch

from sslvit.vit.realdata import CropPool, grid_coords, load_photos, patchify, unpatchify


@pytest.fixture(scope="module")
def pool():
    return CropPool(n_crops=32, size=16, patch=4, margin=4, downscale=8, seed=0)


def test_patchify_round_trip_and_order():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float64).reshape(2, 3, 8, 8)
    t = patchify(x, 4)
    assert t.shape == (2, 4, 48)
    assert torch.equal(unpatchify(t, 4, 3), x)
    # token 1 is the top-right patch: channel 0, rows 0..3, columns 4..7
    assert torch.equal(t[0, 1, :16], x[0, 0, :4, 4:].reshape(-1))


def test_grid_coords():
    c = grid_coords(2, 3)
    assert c.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]


def test_photos_offline():
    p = load_photos(downscale=8, gray=False)
    assert p.shape == (2, 3, 427 // 8, 640 // 8) and 0 <= float(p.min()) and float(p.max()) <= 1


def test_pool_shapes_standardised_and_deterministic(pool):
    assert pool.patches == 16 and pool.in_dim == 16 and pool.coords.shape == (16, 2)
    assert pool.crops.shape == (32, 1, 20, 20)
    assert abs(float(pool.crops.mean())) < 1e-4 and abs(float(pool.crops.std()) - 1) < 1e-3
    again = CropPool(n_crops=32, size=16, patch=4, margin=4, downscale=8, seed=0)
    assert torch.equal(pool.crops, again.crops)
    assert torch.equal(pool.eval_batch(5), again.eval_batch(5))
    other = CropPool(n_crops=32, size=16, patch=4, margin=4, downscale=8, seed=1)
    assert not torch.equal(pool.crops, other.crops)


def test_views_are_two_different_augmentations(pool):
    g = torch.Generator().manual_seed(0)
    v1, v2 = pool.views(g, 6)
    assert v1.shape == v2.shape == (6, 16, 16)
    assert not torch.allclose(v1, v2)
    g2 = torch.Generator().manual_seed(0)
    w1, w2 = pool.views(g2, 6)
    assert torch.equal(v1, w1) and torch.equal(v2, w2)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="patch"):
        patchify(torch.zeros(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match="size"):
        CropPool(n_crops=4, size=30, patch=4)
    with pytest.raises(ValueError, match="fit"):
        CropPool(n_crops=4, size=400, patch=4, downscale=4)
    with pytest.raises(ValueError, match="contrast"):
        CropPool(n_crops=4, size=16, contrast=1.5, downscale=8)
