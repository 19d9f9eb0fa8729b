"""The full-Q model on perturbed features (sslvit.beyond.fullq, book chapter 9): construction of overlapping
features and noisy patches, batched losses vs the reference definitions, and the key equivalence: at
ρ = 0, σ = 0 train_fullq follows sslvit.train's reduced engine (float64, ≤ 1e-10)."""
from __future__ import annotations

import math

import pytest
import torch

from helpers import reference_patches
from sslvit import DataConfig, OneLayerViT, Run, TrainConfig, make_layout, q_from_correlations, sample_batch, train
from sslvit.beyond.fullq import (Perturbation, feature_vectors, fullq_forward,
                          patch_content, realised_overlaps, token_dim, train_fullq)
from sslvit.core.objectives import cl_loss_dense, mae_loss_dense, negatives_mask

TOL = 1e-10
CFG = DataConfig(patches=16, clusters=2, global_size=8, local_size=2)


def maxdiff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9])
def test_features_have_the_stated_overlap(rho):
    V = feature_vectors(CFG, rho)
    assert V.shape == (CFG.clusters, CFG.n_areas, token_dim(CFG))
    lo, hi, norm_err = realised_overlaps(V)
    assert abs(lo - rho) <= 1e-12 and abs(hi - rho) <= 1e-12 and norm_err <= 1e-12
    assert float(V[..., : CFG.patches].abs().max()) == 0.0          # orthogonal to the position embeddings


def test_features_batched_over_runs():
    V = feature_vectors(CFG, torch.tensor([0.0, 0.5]))
    assert V.shape == (2, CFG.clusters, CFG.n_areas, token_dim(CFG))
    assert torch.equal(V[1], feature_vectors(CFG, 0.5))


def test_unperturbed_patches_equal_dense_patches():
    """ρ = 0, σ = 0: the patches are SPEC §1's z v (plus an unused zero coordinate)."""
    layout = make_layout(CFG, 0)
    s = sample_batch(CFG, 5, 0.5, 1)
    V = feature_vectors(CFG, torch.zeros(1))
    xi = torch.randn(1, 5, CFG.patches, token_dim(CFG), dtype=torch.float64)
    X = patch_content(V, layout.area[None], s.cluster[None], s.scale[None], torch.zeros(1, dtype=torch.float64), xi)
    assert torch.equal(X[0, ..., :-1], reference_patches(CFG, layout, s))
    assert float(X[0, ..., -1].abs().max()) == 0.0
    X2 = patch_content(V, layout.area[None], s.cluster[None], s.scale[None], torch.full((1,), 0.5, dtype=torch.float64), xi)
    assert torch.allclose(X2 - X, 0.5 * xi)


def test_forward_matches_reference_model():
    """With a random Q, the batched forward equals OneLayerViT on the same patches (ρ = 0)."""
    layout = make_layout(CFG, 0)
    s = sample_batch(CFG, 6, 0.4, 2)
    g = torch.Generator().manual_seed(3)
    Q = torch.randn(CFG.dim, CFG.dim, generator=g, dtype=torch.float64)
    model = OneLayerViT(CFG)
    with torch.no_grad():
        model.Q.copy_(Q)
    X = reference_patches(CFG, layout, s)
    F_ref, attn_ref = model(X, s.visible)
    W = torch.nn.functional.pad(Q[: CFG.patches], (0, 1))[None]   # query rows, shared direction unused
    F, attn = fullq_forward(W, torch.nn.functional.pad(X, (0, 1))[None], s.visible[None])
    assert maxdiff(attn[0], attn_ref.detach()) <= TOL
    assert maxdiff(F[0, ..., :-1], F_ref.detach()) <= TOL


def test_batched_losses_equal_reference_definitions():
    g = torch.Generator().manual_seed(0)
    F1, F2, X = (torch.randn(2, 6, 5, 7, generator=g, dtype=torch.float64) for _ in range(3))
    vis = torch.rand(2, 6, 5, generator=g) > 0.5
    mae = mae_loss_dense(F1, X, vis)
    allowed = negatives_mask(torch.tensor([5, 3]), 6)
    cl = cl_loss_dense(F1, F2, allowed, 0.7)
    for r, n in enumerate((5, 3)):
        assert abs(float(mae[r] - mae_loss_dense(F1[r], X[r], vis[r]))) <= TOL
        assert abs(float(cl[r] - cl_loss_dense(F1[r], F2[r], n, 0.7))) <= TOL


