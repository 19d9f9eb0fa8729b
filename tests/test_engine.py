"""Reference one-layer ViT vs the reduced (A, B) engines (SPEC §2, claim C2).

The reference model (:class:`sslvit.OneLayerViT`) differentiates every entry of ``Q`` by autograd; the
engines (:mod:`sslvit.core.engine`) work on the correlations ``A``, ``B`` with hand-written backward passes. All
comparisons are in float64 at ≤ 1e-10.
"""
from __future__ import annotations

import pytest
import torch

from helpers import engine_args, key_area, outputs_from_masses, random_correlations, reference_patches
from sslvit import DataConfig, OneLayerViT, Run, Sample, TrainConfig, correlations_from_q, make_layout, q_from_correlations, sample_batch, train
from sslvit.core import engine
from sslvit.core.data import draw_images, draw_mask
from sslvit.core.objectives import cl_loss, cl_loss_dense, mae_loss, mae_loss_and_grad, mae_loss_dense, negatives_mask
from sslvit.core.runs import random_stream as _stream_fn

TOL = 1e-10


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.detach() - b.detach()).abs().max())


def reference(cfg: DataConfig, Q: torch.Tensor) -> OneLayerViT:
    model = OneLayerViT(cfg, dtype=torch.float64)
    with torch.no_grad():
        model.Q.copy_(Q)
    return model


def q_and_correlations(cfg: DataConfig, kind: str, seed: int = 0):
    """``kind="ab"``: random A, B and Q = q_from_correlations(A, B) (zero elsewhere);
    ``kind="full"``: every entry of Q random, (A, B) read off with correlations_from_q."""
    if kind == "ab":
        A, B = random_correlations(cfg, seed, scale=1.5)
        return q_from_correlations(A, B, cfg), A, B
    g = torch.Generator().manual_seed(seed)
    Q = 1.5 * torch.randn(cfg.dim, cfg.dim, generator=g, dtype=torch.float64)
    A, B = correlations_from_q(Q, cfg)
    return Q, A.clone(), B.clone()


@pytest.fixture
def batch(tiny_cfg):
    layout = make_layout(tiny_cfg, 0)
    sample = sample_batch(tiny_cfg, 6, 0.5, 1)
    visible2 = sample_batch(tiny_cfg, 6, 0.5, 2).visible  # second CL view of the same images
    return layout, sample, visible2


# ---- initialisation ------------------------------------------------------------------------------------------

def test_reference_attention_uniform_at_zero(tiny_cfg, batch):
    """C2: at Q = 0 the reference attention rows sum to 1 and every entry is 1/P."""
    layout, sample, _ = batch
    model = OneLayerViT(tiny_cfg)
    assert torch.equal(model.Q.detach(), torch.zeros(tiny_cfg.dim, tiny_cfg.dim, dtype=torch.float64))
    _, attn = model(reference_patches(tiny_cfg, layout, sample), sample.visible)
    assert maxdiff(attn.sum(-1), torch.ones(6, 16, dtype=torch.float64)) <= 1e-14
    assert maxdiff(attn, torch.full_like(attn, 1 / 16)) <= 1e-15


def test_engine_attention_uniform_at_zero(tiny_cfg, batch):
    """C2: at (A, B) = 0 the dense engine's attention is 1/P and both engines give mass n_visible(j)/P."""
    layout, sample, _ = batch
    A = torch.zeros(1, 16, tiny_cfg.clusters, tiny_cfg.n_areas, dtype=torch.float64)
    B = torch.zeros(1, 16, 16, dtype=torch.float64)
    dense = engine.dense_forward(A, B, *engine_args(layout, sample))
    assert maxdiff(dense.attn.sum(-1), torch.ones(1, 6, 16, dtype=torch.float64)) <= 1e-14
    assert maxdiff(dense.attn, torch.full_like(dense.attn, 1 / 16)) <= 1e-15
    ka = key_area(layout, sample)[0]
    counts = torch.stack([torch.bincount(ka[b][sample.visible[b]], minlength=tiny_cfg.n_areas) for b in range(6)])
    expected = (counts.double() / 16)[:, :, None].expand(6, tiny_cfg.n_areas, 16)
    fast = engine.fast_forward(A, B, *engine_args(layout, sample))
    assert maxdiff(dense.mass[0], expected) <= 1e-15
    assert maxdiff(fast.mass[0], expected) <= 1e-15


