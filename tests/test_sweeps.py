"""Tests of sslvit.analysis.sweeps (book chapter 6): sizes, the run grid, batching into few train calls, the tidy
table and its summaries, and the phase-diagram plots on a tiny grid (P = 16 and 36, a few steps)."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import sslvit.analysis.sweeps as sweeps  # noqa: E402
from sslvit import DataConfig, Run, TrainConfig, train  # noqa: E402
from sslvit.plots.phase import metric_vs_delta, phase_diagram, phase_heatmap  # noqa: E402
from sslvit.analysis.sweeps import (admissible_global_sizes, aggregate, batch_key, global_sizes_for, group_runs,  # noqa: E402
                           own_area_ceiling, pivot, run_sweep, sweep_runs)

TINY = {"mae": {"lr": 300.0, "steps": 4}, "cl": {"lr": 3000.0, "steps": 3}}


def tiny_data(patches: int = 36, sizes: tuple[int, ...] = (8, 20)) -> list[DataConfig]:
    return [DataConfig(patches=patches, clusters=2, global_size=c, local_size=4, layout="grid") for c in sizes]


# ---- sizes ---------------------------------------------------------------------------------------------------

def test_admissible_sizes_tile_and_fit_the_grid():
    sizes = admissible_global_sizes(36, 4, "grid")
    assert [c for c, _ in sizes] == [8, 12, 16, 20, 24, 28, 32]
    deltas = [d for _, d in sizes]
    assert deltas == sorted(deltas)
    for c, d in sizes:
        cfg = DataConfig(patches=36, global_size=c, local_size=4, layout="grid")
        assert math.isclose(cfg.delta, d)
    # P = 16 on a 4x4 grid has 4 blocks of 2x2: C_s = 8 (2 local areas) and 12 (1 local area)
    assert [c for c, _ in admissible_global_sizes(16, 4, "grid")] == [8, 12]
    # the random layout is not limited to square local sizes
    assert [c for c, _ in admissible_global_sizes(36, 3, "random")][:3] == [6, 9, 12]


def test_admissible_sizes_reject_impossible_configurations():
    with pytest.raises(ValueError, match="square local size"):
        admissible_global_sizes(36, 3, "grid")
    with pytest.raises(ValueError, match="no room"):
        admissible_global_sizes(8, 4, "random")
    with pytest.raises(ValueError, match="positive integer"):
        admissible_global_sizes(0, 4)


def test_global_sizes_for_picks_the_closest_gap():
    sizes = global_sizes_for(100, 4, [-0.4, 0.0, 0.6])
    assert sizes == [8, 20, 80]
    options = dict(admissible_global_sizes(100, 4))
    assert abs(options[20]) < 1e-12  # 20² / 4 = 100 = P: Δ = 0 exactly
    with pytest.raises(ValueError, match="repeated"):
        global_sizes_for(100, 4, [0.0, 0.001])
    with pytest.raises(ValueError, match="empty"):
        global_sizes_for(100, 4, [])


def test_own_area_ceiling():
    assert own_area_ceiling(0.5, 4) == pytest.approx(0.9375)
    assert own_area_ceiling(0.3, 4) == pytest.approx(1 - 0.3**4)
    with pytest.raises(ValueError):
        own_area_ceiling(1.0, 4)


# ---- the run grid and its batching ---------------------------------------------------------------------------

def test_sweep_runs_is_the_cross_product_in_order():
    data = tiny_data()
    runs = sweep_runs(data, objectives=("mae", "cl"), mask_probs=(0.3, 0.5), seeds=(0, 1), overrides=TINY,
                      batch_size=4)
    assert len(runs) == 2 * 2 * 2 * 2
    assert runs[0].data == data[0] and runs[0].train.objective.name == "mae"
    assert (runs[0].train.mask_prob, runs[0].train.seed) == (0.3, 0)
    assert (runs[1].train.mask_prob, runs[1].train.seed) == (0.3, 1)
    assert runs[4].train.objective.name == "cl" and runs[4].train.lr == 3000.0 and runs[4].train.steps == 3
    assert runs[8].data == data[1]
    assert all(r.train.batch_size == 4 for r in runs)
    # left-out fields take the SPEC defaults
    default = sweep_runs(data[:1], objectives=("cl",), mask_probs=(0.3,), seeds=(0,))[0]
    assert (default.train.lr, default.train.steps) == (2e4, 500)


def test_sweep_runs_validates():
    data = tiny_data()
    with pytest.raises(ValueError, match="empty"):
        sweep_runs(data, seeds=())
    with pytest.raises(ValueError, match="objective"):
        sweep_runs(data, objectives=("byol",))
    with pytest.raises(ValueError, match="sweep axis"):
        sweep_runs(data, seed=3)
    with pytest.raises(ValueError, match="sweep axis"):
        sweep_runs(data, overrides={"mae": {"mask_prob": 0.2}})
    with pytest.raises(ValueError, match="overrides key"):
        sweep_runs(data, overrides={"simclr": {}})
    with pytest.raises(TypeError):
        sweep_runs([{"patches": 36}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="lr"):
        sweep_runs(data, lr=-1.0)


def test_group_runs_needs_one_call_per_shape():
    runs = sweep_runs(tiny_data(36) + tiny_data(16, (8,)), mask_probs=(0.3, 0.5), seeds=(0, 1), overrides=TINY,
                      batch_size=4)
    groups = group_runs(runs)
    # (P = 36, MAE), (P = 36, CL), (P = 16, MAE), (P = 16, CL): sizes, seeds and γ do not split a group
    assert len(groups) == 4
    assert sorted(i for g in groups for i in g) == list(range(len(runs)))
    for g in groups:
        assert len({batch_key(runs[i]) for i in g}) == 1
    with pytest.raises(TypeError):
        group_runs([runs[0], "not a run"])  # type: ignore[list-item]


def test_run_sweep_uses_one_train_call_per_group(monkeypatch):
    calls = []
    real = sweeps.train

    def counting(runs, **kwargs):
        calls.append((len(runs), kwargs))
        return real(runs, **kwargs)

    monkeypatch.setattr(sweeps, "train", counting)
    runs = sweep_runs(tiny_data(), mask_probs=(0.3, 0.5), seeds=(0, 1, 2), overrides=TINY, batch_size=4)
    res = run_sweep(runs, eval_batch=4, checkpoints=(0.5,))
    assert [n for n, _ in calls] == [12, 12]
    assert sorted(kw["log_every"] for _, kw in calls) == [3, 4]   # only the last step ...
    assert all(kw["log_steps"] == [2] for _, kw in calls)          # ... and the checkpoint at half the steps
    assert len(res.calls) == 2 and [c["runs"] for c in res.calls] == [12, 12]
    assert {c["objective"] for c in res.calls} == {"mae", "cl"}
    assert all(c["seconds"] >= 0 for c in res.calls)


def test_run_sweep_rows_are_tidy_and_match_single_runs():
    runs = sweep_runs(tiny_data(), mask_probs=(0.3, 0.5), seeds=(0, 1), overrides=TINY, batch_size=4)
    res = run_sweep(runs, eval_batch=4, dtype=torch.float64, checkpoints=(0.5,))
    assert len(res.rows) == len(runs)
    for i, (run, row) in enumerate(zip(runs, res.rows)):
        assert row["index"] == i
        assert row["objective"] == run.train.objective.name and row["seed"] == run.train.seed
        assert row["delta"] == pytest.approx(run.data.delta)
        assert row["ceiling"] == pytest.approx(1 - run.train.mask_prob**4)
        for m in ("loss", "own_area_attention", "global_area_attention", "nmi", "attention_distance"):
            assert isinstance(row[m], float) and math.isfinite(row[m])
            assert f"{m}@0.5" in row
        assert ("oracle_loss" in row) == (run.train.objective.name == "mae")
        traj, r = res.trajectory(i)
        assert traj.runs[r] == run
        assert traj.steps == [0, round(run.train.steps / 2), run.train.steps]
    # a run trained inside the sweep gives the same numbers as the run trained alone
    for i in (0, 5, len(runs) - 1):
        alone = train(runs[i], log_every=runs[i].train.steps, eval_batch=4, dtype=torch.float64)
        for m in ("own_area_attention", "global_area_attention", "nmi", "loss"):
            assert res.rows[i][m] == pytest.approx(float(alone.final[m][0]), abs=1e-10)
    assert len(res.select(objective="cl", mask_prob=0.5)) == 4
    with pytest.raises(KeyError):
        res.select(colour="red")
    with pytest.raises(ValueError):
        res.trajectory(len(runs))


def test_run_sweep_validates():
    runs = sweep_runs(tiny_data()[:1], objectives=("mae",), mask_probs=(0.5,), seeds=(0,), overrides=TINY,
                      batch_size=4)
    with pytest.raises(ValueError, match="empty"):
        run_sweep([])
    with pytest.raises(ValueError, match="checkpoint"):
        run_sweep(runs, checkpoints=(1.0,))


# ---- summaries -----------------------------------------------------------------------------------------------

ROWS = [
    {"objective": "mae", "delta": -0.2, "mask_prob": 0.5, "seed": 0, "own": 0.8},
    {"objective": "mae", "delta": -0.2, "mask_prob": 0.5, "seed": 1, "own": 0.9},
    {"objective": "mae", "delta": 0.3, "mask_prob": 0.5, "seed": 0, "own": 0.7},
    {"objective": "mae", "delta": 0.3, "mask_prob": 0.3, "seed": 0, "own": 0.95},
    {"objective": "cl", "delta": -0.2, "mask_prob": 0.5, "seed": 0, "own": 0.0},
]


def test_aggregate_over_seeds():
    agg = aggregate(ROWS, by=("objective", "delta", "mask_prob"), metrics=("own",))
    assert len(agg) == 4
    first = agg[0]
    assert first["n"] == 2 and first["own_mean"] == pytest.approx(0.85)
    assert first["own_std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert (first["own_min"], first["own_max"]) == (0.8, 0.9)
    assert agg[1]["own_std"] == 0.0
    with pytest.raises(KeyError):
        aggregate(ROWS, by=("objective",), metrics=("nmi",))
    with pytest.raises(ValueError):
        aggregate(ROWS, by=(), metrics=("own",))


def test_pivot_grid_and_missing_cells():
    pv = pivot(ROWS, "own", objective="mae")
    assert list(pv.x) == [-0.2, 0.3] and list(pv.y) == [0.3, 0.5]
    assert pv.mean.shape == (2, 2)
    assert np.isnan(pv.mean[0, 0]) and pv.n[0, 0] == 0       # (γ = 0.3, Δ = −0.2) has no row
    assert pv.mean[1, 0] == pytest.approx(0.85) and pv.n[1, 0] == 2
    assert pv.mean[0, 1] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="no rows"):
        pivot(ROWS, "own", objective="byol")
    with pytest.raises(KeyError):
        pivot(ROWS, "nmi", objective="mae")


# ---- plots ---------------------------------------------------------------------------------------------------

def test_phase_plots_draw_every_cell():
    runs = sweep_runs(tiny_data(), mask_probs=(0.3, 0.5), seeds=(0, 1), overrides=TINY, batch_size=4)
    res = run_sweep(runs, eval_batch=4)
    fig = phase_diagram(res.rows)
    heat_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(heat_axes) == 4
    for ax in heat_axes:
        assert len(ax.texts) == 2 * 2                            # one "mean ± std" label per cell
        assert ax.get_xlabel() == "information gap Δ" and ax.get_ylabel() == "masking probability γ"
    plt.close(fig)
    fig, ax = plt.subplots()
    metric_vs_delta(res.rows, mask_probs={"mae": 0.5, "cl": 0.3}, ax=ax)
    assert len(ax.lines) >= 2 and ax.get_legend() is not None
    plt.close(fig)
    with pytest.raises(ValueError):
        phase_heatmap(sweeps.Pivot("m", "delta", "mask_prob", np.zeros(2), np.zeros(3), np.zeros((2, 2)),
                                   np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2), int)))
