"""Batched training (SPEC §3, §4): batching, determinism, engines, optimizers, population mode, divergence,
and short runs that reproduce the direction of claims C4, C5, C6 and C7 at P = 64."""
from __future__ import annotations

import importlib
from dataclasses import replace

import pytest
import torch

from helpers import reference_patches
from sslvit import (DataConfig, OneLayerViT, Run, Sample, TrainConfig, TrainingDiverged, correlations_from_q,
                    q_from_correlations, train)
from sslvit.core.data import draw_images, draw_mask
from sslvit.core.metrics import METRICS
from sslvit.core.objectives import cl_loss_dense, mae_loss_dense
from sslvit.core.runs import random_stream as _stream_fn

TOL = 1e-10


def maxdiff(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def three_runs(objective: str) -> list[Run]:
    """Three configurations sharing P = 16 and K = 3 that differ in seed, area sizes, step size, γ (and negatives)."""
    sizes = [(8, 2), (12, 4), (6, 2)]                      # N = 5, 2, 6
    lrs = [100.0, 50.0, 200.0] if objective == "mae" else [300.0, 100.0, 600.0]
    gammas, seeds, negatives = [0.5, 0.3, 0.6], [0, 7, 3], [7, 3, 5]
    return [
        Run(DataConfig(patches=16, clusters=3, global_size=cs, local_size=cc),
            TrainConfig(objective=objective, lr=lr, mask_prob=g, steps=15, batch_size=8, seed=seed,
                        negatives=n if objective == "cl" else None))
        for (cs, cc), lr, g, seed, n in zip(sizes, lrs, gammas, seeds, negatives)
    ]


def assert_same_trajectory(a, b, ra: int = 0, rb: int = 0, tol: float = TOL) -> None:
    assert a.steps == b.steps
    assert set(a.history) == set(b.history)
    for name in a.history:
        assert maxdiff(a.history[name][:, ra], b.history[name][:, rb]) <= tol, name
    Aa, Ba = a.correlations(ra)
    Ab, Bb = b.correlations(rb)
    assert maxdiff(Aa, Ab) <= tol
    assert maxdiff(Ba, Bb) <= tol


# ---- batching, determinism, engines --------------------------------------------------------------------------

@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_batched_equals_separate_runs(objective):
    """Three runs trained as one batched computation give the same history and final A, B as three separate runs."""
    runs = three_runs(objective)
    together = train(runs, log_every=5)
    assert len(together) == 3 and together.A.shape == (3, 16, 3, 6)
    for r, run in enumerate(runs):
        alone = train(run, log_every=5)
        assert float(alone.A.abs().max()) > 0.5          # the run moved away from 0
        assert_same_trajectory(together, alone, ra=r, rb=0)
        n = run.data.n_areas
        assert torch.count_nonzero(together.A[r, :, :, n:]) == 0  # padding areas stay 0


def test_chunked_training_equals_one_chunk(monkeypatch):
    """Runs processed in several engine calls (one run per chunk, for training and evaluation) give the same
    trajectory as one batched call."""
    budget_module = importlib.import_module("sslvit.core.budget")

    runs = three_runs("cl")
    together = train(runs, log_every=5)
    monkeypatch.setattr(budget_module, "TRAIN_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(budget_module, "EVAL_CHUNK_ELEMENTS", 1)
    from sslvit.core.runs import chunks

    assert len(chunks(3, 100, budget_module.TRAIN_CHUNK_ELEMENTS)) == 3
    chunked = train(runs, log_every=5)
    for r in range(3):
        assert_same_trajectory(together, chunked, ra=r, rb=r)


def test_training_is_deterministic_under_seed():
    """Same runs → bit-identical trajectories; another seed → a different trajectory."""
    runs = three_runs("mae")[:1]
    a, b = train(runs, log_every=5), train(runs, log_every=5)
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)
    for name in a.history:
        assert torch.equal(a.history[name], b.history[name])
    other = Run(runs[0].data, TrainConfig(objective="mae", lr=100.0, steps=15, batch_size=8, seed=1))
    assert maxdiff(train(other, log_every=5).A, a.A) > 1e-2


@pytest.mark.parametrize("objective", ["mae", "cl"])
@pytest.mark.parametrize("layout", ["random", "grid"])
def test_fast_and_dense_methods_same_trajectory(objective, layout):
    """method="fast" and method="dense" train to the same A, B and metrics (≤ 1e-10)."""
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout=layout)
    run = Run(cfg, TrainConfig(objective=objective, lr=100.0 if objective == "mae" else 300.0, steps=15, batch_size=8))
    fast, dense = train(run, log_every=5, method="fast"), train(run, log_every=5, method="dense")
    assert float(fast.A.abs().max()) > 0.5
    assert_same_trajectory(fast, dense)
    assert ("attention_distance" in fast.history) == (layout == "grid")


