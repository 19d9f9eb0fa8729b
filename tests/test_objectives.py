"""MAE and CL objectives (SPEC §3) and the oracle of SPEC §4: area-mass forms vs the dense definitions."""
from __future__ import annotations

import pytest
import torch

from helpers import key_area, outputs_from_masses, reference_patches
from sslvit import DataConfig, make_layout, sample_batch
from sslvit.core.objectives import (check_negatives, cl_loss, cl_loss_dense, mae_loss, mae_loss_and_grad, mae_loss_dense,
                               negatives_mask, oracle_mass)


def random_masses(shape, seed):
    """Nonnegative masses with column sums < 1 (some attention left on masked keys), ``(R, Bt, N, P)``."""
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(*shape, generator=g, dtype=torch.float64)
    return m / (m.sum(2, keepdim=True) + torch.rand(shape[0], shape[1], 1, shape[3], generator=g, dtype=torch.float64))


@pytest.fixture
def mass_problem():
    """Two runs of five images, N = 4 areas, P = 10; image 0 of run 0 has no masked patch, image 1 no visible one."""
    g = torch.Generator().manual_seed(0)
    R, Bt, N, P = 2, 5, 4, 10
    mass = random_masses((R, Bt, N, P), 1)
    scale = 0.5 + torch.rand(R, Bt, N, generator=g, dtype=torch.float64)
    visible = torch.rand(R, Bt, P, generator=g) < 0.5
    visible[0, 0] = True
    visible[0, 1] = False
    area = torch.randint(N, (R, Bt, P), generator=g)
    return mass, scale, visible, area


def test_mae_loss_and_grad_matches_loss_and_autograd(mass_problem):
    """mae_loss_and_grad returns mae_loss and its autograd gradient with respect to the masses (≤ 1e-12)."""
    mass, scale, visible, area = mass_problem
    m = mass.clone().requires_grad_(True)
    loss = mae_loss(m, scale, visible, area)
    (grad,) = torch.autograd.grad(loss.sum(), [m])
    loss = loss.detach()
    loss2, grad2 = mae_loss_and_grad(mass.clone(), scale, visible, area)
    assert float(grad.abs().max()) > 1e-3
    assert float((loss - loss2).abs().max()) <= 1e-12
    assert float((grad - grad2).abs().max()) <= 1e-12


def test_mae_image_without_masked_patch_contributes_nothing(mass_problem):
    """An image with no masked patch adds 0 to the MAE loss and gets zero gradient; the mean is over images."""
    mass, scale, visible, area = mass_problem
    _, grad = mae_loss_and_grad(mass.clone(), scale, visible, area)
    assert torch.count_nonzero(grad[0, 0]) == 0
    per_image = [float(mae_loss(mass[:1, b:b + 1], scale[:1, b:b + 1], visible[:1, b:b + 1], area[:1, b:b + 1])[0])
                 for b in range(5)]
    assert per_image[0] == 0.0
    assert float(mae_loss(mass, scale, visible, area)[0]) == pytest.approx(sum(per_image) / 5, abs=1e-14)


def test_mae_loss_matches_dense_definition(tiny_cfg):
    """mae_loss on area masses equals (1/(2|M|)) Σ_{p∈M} ‖F_p − x_p‖² on the dense outputs, batch-averaged."""
    layout = make_layout(tiny_cfg, 0)
    s = sample_batch(tiny_cfg, 6, 0.5, 3)
    mass = random_masses((1, 6, tiny_cfg.n_areas, tiny_cfg.patches), 4)
    F = outputs_from_masses(tiny_cfg, s, mass[0])
    X = reference_patches(tiny_cfg, layout, s)
    dense = mae_loss_dense(F, X, s.visible)
    assert float(dense) > 0.05
    assert abs(float(dense - mae_loss(mass, s.scale[None], s.visible[None], key_area(layout, s))[0])) <= 1e-12


@pytest.mark.parametrize("negatives", [0, 2, 5])
@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_cl_loss_matches_dense_definition(negatives, tau):
    """cl_loss on area masses equals InfoNCE on f = mean_p F_p of the dense outputs (clusters mixed in the batch)."""
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 6, 0.3, 5)
    assert len(set(s.cluster.tolist())) == 2  # both clusters present: cross-cluster similarities are 0
    m1 = random_masses((1, 6, cfg.n_areas, cfg.patches), 6)
    m2 = random_masses((1, 6, cfg.n_areas, cfg.patches), 7)
    F1, F2 = outputs_from_masses(cfg, s, m1[0]), outputs_from_masses(cfg, s, m2[0])
    dense = cl_loss_dense(F1, F2, negatives, tau)
    allowed = negatives_mask(torch.tensor([negatives]), 6)
    reduced = cl_loss(m1, m2, s.scale[None], s.cluster[None], allowed, tau)[0]
    assert abs(float(dense - reduced)) <= 1e-12
    if negatives > 0:
        assert float(dense) > 0.1