@pytest.mark.parametrize("objective,lr", [("mae", 300.0), ("cl", 1000.0)])
def test_unperturbed_trajectory_equals_reduced_engine(objective, lr):
    """Key test: at ρ = 0, σ = 0 the full-Q autograd trajectory is sslvit.train's (same streams), ≤ 1e-10."""
    runs = [Run(CFG, TrainConfig(objective=objective, lr=lr, steps=12, batch_size=8, seed=s)) for s in (0, 4)]
    ref = train(runs, log_every=4, progress=False)
    got = train_fullq(runs, log_every=4)
    assert got.steps == ref.steps
    assert float(ref.A.abs().max()) > 1.0                          # the correlations moved
    assert maxdiff(got.A, ref.A) <= TOL and maxdiff(got.B, ref.B) <= TOL
    for name, values in ref.history.items():
        assert maxdiff(got.history[name], values) <= TOL, name
    assert float(got.W[..., -1].abs().max()) == 0.0                # the shared direction never moves


def test_perturbed_training_lowers_the_loss_and_is_deterministic():
    runs = [Run(CFG, TrainConfig(objective="mae", lr=300.0, steps=20, batch_size=8, seed=1))] * 2
    perts = [Perturbation(overlap=0.5, noise=0.5), Perturbation(overlap=0.8)]
    a = train_fullq(runs, perts, log_every=20)
    b = train_fullq(runs, perts, log_every=20)
    assert torch.equal(a.W, b.W)
    loss = a.history["loss"]
    assert bool((loss[-1] < loss[0]).all())
    assert bool(torch.isfinite(a.W).all())
    alone = train_fullq(runs[:1], perts[1:], log_every=20)        # a run gives the same result alone
    assert maxdiff(alone.W[0], a.W[1]) <= TOL


def test_noise_leaves_the_images_and_masks_unchanged():
    """Runs that differ only in σ see the same batches: at lr → tiny the step-0 metrics of the noiseless part agree."""
    run = Run(CFG, TrainConfig(objective="mae", lr=1e-12, steps=1, batch_size=8, seed=2))
    a = train_fullq([run, run], [Perturbation(), Perturbation(noise=1.0)], log_every=1)
    assert torch.equal(a.history["own_area_attention"][0, 0], a.history["own_area_attention"][0, 1])
    assert float(a.history["loss"][0, 1]) > float(a.history["loss"][0, 0])   # noise cannot be reconstructed


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="overlap"):
        Perturbation(overlap=1.0)
    with pytest.raises(ValueError, match="noise"):
        Perturbation(noise=-0.1)
    with pytest.raises(ValueError, match="overlap"):
        feature_vectors(CFG, 1.2)
    run = Run(CFG, TrainConfig(steps=1, batch_size=4))
    with pytest.raises(ValueError, match="perturbations"):
        train_fullq([run, run], [Perturbation()] * 3)
    other = Run(DataConfig(patches=16, clusters=2, global_size=12, local_size=2), TrainConfig(steps=1, batch_size=4))
    with pytest.raises(ValueError, match="same number of areas"):
        train_fullq([run, other])
    with pytest.raises(ValueError, match="gradient descent"):
        train_fullq(Run(CFG, TrainConfig(steps=1, batch_size=4, optimizer="adam")))
    with pytest.raises(ValueError, match="log_every"):
        train_fullq(run, log_every=0)


def test_fullq_refuses_the_core_random_start():
    """train_fullq has its own random start (Variant(init_std=...)); TrainConfig(init_std=...) is refused, not ignored
    (its stream would also be the noise stream of the full-Q trainer)."""
    from sslvit import DataConfig, Run, TrainConfig
    from sslvit.beyond.fullq import train_fullq

    run = Run(DataConfig(patches=16, global_size=4, local_size=2), TrainConfig(objective="mae", steps=1, init_std=0.1))
    with pytest.raises(ValueError, match="init_std"):
        train_fullq([run])
