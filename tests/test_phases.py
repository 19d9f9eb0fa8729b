"""Unit tests of sslvit.analysis.phases (book chapter 4): phase location on synthetic trajectories, the best oracle."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from sslvit.analysis.phases import Phases, best_oracle_mass, interval_rates, locate_phases, phases_of
from sslvit.core.objectives import mae_loss, oracle_mass

pytestmark = pytest.mark.filterwarnings("ignore:Sparse:UserWarning")


def geometric_steps(last: int = 1000, n: int = 60) -> list[int]:
    return [0] + sorted({int(round(x)) for x in torch.logspace(0, math.log10(last), n).tolist()})


def two_phase(steps: list[int], t_star: float, slow: float = 0.002, fast: float = 0.01
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """fp_global falls at rate ``fast`` until ``t_star`` then at ``slow``; fp_own grows at ``slow`` then ``3 fast``
    (piecewise linear): the rates cross exactly at ``t_star``."""
    s = torch.tensor(steps, dtype=torch.float64)
    before = s.clamp(max=t_star)
    after = (s - t_star).clamp(min=0.0)
    glob = -(fast * before + slow * after)
    own = slow * before + 3 * fast * after
    return own, glob


def test_interval_rates_linear() -> None:
    steps = [0, 1, 3, 7]
    own = [0.0, 0.5, 1.5, 3.5]
    glob = [0.0, -1.0, -3.0, -7.0]
    u, v = interval_rates(steps, own, glob)
    assert torch.allclose(u, torch.full((3,), 0.5, dtype=torch.float64))
    assert torch.allclose(v, torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("t_star", [8, 20, 55, 150])
def test_two_phases_boundary_at_crossing(t_star: int) -> None:
    steps = geometric_steps()
    own, glob = two_phase(steps, t_star)
    ph = locate_phases(steps, own, glob)
    assert ph.has_phase_one and ph.two_phases
    # the boundary is the logged step that starts the first own-led interval: the last logged step ≤ t_star
    # or the one just before it when t_star falls inside an interval whose average is still global-led
    i = max(k for k, s in enumerate(steps) if s <= t_star)
    assert ph.boundary in (steps[i], steps[i + 1])
    assert ph.decoupling > ph.growth
    assert ph.overtake is not None and ph.overtake > ph.boundary


def test_one_phase_has_no_phase_one() -> None:
    steps = geometric_steps()
    s = torch.tensor(steps, dtype=torch.float64)
    own, glob = 0.01 * s, -0.002 * s
    ph = locate_phases(steps, own, glob)
    assert ph.boundary == 0 and not ph.has_phase_one and not ph.two_phases
    assert ph.growth > ph.decoupling
    assert ph.overtake == steps[1]


def test_phase_one_never_ends() -> None:
    steps = geometric_steps(100, 20)
    s = torch.tensor(steps, dtype=torch.float64)
    ph = locate_phases(steps, 0.001 * s, -0.01 * s)
    assert ph.boundary is None and ph.has_phase_one and not ph.two_phases and ph.overtake is None


def test_noise_robust_boundary() -> None:
    """Multiplicative noise on the increments and one spurious own-led interval inside Phase I."""
    steps = geometric_steps(1000, 80)
    own, glob = two_phase(steps, 60)
    g = torch.Generator().manual_seed(0)
    d_own = own.diff() * (1 + 0.15 * torch.randn(own.numel() - 1, generator=g, dtype=torch.float64))
    d_glob = glob.diff() * (1 + 0.15 * torch.randn(glob.numel() - 1, generator=g, dtype=torch.float64))
    k = next(i for i, s in enumerate(steps) if s >= 20)
    d_own[k] = -d_glob[k] * 1.5                     # one interval where own briefly leads
    noisy_own = torch.cat([own[:1], own[0] + d_own.cumsum(0)])
    noisy_glob = torch.cat([glob[:1], glob[0] + d_glob.cumsum(0)])
    ph = locate_phases(steps, noisy_own, noisy_glob, patience=3)
    assert 35 <= ph.boundary <= 80
    single = locate_phases(steps, noisy_own, noisy_glob, patience=1)
    assert single.boundary <= 20  # without patience the spurious interval ends Phase I early


def test_patience_at_the_end() -> None:
    steps = [0, 1, 2, 3, 4]
    own = [0.0, 0.1, 0.2, 0.3, 2.0]
    glob = [0.0, -1.0, -2.0, -3.0, -3.1]
    assert locate_phases(steps, own, glob, patience=3).boundary == 3


def test_phases_of_batched() -> None:
    steps = geometric_steps(300, 30)
    own1, glob1 = two_phase(steps, 30)
    s = torch.tensor(steps, dtype=torch.float64)
    own = torch.stack([own1, 0.01 * s], 1)
    glob = torch.stack([glob1, -0.001 * s], 1)
    out = phases_of(steps, own, glob)
    assert len(out) == 2 and out[0].two_phases and not out[1].has_phase_one
    assert isinstance(out[0], Phases)


@pytest.mark.parametrize("bad", [
    dict(steps=[0, 1, 1], own=[0, 1, 2], glob=[0, -1, -2]),
    dict(steps=[0, 1, 2], own=[0, 1], glob=[0, -1, -2]),
    dict(steps=[0], own=[0], glob=[0]),
    dict(steps=[0, 1, 2], own=[0, float("nan"), 2], glob=[0, -1, -2]),
    dict(steps=[[0, 1]], own=[[0, 1]], glob=[[0, 1]]),
])
def test_invalid_inputs(bad: dict) -> None:
    with pytest.raises(ValueError):
        locate_phases(bad["steps"], bad["own"], bad["glob"])


def test_invalid_patience() -> None:
    with pytest.raises(ValueError, match="patience"):
        locate_phases([0, 1, 2], [0, 1, 2], [0, -1, -2], patience=0)
    with pytest.raises(ValueError):
        phases_of([0, 1], torch.zeros(2), torch.zeros(2))


# ---- the best oracle -------------------------------------------------------------------------------------------

def test_best_oracle_is_a_lower_bound_and_beats_spec_oracle() -> None:
    g = torch.Generator().manual_seed(1)
    R, Bt, P, N = 1, 64, 12, 4
    key_area = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3]).expand(R, Bt, P).contiguous()
    visible = torch.rand(R, Bt, P, generator=g) >= 0.5
    scale = 0.5 + torch.rand(R, Bt, N, generator=g, dtype=torch.float64)
    best = best_oracle_mass(visible, key_area, N)
    spec = oracle_mass(visible, key_area, N)
    # masses: non-negative, at most 1 per query, never on areas with no visible patch
    assert (best >= 0).all() and (best.sum(2) <= 1 + 1e-12).all()
    l_best = mae_loss(best, scale, visible, key_area)
    l_spec = mae_loss(spec, scale, visible, key_area)
    assert l_best <= l_spec
    # some query has its own area (2 patches) fully masked, so the SPEC oracle is strictly worse
    assert l_best < l_spec - 1e-6
    # any attention (random area masses that respect visibility) does no better than the best oracle
    counts = torch.zeros(R, Bt, N, dtype=torch.float64).scatter_add_(2, key_area, visible.double())
    for _ in range(20):
        w = torch.rand(R, Bt, N + 1, P, generator=g, dtype=torch.float64)      # last row: masked keys
        w[:, :, :N] *= (counts > 0)[..., None]
        m = (w / w.sum(2, keepdim=True))[:, :, :N]
        assert mae_loss(m, scale, visible, key_area) >= l_best - 1e-12


def test_best_oracle_exact_values() -> None:
    key_area = torch.tensor([[[0, 0, 1, 1]]])
    visible = torch.tensor([[[True, False, False, False]]])
    m = best_oracle_mass(visible, key_area, 2)
    # query 1 (global, masked) has a visible own patch: all mass on the global area; area 1 fully masked: 0
    assert m[0, 0, :, 1].tolist() == [1.0, 0.0]
    assert m[0, 0, :, 2].tolist() == [0.0, 0.0] and m[0, 0, :, 3].tolist() == [0.0, 0.0]
    scale = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    # loss = (0 + 4 + 4) / (2 * 3) over the three masked patches
    assert math.isclose(float(mae_loss(m, scale, visible, key_area)), 8 / 6)


def test_best_oracle_invalid() -> None:
    with pytest.raises(ValueError):
        best_oracle_mass(torch.ones(1, 2, 3, dtype=torch.bool), torch.zeros(1, 2, 4, dtype=torch.long), 2)
    with pytest.raises(ValueError):
        best_oracle_mass(torch.ones(1, 2, 3), torch.zeros(1, 2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError):
        best_oracle_mass(torch.ones(1, 2, 3, dtype=torch.bool), torch.full((1, 2, 3), 5, dtype=torch.long), 2)


# ---- on a small trained model, and the plots -------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_traj():
    from sslvit import DataConfig, Run, TrainConfig, train

    runs = [Run(DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout="grid"),
                TrainConfig(objective="mae", lr=200.0, steps=30, batch_size=8, seed=s)) for s in range(2)]
    return train(runs, log_steps=[1, 2, 4, 8, 16], dtype=torch.float64, progress=False)


def test_reconstruction_bounds(small_traj) -> None:
    from sslvit.analysis.phases import reconstruction

    rec = reconstruction(small_traj, 1, batch=40, chunk=16)
    assert rec.images == 40
    assert rec.best <= rec.loss + 1e-12 and rec.best <= rec.oracle + 1e-12
    # chunking does not change the result
    rec2 = reconstruction(small_traj, 1, batch=40, chunk=40)
    assert math.isclose(rec.loss, rec2.loss, rel_tol=1e-10) and math.isclose(rec.best, rec2.best, rel_tol=1e-10)
    # at initialisation (uniform attention) the loss is far above the best
    P, K, N = 16, 2, small_traj.runs[1].data.n_areas
    init = reconstruction(small_traj, 1, batch=40, A=torch.zeros(P, K, N, dtype=torch.float64),
                          B=torch.zeros(P, P, dtype=torch.float64))
    assert init.loss > rec.loss
    with pytest.raises(ValueError):
        reconstruction(small_traj, 2)
    with pytest.raises(ValueError):
        reconstruction(small_traj, 0, batch=0)


def test_plots_smoke(small_traj) -> None:
    import matplotlib.pyplot as plt

    from sslvit.plots.training import loss_figure, phase_figure

    h = small_traj.history
    ph = phases_of(small_traj.steps, h["fp_own"], h["fp_global"])
    fig = phase_figure(small_traj.steps, h, {"seeds 0, 1": [0, 1]}, ph, ceiling=0.9, marks={"step 10": 10})
    assert len(fig.axes) == 3
    assert fig.axes[-1].get_xlabel() == "training step (log scale)" and fig.legends      # one legend below
    assert fig.axes[0].get_xscale() == "log"
    plt.close(fig)
    fig = loss_figure(small_traj.steps, h, {"a": [0], "b": [1]})
    assert len(fig.axes) == 4
    plt.close(fig)


def test_choose_queries() -> None:
    from sslvit.core.attention import queries_by_kind as choose_queries

    key_area = torch.tensor([0, 0, 1, 1, 2, 2])
    visible = torch.tensor([True, False, False, True, False, False])
    q = choose_queries(key_area, visible)
    assert q == {"masked local": 2, "visible local": 3, "masked local, block masked": 4, "global area": 0}
    with pytest.raises(ValueError):
        choose_queries(key_area[None], visible[None])


def test_attention_before_after(small_traj) -> None:
    import matplotlib.pyplot as plt

    from sslvit.core.attention import attention_of
    from sslvit.core.attention import queries_by_kind as choose_queries
    from sslvit.plots.training import attention_before_after

    A, B = small_traj.correlations(0)
    init = attention_of(small_traj, 0, batch=2, seed=3, A=torch.zeros_like(A), B=torch.zeros_like(B))
    trained = attention_of(small_traj, 0, batch=2, seed=3)
    fig = attention_before_after([("run 0", init, trained)], image=0, grid_hw=(4, 4))
    qs = list(choose_queries(trained.key_area[0], trained.sample.visible[0]).values())
    vmax = float(trained.attn[0][qs].max())
    maps = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(maps) == 2 * len(qs)
    assert all(im.get_clim() == pytest.approx((0.0, vmax)) for im in maps)  # one scale for both rows
    plt.close(fig)
    other = attention_of(small_traj, 0, batch=2, seed=4)
    with pytest.raises(ValueError):
        attention_before_after([("x", init, other)], image=0, grid_hw=(4, 4))


def test_masked_key_attention() -> None:
    from sslvit.analysis.phases import masked_key_attention

    key_area = torch.tensor([[0, 0, 1, 1, 2, 2]])
    visible = torch.tensor([[True, False, False, False, True, False]])
    attn = torch.full((1, 6, 6), 1 / 6, dtype=torch.float64)       # uniform attention
    on_masked, on_own, n = masked_key_attention(attn, key_area, visible)
    assert n == 2                                                    # queries 2, 3: area 1 is fully masked
    assert on_masked == pytest.approx(4 / 6) and on_own == pytest.approx(2 / 6)
    attn = torch.zeros(1, 6, 6, dtype=torch.float64)
    attn[0, :, 0] = 1.0                                              # all on the visible global patch
    assert masked_key_attention(attn, key_area, visible)[:2] == (0.0, 0.0)
    assert math.isnan(masked_key_attention(attn, key_area, torch.ones_like(visible))[0])
    with pytest.raises(ValueError):
        masked_key_attention(attn[0], key_area, visible)
