"""Scale laws beyond Uniform[L, U] (DataConfig.scale_law, book chapter 9): the default is unchanged, each
law has the stated distribution, bad parameters raise, and the reduced engine (fast and dense) stays exact
for negative and very large scales."""
from __future__ import annotations

import json

import pytest
import torch

from helpers import engine_args, random_correlations
from sslvit import DataConfig, Run, TrainConfig, make_layout, sample_batch, train
from sslvit.core import engine
from sslvit.cli import main
from sslvit.core.data import draw_images

TOL = 1e-10
BASE = dict(patches=16, clusters=2, global_size=8, local_size=2)


def scales(law, param, n=20000, seed=0, **kw):
    cfg = DataConfig(**BASE, scale_law=law, scale_param=param, **kw)
    return draw_images(cfg, n, torch.Generator().manual_seed(seed))[1]


def test_uniform_default_is_unchanged():
    """The default draws exactly what it drew before scale laws existed (same stream, same numbers)."""
    cfg = DataConfig(**BASE)
    assert cfg.scale_law == "uniform" and cfg.scale_param is None
    cluster, z = draw_images(cfg, 7, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    c_old = torch.randint(cfg.clusters, (7,), generator=g)
    z_old = cfg.low + (cfg.high - cfg.low) * torch.rand(7, cfg.n_areas, generator=g, dtype=torch.float64)
    assert torch.equal(cluster, c_old) and torch.equal(z, z_old)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_sign_law(p):
    z = scales("sign", p)
    assert bool(((z.abs() >= 0.5) & (z.abs() <= 1.5)).all())
    assert abs(float((z < 0).double().mean()) - p) < 0.02


def test_heavy_tailed_laws_have_mean_one_and_stated_shape():
    z = scales("lognormal", 0.5, n=40000)
    assert bool((z > 0).all()) and abs(float(z.mean()) - 1.0) < 0.02
    assert abs(float(z.log().std()) - 0.5) < 0.01
    alpha = 3.0
    z = scales("pareto", alpha, n=40000)
    assert float(z.min()) >= (alpha - 1) / alpha - 1e-12            # the Pareto minimum x_m
    assert abs(float(z.mean()) - 1.0) < 0.05
    # tail: P(z > t) = (x_m / t)^alpha
    t, xm = 3.0, (alpha - 1) / alpha
    assert abs(float((z > t).double().mean()) - (xm / t) ** alpha) < 0.003
    assert torch.equal(scales("lognormal", 0.0), torch.ones_like(scales("lognormal", 0.0)))


@pytest.mark.parametrize("law,param,match", [
    ("cauchy", None, "scale_law"), ("uniform", 0.5, "scale_param"), ("sign", 1.5, "probability"),
    ("lognormal", -1.0, "sigma"), ("pareto", 1.0, "alpha"), ("pareto", float("inf"), "finite"),
])
def test_bad_scale_laws_raise(law, param, match):
    with pytest.raises(ValueError, match=match):
        DataConfig(**BASE, scale_law=law, scale_param=param)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["negative", "huge"])
def test_fast_equals_dense_for_extreme_scales(kind, dtype):
    """Negative scales and scales up to 1e3 (pareto tails): fast forward/backward equal the dense ones, or the
    fast engine declines (returns None) so that train falls back to dense."""
    cfg = DataConfig(**BASE)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 6, 0.4, 1)
    g = torch.Generator().manual_seed(2)
    if kind == "negative":
        z = -s.scale * torch.where(torch.rand(s.scale.shape, generator=g) < 0.5, 1.0, -1.0).to(torch.float64)
    else:
        z = s.scale * 10.0 ** (3 * torch.rand(s.scale.shape, generator=g, dtype=torch.float64))
    s = type(s)(s.cluster, z, s.visible)
    A, B = random_correlations(cfg, 4, scale=1.0)
    args = [t.to(dtype) if t.is_floating_point() else t for t in engine_args(layout, s)]
    A, B = A[None].to(dtype), B[None].to(dtype)
    dense = engine.dense_forward(A, B, *args)
    fast = engine.fast_forward(A, B, *args)
    tol = TOL if dtype == torch.float64 else 1e-4
    W = torch.randn(dense.mass.shape, generator=g, dtype=torch.float64).to(dtype)
    dA, dB = engine.dense_backward(dense, W.clone(), args[1], cfg.clusters)
    assert bool(torch.isfinite(dense.mass).all() and torch.isfinite(dA).all() and torch.isfinite(dB).all())
    if fast is None:
        assert kind == "huge"                                          # only a precision fallback is allowed
        return
    assert float((fast.mass - dense.mass).abs().max()) <= tol
    fA, fB = engine.fast_backward(fast, W.clone(), args[1], args[2], cfg.clusters)
    scale_a = max(1.0, float(dA.abs().max()))
    assert float((fA - dA).abs().max()) <= tol * scale_a and float((fB - dB).abs().max()) <= tol * max(1.0, float(dB.abs().max()))


@pytest.mark.parametrize("law,param", [("sign", 0.5), ("pareto", 1.5), ("lognormal", 1.5)])
def test_train_fast_equals_dense_under_scale_laws(law, param):
    run = Run(DataConfig(**BASE, scale_law=law, scale_param=param), TrainConfig(objective="mae", lr=100.0, steps=10, batch_size=8))
    a = train(run, log_every=10, method="fast", progress=False)
    b = train(run, log_every=10, method="dense", progress=False)
    assert float((a.A - b.A).abs().max()) <= 1e-8 * max(1.0, float(b.A.abs().max()))
    assert float((a.B - b.B).abs().max()) <= 1e-8 * max(1.0, float(b.B.abs().max()))


def test_cli_scale_law(capsys):
    code = main(["train", "--patches", "16", "--clusters", "2", "--global-size", "8", "--local-size", "2",
                 "--batch-size", "8", "--steps", "3", "--threads", "1", "--scale-law", "sign", "--scale-param",
                 "0.25", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out.strip().splitlines()[-1])
    assert summary["config"]["data"]["scale_law"] == "sign" and summary["config"]["data"]["scale_param"] == 0.25
    code = main(["train", "--patches", "16", "--global-size", "8", "--local-size", "2", "--scale-law", "pareto",
                 "--scale-param", "0.5"])
    assert code == 2 and "alpha" in capsys.readouterr().err