# ---- reference ≡ engine: outputs, losses, gradients ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["ab", "full"])
def test_reference_equals_engine_forward(tiny_cfg, batch, kind):
    """C2: attention and outputs of the full-Q reference equal the engines' (F = mass · scale on v_{k,j})."""
    layout, sample, _ = batch
    Q, A, B = q_and_correlations(tiny_cfg, kind)
    F, attn = reference(tiny_cfg, Q)(reference_patches(tiny_cfg, layout, sample), sample.visible)
    assert float((attn.detach() - 1 / 16).abs().max()) > 0.05  # the attention is far from uniform
    dense = engine.dense_forward(A[None], B[None], *engine_args(layout, sample))
    fast = engine.fast_forward(A[None], B[None], *engine_args(layout, sample))
    assert maxdiff(attn, dense.attn[0]) <= TOL
    assert maxdiff(F, outputs_from_masses(tiny_cfg, sample, dense.mass[0])) <= TOL
    assert maxdiff(F, outputs_from_masses(tiny_cfg, sample, fast.mass[0])) <= TOL


@pytest.mark.parametrize("kind", ["ab", "full"])
def test_reference_equals_engine_losses(tiny_cfg, batch, kind):
    """C2: MAE and CL losses of the reference outputs equal the losses of the engine's area masses."""
    layout, sample, visible2 = batch
    Q, A, B = q_and_correlations(tiny_cfg, kind)
    model = reference(tiny_cfg, Q)
    X = reference_patches(tiny_cfg, layout, sample)
    with torch.no_grad():
        F1, _ = model(X, sample.visible)
        F2, _ = model(X, visible2)
    m1 = engine.fast_forward(A[None], B[None], *engine_args(layout, sample)).mass
    m2 = engine.fast_forward(A[None], B[None], *engine_args(layout, sample, visible2)).mass
    ka = key_area(layout, sample)
    mae_ref = mae_loss_dense(F1, X, sample.visible)
    assert abs(float(mae_ref - mae_loss(m1, sample.scale[None], sample.visible[None], ka)[0])) <= TOL
    allowed = negatives_mask(torch.tensor([3]), 6)
    cl_ref = cl_loss_dense(F1, F2, negatives=3, tau=0.7)
    assert abs(float(cl_ref - cl_loss(m1, m2, sample.scale[None], sample.cluster[None], allowed, 0.7)[0])) <= TOL


def _engine_grads(cfg, layout, sample, visible2, A, B, objective, method):
    """(loss, dA, dB) from the engine: masses → objective gradient w.r.t. masses → hand-written backward."""
    views = [sample.visible] if objective == "mae" else [sample.visible, visible2]
    forward = engine.fast_forward if method == "fast" else engine.dense_forward
    fwds = [forward(A[None], B[None], *engine_args(layout, sample, v)) for v in views]
    if objective == "mae":
        loss, gm = mae_loss_and_grad(fwds[0].mass, sample.scale[None], sample.visible[None], key_area(layout, sample))
        grads = [gm]
    else:
        masses = [f.mass.detach().requires_grad_(True) for f in fwds]
        loss = cl_loss(masses[0], masses[1], sample.scale[None], sample.cluster[None],
                       negatives_mask(torch.tensor([3]), 6), 0.7)
        grads = list(torch.autograd.grad(loss.sum(), masses))
    dA, dB = torch.zeros_like(A)[None], torch.zeros_like(B)[None]
    for f, gm in zip(fwds, grads):
        if method == "fast":
            ga, gb = engine.fast_backward(f, gm.clone(), sample.cluster[None], sample.scale[None], cfg.clusters)
        else:
            ga, gb = engine.dense_backward(f, gm.clone(), sample.cluster[None], cfg.clusters)
        dA, dB = dA + ga, dB + gb
    return loss.detach()[0], dA[0], dB[0]


