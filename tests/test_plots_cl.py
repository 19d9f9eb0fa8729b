"""Tests of sslvit.plots.cl (book chapter 5: CL collapses onto the global feature)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sslvit import DataConfig, Run, TrainConfig, make_layout, train  # noqa: E402
from sslvit.core.engine import dense_forward, key_areas  # noqa: E402
from sslvit.core.metrics import nmi  # noqa: E402
from sslvit.core.objectives import cl_loss  # noqa: E402
from sslvit.analysis.cl import PATTERNS, area_mass, first_crossing, max_row_tv, pattern_attention, pattern_norms  # noqa: E402
from sslvit.core.objectives import representation  # noqa: E402
from sslvit.plots.cl import plot_area_attention, plot_metric_vs_step, plot_pattern_norms, plot_sweep  # noqa: E402


def _image(P: int = 16):
    cfg = DataConfig(patches=P, clusters=2, global_size=8, local_size=4, layout="grid")
    layout = make_layout(cfg, 0)
    g = torch.Generator().manual_seed(1)
    cluster = torch.tensor([0, 1, 1])
    visible = torch.rand(3, P, generator=g) > 0.3
    visible[:, 0] = True
    key_area = key_areas(layout.area[None], cluster[None])[0]
    scale = 0.5 + torch.rand(3, cfg.n_areas, generator=g, dtype=torch.float64)
    return cfg, layout, cluster, key_area, visible, scale


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_rows_sum_to_one_and_respect_targets(pattern):
    cfg, _, _, key_area, visible, _ = _image()
    attn = pattern_attention(key_area, visible, pattern)
    assert attn.shape == (3, 16, 16)
    assert torch.allclose(attn.sum(-1), torch.ones(3, 16, dtype=torch.float64))
    mass = area_mass(attn, key_area, visible, cfg.n_areas)
    if pattern == "uniform":
        assert torch.allclose(attn, torch.full_like(attn, 1 / 16))
    elif pattern == "global":
        assert torch.allclose(mass[:, 0], torch.ones(3, 16, dtype=torch.float64))  # all on visible global
        assert nmi(attn[None])[0] < 1e-12                                             # identical rows
        assert torch.all(max_row_tv(attn) < 1e-12)
    else:
        for b in range(3):
            for p in range(16):
                own = key_area[b] == key_area[b, p]
                if (own & visible[b]).any():
                    assert math.isclose(float(mass[b, key_area[b, p], p]), 1.0, rel_tol=1e-12)
        assert float(nmi(attn[None])[0]) > 0.3


def test_area_mass_matches_engine():
    cfg, layout, cluster, key_area, visible, scale = _image()
    g = torch.Generator().manual_seed(3)
    A = torch.randn(1, 16, 2, cfg.n_areas, generator=g, dtype=torch.float64)
    B = torch.randn(1, 16, 16, generator=g, dtype=torch.float64)
    fwd = dense_forward(A, B, layout.area[None], cluster[None], scale[None], visible[None])
    mine = area_mass(fwd.attn[0], key_area, visible, cfg.n_areas)
    assert torch.allclose(mine, fwd.mass[0], atol=1e-12)


def test_representation_gives_the_cl_similarity_of_the_objective():
    """f1·f2 from :func:`representation` is the positive logit of sslvit.core.objectives.cl_loss (τ = 1)."""
    cfg, layout, cluster, key_area, visible, scale = _image()
    attn = pattern_attention(key_area, visible, "own")
    m = area_mass(attn, key_area, visible, cfg.n_areas)
    f = representation(m, scale)
    assert f.shape == (3, cfg.n_areas)
    # one image per run, no negatives: InfoNCE is 0; with itself as the only candidate the logit is f·f
    allowed = torch.ones(1, 3, 3, dtype=torch.bool)
    loss = cl_loss(m[None], m[None], scale[None], cluster[None], allowed, 1.0)
    same = (cluster[:, None] == cluster[None, :]).double()
    logits = (f @ f.T) * same
    expected = (torch.logsumexp(logits, -1) - logits.diagonal()).mean()
    assert torch.allclose(loss[0], expected)
    with pytest.raises(ValueError):
        representation(m, scale[:, :-1])


def test_pattern_norms_global_is_largest():
    cfg = DataConfig(patches=64, global_size=16, local_size=4)
    d = pattern_norms(cfg, make_layout(cfg, 0), batch=32, mask_prob=0.3, seed=0)
    assert set(d) == set(PATTERNS)
    assert d["global"]["norm"] > 2 * d["own"]["norm"] > 2 * 0.5 * d["uniform"]["norm"]
    assert d["global"]["global_share"] == pytest.approx(1.0)
    # uniform attention at Q = 0: f_j = z_j n_j / P, so the norm is below the own-area one by about 1 - γ
    assert d["uniform"]["norm"] == pytest.approx(0.7 * d["own"]["norm"], rel=0.1)
    with pytest.raises(ValueError):
        pattern_norms(cfg, make_layout(DataConfig(patches=64, global_size=32, local_size=4, clusters=2), 0))
    with pytest.raises(ValueError):
        pattern_norms(cfg, make_layout(cfg, 0), mask_prob=1.0)


def test_max_row_tv():
    a = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]])
    assert torch.allclose(max_row_tv(a), torch.tensor([1.0]))
    sel = torch.tensor([True, True, False])
    assert torch.allclose(max_row_tv(a, sel), torch.tensor([0.0]))
    b = torch.tensor([[[0.6, 0.4, 0.0], [0.5, 0.5, 0.0], [0.5, 0.4, 0.1]]])
    assert torch.allclose(max_row_tv(b), torch.tensor([0.1]))
    with pytest.raises(ValueError):
        max_row_tv(torch.ones(2, 3))
    with pytest.raises(ValueError):
        max_row_tv(a, torch.zeros(3, dtype=torch.bool))


def test_first_crossing():
    v = torch.tensor([[0.0, 0.0, 0.5], [0.5, 0.95, 0.6], [0.95, 0.96, 0.7]])
    out = first_crossing([0, 10, 100], v, 0.9)
    assert out[0] == 100 and out[1] == 10 and math.isnan(float(out[2]))
    with pytest.raises(ValueError):
        first_crossing([0, 10], v, 0.9)
    with pytest.raises(ValueError):
        first_crossing([0, 10, 10], v, 0.9)


def test_plots_from_a_tiny_cl_run(tmp_path):
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout="grid")
    runs = [Run(cfg, TrainConfig(objective="cl", steps=4, batch_size=4, seed=s, negatives=n))
            for s, n in ((0, 3), (1, 3), (0, 1))]
    traj = train(runs, log_steps=[1, 2, 4], progress=False)
    groups = {"3 negatives": [0, 1], "1 negative": [2]}
    fig = plot_area_attention(traj.steps, traj.history, groups)
    assert len(fig.axes) == 3 and fig.axes[0].get_xscale() == "log"
    fig.savefig(tmp_path / "a.png")
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_metric_vs_step(traj.steps, traj.history["nmi"], groups, "NMI", ax=ax, yscale="symlog")
    assert ax.get_ylabel() == "NMI" and ax.get_yscale() == "symlog"
    with pytest.raises(ValueError):
        plot_metric_vs_step(traj.steps, traj.history["nmi"], groups, "NMI", ax=ax, yscale="logit")
    plt.close(fig)
    fig = plot_sweep([0, 1, 3], {"global": np.array([[0.2, 0.2], [0.9, np.nan], [1.0, 0.99]])}, "negatives")
    assert fig.axes[0].get_xlabel() == "negatives"
    fig.savefig(tmp_path / "s.png")
    plt.close(fig)
    norms = pattern_norms(cfg, traj.layouts[0], batch=4)
    fig, ax = plt.subplots()
    plot_pattern_norms({"P=16": norms}, ax=ax)
    assert len(ax.patches) == len(PATTERNS) and ax.get_legend() is not None
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_pattern_norms({"P=16": norms}, key="positive", ax=ax, legend=False)
    assert ax.get_legend() is None
    plt.close(fig)
    with pytest.raises(ValueError):
        plot_area_attention(traj.steps, traj.history, {"bad": [5]})
    with pytest.raises(ValueError):
        plot_sweep([0, 1], {"x": np.zeros((3, 2))}, "n")
    with pytest.raises(ValueError):
        plot_pattern_norms({"P=16": {"uniform": {"norm": 1.0}}})
