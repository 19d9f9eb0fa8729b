"""The toy data for TinyViT and the area masses of a dense attention map (sslvit.beyond.richer, chapter 12)."""
from __future__ import annotations

import pytest
import torch

from sslvit import DataConfig
from sslvit.core.data import dense_patches
from sslvit.beyond.richer import ToyTask, local_query_attention, toy_attention_report
from sslvit.vit.model import TinyViT, ViTConfig


def test_tokens_are_the_feature_part_of_the_dense_patches(grid_cfg):
    """ToyTask tokens equal the feature coordinates (index >= P) of sslvit.core.data.dense_patches."""
    task = ToyTask(grid_cfg, layout_seed=3)
    g = torch.Generator().manual_seed(0)
    tokens, area = task.sample(g, 5)
    g = torch.Generator().manual_seed(0)
    from sslvit.core.data import draw_images
    cluster, scale = draw_images(grid_cfg, 5, g, torch.float32)
    dense = dense_patches(grid_cfg, task.layout, cluster, scale)
    assert tokens.shape == (5, 16, grid_cfg.clusters * grid_cfg.n_areas)
    assert torch.equal(tokens, dense[..., grid_cfg.patches:])
    assert torch.equal(area, task.layout.area[cluster])
    x1, x2 = task.views(torch.Generator().manual_seed(1), 3)
    assert torch.equal(x1, x2)


def test_area_masses_by_hand():
    """Two local queries: one on its own visible area, one on the global area; global queries are ignored."""
    key_area = torch.tensor([[0, 0, 1, 1, 2, 2]])
    visible = torch.tensor([[True, True, True, True, True, False]])
    attn = torch.zeros(1, 6, 6, dtype=torch.float64)
    attn[0, :, 0] = 1.0                      # everyone on key 0 (global) ...
    attn[0, 2] = 0.0
    attn[0, 2, 3] = 1.0                      # ... except query 2, on its own area's key 3
    attn[0, 4] = 0.0
    attn[0, 4, 5] = 1.0                      # query 4 on its own but masked key 5: counts for nothing
    own, glob = local_query_attention(attn, key_area, visible)
    # local queries: 2, 3, 4, 5 -> own: [1, 0, 0, 0], global: [0, 1, 0, 1]
    assert float(own) == pytest.approx(0.25) and float(glob) == pytest.approx(0.5)
    batched = attn.expand(3, 2, 1, 6, 6)
    o, gl = local_query_attention(batched, key_area, visible)
    assert o.shape == gl.shape == (3, 2)
    with pytest.raises(ValueError, match="do not match"):
        local_query_attention(attn, key_area[:, :5], visible[:, :5])


def test_report_shapes(grid_cfg):
    task = ToyTask(grid_cfg, 0)
    model = TinyViT(ViTConfig(in_dim=task.in_dim, patches=16, width=8, depth=2, heads=2, mask_token="zero"))
    rep = toy_attention_report(model, task, 0.5, n=4)
    assert set(rep) == {"own", "global", "self", "masked", "nmi", "distance"}
    assert all(v.shape == (2, 2) for v in rep.values())
    assert all(((v >= 0) & (v <= 1)).all() for k, v in rep.items() if k != "distance")
    assert float((rep["own"] + rep["global"]).max()) <= 1 + 1e-9
    assert float((rep["own"] + rep["global"] + rep["masked"]).max()) <= 1 + 1e-9
    rnd = ToyTask(DataConfig(patches=16, clusters=2, global_size=8, local_size=4), 0)
    m2 = TinyViT(ViTConfig(in_dim=rnd.in_dim, patches=16, width=8, depth=1, heads=2))
    assert "distance" not in toy_attention_report(m2, rnd, 0.3, n=4)
    with pytest.raises(ValueError, match="mask_prob"):
        toy_attention_report(model, task, 1.0)
    with pytest.raises(TypeError):
        ToyTask("grid")