def test_adam_first_step_is_sign_of_gradient():
    """Adam (beyond the paper) runs and differs from GD: its first step is −lr · g/(|g| + 1e-8), g the GD gradient."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    gd = train(Run(cfg, TrainConfig(lr=1.0, steps=1, batch_size=8)), log_every=1)
    adam = train(Run(cfg, TrainConfig(lr=0.05, steps=1, batch_size=8, optimizer="adam")), log_every=1)
    g_A, g_B = -gd.A, -gd.B                              # one GD step with lr = 1 is −gradient
    assert maxdiff(adam.A, -0.05 * g_A / (g_A.abs() + 1e-8)) <= 1e-12
    assert maxdiff(adam.B, -0.05 * g_B / (g_B.abs() + 1e-8)) <= 1e-12
    assert maxdiff(adam.A, -0.05 * g_A) > 1e-3            # not a scaled GD step


def test_adam_trains():
    """Adam lowers the MAE loss over 30 steps and ends away from the GD trajectory with the same step size."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    adam = train(Run(cfg, TrainConfig(lr=0.1, steps=30, batch_size=8, optimizer="adam")), log_every=30)
    gd = train(Run(cfg, TrainConfig(lr=0.1, steps=30, batch_size=8)), log_every=30)
    assert torch.isfinite(adam.A).all()
    assert float(adam.history["loss"][-1, 0]) < 0.7 * float(adam.history["loss"][0, 0])
    assert maxdiff(adam.A, gd.A) > 0.5


