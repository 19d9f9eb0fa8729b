"""MoCo-style memory queue of CL negatives (sslvit.beyond.memory, book chapter 10): the loss against a brute-force
definition, exact reproduction without a queue, detached constant entries, FIFO order, determinism, the
training integration and the command line flag."""
from __future__ import annotations

import json

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.cli import main
from sslvit.beyond.memory import MemoryQueue, RepresentationQueue, cl_loss_with_queue
from sslvit.core.objectives import representation
from sslvit.core.objectives import cl_loss, negatives_mask

SMALL = DataConfig(patches=16, clusters=2, global_size=8, local_size=2)


def random_inputs(R=2, Bt=5, N=4, P=6, L=7, K=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    m1 = torch.rand(R, Bt, N, P, generator=g, dtype=torch.float64)
    m2 = torch.rand(R, Bt, N, P, generator=g, dtype=torch.float64)
    scale = 0.5 + torch.rand(R, Bt, N, generator=g, dtype=torch.float64)
    cluster = torch.randint(K, (R, Bt), generator=g)
    q_rep = torch.randn(R, L, N, generator=g, dtype=torch.float64)
    q_cluster = torch.randint(K, (R, L), generator=g)
    q_valid = torch.rand(R, L, generator=g) < 0.7
    allowed = negatives_mask(torch.tensor([Bt - 1, 1])[:R], Bt)
    return m1, m2, scale, cluster, allowed, q_rep, q_cluster, q_valid


def brute_force(m1, m2, scale, cluster, allowed, tau, q_rep, q_cluster, q_valid, K=2):
    """InfoNCE written out image by image with explicit K*N-dimensional representations."""
    R, Bt, N, _ = m1.shape
    out = []
    for r in range(R):
        def embed(f, k):
            v = torch.zeros(K * N, dtype=f.dtype)
            v[k * N:(k + 1) * N] = f
            return v
        f1 = [embed(m1[r, b].mean(-1) * scale[r, b], int(cluster[r, b])) for b in range(Bt)]
        f2 = [embed(m2[r, b].mean(-1) * scale[r, b], int(cluster[r, b])) for b in range(Bt)]
        keys = [embed(q_rep[r, i], int(q_cluster[r, i])) for i in range(q_rep.shape[1]) if q_valid[r, i]]
        total = 0.0
        for b in range(Bt):
            logits = [f1[b] @ f2[c] / tau for c in range(Bt) if allowed[r, b, c]]
            logits += [f1[b] @ key / tau for key in keys]
            total = total + torch.logsumexp(torch.stack(logits), 0) - f1[b] @ f2[b] / tau
        out.append(total / Bt)
    return torch.stack(out)


@pytest.mark.parametrize("tau", [0.1, 1.0, 7.0])
def test_loss_and_gradient_match_brute_force(tau):
    m1, m2, scale, cluster, allowed, q_rep, q_cluster, q_valid = random_inputs()
    a1, a2 = m1.clone().requires_grad_(True), m2.clone().requires_grad_(True)
    b1, b2 = m1.clone().requires_grad_(True), m2.clone().requires_grad_(True)
    ours = cl_loss_with_queue(a1, a2, scale, cluster, allowed, tau, q_rep, q_cluster, q_valid)
    ref = brute_force(b1, b2, scale, cluster, allowed, tau, q_rep, q_cluster, q_valid)
    assert torch.allclose(ours, ref, atol=1e-12, rtol=0)
    g_ours = torch.autograd.grad(ours.sum(), [a1, a2])
    g_ref = torch.autograd.grad(ref.sum(), [b1, b2])
    for x, y in zip(g_ours, g_ref):
        assert torch.allclose(x, y, atol=1e-12, rtol=0)


def test_without_queue_is_exactly_cl_loss():
    m1, m2, scale, cluster, allowed, *_ = random_inputs()
    assert torch.equal(cl_loss_with_queue(m1, m2, scale, cluster, allowed, 0.5),
                       cl_loss(m1, m2, scale, cluster, allowed, 0.5))


def test_empty_queue_equals_cl_loss_and_its_gradient():
    m1, m2, scale, cluster, allowed, q_rep, q_cluster, q_valid = random_inputs()
    a = m1.clone().requires_grad_(True)
    b = m1.clone().requires_grad_(True)
    ours = cl_loss_with_queue(a, m2, scale, cluster, allowed, 1.0, q_rep, q_cluster, torch.zeros_like(q_valid))
    ref = cl_loss(b, m2, scale, cluster, allowed, 1.0)
    assert torch.allclose(ours, ref, atol=1e-14, rtol=0)
    assert torch.allclose(torch.autograd.grad(ours.sum(), a)[0], torch.autograd.grad(ref.sum(), b)[0],
                          atol=1e-14, rtol=0)


def test_queue_entries_are_constants():
    """No gradient reaches the queue, and a valid same-cluster entry does change the loss."""
    m1, m2, scale, cluster, allowed, q_rep, q_cluster, q_valid = random_inputs()
    q = q_rep.clone().requires_grad_(True)
    loss = cl_loss_with_queue(m1.requires_grad_(True), m2, scale, cluster, allowed, 1.0, q, q_cluster, q_valid)
    grads = torch.autograd.grad(loss.sum(), [m1, q], allow_unused=True)
    assert grads[1] is None
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert not torch.allclose(loss.detach(), cl_loss(m1.detach(), m2, scale, cluster, allowed, 1.0))


def test_queue_is_fifo_with_per_run_lengths():
    queue = RepresentationQueue([0, 3, 5], n_areas=2, batch=2)
    assert queue.capacity == 5 and queue.valid().sum() == 0
    for step in range(4):  # image b of step s has representation (10 s + b, -(10 s + b)), cluster b
        rep = torch.tensor([[10.0 * step + b, -(10.0 * step + b)] for b in range(2)], dtype=torch.float64)
        for sl in (slice(0, 1), slice(1, 3)):  # staged chunk by chunk, as train() does
            n = sl.stop - sl.start
            queue.stage(sl, rep.expand(n, 2, 2), torch.arange(2).expand(n, 2))
        queue.commit()
        valid = queue.valid()
        assert valid.sum(1).tolist() == [0, min(3, 2 * (step + 1)), min(5, 2 * (step + 1))]
    # newest first, the images of one batch in batch order: steps 3, 3, 2, 2, 1 (step 0 dropped)
    assert queue.rep[2, :, 0].tolist() == [30.0, 31.0, 20.0, 21.0, 10.0]
    assert queue.rep[2, :, 1].tolist() == [-30.0, -31.0, -20.0, -21.0, -10.0]
    assert queue.cluster[2].tolist() == [0, 1, 0, 1, 0]
    assert queue.valid()[1].tolist() == [True, True, True, False, False]
    assert not queue.rep.requires_grad


def test_commit_needs_every_run_staged():
    queue = RepresentationQueue([4, 4], n_areas=2, batch=2)
    queue.stage(slice(0, 1), torch.zeros(1, 2, 2), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(RuntimeError, match="staged"):
        queue.commit()
    with pytest.raises(ValueError, match="shape"):
        queue.stage(slice(0, 1), torch.zeros(1, 3, 2), torch.zeros(1, 3, dtype=torch.long))


def test_representation_is_mean_mass_times_scale():
    m1, _, scale, *_ = random_inputs()
    assert torch.allclose(representation(m1, scale), m1.mean(-1) * scale)


def cl_run(queue=0, seed=0, negatives=None, steps=12):
    return Run(SMALL, TrainConfig(objective=MemoryQueue(queue), lr=3e3, steps=steps, batch_size=6, seed=seed,
                                  negatives=negatives))


def test_queue_zero_reproduces_current_cl_exactly():
    """queue=0 takes the old code path: bitwise the same as a run that never heard of the queue."""
    a = train(cl_run(queue=0), log_every=4)
    b = train(Run(SMALL, TrainConfig(objective="cl", lr=3e3, steps=12, batch_size=6, seed=0)), log_every=4)
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)


def test_run_without_queue_in_a_queue_batch_reproduces_the_plain_run():
    """A queue-0 run trained next to a queue run (so through cl_loss_with_queue with no valid entry) follows the
    plain CL trajectory to 1e-12 in float64; the queue run differs."""
    plain = train(cl_run(queue=0, seed=1), log_every=4)
    mixed = train([cl_run(queue=0, seed=1), cl_run(queue=24, seed=2)], log_every=4)
    assert torch.allclose(mixed.A[0], plain.A[0], atol=1e-12, rtol=0)
    assert torch.allclose(mixed.B[0], plain.B[0], atol=1e-12, rtol=0)
    other = train(cl_run(queue=0, seed=2), log_every=4)
    assert not torch.allclose(mixed.A[1], other.A[0], atol=1e-6)


def test_queue_runs_are_deterministic_and_independent_of_batching():
    a = train([cl_run(queue=12, seed=3), cl_run(queue=30, seed=4)], log_every=4)
    b = train([cl_run(queue=12, seed=3), cl_run(queue=30, seed=4)], log_every=4)
    c = train(cl_run(queue=30, seed=4), log_every=4)
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)
    assert torch.allclose(a.A[1], c.A[0], atol=1e-12, rtol=0) and torch.allclose(a.B[1], c.B[0], atol=1e-12, rtol=0)