def test_cl_loss_without_negatives_is_zero():
    """With 0 negatives the InfoNCE denominator holds only the positive: the loss is exactly 0."""
    m1, m2 = random_masses((1, 4, 3, 8), 0), random_masses((1, 4, 3, 8), 1)
    scale = torch.ones(1, 4, 3, dtype=torch.float64)
    cluster = torch.zeros(1, 4, dtype=torch.long)
    assert float(cl_loss(m1, m2, scale, cluster, negatives_mask(torch.tensor([0]), 4), 1.0)[0]) == 0.0
    assert float(cl_loss(m1, m2, scale, cluster, negatives_mask(torch.tensor([3]), 4), 1.0)[0]) > 0.1


def test_negatives_mask_counts_and_positions():
    """negatives_mask: row b allows the positive b and the next n images cyclically, 1 + n entries in all."""
    Bt, negs = 6, [0, 2, 5]
    allowed = negatives_mask(torch.tensor(negs), Bt)
    assert allowed.shape == (3, Bt, Bt) and allowed.dtype == torch.bool
    for r, n in enumerate(negs):
        assert allowed[r].sum(-1).tolist() == [1 + n] * Bt
        assert torch.all(torch.diagonal(allowed[r]))
        for b in range(Bt):
            assert {c for c in range(Bt) if allowed[r, b, c]} == {(b + i) % Bt for i in range(n + 1)}


@pytest.mark.parametrize("negatives", [-1, 8, 2.0, True])
def test_check_negatives_rejects(negatives):
    """negatives must be an integer from 0 to batch_size − 1."""
    with pytest.raises(ValueError, match="negatives"):
        check_negatives(negatives, 8)


def test_oracle_mass_by_hand():
    """Oracle (SPEC §4): own area when some of it is visible, else spread over all visible patches, else nothing."""
    # P = 6: area 0 = {0, 1}, area 1 = {2, 3}, area 2 = {4, 5}; visible 0, 1, 2 (counts 2, 1, 0)
    area = torch.tensor([[[0, 0, 1, 1, 2, 2]] * 2])                       # (1, 2, 6)
    visible = torch.tensor([[[True, True, True, False, False, False], [False] * 6]])
    m = oracle_mass(visible, area, 3)
    assert m.shape == (1, 2, 3, 6) and m.dtype == torch.float64
    expected = torch.tensor([[1, 1, 0, 0, 2 / 3, 2 / 3], [0, 0, 1, 1, 1 / 3, 1 / 3], [0, 0, 0, 0, 0, 0]],
                            dtype=torch.float64)
    assert torch.allclose(m[0, 0], expected, rtol=0, atol=1e-15)
    assert torch.count_nonzero(m[0, 1]) == 0                            # nothing visible: no mass


def test_oracle_loss_by_hand():
    """Oracle MAE loss by hand: masked queries with a visible own patch cost 0; the others pay their spread."""
    area = torch.tensor([[[0, 0, 1, 1, 2, 2]]])
    visible = torch.tensor([[[True, True, True, False, False, False]]])
    z = torch.tensor([[[1.0, 0.5, 1.5]]], dtype=torch.float64)
    loss = mae_loss(oracle_mass(visible, area, 3), z, visible, area)
    # masked p = 3 (own area 1 has patch 2 visible): 0; p = 4, 5: ‖(2/3) z0 v0 + (1/3) z1 v1 − z2 v2‖²
    err = (2 / 3) ** 2 * 1.0 + (1 / 3) ** 2 * 0.25 + 1.5**2
    assert float(loss[0]) == pytest.approx((0 + 2 * err) / (2 * 3), abs=1e-14)


def test_oracle_beats_uniform_attention():
    """The oracle's MAE loss is below the loss of uniform attention (mass n_visible(j)/P) on a random batch."""
    cfg = DataConfig(patches=64, clusters=3, global_size=16, local_size=4)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 32, 0.5, 1)
    ka = key_area(layout, s)
    vis = s.visible[None].double()
    counts = torch.zeros(1, 32, cfg.n_areas, dtype=torch.float64).scatter_add_(2, ka, vis)
    uniform = (counts / cfg.patches)[..., None].expand(1, 32, cfg.n_areas, cfg.patches)
    oracle = mae_loss(oracle_mass(s.visible[None], ka, cfg.n_areas), s.scale[None], s.visible[None], ka)
    uni = mae_loss(uniform, s.scale[None], s.visible[None], ka)
    assert float(oracle[0]) < 0.5 * float(uni[0])
