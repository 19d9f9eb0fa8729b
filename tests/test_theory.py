"""Tests of sslvit.analysis.theory (book chapter 3: the information gap at initialisation) and sslvit.plots.gap."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import sslvit  # noqa: E402
from sslvit.analysis import theory  # noqa: E402
from sslvit.core.data import make_layout, sample_batch  # noqa: E402
from sslvit.plots import gap  # noqa: E402


# ---- moments ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("low,high", [(0.5, 1.5), (0.0, 1.0), (-1.0, 2.0)])
@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_uniform_moment_against_quadrature(k: int, low: float, high: float) -> None:
    z = torch.linspace(low, high, 200_001, dtype=torch.float64)
    brute = float(torch.trapezoid(z**k, z)) / (high - low)
    assert theory.uniform_moment(k, low, high) == pytest.approx(brute, rel=1e-9, abs=1e-12)


def test_uniform_moment_point_mass_and_errors() -> None:
    assert theory.uniform_moment(3, 2.0, 2.0) == 8.0
    with pytest.raises(ValueError):
        theory.uniform_moment(-1, 0.0, 1.0)
    with pytest.raises(ValueError):
        theory.uniform_moment(2, 1.0, 0.0)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 12])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_binomial_moments_against_enumeration(n: int, p: float) -> None:
    pmf = [math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(n + 1)]
    brute = tuple(sum(w * x**r for x, w in enumerate(pmf)) for r in (1, 2, 3))
    assert theory.binomial_moments(n, p) == pytest.approx(brute, rel=1e-12, abs=1e-12)


def test_binomial_moments_errors() -> None:
    with pytest.raises(ValueError):
        theory.binomial_moments(-1, 0.5)
    with pytest.raises(ValueError):
        theory.binomial_moments(3, 1.5)


def test_binomial_sampler_has_the_binomial_moments() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = [3, 10, 10, 1]
    draws = theory._binomial_counts(sizes, 0.3, 200_000, g)
    assert draws.shape == (200_000, 4)
    for j, n in enumerate(sizes):
        m1, m2, _ = theory.binomial_moments(n, 0.3)
        assert draws[:, j].min() >= 0 and draws[:, j].max() <= n
        assert float(draws[:, j].mean()) == pytest.approx(m1, abs=5 * math.sqrt(m2 - m1**2 + 1e-12) / math.sqrt(2e5) + 1e-12)
        assert float(draws[:, j].var()) == pytest.approx(m2 - m1**2, rel=0.02, abs=1e-12)


# ---- closed form against autograd ------------------------------------------------------------------------------

@pytest.mark.parametrize("patches,global_size,local_size", [(16, 8, 2), (16, 10, 3)])
def test_closed_form_equals_autograd_on_the_model(patches: int, global_size: int, local_size: int) -> None:
    cfg = sslvit.DataConfig(patches=patches, clusters=2, global_size=global_size, local_size=local_size)
    layout = make_layout(cfg, 0)
    sample = sample_batch(cfg, 6, 0.5, 1)
    auto = theory.mae_fp_gradient(cfg, layout, sample, method="autograd")
    closed = theory.mae_fp_gradient(cfg, layout, sample, method="closed")
    assert auto.shape == closed.shape == (cfg.patches, cfg.clusters, cfg.n_areas)
    assert float(auto.abs().max()) > 1e-4          # not trivially zero
    assert float((auto - closed).abs().max()) <= 1e-10


def test_single_image_rows_are_the_per_query_closed_form() -> None:
    """With one image, row p of A's gradient is ∂ℓ_p/∂A / |M| for masked p and 0 for visible p."""
    cfg = sslvit.DataConfig(patches=16, clusters=1, global_size=8, local_size=2)
    layout = make_layout(cfg, 3)
    sample = sample_batch(cfg, 1, 0.5, 4)
    auto = theory.mae_fp_gradient(cfg, layout, sample, method="autograd")[:, 0]            # (P, N)
    per_query = theory.closed_form_fp_gradients(cfg, layout, sample)[0]                     # (P, N)
    n_masked = int((~sample.visible).sum())
    assert n_masked > 0
    assert float((auto * n_masked - per_query).abs().max()) <= 1e-10
    assert float(per_query[sample.visible[0]].abs().max()) == 0.0