def test_queue_run_learns():
    """With one in-batch negative and a queue of 60, the evaluation loss falls and attention moves to the
    global area."""
    traj = train(cl_run(queue=60, negatives=1, steps=40), log_every=10)
    loss = traj.history["loss"][:, 0]
    assert loss[-1] < loss[0]
    assert traj.final["global_area_attention"][0] > traj.history["global_area_attention"][0, 0]


def test_queue_argument_errors():
    for bad in (-1, 1.5, True, "8"):
        with pytest.raises(ValueError, match="queue"):
            MemoryQueue(queue=bad)
    assert TrainConfig(objective=MemoryQueue(8)).objective.name == "cl"         # the queue is a CL variant
    with pytest.raises(ValueError, match="together"):
        m1, m2, scale, cluster, allowed, q_rep, *_ = random_inputs()
        cl_loss_with_queue(m1, m2, scale, cluster, allowed, 1.0, q_rep)


def test_cli_queue_flag(capsys):
    base = ["train", "--objective", "cl", "--patches", "16", "--clusters", "2", "--global-size", "8",
            "--local-size", "2", "--batch-size", "6", "--steps", "6", "--lr", "1000", "--threads", "1", "--json"]
    assert main(base + ["--queue", "12"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["config"]["train"]["queue"] == 12
    assert main(base + ["--queue", "-3"]) == 2
    assert "queue" in capsys.readouterr().err
