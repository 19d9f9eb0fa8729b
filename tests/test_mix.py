"""The mixed objective λ·MAE + (1 − λ)·c·CL (sslvit.beyond.mix, book chapter 11): exact end points, the gradient
against autograd on the reference model, the random streams, validation, the onset criterion and the CLI."""
from __future__ import annotations

import json

import pytest
import torch

from helpers import random_correlations, reference_patches
from sslvit import DataConfig, OneLayerViT, Run, Sample, TrainConfig, q_from_correlations, train
from sslvit.cli import main
from sslvit.core.data import draw_images, draw_mask
from sslvit.beyond.mix import CL_MASK_PROB, MIX_SCALE, Mixed, collapse_onset, combine, mix_weights
from sslvit.core.objectives import cl_loss_dense, mae_loss_dense
from sslvit.core.runs import ImageBatch, RunBatch, random_stream
from sslvit.core.training import DEFAULTS, loss_and_grads

CFG = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
TOL = 1e-10


def batch_of(runs: RunBatch, n: int, seed: int) -> ImageBatch:
    """One batch for every run of ``runs`` (the same images and masks for all), drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    cluster, scale = draw_images(CFG, n, g)
    views = [draw_mask(CFG.patches, n, p, g) for p in (0.5, 0.3, 0.3)]
    R = len(runs.runs)
    rep = lambda t: t[None].expand(R, *t.shape).clone()  # noqa: E731
    return ImageBatch(rep(cluster), rep(scale), tuple(rep(v) for v in views))


def runs_for(objective: str, lams=(None,), **kw) -> RunBatch:
    objectives = [Mixed(weight=lam) if objective == "mix" else objective for lam in lams]
    return RunBatch([Run(CFG, TrainConfig(objective=o, batch_size=8, **kw)) for o in objectives], torch.float64, "cpu")


def correlations(R: int):
    A, B = random_correlations(CFG, seed=1, scale=0.7)
    return A[None].expand(R, *A.shape).clone(), B[None].expand(R, *B.shape).clone()


@pytest.mark.parametrize("method", ["fast", "dense"])
def test_end_points_reproduce_the_pure_gradients(method):
    """λ = 1: loss and gradient equal MAE's on view 1 bit for bit; λ = 0: the loss is c times CL's on views 2 and 3
    bit for bit, the gradient to rounding (≤ 1e-14 of its size: the weight c multiplies the gradient of the area
    masses before the backward pass, which is linear, instead of the gradient of A and B after it)."""
    mix = runs_for("mix", lams=(1.0, 0.0))
    batch = batch_of(mix, 8, seed=3)
    A, B = correlations(2)
    loss, dA, dB = loss_and_grads(A, B, mix, batch, method)
    # the pure objectives on the same batch, with the same run axis (R = 2): MAE on view 1, CL on views 2, 3
    l_mae, a_mae, b_mae = (t[:1] for t in loss_and_grads(A, B, runs_for("mae", lams=(None, None)),
                                                        ImageBatch(batch.cluster, batch.scale, batch.views[:1]), method))
    l_cl, a_cl, b_cl = (t[1:] for t in loss_and_grads(A, B, runs_for("cl", lams=(None, None)),
                                                     ImageBatch(batch.cluster, batch.scale, batch.views[1:]), method))
    assert float(a_mae.abs().max()) > 1e-3 and float(a_cl.abs().max()) > 1e-3     # not trivially zero
    assert torch.equal(loss[:1], l_mae) and torch.equal(dA[:1], a_mae) and torch.equal(dB[:1], b_mae)
    assert torch.equal(loss[1:], MIX_SCALE * l_cl)
    for got, pure in ((dA[1:], MIX_SCALE * a_cl), (dB[1:], MIX_SCALE * b_cl)):
        assert float((got - pure).abs().max()) <= 1e-14 * float(pure.abs().max())


def test_gradient_matches_autograd_of_the_reference_model():
    """For λ = 0.3, c = 7: the engine's gradient equals autograd of λ·MAE(view 1) + (1 − λ)·c·CL(views 2, 3)
    on the full-Q reference model, read in (A, B) coordinates."""
    lam, c = 0.3, 7.0
    mix = RunBatch([Run(CFG, TrainConfig(objective=Mixed(weight=lam, scale=c), batch_size=8, negatives=5))],
                   torch.float64, "cpu")
    batch = batch_of(mix, 8, seed=4)
    A, B = correlations(1)
    loss, dA, dB = loss_and_grads(A, B, mix, batch, "fast")
    layout = mix.layouts[0]
    X = reference_patches(CFG, layout, Sample(batch.cluster[0], batch.scale[0], batch.views[0][0]))
    model = OneLayerViT(CFG)
    with torch.no_grad():
        model.Q.copy_(q_from_correlations(A[0], B[0], CFG))
    F1, _ = model(X, batch.views[0][0])
    F2, _ = model(X, batch.views[1][0])
    F3, _ = model(X, batch.views[2][0])
    ref = lam * mae_loss_dense(F1, X, batch.views[0][0]) + (1 - lam) * c * cl_loss_dense(F2, F3, 5, 1.0)
    ref.backward()
    P = CFG.patches
    gA = model.Q.grad[:P, P:].reshape(P, CFG.clusters, CFG.n_areas)
    gB = model.Q.grad[:P, :P]
    assert float(loss[0]) == pytest.approx(float(ref.detach()), abs=TOL)
    assert float((dA[0] - gA).abs().max()) <= TOL and float((dB[0] - gB).abs().max()) <= TOL


def test_lambda_one_run_is_the_mae_run():
    """Training with λ = 1 gives the pure MAE trajectory with the same seed, bit for bit (the CL views come
    from their own stream), and the logged MAE metrics are the same."""
    mae = train(Run(CFG, TrainConfig(objective="mae", steps=6, batch_size=8, lr=100.0, seed=3)), log_every=2)
    mix = train(Run(CFG, TrainConfig(objective=Mixed(weight=1.0), steps=6, batch_size=8, lr=100.0, seed=3)), log_every=2)
    assert torch.equal(mae.A, mix.A) and torch.equal(mae.B, mix.B)
    for name in ("own_area_attention", "global_area_attention", "fp_own", "fp_global", "nmi", "loss"):
        assert torch.equal(mae.history[name], mix.history[name]), name
    assert torch.equal(mix.history["mae_loss"], mix.history["loss"])
    assert "oracle_loss" not in mix.history and (mix.history["cl_loss"] > 0).all()


def test_lambda_zero_run_is_cl_at_c_times_the_step_size():
    """λ = 0 at step size η equals pure CL at step size c·η on the same batches (here: one fixed sample whose
    CL views are the mix run's views 2 and 3, so the two runs see the same data)."""
    lr = 50.0
    mix = train(Run(CFG, TrainConfig(objective=Mixed(weight=0.0), steps=5, lr=lr, population=8, seed=2)), log_every=5)
    # the pure CL run on the mix run's sample: rebuild it from the streams and train CL with the dense reference
    g, g_cl = random_stream(2, 1), random_stream(2, 3)
    cluster, scale = draw_images(CFG, 8, g)
    draw_mask(CFG.patches, 8, 0.5, g)                                  # the MAE view (weight 0)
    v2, v3 = draw_mask(CFG.patches, 8, 0.3, g_cl), draw_mask(CFG.patches, 8, 0.3, g_cl)
    X = reference_patches(CFG, mix.layouts[0], Sample(cluster, scale, v2))
    model = OneLayerViT(CFG)
    for _ in range(5):
        model.Q.grad = None
        F2, _ = model(X, v2)
        F3, _ = model(X, v3)
        cl_loss_dense(F2, F3, 7, 1.0).backward()
        with torch.no_grad():
            model.Q -= MIX_SCALE * lr * model.Q.grad
    A, B = mix.correlations(0)
    P = CFG.patches
    assert float(A.abs().max()) > 0.1
    assert float((A - model.Q.detach()[:P, P:].reshape(A.shape)).abs().max()) <= 1e-9
    assert float((B - model.Q.detach()[:P, :P]).abs().max()) <= 1e-9


def test_sweep_in_one_call_equals_separate_runs_and_loss_decreases():
    """Runs with different λ trained together give the same trajectories as alone; the logged loss is
    λ·mae_loss + (1 − λ)·c·cl_loss and it decreases."""
    lams = (0.0, 0.25, 0.9)
    runs = [Run(CFG, TrainConfig(objective=Mixed(weight=lam), steps=8, batch_size=8, lr=60.0, seed=5)) for lam in lams]
    together = train(runs, log_every=4)
    for i, run in enumerate(runs):
        alone = train(run, log_every=4)
        assert float((alone.A[0] - together.A[i]).abs().max()) <= 1e-12
    h = together.history
    lam = torch.tensor(lams, dtype=torch.float64)
    assert torch.allclose(h["loss"], lam * h["mae_loss"] + (1 - lam) * MIX_SCALE * h["cl_loss"], atol=1e-12)
    assert (h["loss"][-1] < h["loss"][0]).all()


def test_defaults_and_validation():
    tc = TrainConfig(objective="mix")
    o = tc.objective
    assert isinstance(o, Mixed) and o.weight == 0.5 and o.scale == MIX_SCALE == DEFAULTS["cl"]["lr"] / DEFAULTS["mae"]["lr"]
    assert o.cl_mask_prob == CL_MASK_PROB == DEFAULTS["cl"]["mask_prob"] and tc.mask_prob == DEFAULTS["mae"]["mask_prob"]
    assert tc.lr == DEFAULTS["mae"]["lr"] and tc.negatives == 31
    bad = [dict(weight=1.5), dict(weight=-0.1), dict(weight=True), dict(scale=0.0), dict(scale=float("inf")),
           dict(cl_mask_prob=1.0)]
    for kw in bad:
        with pytest.raises(ValueError):
            Mixed(**kw)
    for kw in (dict(batch_size=1), dict(population=1)):
        with pytest.raises(ValueError, match="at least 2 images"):
            TrainConfig(objective=Mixed(), **kw)


def test_combine_and_weights():
    lam, c = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([20.0, 20.0, 3.0])
    w_mae, w_cl = mix_weights(lam, c)
    assert w_mae.tolist() == [0.0, 0.5, 1.0] and w_cl.tolist() == [20.0, 10.0, 0.0]
    x, y = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    (out,) = combine(lam, c, [x], [y])
    assert torch.equal(out[0], 20.0 * y[0]) and torch.equal(out[2], x[2])
    assert torch.allclose(out[1], 0.5 * x[1] + 10.0 * y[1])
    with pytest.raises(ValueError):
        combine(lam, c, [x], [y, y])
    with pytest.raises(ValueError):
        combine(lam, c, [x], [y[:, :2]])
    with pytest.raises(ValueError):
        mix_weights(lam, c[:2])


def test_collapse_onset():
    lams = [0.0, 0.1, 0.5, 0.9, 1.0]
    glob = torch.tensor([[1.0, 0.99], [0.97, 0.96], [0.96, 0.9], [0.2, 0.1], [0.0, 0.0]])
    assert collapse_onset(lams, glob) == (0.1, True)              # 0.5 fails on one seed
    assert collapse_onset(lams, glob, threshold=0.8) == (0.5, True)
    scattered = torch.tensor([[1.0], [0.5], [0.99], [0.1], [0.0]])
    assert collapse_onset(lams, scattered) == (0.5, False)
    assert collapse_onset(lams, torch.zeros(5, 3)) == (None, True)
    with pytest.raises(ValueError):
        collapse_onset([0.5, 0.1], torch.zeros(2, 1))                # not increasing
    with pytest.raises(ValueError):
        collapse_onset(lams, torch.zeros(4, 1))                       # wrong length
    with pytest.raises(ValueError):
        collapse_onset(lams, torch.full((5, 1), float("nan")))


SMALL = ["--patches", "16", "--clusters", "3", "--global-size", "8", "--local-size", "2", "--batch-size", "8",
         "--threads", "1"]


def test_cli_mix_json_and_errors(capsys):
    """--objective mix --mix 0.25 --json: exit 0 and the numbers of sslvit.train; bad --mix values exit 2."""
    code = main(["train", "--objective", "mix", "--mix", "0.25", "--mix-scale", "10", "--cl-mask-prob", "0.2",
                 *SMALL, "--steps", "4", "--log-every", "2", "--lr", "50", "--seed", "1", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert "lambda=0.25 c=10 gamma_cl=0.2" in out.splitlines()[0]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["config"]["train"]["mix"] == 0.25 and summary["config"]["train"]["cl_mask_prob"] == 0.2
    assert summary["final"]["oracle_loss"] is None
    traj = train(Run(CFG, TrainConfig(objective=Mixed(weight=0.25, scale=10.0, cl_mask_prob=0.2), steps=4,
                                      batch_size=8, lr=50.0, seed=1)), log_every=2)
    assert summary["final"]["loss"] == pytest.approx(float(traj.final["loss"][0]), abs=1e-12)
    for argv in (["--objective", "mix", "--mix", "1.5"], ["--objective", "mae", "--mix", "0.5"],
                 ["--objective", "mix", "--mix-scale", "-1"], ["--objective", "cl", "--cl-mask-prob", "0.3"]):
        try:
            code = main(["train", *argv, *SMALL, "--steps", "1"])
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        assert code == 2 and "error" in err and len(err.strip().splitlines()) == 1


def test_cli_help_documents_the_mix_flags(capsys):
    """`train --help` lists --mix, --mix-scale, --cl-mask-prob and the objective mix, each flag with a help text."""
    from sslvit.cli import build_parser

    train_parser = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    helped = {o: a.help for a in train_parser._actions for o in a.option_strings}
    for flag in ("--mix", "--mix-scale", "--cl-mask-prob"):
        assert helped.get(flag), flag
    objective = next(a for a in train_parser._actions if "--objective" in a.option_strings)
    assert "mix" in objective.choices