def _reference_grad(cfg, layout, sample, visible2, Q, objective):
    model = reference(cfg, Q)
    X = reference_patches(cfg, layout, sample)
    F1, _ = model(X, sample.visible)
    if objective == "mae":
        loss = mae_loss_dense(F1, X, sample.visible)
    else:
        F2, _ = model(X, visible2)
        loss = cl_loss_dense(F1, F2, negatives=3, tau=0.7)
    loss.backward()
    return loss.detach(), model.Q.grad.detach()


@pytest.mark.parametrize("kind", ["ab", "full"])
@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_reference_gradient_equals_engine_backward(tiny_cfg, batch, kind, objective):
    """C2: autograd gradient of Q, read off as (A, B), equals dense_backward and fast_backward."""
    layout, sample, visible2 = batch
    Q, A, B = q_and_correlations(tiny_cfg, kind)
    loss_ref, gQ = _reference_grad(tiny_cfg, layout, sample, visible2, Q, objective)
    gA, gB = correlations_from_q(gQ, tiny_cfg)
    assert float(gA.abs().max()) > 1e-3 and float(gB.abs().max()) > 1e-3
    for method in ("dense", "fast"):
        loss, dA, dB = _engine_grads(tiny_cfg, layout, sample, visible2, A, B, objective, method)
        assert abs(float(loss - loss_ref)) <= TOL
        assert maxdiff(dA, gA) <= TOL, method
        assert maxdiff(dB, gB) <= TOL, method


@pytest.mark.parametrize("kind", ["ab", "full"])
@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_reference_gradient_zero_outside_correlations(tiny_cfg, batch, kind, objective):
    """C2: the reference gradient of Q vanishes outside the A and B blocks (rows of Q past the P positions)."""
    layout, sample, visible2 = batch
    Q, A, B = q_and_correlations(tiny_cfg, kind)
    _, gQ = _reference_grad(tiny_cfg, layout, sample, visible2, Q, objective)
    P = tiny_cfg.patches
    assert float(gQ[:P].abs().max()) > 1e-3
    assert torch.count_nonzero(gQ[P:]) == 0
    gA, gB = correlations_from_q(gQ, tiny_cfg)
    assert torch.equal(q_from_correlations(gA, gB, tiny_cfg), gQ)


# ---- trajectory ----------------------------------------------------------------------------------------------

def _reference_step(model, cfg, X, vis1, vis2, objective, lr):
    model.Q.grad = None
    F1, _ = model(X, vis1)
    if objective == "mae":
        loss = mae_loss_dense(F1, X, vis1)
    else:
        F2, _ = model(X, vis2)
        loss = cl_loss_dense(F1, F2, negatives=7, tau=1.0)
    loss.backward()
    with torch.no_grad():
        model.Q -= lr * model.Q.grad
    return float(loss.detach())


