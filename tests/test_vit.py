"""TinyViT (sslvit.vit, chapters 12-13): shapes, attention rows, masking, determinism, bad input."""
from __future__ import annotations

import pytest
import torch

from sslvit.vit.model import TinyViT, ViTConfig


def _x(b=3, p=16, d=5, seed=0):
    return torch.randn(b, p, d, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_rows_sum_to_one():
    """Output tokens (B, P, width), attention (L, B, H, P, P) with rows summing to 1, head (B, P, out_dim)."""
    m = TinyViT(ViTConfig(in_dim=5, patches=16, width=8, depth=3, heads=2, out_dim=7))
    out = m(_x())
    assert out.tokens.shape == (3, 16, 8)
    assert out.attn.shape == (3, 3, 2, 16, 16)
    assert out.head.shape == (3, 16, 7)
    assert torch.allclose(out.attn.sum(-1), torch.ones(3, 3, 2, 16), atol=1e-5)
    assert (out.attn >= 0).all()


def test_no_head_and_attention_only():
    """out_dim=None gives no head; mlp_ratio=0 and layernorm=False build attention-only blocks."""
    m = TinyViT(ViTConfig(in_dim=5, patches=16, width=8, depth=1, heads=1, mlp_ratio=0, layernorm=False))
    assert m.blocks[0].mlp is None
    out = m(_x())
    assert out.head is None and out.attn.shape == (1, 3, 1, 16, 16)


@pytest.mark.parametrize("kind", ["learned", "zero"])
def test_masked_content_is_replaced(kind):
    """Masked tokens' content does not reach the model: changing it leaves every output unchanged, and
    with mask_token='zero' a masked token equals an all-zero token."""
    m = TinyViT(ViTConfig(in_dim=5, patches=16, width=8, depth=2, heads=2, mask_token=kind))
    x = _x()
    vis = torch.ones(3, 16, dtype=torch.bool)
    vis[:, ::3] = False
    y = x.clone()
    y[~vis] = 100.0
    a, b = m(x, vis), m(y, vis)
    assert torch.allclose(a.tokens, b.tokens) and torch.allclose(a.attn, b.attn)
    c = m(x)  # unmasked differs
    assert not torch.allclose(a.tokens, c.tokens)
    if kind == "zero":
        z = x.clone()
        z[~vis] = 0.0
        assert torch.allclose(m(z).tokens, a.tokens, atol=1e-6)


def test_same_seed_same_model_other_seed_differs():
    cfg = ViTConfig(in_dim=5, patches=16, width=8, depth=2, heads=2, seed=3)
    x = _x()
    assert torch.equal(TinyViT(cfg)(x).tokens, TinyViT(cfg)(x).tokens)
    other = ViTConfig(in_dim=5, patches=16, width=8, depth=2, heads=2, seed=4)
    assert not torch.allclose(TinyViT(cfg)(x).tokens, TinyViT(other)(x).tokens)


def test_construction_does_not_touch_global_rng():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    TinyViT(ViTConfig(in_dim=5, patches=16, width=8))
    assert torch.equal(torch.rand(1), before)


@pytest.mark.parametrize("kwargs", [dict(width=10, heads=4), dict(depth=0), dict(mask_token="mean"),
                                    dict(mlp_ratio=-1.0), dict(out_dim=0), dict(pos_std=float("nan")),
                                    dict(patches=True)])
def test_bad_config_raises(kwargs):
    base = dict(in_dim=5, patches=16, width=8, heads=2)
    with pytest.raises(ValueError):
        ViTConfig(**{**base, **kwargs})


def test_bad_input_raises():
    m = TinyViT(ViTConfig(in_dim=5, patches=16, width=8, heads=2))
    with pytest.raises(ValueError, match="expected"):
        m(torch.zeros(2, 15, 5))
    with pytest.raises(ValueError, match="visible"):
        m(torch.zeros(2, 16, 5), torch.ones(2, 16))                 # not bool