def test_query_gradients_match_the_vector_form_and_the_expanded_terms() -> None:
    g = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 5, (50, 6), generator=g).double()
    scales = 0.5 + torch.rand(50, 6, generator=g, dtype=torch.float64)
    d_g, d_o = theory.query_gradients(counts, scales, 40)
    full = theory.query_fp_gradient(counts, scales, torch.ones(50, dtype=torch.long), 40)
    assert torch.equal(d_g, full[:, 0]) and torch.equal(d_o, full[:, 1])
    F = counts * scales / 40
    F2 = (F * F).sum(-1)
    assert torch.allclose(d_g, F[:, 0] * (scales[:, 0] * F[:, 0] - F2 + scales[:, 1] * F[:, 1]), atol=1e-15)
    assert torch.allclose(d_o, F[:, 1] * (2 * scales[:, 1] * F[:, 1] - scales[:, 1] ** 2 - F2), atol=1e-15)
    with pytest.raises(ValueError):
        theory.query_fp_gradient(counts, scales[:, :5], torch.ones(50, dtype=torch.long), 40)


def test_mae_fp_gradient_rejects_unknown_method() -> None:
    cfg = sslvit.DataConfig(patches=16, clusters=1, global_size=8, local_size=2)
    with pytest.raises(ValueError, match="method"):
        theory.mae_fp_gradient(cfg, make_layout(cfg, 0), sample_batch(cfg, 2, 0.5, 0), method="numeric")


# ---- expectations ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(32, 16, 4), (64, 40, 3)])
def test_exact_rates_agree_with_monte_carlo(sizes: tuple[int, int, int]) -> None:
    exact = theory.init_rates(*sizes)
    mc = theory.init_rates_mc(*sizes, samples=60_000, seed=1)
    assert exact.decouple > 0 and exact.grow > 0
    assert mc.samples == 60_000 and mc.decouple_se > 0 and mc.grow_se > 0
    assert abs(mc.decouple - exact.decouple) <= 4 * mc.decouple_se
    assert abs(mc.grow - exact.grow) <= 4 * mc.grow_se
    assert exact.decouple_se is None


def test_exact_rates_of_a_hand_computed_case() -> None:
    """Point-mass scales (z ≡ 1) and one local area: the expectation is a finite sum over the two counts."""
    P, Cs, Cc, gamma = 6, 4, 2, 0.5
    a = 1 - gamma
    total_g, total_o = 0.0, 0.0
    for ng in range(Cs + 1):
        for ns in range(Cc):                               # own area: Cc − 1 candidates
            w = math.comb(Cs, ng) * a**ng * gamma ** (Cs - ng) * math.comb(Cc - 1, ns) * a**ns * gamma ** (Cc - 1 - ns)
            dg, do = theory.query_gradients(torch.tensor([[ng, ns]], dtype=torch.float64),
                                            torch.ones(1, 2, dtype=torch.float64), P)
            total_g += w * float(dg)
            total_o += w * float(do)
    r = theory.init_rates(P, Cs, Cc, gamma, 1.0, 1.0)
    assert r.decouple == pytest.approx(total_g, rel=1e-12)
    assert r.grow == pytest.approx(-total_o, rel=1e-12)


def test_size_validation() -> None:
    with pytest.raises(ValueError, match="tile"):
        theory.init_rates(16, 9, 2)
    with pytest.raises(ValueError, match="size 1"):
        theory.init_rates(16, 8, 1)
    with pytest.raises(ValueError, match="samples"):
        theory.init_rates_mc(16, 8, 2, samples=1)
    with pytest.raises(ValueError):
        theory.init_rates(16, 8, 2, mask_prob=1.0)


# ---- slopes and expansions -------------------------------------------------------------------------------------

def test_fit_ratio_recovers_delta_at_large_p() -> None:
    fit = theory.fit_ratio([2**i for i in range(12, 19, 2)], 0.75, 0.25)
    assert fit.delta == pytest.approx(0.25)
    assert abs(fit.deviation) < 0.1
    slope, rates = theory.rate_slope([2**i for i in range(12, 19, 2)], 0.75, 0.25)
    assert slope == fit.slope and len(rates) == 4
    assert fit.fitted([2**12])[0] == pytest.approx(math.exp(fit.intercept + fit.slope * math.log(2**12)))
    with pytest.raises(ValueError):
        theory.fit_ratio([256], 0.75, 0.25)


def test_slope_deviation_map_marks_impossible_cells() -> None:
    dev = theory.slope_deviation_map([2**10, 2**12], [0.5, 0.8], [0.3, 0.6])
    assert dev.shape == (2, 2)
    assert math.isnan(float(dev[0, 1]))                    # κ_c ≥ κ_s
    assert math.isfinite(float(dev[1, 0]))