def test_population_mode_is_gd_on_one_fixed_sample():
    """population=n: one sample of n images drawn once from the run's training stream, used at every step —
    the same as plain GD of the reference model on that fixed sample."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    run = Run(cfg, TrainConfig(lr=100.0, steps=10, population=24, seed=2))
    traj = train(run, log_every=5)
    g = _stream_fn(2, 1)
    cluster, scale = draw_images(cfg, 24, g)
    visible = draw_mask(cfg.patches, 24, 0.5, g)
    X = reference_patches(cfg, traj.layouts[0], Sample(cluster, scale, visible))
    model = OneLayerViT(cfg)
    for _ in range(10):
        model.Q.grad = None
        F, _ = model(X, visible)
        mae_loss_dense(F, X, visible).backward()
        with torch.no_grad():
            model.Q -= 100.0 * model.Q.grad
    A_ref, B_ref = correlations_from_q(model.Q.detach(), cfg)
    A, B = traj.correlations(0)
    assert float(A.abs().max()) > 0.5
    assert maxdiff(A, A_ref) <= TOL and maxdiff(B, B_ref) <= TOL
    fresh = train(Run(cfg, TrainConfig(lr=100.0, steps=10, batch_size=24, seed=2)), log_every=5)
    assert maxdiff(fresh.A, traj.A) > 1e-2               # fresh batches give another trajectory


# ---- bookkeeping ---------------------------------------------------------------------------------------------

def test_logged_steps_and_metric_names():
    """Steps 0, every log_every and the last are logged; MAE has oracle_loss, only the grid has attention_distance."""
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=4)
    mae = train(Run(cfg, TrainConfig(lr=10.0, steps=10, batch_size=4)), log_every=3)
    assert mae.steps == [0, 3, 6, 9, 10]
    assert set(mae.history) == set(METRICS) - {"attention_distance"}
    assert all(v.shape == (5, 1) and v.dtype == torch.float64 for v in mae.history.values())
    grid = DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout="grid")
    cl = train(Run(grid, TrainConfig(objective="cl", lr=10.0, steps=10, batch_size=4)), log_steps=[1, 2, 4, 99])
    assert cl.steps == [0, 1, 2, 4, 10]
    assert set(cl.history) == set(METRICS) - {"oracle_loss"}
    from sslvit.cli import run_summary

    summary = run_summary(cl, 0)
    assert summary["final"]["oracle_loss"] is None and summary["final"]["attention_distance"] is not None
    assert [h["step"] for h in summary["history"]] == cl.steps


def test_initial_metrics_on_evaluation_batch():
    """At step 0 (uniform attention) the metrics follow from the evaluation batch (the run's stream 2):
    own/global area attention = visible count / P, FP correlations 0, NMI 0."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    traj = train(Run(cfg, TrainConfig(lr=10.0, steps=1, batch_size=8, seed=4)), log_every=1, eval_batch=12)
    g = _stream_fn(4, 2)
    cluster, _ = draw_images(cfg, 12, g)
    visible = draw_mask(cfg.patches, 12, 0.5, g)
    area = traj.layouts[0].area[cluster]                  # (12, P)
    own, glob = [], []
    for b in range(12):
        for p in range(cfg.patches):
            if area[b, p] != 0:
                own.append(float((visible[b] & (area[b] == area[b, p])).sum()) / cfg.patches)
                glob.append(float((visible[b] & (area[b] == 0)).sum()) / cfg.patches)
    h = traj.history
    assert float(h["own_area_attention"][0, 0]) == pytest.approx(sum(own) / len(own), abs=1e-12)
    assert float(h["global_area_attention"][0, 0]) == pytest.approx(sum(glob) / len(glob), abs=1e-12)
    assert float(h["fp_own"][0, 0]) == 0.0 and float(h["fp_global"][0, 0]) == 0.0
    assert float(h["nmi"][0, 0]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_logged_losses_recomputed_on_evaluation_batch(objective):
    """The logged final loss (and MAE oracle loss) equal the SPEC §3/§4 definitions recomputed with the reference
    model on the evaluation batch (the run's stream 2: images, first mask, second mask) at the final A, B."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    tc = TrainConfig(objective=objective, lr=100.0 if objective == "mae" else 300.0, steps=10, batch_size=8,
                     seed=6, negatives=4 if objective == "cl" else None, tau=0.5 if objective == "cl" else 1.0)
    traj = train(Run(cfg, tc), log_every=10, eval_batch=8)
    g = _stream_fn(6, 2)
    cluster, scale = draw_images(cfg, 8, g)
    vis1 = draw_mask(cfg.patches, 8, tc.mask_prob, g)
    X = reference_patches(cfg, traj.layouts[0], Sample(cluster, scale, vis1))
    A, B = traj.correlations(0)
    model = OneLayerViT(cfg)
    with torch.no_grad():
        model.Q.copy_(q_from_correlations(A, B, cfg))
        F1, _ = model(X, vis1)
        if objective == "mae":
            want = float(mae_loss_dense(F1, X, vis1))
        else:
            F2, _ = model(X, draw_mask(cfg.patches, 8, tc.mask_prob, g))
            want = float(cl_loss_dense(F1, F2, 4, 0.5))
    assert float(traj.history["loss"][-1, 0]) == pytest.approx(want, abs=TOL)
    assert float(traj.history["loss"][-1, 0]) < float(traj.history["loss"][0, 0])
    if objective == "mae":
        # oracle attention written out: uniform over the visible patches of the own area, else over all visible
        area = traj.layouts[0].area[cluster]
        F_oracle = torch.zeros_like(X)
        for b in range(8):
            for p in range(cfg.patches):
                keys = vis1[b] & (area[b] == area[b, p])
                keys = keys if keys.any() else vis1[b]
                if keys.any():
                    F_oracle[b, p] = X[b, keys].mean(0)
        oracle = float(mae_loss_dense(F_oracle, X, vis1))
        assert float(traj.history["oracle_loss"][-1, 0]) == pytest.approx(oracle, abs=TOL)


# ---- errors --------------------------------------------------------------------------------------------------

def test_training_diverged_reports_step_and_hint():
    """Correlations that overflow raise TrainingDiverged naming the step and the likely causes.

    CL with τ = 1e-300 and lr = 1e20: step 1 is finite, its update overflows A to ±inf. (Before the correlations
    were checked after every update, this surfaced one step later as a NaN training loss, or as a NaN evaluation
    loss at step 1 when step 1 was logged; the check after the update now stops it first, in both cases.)
    """
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    run = Run(cfg, TrainConfig(objective="cl", lr=1e20, tau=1e-300, steps=5, batch_size=8))
    for log_every in (100, 1):
        with pytest.raises(TrainingDiverged, match=r"a correlation \(A or B\) after the update is NaN or infinite at step 1 "
                                                   r".*temperature tau.*smaller step size"):
            train(run, log_every=log_every)
    assert issubclass(TrainingDiverged, FloatingPointError)


def test_saturated_correlations_are_divergence():
    """Correlations too large for the softmax to resolve (lr = 1e30: finite, but every score's rounding unit
    exceeds 1) stop the training with the step size named, instead of a frozen loss reported as success; a
    large random start is refused at step 0 with the initial scale named."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    with pytest.raises(TrainingDiverged, match=r"beyond what the softmax can resolve .* at step 1 .*smaller step size"):
        train(Run(cfg, TrainConfig(lr=1e30, steps=5, batch_size=8)), log_every=5)
    with pytest.raises(TrainingDiverged, match=r"at step 0 .*initial scale init_std"):
        train(Run(cfg, TrainConfig(init_std=1e300, steps=5, batch_size=8)), log_every=5)


def test_sane_step_size_does_not_diverge():
    """The same CL run with τ = 1 and a SPEC-scale lr trains without TrainingDiverged (the check is not spurious)."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    traj = train(Run(cfg, TrainConfig(objective="cl", lr=300.0, steps=5, batch_size=8)), log_every=1)
    assert torch.isfinite(traj.history["loss"]).all()


@pytest.mark.parametrize(
    "data2, train2, name",
    [
        (dict(patches=36, global_size=12, local_size=4), {}, "patches"),
        (dict(patches=16, clusters=2, global_size=8, local_size=2), {}, "clusters"),
        ({}, dict(objective="cl"), "objective"),
        ({}, dict(steps=11), "steps"),
        ({}, dict(batch_size=4), "batch_size"),
        ({}, dict(optimizer="adam"), "optimizer"),
        (dict(patches=16, global_size=8, local_size=4, layout="grid"), {}, "layout"),
    ],
)
def test_mixing_incompatible_runs_raises(data2, train2, name):
    """Runs trained together must share patches, clusters, layout, objective, steps, batch size, optimizer."""
    base_data = dict(patches=16, clusters=3, global_size=8, local_size=2)
    base_train = dict(lr=10.0, steps=10, batch_size=8)
    r1 = Run(DataConfig(**base_data), TrainConfig(**base_train))
    r2 = Run(DataConfig(**{**base_data, **data2}), TrainConfig(**{**base_train, **train2}))
    with pytest.raises(ValueError, match=name):
        train([r1, r2])


def test_random_initialisation_is_seeded_and_breaks_the_query_symmetry():
    """init_std = 0 is the paper's Q = 0; init_std > 0 starts from the run's own seeded N(0, init_std²) draw (the
    same alone or in a batch), moves only the areas the run has, and makes CL's query rows differ."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    base = TrainConfig(objective="cl", lr=300.0, steps=5, batch_size=8)
    zero, explicit = train(Run(cfg, base), log_every=5), train(Run(cfg, replace(base, init_std=0.0)), log_every=5)
    assert torch.equal(zero.A, explicit.A) and torch.equal(zero.B, explicit.B)
    assert float((zero.A - zero.A[:, :1]).abs().max()) == 0.0          # Q = 0: every query row is the same
    start = train(Run(cfg, replace(base, init_std=1e-3, steps=0)), log_every=1)
    g = _stream_fn(0, 4)
    A0 = 1e-3 * torch.randn(16, 3, cfg.n_areas, generator=g, dtype=torch.float64)
    B0 = 1e-3 * torch.randn(16, 16, generator=g, dtype=torch.float64)
    assert torch.equal(start.A[0], A0) and torch.equal(start.B[0], B0)
    other = Run(DataConfig(patches=16, clusters=3, global_size=4, local_size=2), replace(base, init_std=1e-3))
    runs = [Run(cfg, replace(base, init_std=1e-3)), other]
    together = train(runs, log_every=5)
    assert_same_trajectory(together, train(runs[0], log_every=5), ra=0)
    assert torch.count_nonzero(together.A[0, :, :, cfg.n_areas:]) == 0  # padding areas stay 0
    assert float((together.A[0] - together.A[0, :1]).abs().max()) > 1e-4  # the query rows differ
    for bad in (-1e-3, float("nan"), True):
        with pytest.raises(ValueError, match="init_std"):
            TrainConfig(init_std=bad)


def test_train_argument_errors():
    """train rejects an empty list of runs, an unknown method and a non-positive log_every."""
    run = Run(DataConfig(patches=16, clusters=3, global_size=8, local_size=2), TrainConfig(steps=1))
    with pytest.raises(ValueError, match="runs"):
        train([])
    with pytest.raises(ValueError, match="method"):
        train(run, method="sparse")
    with pytest.raises(ValueError, match="log_every"):
        train(run, log_every=0)


# ---- the direction of the SPEC claims at P = 64 --------------------------------------------------------------

LOG_STEPS = [1, 2, 3, 5, 10, 20, 50, 100, 200]


@pytest.fixture(scope="module")
def mae_runs():
    """MAE at P = 64, lr = 1e3, 300 steps: run 0 has Δ < 0 (C_s = 8, C_c = 4), run 1 has Δ > 0 (C_s = 48, C_c = 4)."""
    cfgs = [DataConfig(patches=64, global_size=8, local_size=4), DataConfig(patches=64, global_size=48, local_size=4)]
    assert cfgs[0].delta < -0.3 and cfgs[1].delta > 0.5
    return train([Run(c, TrainConfig(objective="mae", lr=1e3, steps=300)) for c in cfgs],
                 log_steps=LOG_STEPS, eval_batch=64)


@pytest.fixture(scope="module")
def cl_runs():
    """CL at P = 64, lr = 5e3, 150 steps, for Δ < 0 (C_s = 8) and Δ > 0 (C_s = 32)."""
    cfgs = [DataConfig(patches=64, global_size=8, local_size=4), DataConfig(patches=64, global_size=32, local_size=4)]
    return train([Run(c, TrainConfig(objective="cl", lr=5e3, steps=150)) for c in cfgs], log_every=50, eval_batch=64)


def test_c4_mae_negative_gap_one_phase(mae_runs):
    """C4 (Δ < 0): from step 1 on, the own FP correlation grows more than twice as fast as the global one falls;
    the global FP correlation of local queries never grows."""
    h = mae_runs.history
    fp_own, fp_glob = h["fp_own"][1:, 0], h["fp_global"][1:, 0]
    assert mae_runs.steps[1] == 1
    assert torch.all(fp_glob <= 0)
    assert torch.all(fp_own > 2 * fp_glob.abs())


def test_c4_mae_negative_gap_local_attention_and_oracle(mae_runs):
    """C4 (Δ < 0): local queries end on their own area (≥ 0.8, ceiling 1 − γ^4 = 0.94, init 0.03) and the loss
    ends within 5% of the initial excess of the oracle loss."""
    h = mae_runs.history
    assert float(h["own_area_attention"][0, 0]) < 0.05
    assert float(h["own_area_attention"][-1, 0]) >= 0.8
    loss, oracle, loss0 = (float(h[k][i, 0]) for k, i in (("loss", -1), ("oracle_loss", -1), ("loss", 0)))
    assert abs(loss - oracle) <= 0.05 * (loss0 - oracle)


def test_c5_mae_positive_gap_phase_one(mae_runs):
    """C5 Phase I (Δ > 0): in the first step the global FP correlation of local queries falls more than twice
    as fast as the own FP correlation grows (the opposite of the Δ < 0 run)."""
    h = mae_runs.history
    assert -float(h["fp_global"][1, 1]) > 2 * float(h["fp_own"][1, 1]) > 0
    assert -float(h["fp_global"][1, 0]) < 0.5 * float(h["fp_own"][1, 0])  # Δ < 0: reversed


def test_c5_mae_positive_gap_phase_two(mae_runs):
    """C5 Phase II (Δ > 0): the own FP correlation overtakes (ends > 1.5 × |global FP|), local queries end on
    their own area (≥ 0.8) and the loss is not above the oracle's by more than 5% of the initial excess."""
    h = mae_runs.history
    fp_own, fp_glob = h["fp_own"][:, 1], h["fp_global"][:, 1]
    assert float(fp_own[-1]) > 1.5 * float(fp_glob[-1].abs())
    behind = (fp_own < fp_glob.abs())[1:]                 # logged steps 1, 2, 3, 5, ..., 300
    assert bool(behind[:3].all()) and not bool(behind[-1])  # behind over steps 1-3, ahead at the end
    assert float(h["own_area_attention"][-1, 1]) >= 0.8
    loss, oracle, loss0 = (float(h[k][i, 1]) for k, i in (("loss", -1), ("oracle_loss", -1), ("loss", 0)))
    assert loss - oracle <= 0.05 * (loss0 - oracle)


def test_c7_cl_collapses_on_global_area(cl_runs):
    """C7: under CL, local queries of both Δ signs put ≥ 0.95 of their attention on the global area, their own
    FP correlations are negative and NMI ≈ 0 (one pattern for every query)."""
    h = cl_runs.history
    assert torch.all(h["global_area_attention"][0] < 0.4)
    assert torch.all(h["global_area_attention"][-1] >= 0.95)
    assert torch.all(h["own_area_attention"][-1] < 0.05)
    assert torch.all(h["fp_own"][-1] < 0)
    assert torch.all(h["nmi"][-1] < 0.01)


def test_c6_mae_diverse_cl_collapsed(mae_runs, cl_runs):
    """C6 vs C7 on the same data (C_s = 8): MAE own-area attention > 0.5 and NMI > 0.2, CL < 0.05 and NMI < 0.01."""
    mae, cl = mae_runs.history, cl_runs.history
    assert float(mae["own_area_attention"][-1, 0]) > 0.5 > 0.05 > float(cl["own_area_attention"][-1, 0])
    assert float(mae["nmi"][-1, 0]) > 0.2 > 0.01 > float(cl["nmi"][-1, 0])


def test_c6_attention_distance_mae_shorter_than_cl():
    """C6 on the grid layout (8 × 8, 2 × 2 blocks): MAE attention distance < half the CL distance."""
    cfg = DataConfig(patches=64, global_size=16, local_size=4, layout="grid")
    mae = train(Run(cfg, TrainConfig(objective="mae", lr=1e3, steps=100)), log_every=100)
    cl = train(Run(cfg, TrainConfig(objective="cl", lr=5e3, steps=100)), log_every=100)
    d_mae, d_cl = float(mae.final["attention_distance"][0]), float(cl.final["attention_distance"][0])
    assert float(mae.history["attention_distance"][0, 0]) > 3.0  # uniform attention starts far
    assert d_mae < 0.5 * d_cl


def test_image_parts():
    """A batch is split into parts of images only for a single run that exceeds the budget, and only when the
    objective allows it; the parts cover every image once."""
    from sslvit.core.training import image_parts

    assert image_parts(slice(0, 2), 32, 100, 10) == [slice(None)]          # several runs: never split
    assert image_parts(slice(0, 1), 32, 100, 10_000) == [slice(None)]      # fits
    assert image_parts(slice(0, 1), 32, 100, 1000, splittable=False) == [slice(None)]
    parts = image_parts(slice(3, 4), 32, 100, 1000)
    assert [(p.start, p.stop) for p in parts] == [(0, 10), (10, 20), (20, 30), (30, 32)]
    assert image_parts(slice(0, 1), 4, 100, 50) == [slice(i, i + 1) for i in range(4)]  # at least one image


def test_mae_in_image_parts_equals_whole_batch(monkeypatch):
    """MAE computed in parts of images (the memory bound at large P) gives the whole batch's trajectory to
    rounding: the loss is a mean over images, the parts are weighted by their sizes."""
    budget_module = importlib.import_module("sslvit.core.budget")
    runs = three_runs("mae")[:1]
    whole = train(runs, log_every=5)
    monkeypatch.setattr(budget_module, "IMAGE_PART_ELEMENTS", 3 * 16 * 5)  # 3 images (P = 16, N = 5) per part
    parts = train(runs, log_every=5)
    assert not torch.equal(whole.A, parts.A)                                # the split happened (other rounding)
    assert_same_trajectory(whole, parts, tol=1e-12)


def test_evaluation_in_image_parts_gives_the_same_metrics(monkeypatch):
    """The evaluation of one run in parts of its images (one image each) gives the same per-image attention
    metrics bit for bit and the objective's metrics to rounding, for MAE (averaged over parts) and CL
    (computed once from the assembled masses)."""
    from sslvit.core.runs import RunBatch
    from sslvit.core.training import Evaluation, initial_correlations

    budget_module = importlib.import_module("sslvit.core.budget")
    for objective in ("mae", "cl"):
        run = three_runs(objective)[0]
        trained = train(run, log_every=15)
        state = RunBatch([run], torch.float64, "cpu")
        A, B = trained.A.clone(), trained.B.clone()
        whole = Evaluation(state, 8)
        whole.log(0, A, B)
        monkeypatch.setattr(budget_module, "IMAGE_PART_ELEMENTS", 16 * 16)   # one image (P × P) per part
        parts = Evaluation(state, 8)
        parts.log(0, A, B)
        monkeypatch.undo()
        w, p = whole.history.stacked(), parts.history.stacked()
        assert list(w) == list(p)
        for name in ("own_area_attention", "global_area_attention", "nmi", "fp_own", "fp_global"):
            assert torch.equal(w[name], p[name]), name
        for name in w:
            assert maxdiff(w[name], p[name]) <= 1e-14, name


def test_cl_is_never_split_into_image_parts(monkeypatch):
    """CL's images are each other's negatives: its batch is computed whole whatever the part budget."""
    budget_module = importlib.import_module("sslvit.core.budget")
    runs = three_runs("cl")[:1]
    whole = train(runs, log_every=5)
    monkeypatch.setattr(budget_module, "IMAGE_PART_ELEMENTS", 1)
    again = train(runs, log_every=5)
    assert torch.equal(whole.A, again.A) and torch.equal(whole.B, again.B)


def test_chunks_keep_groups_apart():
    """With groups (the runs' numbers of areas), an engine call never mixes two groups; without them, only the
    size counts (and a huge count of images is cut at once, without a pass over every image)."""
    import time

    from sslvit.core.runs import chunks

    assert chunks(7, 10, 30, [5, 5, 5, 5, 3, 3, 5]) == [slice(0, 3), slice(3, 4), slice(4, 6), slice(6, 7)]
    assert chunks(7, 10, 30) == [slice(0, 3), slice(3, 6), slice(6, 7)]
    start = time.perf_counter()
    assert len(chunks(10**9, 1, 10**8)) == 10
    assert time.perf_counter() - start < 1.0


def test_runs_with_fewer_areas_train_as_alone():
    """A run trained beside runs with more areas (padding) follows its own trajectory (≤ 1e-12), for MAE and CL."""
    small, large = (DataConfig(patches=64, global_size=c, local_size=4) for c in (32, 8))
    for objective in ("mae", "cl"):
        runs = [Run(large, TrainConfig(objective=objective, steps=8, seed=1)),
                Run(small, TrainConfig(objective=objective, steps=8, seed=2))]
        both, alone = train(runs, log_every=4, progress=False), train(runs[1], log_every=4, progress=False)
        n = small.n_areas
        assert float((both.A[1, :, :, :n] - alone.A[0]).abs().max()) <= 1e-12
        assert float(both.A[1, :, :, n:].abs().max()) == 0.0
        for k in alone.history:
            assert float((both.history[k][:, 1] - alone.history[k][:, 0]).abs().max()) <= 1e-12, k
