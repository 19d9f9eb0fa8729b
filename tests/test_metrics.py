"""SPEC §4 metrics on hand-made attention matrices, masses and correlations."""
from __future__ import annotations

import math

import pytest
import torch

from sslvit.core.metrics import METRICS, area_attention, attention_distance, fp_correlations, nmi


def test_metric_names():
    """METRICS lists exactly the SPEC §4 names."""
    assert set(METRICS) == {"loss", "oracle_loss", "own_area_attention", "global_area_attention", "fp_own",
                            "fp_global", "nmi", "attention_distance"}


def test_nmi_identical_rows_is_zero():
    """NMI = 0 when every query has the same attention row (collapse to one pattern)."""
    row = torch.softmax(torch.randn(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64), 0)
    attn = row.expand(8, 8)[None]                                        # (Bt=1, P, P)
    assert float(nmi(attn)) == pytest.approx(0.0, abs=1e-12)
    one_key = torch.zeros(1, 8, 8, dtype=torch.float64)
    one_key[..., 3] = 1.0                                                # H(k) = 0: defined as 0
    assert float(nmi(one_key)) == 0.0


def test_nmi_permutation_is_one():
    """NMI = 1 for a permutation matrix (every query its own key)."""
    perm = torch.eye(8, dtype=torch.float64)[torch.randperm(8, generator=torch.Generator().manual_seed(1))]
    assert float(nmi(perm[None])) == pytest.approx(1.0, abs=1e-12)


def test_nmi_mixture_by_hand():
    """A 2 × 2 mixture [[1, 0], [1/2, 1/2]]: NMI = MI/sqrt(H(q)H(k)) computed by hand, strictly in (0, 1)."""
    attn = torch.tensor([[[1.0, 0.0], [0.5, 0.5]]], dtype=torch.float64)
    hk = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    mi = hk - 0.5 * math.log(2)                                          # H(k) − H(k | q)
    expected = mi / math.sqrt(math.log(2) * hk)
    value = float(nmi(attn))
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.1 < value < 0.9


def test_nmi_batched_average():
    """nmi averages over images and keeps leading (run) axes: runs [[identity, uniform]] → 0.5."""
    eye, uni = torch.eye(4, dtype=torch.float64), torch.full((4, 4), 0.25, dtype=torch.float64)
    attn = torch.stack([torch.stack([eye, uni]), torch.stack([eye, eye])])  # (R=2, Bt=2, 4, 4)
    assert torch.allclose(nmi(attn), torch.tensor([0.5, 1.0], dtype=torch.float64), atol=1e-12)


COORDS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)  # 2 × 2 grid


@pytest.mark.parametrize(
    "target, expected",
    [([0, 1, 2, 3], 0.0), ([1, 0, 3, 2], 1.0), ([2, 3, 0, 1], 1.0), ([3, 2, 1, 0], math.sqrt(2))],
)
def test_attention_distance_on_2x2_grid(target, expected):
    """Each query attends to one key: distance 0 (itself), 1 (a neighbour) or √2 (the diagonal)."""
    attn = torch.zeros(1, 4, 4, dtype=torch.float64)
    attn[0, torch.arange(4), torch.tensor(target)] = 1.0
    assert float(attention_distance(attn, COORDS)) == pytest.approx(expected, abs=1e-12)


def test_attention_distance_uniform_by_hand():
    """Uniform attention on the 2 × 2 grid: every query sees distances 0, 1, 1, √2 → (2 + √2)/4."""
    attn = torch.full((3, 4, 4), 0.25, dtype=torch.float64)
    assert float(attention_distance(attn, COORDS)) == pytest.approx((2 + math.sqrt(2)) / 4, abs=1e-12)


def test_area_attention_by_hand():
    """own/global area attention: mean over local-area queries of the mass on their own / the global area."""
    # one run, one image, P = 4: positions 0, 1 global (area 0); 2 in area 1; 3 in area 2; N = 3
    key_area = torch.tensor([[[0, 0, 1, 2]]])
    mass = torch.zeros(1, 1, 3, 4, dtype=torch.float64)
    mass[0, 0, :, 0] = torch.tensor([0.9, 0.1, 0.0], dtype=torch.float64)   # global query: ignored
    mass[0, 0, :, 1] = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)   # global query: ignored
    mass[0, 0, :, 2] = torch.tensor([0.3, 0.6, 0.1], dtype=torch.float64)   # area 1: own 0.6, global 0.3
    mass[0, 0, :, 3] = torch.tensor([0.5, 0.2, 0.2], dtype=torch.float64)   # area 2: own 0.2, global 0.5
    own, glob = area_attention(mass, key_area)
    assert float(own[0]) == pytest.approx((0.6 + 0.2) / 2, abs=1e-15)
    assert float(glob[0]) == pytest.approx((0.3 + 0.5) / 2, abs=1e-15)


def test_fp_correlations_by_hand():
    """fp_own, fp_global: mean over clusters and local positions of A[p, k, j(p)] and A[p, k, 0]."""
    P, K, N = 3, 2, 3
    area = torch.tensor([[[0, 1, 2], [2, 0, 1]]])      # (R=1, K, P)
    A = torch.arange(P * K * N, dtype=torch.float64).reshape(1, P, K, N)  # A[p, k, j] = 6p + 3k + j
    own, glob = fp_correlations(A, area)
    # local (k, p): (0, 1) j=1, (0, 2) j=2, (1, 0) j=2, (1, 2) j=1
    own_values = [6 * 1 + 0 + 1, 6 * 2 + 0 + 2, 0 + 3 + 2, 12 + 3 + 1]
    glob_values = [6 * 1 + 0, 6 * 2 + 0, 0 + 3, 12 + 3]
    assert float(own[0]) == pytest.approx(sum(own_values) / 4, abs=1e-15)
    assert float(glob[0]) == pytest.approx(sum(glob_values) / 4, abs=1e-15)