def test_first_order_expansion_beats_leading_order() -> None:
    for P, (Cs, Cc) in ((2**10, sslvit.sizes_from_kappa(2**10, 0.9, 0.3)), (2**12, sslvit.sizes_from_kappa(2**12, 0.6, 0.5))):
        exact = theory.init_rates(P, Cs, Cc).ratio
        leading, first = theory.ratio_expansion(P, Cs, Cc)
        assert abs(first / exact - 1) < abs(leading / exact - 1)
        assert abs(first / exact - 1) < 0.01


def test_tilings_are_exactly_the_valid_pairs() -> None:
    P = 24
    got = theory.tilings(P)
    brute = sorted((cs, cc) for cc in range(2, P) for cs in range(cc + 1, P) if (P - cs) % cc == 0)
    assert got == brute
    for cs, cc in got:
        theory.init_rates(P, cs, cc)                       # all accepted


# ---- the first step of training -------------------------------------------------------------------------------

def test_first_step_prediction_matches_training() -> None:
    cfg = sslvit.DataConfig(patches=64, clusters=2, global_size=32, local_size=4)
    lr, pop = 100.0, 400
    run = sslvit.Run(cfg, sslvit.TrainConfig(objective="mae", lr=lr, steps=1, population=pop, seed=0))
    traj = sslvit.train(run, log_every=1, dtype=torch.float64, progress=False)
    d_global = float(traj.history["fp_global"][1, 0] - traj.history["fp_global"][0, 0]) / lr
    d_own = float(traj.history["fp_own"][1, 0] - traj.history["fp_own"][0, 0]) / lr
    pred = theory.first_step_mc(cfg, 0.5, samples=40_000, seed=1)
    se_g, se_o = pred.batch_se(pop)
    assert pred.d_global < 0 < pred.d_own
    assert abs(d_global - pred.d_global) <= 5 * math.hypot(se_g, pred.se_global)
    assert abs(d_own - pred.d_own) <= 5 * math.hypot(se_o, pred.se_own)


# ---- plots ------------------------------------------------------------------------------------------------------

@pytest.fixture
def fits() -> list[theory.RatioFit]:
    Ps = [2**i for i in range(10, 14)]
    return [theory.fit_ratio(Ps, 0.8, 0.3), theory.fit_ratio(Ps, 0.7, 0.4), theory.fit_ratio(Ps, 0.5, 0.25)]


def test_plots_draw_labelled_axes(fits: list[theory.RatioFit]) -> None:
    fig, ax = plt.subplots()
    gap.plot_ratio_fits(fits, ax)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    fig2 = gap.plot_rates(fits)
    assert len(fig2.axes) == 2 and all(a.get_ylabel() for a in fig2.axes)
    fig3, ax3 = plt.subplots()
    gap.plot_slope_vs_delta({"large": fits, "small": fits}, ax3)
    assert ax3.get_xlabel().startswith("information gap")
    fig4, ax4 = plt.subplots()
    gap.plot_deviation_map([0.5, 0.8], [0.3, 0.6], np.array([[0.0, np.nan], [0.15, -0.02]]), ax4)
    fig5, ax5 = plt.subplots()
    gap.plot_ratio_vs_delta([-0.2, 0.1, 0.3], [0.2, 0.9, 3.0], 256, 0.5, ax5, highlight=[(0.3, 3.0, "x")])
    assert ax5.get_yscale() == "log"
    for f in (fig, fig2, fig3, fig4, fig5):
        plt.close(f)


def test_plots_validate_inputs() -> None:
    with pytest.raises(ValueError):
        gap.plot_ratio_fits([])
    with pytest.raises(TypeError):
        gap.plot_rates([1.0])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        gap.plot_deviation_map([0.5, 0.8], [0.3, 0.6], np.zeros((3, 2)))
    with pytest.raises(ValueError):
        gap.plot_ratio_vs_delta([0.1], [1.0, 2.0], 256, 0.5)
    plt.close("all")


def test_delta_colors_distinguish_signs() -> None:
    assert gap.delta_color(0.0) == (0.0, 0.0, 0.0, 1.0)
    neg, pos = gap.delta_color(-0.2), gap.delta_color(0.2)
    assert neg[2] > neg[0] and pos[0] > pos[2]             # blue for Δ < 0, red for Δ > 0