LR = {"mae": 100.0, "cl": 300.0}


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_gd_trajectory_reference_equals_engine(tiny_cfg, objective):
    """C2: 20 GD steps on the full Q and on (A, B) (fast engine, same batches) end at the same A, B (≤ 1e-10)."""
    cfg, Bt, lr, gamma = tiny_cfg, 8, LR[objective], 0.5
    layout = make_layout(cfg, 0)
    model = OneLayerViT(cfg)
    A = torch.zeros(1, cfg.patches, cfg.clusters, cfg.n_areas, dtype=torch.float64)
    B = torch.zeros(1, cfg.patches, cfg.patches, dtype=torch.float64)
    g = torch.Generator().manual_seed(123)
    allowed = negatives_mask(torch.tensor([Bt - 1]), Bt)
    for _ in range(20):
        s = sample_batch(cfg, Bt, gamma, g)
        vis2 = draw_mask(cfg.patches, Bt, gamma, g)
        loss_ref = _reference_step(model, cfg, reference_patches(cfg, layout, s), s.visible, vis2, objective, lr)
        args = (layout.area[None], s.cluster[None], s.scale[None])
        f1 = engine.fast_forward(A, B, *args, s.visible[None])
        if objective == "mae":
            loss, gm = mae_loss_and_grad(f1.mass, s.scale[None], s.visible[None], key_area(layout, s))
            dA, dB = engine.fast_backward(f1, gm, s.cluster[None], s.scale[None], cfg.clusters)
        else:
            f2 = engine.fast_forward(A, B, *args, vis2[None])
            m1, m2 = f1.mass.detach().requires_grad_(True), f2.mass.detach().requires_grad_(True)
            loss = cl_loss(m1, m2, s.scale[None], s.cluster[None], allowed, 1.0)
            g1, g2 = torch.autograd.grad(loss.sum(), [m1, m2])
            dA1, dB1 = engine.fast_backward(f1, g1, s.cluster[None], s.scale[None], cfg.clusters)
            dA2, dB2 = engine.fast_backward(f2, g2, s.cluster[None], s.scale[None], cfg.clusters)
            dA, dB = dA1 + dA2, dB1 + dB2
        assert abs(float(loss.detach()[0]) - loss_ref) <= TOL
        A -= lr * dA
        B -= lr * dB
    A_ref, B_ref = correlations_from_q(model.Q.detach(), cfg)
    assert float(A_ref.abs().max()) > 1.0 and float(B_ref.abs().max()) > 0.5  # the correlations moved
    assert maxdiff(A[0], A_ref) <= TOL
    assert maxdiff(B[0], B_ref) <= TOL


@pytest.mark.parametrize("objective", ["mae", "cl"])
def test_train_follows_reference_gd(tiny_cfg, objective):
    """C2: sslvit.train (batched engine, its own random streams) follows plain GD on the full-Q reference model."""
    cfg, Bt, lr, seed, steps = tiny_cfg, 8, LR[objective], 5, 20
    traj = train(Run(cfg, TrainConfig(objective=objective, lr=lr, steps=steps, batch_size=Bt, seed=seed)),
                 log_every=steps, method="fast")
    layout = make_layout(cfg, _stream_fn(seed, 0))  # train's layout stream
    assert torch.equal(layout.area, traj.layouts[0].area)
    g = _stream_fn(seed, 1)                          # train's batch stream, consumed in the same order
    model = OneLayerViT(cfg)
    for _ in range(steps):
        cluster, scale = draw_images(cfg, Bt, g)
        vis1 = draw_mask(cfg.patches, Bt, traj.runs[0].train.mask_prob, g)
        vis2 = draw_mask(cfg.patches, Bt, traj.runs[0].train.mask_prob, g) if objective == "cl" else None
        X = reference_patches(cfg, layout, Sample(cluster, scale, vis1))
        _reference_step(model, cfg, X, vis1, vis2, objective, lr)
    A_ref, B_ref = correlations_from_q(model.Q.detach(), cfg)
    A, B = traj.correlations(0)
    assert float(A_ref.abs().max()) > 1.0
    assert maxdiff(A, A_ref) <= TOL
    assert maxdiff(B, B_ref) <= TOL


# ---- backward passes vs autograd and finite differences ------------------------------------------------------

def torch_masses(A, B, area, cluster, scale, visible):
    """Area masses written directly in torch (no engine code), differentiable by autograd: ``(Bt, N, P)``."""
    N = A.shape[2]
    out = []
    for b in range(cluster.shape[0]):
        k = int(cluster[b])
        j = area[k]                                          # (P,) area of every key
        vis = visible[b].to(A.dtype)
        coeff = vis * scale[b][j]                            # z_{j(q)} for visible keys, 0 for masked
        S = B + coeff[None, :] * A[:, k, :][:, j]            # S[p, q] = B[p, q] + vis z A[p, k, j(q)]
        attn = torch.softmax(S, dim=-1)
        onehot = torch.nn.functional.one_hot(j, N).to(A.dtype)  # (P, N)
        out.append((onehot * vis[:, None]).T @ attn.T)       # m[j, p] = Σ_{q vis ∈ j} attn[p, q]
    return torch.stack(out)


@pytest.mark.parametrize("method", ["dense", "fast"])
def test_backward_matches_autograd(method):
    """dense_backward and fast_backward equal torch.autograd through an independent torch implementation."""
    cfg = DataConfig(patches=36, clusters=3, global_size=12, local_size=4)
    layout = make_layout(cfg, 2)
    s = sample_batch(cfg, 10, 0.4, 3)
    A, B = random_correlations(cfg, 4, scale=2.0)
    W = torch.randn(10, cfg.n_areas, cfg.patches, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    Ar, Br = A.clone().requires_grad_(True), B.clone().requires_grad_(True)
    mass = torch_masses(Ar, Br, layout.area, s.cluster, s.scale, s.visible)
    gA, gB = torch.autograd.grad((W * mass).sum(), [Ar, Br])
    forward = engine.fast_forward if method == "fast" else engine.dense_forward
    fwd = forward(A[None], B[None], *engine_args(layout, s))
    assert maxdiff(fwd.mass[0], mass.detach()) <= TOL
    if method == "fast":
        dA, dB = engine.fast_backward(fwd, W[None].clone(), s.cluster[None], s.scale[None], cfg.clusters)
    else:
        dA, dB = engine.dense_backward(fwd, W[None].clone(), s.cluster[None], cfg.clusters)
    assert float(gA.abs().max()) > 1e-2 and float(gB.abs().max()) > 1e-2
    assert maxdiff(dA[0], gA) <= TOL
    assert maxdiff(dB[0], gB) <= TOL


def test_fast_backward_matches_finite_differences():
    """fast_backward equals central finite differences of Σ W·mass over every entry of A and B (tiny case).

    All 2·(|A| + |B|) perturbed problems go through fast_forward at once, one per entry of the run axis.
    """
    cfg = DataConfig(patches=8, clusters=2, global_size=4, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 3, 0.4, 1)
    A, B = random_correlations(cfg, 2)
    W = torch.randn(1, 3, cfg.n_areas, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    fwd = engine.fast_forward(A[None], B[None], *engine_args(layout, s))
    dA, dB = engine.fast_backward(fwd, W.clone(), s.cluster[None], s.scale[None], cfg.clusters)

    h, nA, nB = 1e-5, A.numel(), B.numel()
    n = nA + nB
    eye = torch.eye(n, dtype=torch.float64)
    steps = torch.cat([h * eye, -h * eye])                                   # (2n, n): +h then −h on each entry
    Ap = A[None] + steps[:, :nA].view(2 * n, *A.shape)
    Bp = B[None] + steps[:, nA:].view(2 * n, *B.shape)
    R = 2 * n
    area, cluster, scale, visible = engine_args(layout, s)
    mass = engine.fast_forward(Ap, Bp, area.expand(R, -1, -1), cluster.expand(R, -1), scale.expand(R, -1, -1),
                               visible.expand(R, -1, -1)).mass
    L = (W * mass).sum((1, 2, 3))                                           # (2n,)
    fd = (L[:n] - L[n:]) / (2 * h)
    assert float(fd.abs().max()) > 1e-2
    assert maxdiff(dA[0].flatten(), fd[:nA]) <= 1e-8  # truncation ~h² = 1e-10, rounding ~1e-16/h = 1e-11
    assert maxdiff(dB[0].flatten(), fd[nA:]) <= 1e-8


# ---- fast ≡ dense --------------------------------------------------------------------------------------------

def _both_engines(cfg, A, B, layout, s, W):
    out = {}
    for method in ("fast", "dense"):
        if method == "fast":
            fwd = engine.fast_forward(A[None], B[None], *engine_args(layout, s))
            dA, dB = engine.fast_backward(fwd, W[None].clone(), s.cluster[None], s.scale[None], cfg.clusters)
        else:
            fwd = engine.dense_forward(A[None], B[None], *engine_args(layout, s))
            dA, dB = engine.dense_backward(fwd, W[None].clone(), s.cluster[None], cfg.clusters)
        out[method] = (fwd.mass[0], dA[0], dB[0])
    return out


@pytest.fixture
def random_problem():
    cfg = DataConfig(patches=64, clusters=3, global_size=16, local_size=4)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 16, 0.5, 1)
    A, B = random_correlations(cfg, 2, scale=2.0)
    W = torch.randn(16, cfg.n_areas, cfg.patches, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    return cfg, layout, s, A, B, W


def test_fast_equals_dense_float64(random_problem):
    """Fast (factorised softmax) and dense engines give the same masses and gradients in float64 (≤ 1e-12)."""
    cfg, layout, s, A, B, W = random_problem
    out = _both_engines(cfg, A, B, layout, s, W)
    for fast, dense in zip(out["fast"], out["dense"]):
        assert float(dense.abs().max()) > 1e-2
        assert maxdiff(fast, dense) <= 1e-12


def test_fast_and_dense_float32_close_to_float64(random_problem):
    """In float32 both engines stay within 2e-5 (relative to the largest entry) of the float64 result.

    float32 rounds at 6e-8; a mass sums ≤ 64 attention weights and a gradient entry ≤ 16 images × 64 keys,
    so the worst-case accumulated error is ~1e3 · 6e-8 ≈ 6e-5 of the magnitude and the typical (random-walk)
    error ~√1e3 · 6e-8 ≈ 2e-6; 2e-5 sits between, and an algebra mistake would be O(1).
    """
    cfg, layout, s, A, B, W = random_problem
    ref = _both_engines(cfg, A, B, layout, s, W)["dense"]
    s32 = type(s)(s.cluster, s.scale.float(), s.visible)
    out32 = _both_engines(cfg, A.float(), B.float(), layout, s32, W.float())
    for method in ("fast", "dense"):
        for got, want in zip(out32[method], ref):
            assert got.dtype == torch.float32
            assert maxdiff(got.double(), want) <= 2e-5 * float(want.abs().max()), method


@pytest.mark.parametrize("dtype, span", [(torch.float64, 700.0), (torch.float32, 70.0)])
def test_fast_forward_falls_back_when_b_spans_too_much(random_problem, dtype, span):
    """fast_forward returns None when a row of B spans more than the dtype's exponent range allows."""
    cfg, layout, s, A, B, _ = random_problem
    B = B.clone()
    B[3, 5] = B[3].min() + span
    s_ = type(s)(s.cluster, s.scale.to(dtype), s.visible)
    assert engine.fast_forward(A[None].to(dtype), B[None].to(dtype), *engine_args(layout, s_)) is None


@pytest.mark.parametrize("dtype, span", [(torch.float64, 500.0), (torch.float32, 50.0)])
def test_fast_forward_keeps_precision_below_threshold(random_problem, dtype, span):
    """Below the fallback threshold (a row of B spanning 500 in float64, 50 in float32) fast_forward still
    computes, and its masses equal the dense engine's (float64 ≤ 1e-12; float32 ≤ 1e-5)."""
    cfg, layout, s, A, B, _ = random_problem
    B = B.clone()
    B[3, 5] = B[3].min() + span
    s_ = type(s)(s.cluster, s.scale.to(dtype), s.visible)
    args = (A[None].to(dtype), B[None].to(dtype), *engine_args(layout, s_))
    fast = engine.fast_forward(*args)
    assert fast is not None
    assert maxdiff(fast.mass, engine.dense_forward(*args).mass) <= (1e-12 if dtype == torch.float64 else 1e-5)


def test_train_step_falls_back_to_dense(random_problem):
    """With a B that the fast engine refuses, a training step's loss and gradients still equal the dense ones."""
    from sslvit.core.runs import ImageBatch, RunBatch
    from sslvit.core.training import loss_and_grads

    cfg, _, s, A, B, _ = random_problem
    runs = RunBatch([Run(cfg, TrainConfig(objective="mae", batch_size=16))], torch.float64, "cpu")
    batch = ImageBatch(s.cluster[None], s.scale[None], (s.visible[None],))
    B = B.clone()
    B[0, 0] = B[0].min() + 700.0
    assert engine.fast_forward(A[None], B[None], runs.area, batch.cluster, batch.scale, batch.views[0]) is None
    fast = loss_and_grads(A[None], B[None], runs, batch, "fast")
    dense = loss_and_grads(A[None], B[None], runs, batch, "dense")
    for a, b in zip(fast, dense):
        assert torch.isfinite(a).all()
        assert maxdiff(a, b) <= 1e-12


@pytest.mark.parametrize("dtype, gap", [(torch.float64, 30.0), (torch.float32, 14.0)])
def test_fast_forward_precise_when_masked_keys_are_unlikely(dtype, gap):
    """fast_forward either falls back (None) or matches the dense engine, also when the PP scores favour the
    visible keys and the FP scores cancel that.

    Construction: B[p, q] = 0 for visible keys and −gap for masked keys (row span = gap, far below the
    fallback thresholds 600 / 60), and z_j A[p, k, j] = −gap for every area, so every score equals −gap and
    the exact attention is uniform (mass n_visible(j)/P). The fast engine forms Σ_{q masked} e^{B[p,q]} as
    Σ_q e^{B[p,q]} − Σ_{q visible} e^{B[p,q]}: a difference of two numbers ≈ n_visible whose exact value
    n_masked·e^{−gap} is near the rounding error (the engine now sums the masked keys directly).
    """
    cfg = DataConfig(patches=16, clusters=1, global_size=8, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 1, 0.5, 1, dtype=dtype)
    B = torch.where(s.visible[0], 0.0, -gap).to(dtype)[None, :].expand(16, 16).clone()
    A = (-gap / s.scale[0])[None, None, :].expand(16, 1, cfg.n_areas).clone()
    args = (A[None], B[None], *engine_args(layout, s))
    dense = engine.dense_forward(*args)
    visible_mass = float(dense.mass[0, 0].sum(0)[0])
    assert 0.05 < visible_mass < 0.95  # the exact answer is well inside (0, 1)
    fast = engine.fast_forward(*args)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert fast is None or maxdiff(fast.mass, dense.mass) <= tol


def test_fast_forward_precise_with_large_score_on_fully_masked_area():
    """fast_forward either falls back (None) or matches the dense engine when an area with no visible patch in the
    image has a very large FP score (z A = 740, representable, e^740 overflows nothing because that area's keys
    are masked and carry no FP term). The exact attention ignores that score entirely."""
    cfg = DataConfig(patches=16, clusters=1, global_size=8, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 1, 0.5, 1)
    visible = s.visible.clone()
    visible[0, layout.area[0] == 1] = False                       # area 1 fully masked in this image
    A, B = random_correlations(cfg, 0)
    A[:, 0, 1] = 740.0 / s.scale[0, 1]
    args = (A[None], B[None], *engine_args(layout, s, visible))
    dense = engine.dense_forward(*args)
    # the dense result does not depend on the masked area's FP score at all
    A0 = A.clone()
    A0[:, 0, 1] = 0.0
    assert maxdiff(dense.mass, engine.dense_forward(A0[None], B[None], *engine_args(layout, s, visible)).mass) <= 1e-15
    fast = engine.fast_forward(*args)
    assert fast is None or maxdiff(fast.mass, dense.mass) <= 1e-10


# ---- the evaluation's attention metrics without the P × P attention ------------------------------------------

@pytest.mark.parametrize("layout_kind", ["random", "grid"])
@pytest.mark.parametrize("scale", [0.0, 0.5, 3.0])
def test_fast_attention_parts_equal_the_dense_ones(layout_kind, scale):
    """Σ_q a log a per query, the key marginal, the attention distance and the NMI through the factorised softmax
    equal those of the dense attention (≤ 1e-12), at Q = 0 and for random correlations."""
    from sslvit.core.metrics import nmi_from_parts, nmi_per_image

    cfg = DataConfig(patches=64, clusters=3, global_size=16, local_size=4, layout=layout_kind)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 12, 0.5, 1)
    A, B = random_correlations(cfg, 2, scale=scale) if scale else (torch.zeros(64, 3, cfg.n_areas, dtype=torch.float64),
                                                                   torch.zeros(64, 64, dtype=torch.float64))
    args = (A[None], B[None], *engine_args(layout, s))
    dense, fast = engine.dense_forward(*args), engine.fast_forward(*args)
    dist = torch.cdist(layout.coords, layout.coords).double() if layout.coords is not None else None
    want, got = engine.dense_attention_parts(dense.attn, dist), engine.fast_attention_parts(fast, B[None], dist)
    assert maxdiff(got.row_xlogx, want.row_xlogx) <= 1e-12
    assert maxdiff(got.key_mass, want.key_mass) <= 1e-12
    assert maxdiff(nmi_from_parts(got.row_xlogx, got.key_mass), nmi_per_image(dense.attn)) <= 1e-12
    assert (got.distance is None) == (dist is None)
    if dist is not None:
        assert maxdiff(got.distance, want.distance) <= 1e-12
        assert float(want.distance.abs().max()) > 1.0
    if scale:
        assert float(nmi_per_image(dense.attn).min()) > 1e-3      # not trivially zero


def test_evaluation_falls_back_to_the_dense_attention(random_problem):
    """When the factorisation would lose precision, the evaluation takes the dense attention: the metrics are
    finite and equal the dense attention's NMI."""
    from sslvit.core.metrics import nmi_per_image
    from sslvit.core.runs import ImageBatch, RunBatch
    from sslvit.core.training import evaluate

    cfg, _, s, A, B, _ = random_problem
    runs = RunBatch([Run(cfg, TrainConfig(objective="mae", batch_size=16))], torch.float64, "cpu")
    batch = ImageBatch(s.cluster[None], s.scale[None], (s.visible[None],))
    B = B.clone()
    B[0, 0] = B[0].min() + 700.0
    args = (A[None], B[None], runs.area, batch.cluster, batch.scale, batch.views[0])
    assert engine.fast_forward(*args) is None
    values = evaluate(A[None], B[None], runs, batch)
    assert all(bool(torch.isfinite(v).all()) for v in values.values())
    assert maxdiff(values["nmi"], nmi_per_image(engine.dense_forward(*args).attn).mean(-1)) <= 1e-12


def test_evaluation_takes_the_dense_attention_above_the_area_limit(random_problem, monkeypatch):
    """Above FACTORISED_EVALUATION_AREAS areas the evaluation builds the dense attention (cheaper there); both ways
    give the same metrics (≤ 1e-12)."""
    from sslvit.core import training
    from sslvit.core.runs import ImageBatch, RunBatch

    cfg, _, s, A, B, _ = random_problem
    runs = RunBatch([Run(cfg, TrainConfig(objective="mae", batch_size=16))], torch.float64, "cpu")
    batch = ImageBatch(s.cluster[None], s.scale[None], (s.visible[None],))
    calls = []
    real_dense = engine.dense_forward
    monkeypatch.setattr(engine, "dense_forward", lambda *a: calls.append(1) or real_dense(*a))
    factorised = training.evaluate(A[None], B[None], runs, batch)
    assert not calls
    monkeypatch.setattr(training, "FACTORISED_EVALUATION_AREAS", cfg.n_areas - 1)
    dense = training.evaluate(A[None], B[None], runs, batch)
    assert calls
    for k in factorised:
        assert maxdiff(factorised[k], dense[k]) <= 1e-12, k
