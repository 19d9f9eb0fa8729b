"""Data model of SPEC §1 (claim C1): areas, sizes, information gap, scales, dense patches, validation."""
from __future__ import annotations

import math

import pytest
import torch

from sslvit import DataConfig, dense_patches, information_gap, make_layout, sample_batch, sizes_from_kappa
from sslvit.core.training import TrainConfig

CONFIGS = [
    DataConfig(patches=16, clusters=3, global_size=8, local_size=2),
    DataConfig(patches=64, clusters=4, global_size=16, local_size=4),
    DataConfig(patches=256, clusters=2, global_size=64, local_size=4),
    DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout="grid"),
    DataConfig(patches=64, clusters=3, global_size=28, local_size=4, layout="grid"),
    DataConfig(patches=32, clusters=2, global_size=20, local_size=4, layout="grid", grid_shape=(4, 8)),
    DataConfig(patches=144, clusters=2, global_size=90, local_size=9, layout="grid"),
]


def _ids(cfg: DataConfig) -> str:
    return f"{cfg.layout}-P{cfg.patches}-Cs{cfg.global_size}-Cc{cfg.local_size}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_areas_tile_positions(cfg):
    """C1: every cluster's area labels cover all P positions with one global area of C_s and N−1 local areas of C_c."""
    layout = make_layout(cfg, seed=3)
    assert layout.area.shape == (cfg.clusters, cfg.patches)
    assert layout.n_areas == cfg.n_areas == 1 + (cfg.patches - cfg.global_size) // cfg.local_size
    for k in range(cfg.clusters):
        labels = layout.area[k]
        assert int(labels.min()) >= 0 and int(labels.max()) < cfg.n_areas
        counts = torch.bincount(labels, minlength=cfg.n_areas)
        assert counts.shape == (cfg.n_areas,)
        assert int(counts[0]) == cfg.global_size
        assert counts[1:].tolist() == [cfg.local_size] * (cfg.n_areas - 1)
        assert int(counts.sum()) == cfg.patches


def test_random_layout_differs_between_clusters():
    """Each cluster draws its own partition (random layout): two clusters do not share the same labels."""
    cfg = DataConfig(patches=64, clusters=4, global_size=16, local_size=4)
    area = make_layout(cfg, seed=0).area
    for k in range(1, cfg.clusters):
        assert not torch.equal(area[0], area[k])


@pytest.mark.parametrize("cfg", [c for c in CONFIGS if c.layout == "grid"], ids=_ids)
def test_grid_local_areas_are_square_blocks(cfg):
    """Grid layout: every local area is a contiguous s × s block of the H × W grid (s² = C_c); coords are (row, col)."""
    layout = make_layout(cfg, seed=1)
    h, w = cfg.grid_hw
    s = math.isqrt(cfg.local_size)
    rows, cols = torch.arange(cfg.patches) // w, torch.arange(cfg.patches) % w
    assert torch.equal(layout.coords, torch.stack([rows, cols], 1).to(torch.float64))
    for k in range(cfg.clusters):
        for j in range(1, cfg.n_areas):
            pos = (layout.area[k] == j).nonzero().flatten()
            r0, c0 = int(rows[pos].min()), int(cols[pos].min())
            block = {(r0 + a) * w + (c0 + b) for a in range(s) for b in range(s)}
            assert set(pos.tolist()) == block
            assert r0 + s <= h and c0 + s <= w


def test_random_layout_has_no_coords():
    """The random layout has no grid coordinates (attention distance is undefined there)."""
    assert make_layout(CONFIGS[0], seed=0).coords is None


def test_sizes_and_dimension():
    """N = 1 + (P − C_s)/C_c and the token dimension d = P + K N (positions and features are one basis)."""
    cfg = DataConfig(patches=64, clusters=3, global_size=16, local_size=4)
    assert cfg.n_areas == 13
    assert cfg.dim == 64 + 3 * 13
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 5, 0.5, 0)
    assert dense_patches(cfg, layout, s.cluster, s.scale).shape == (5, 64, cfg.dim)


@pytest.mark.parametrize(
    "P, cs, cc, expected",
    [(256, 64, 4, 0.25), (256, 16, 4, -0.25), (64, 8, 4, -1 / 3), (64, 32, 4, 1 / 3), (256, 128, 16, 0.25)],
)
def test_information_gap_known_values(P, cs, cc, expected):
    """Δ = 2κ_s − κ_c − 1 with κ = log(size)/log(P), e.g. P=256, C_s=64, C_c=4 → 0.25; C_s=16 → −0.25."""
    assert information_gap(P, cs, cc) == pytest.approx(expected, abs=1e-12)
    assert DataConfig(patches=P, global_size=cs, local_size=cc).delta == pytest.approx(expected, abs=1e-12)


def test_kappas_of_config():
    """DataConfig.kappa_s, kappa_c are log(size)/log(P) and give delta."""
    cfg = DataConfig(patches=256, global_size=64, local_size=4)
    assert cfg.kappa_s == pytest.approx(0.75, abs=1e-12)
    assert cfg.kappa_c == pytest.approx(0.25, abs=1e-12)
    assert cfg.delta == pytest.approx(2 * cfg.kappa_s - cfg.kappa_c - 1, abs=1e-12)
    assert cfg.to_dict()["delta"] == cfg.delta


def test_information_gap_rejects_bad_sizes():
    """information_gap needs 0 < local_size < global_size <= patches and P ≥ 2."""
    with pytest.raises(ValueError, match="local_size"):
        information_gap(64, 4, 8)
    with pytest.raises(ValueError, match="global_size"):
        information_gap(64, 128, 4)
    with pytest.raises(ValueError, match="patches"):
        information_gap(1, 1, 1)


@pytest.mark.parametrize("P, ks, kc", [(256, 0.75, 0.25), (256, 0.5, 0.25), (1024, 0.8, 0.3), (4096, 0.6, 0.4), (64, 0.9, 0.2)])
def test_sizes_from_kappa_tile_and_are_closest(P, ks, kc):
    """sizes_from_kappa: C_c = round(P^κ_c), C_s + m·C_c = P, and C_s is the tiling size closest to P^κ_s."""
    cs, cc = sizes_from_kappa(P, ks, kc)
    assert cc == round(P**kc)
    assert (P - cs) % cc == 0 and cc < cs <= P
    candidates = [P - m * cc for m in range(P // cc + 1) if P - m * cc > cc]
    best = min(abs(c - P**ks) for c in candidates)
    assert abs(cs - P**ks) == pytest.approx(best)
    cfg = DataConfig.from_kappa(P, ks, kc)
    assert (cfg.global_size, cfg.local_size) == (cs, cc)


def test_sizes_from_kappa_exact_powers():
    """Exact powers come back exactly: P=256, κ_s=0.75, κ_c=0.25 → (64, 4)."""
    assert sizes_from_kappa(256, 0.75, 0.25) == (64, 4)
    assert sizes_from_kappa(4096, 0.5, 0.25) == (64, 8)


def test_sizes_from_kappa_errors():
    """κ must satisfy 0 < κ_c < κ_s ≤ 1, and the sizes must leave a global area larger than a local one."""
    with pytest.raises(ValueError, match="kappa_c"):
        sizes_from_kappa(256, 0.25, 0.5)
    with pytest.raises(ValueError, match="kappa_s"):
        sizes_from_kappa(256, 1.5, 0.5)
    with pytest.raises(ValueError, match="global_size"):
        sizes_from_kappa(16, 0.3, 0.25)


def test_scales_inside_range():
    """Every per-area scale z lies in [low, high] and the draws fill the range (uniform)."""
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=2, low=0.2, high=0.7)
    s = sample_batch(cfg, 4000, 0.5, seed=0)
    assert s.scale.shape == (4000, cfg.n_areas)
    assert float(s.scale.min()) >= 0.2 and float(s.scale.max()) <= 0.7
    # 20000 uniform draws: the extremes are within 1e-3 of the ends with probability 1 - 2e-9
    assert float(s.scale.min()) < 0.2 + 1e-3 and float(s.scale.max()) > 0.7 - 1e-3
    assert float(s.scale.mean()) == pytest.approx(0.45, abs=0.01)  # sd of the mean is 0.001


def test_equal_low_high_gives_constant_scale():
    """low == high is allowed and gives z = low everywhere."""
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=2, low=1.0, high=1.0)
    assert torch.all(sample_batch(cfg, 10, 0.5, 0).scale == 1.0)


def test_clusters_and_mask_rate():
    """Clusters are in range and every cluster appears; the masked fraction matches γ (6 standard deviations)."""
    cfg = DataConfig(patches=64, clusters=4, global_size=16, local_size=4)
    s = sample_batch(cfg, 2000, 0.3, seed=5)
    assert s.cluster.dtype == torch.long and int(s.cluster.min()) == 0 and int(s.cluster.max()) == 3
    assert torch.bincount(s.cluster, minlength=4).min() > 400  # expected 500, sd 19
    masked = 1.0 - s.visible.double().mean()
    assert float(masked) == pytest.approx(0.3, abs=6 * math.sqrt(0.3 * 0.7 / s.visible.numel()))


def test_dense_patches_coordinates():
    """dense_patches: x_p = z_{j(p)} v_{k,j(p)}, i.e. one nonzero at column P + k N + j(p) with value z_{j(p)}."""
    cfg = DataConfig(patches=16, clusters=3, global_size=8, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 6, 0.5, 1)
    X = dense_patches(cfg, layout, s.cluster, s.scale)
    P, N = cfg.patches, cfg.n_areas
    expected = torch.zeros_like(X)
    for b in range(6):
        k = int(s.cluster[b])
        for p in range(P):
            j = int(layout.area[k, p])
            expected[b, p, P + k * N + j] = s.scale[b, j]
    assert torch.equal(X, expected)
    assert torch.all(X[:, :, :P] == 0)  # no content on the position embeddings


def test_sample_reproducible_under_seed():
    """Same seed → identical layouts and samples; different seed → different ones."""
    cfg = DataConfig(patches=64, clusters=3, global_size=16, local_size=4)
    a, b, c = sample_batch(cfg, 8, 0.5, 11), sample_batch(cfg, 8, 0.5, 11), sample_batch(cfg, 8, 0.5, 12)
    for name in ("cluster", "scale", "visible"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.scale, c.scale) and not torch.equal(a.visible, c.visible)
    for layout_cfg in (cfg, DataConfig(patches=64, clusters=3, global_size=16, local_size=4, layout="grid")):
        assert torch.equal(make_layout(layout_cfg, 4).area, make_layout(layout_cfg, 4).area)
        assert not torch.equal(make_layout(layout_cfg, 4).area, make_layout(layout_cfg, 5).area)


def test_sample_accepts_generator():
    """A torch.Generator seeded like an int seed gives the same sample."""
    cfg = CONFIGS[0]
    g = torch.Generator().manual_seed(7)
    a, b = sample_batch(cfg, 4, 0.5, g), sample_batch(cfg, 4, 0.5, 7)
    assert torch.equal(a.scale, b.scale) and torch.equal(a.visible, b.visible)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(patches=64, global_size=16, local_size=5), "local_size"),        # 48 not a multiple of 5
        (dict(patches=64, global_size=16, local_size=16), "local_size"),       # local ≥ global
        (dict(patches=64, global_size=16, local_size=32), "local_size"),
        (dict(patches=64, global_size=128, local_size=4), "global_size"),      # global > P
        (dict(patches=64, global_size=0, local_size=4), "global_size"),
        (dict(patches=64, global_size=16, local_size=0), "local_size"),
        (dict(patches=64, global_size=16, local_size=-4), "local_size"),
        (dict(patches=0, global_size=16, local_size=4), "patches"),
        (dict(patches=64, clusters=0, global_size=16, local_size=4), "clusters"),
        (dict(patches=64, global_size=16.0, local_size=4), "global_size"),    # not an integer
        (dict(patches=64, global_size=16, local_size=4, low=2.0, high=1.0), "low"),
        (dict(patches=64, global_size=16, local_size=4, low=float("nan")), "low"),
        (dict(patches=64, global_size=16, local_size=4, layout="hexagonal"), "layout"),
        (dict(patches=60, global_size=20, local_size=4, layout="grid"), "patches"),             # not square
        (dict(patches=64, global_size=16, local_size=4, layout="grid", grid_shape=(4, 8)), "grid_shape"),
        (dict(patches=64, global_size=28, local_size=6, layout="grid"), "local_size"),          # not square
        (dict(patches=64, global_size=10, local_size=9, layout="grid"), "grid_shape"),          # 8 % 3
        (dict(patches=36, global_size=27, local_size=9, layout="grid", grid_shape=(4, 9)), "grid_shape"),  # 4 % 3
        (dict(patches=64, global_size=16, local_size=4, grid_shape=(8, 8)), "grid_shape"),      # random layout
    ],
)
def test_data_config_errors_name_the_parameter(kwargs, name):
    """Invalid DataConfig: ValueError whose message names the offending parameter."""
    with pytest.raises(ValueError, match=name):
        DataConfig(**kwargs)


@pytest.mark.parametrize("mask_prob", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_sample_batch_rejects_mask_prob(mask_prob):
    """mask_prob must be strictly between 0 and 1."""
    with pytest.raises(ValueError, match="mask_prob"):
        sample_batch(CONFIGS[0], 4, mask_prob, 0)


@pytest.mark.parametrize("batch", [0, -1, 2.5, True])
def test_sample_batch_rejects_batch(batch):
    """batch must be a positive integer."""
    with pytest.raises(ValueError, match="batch"):
        sample_batch(CONFIGS[0], batch, 0.5, 0)


def test_sample_batch_rejects_bad_seed():
    """seed must be an int or a torch.Generator."""
    with pytest.raises(ValueError, match="seed"):
        sample_batch(CONFIGS[0], 4, 0.5, "zero")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(objective="byol"), "objective"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("inf")), "lr"),
        (dict(objective="cl", negatives=-1), "negatives"),
        (dict(objective="cl", batch_size=8, negatives=8), "negatives"),
        (dict(tau=0.0), "tau"),
        (dict(tau=-1.0), "tau"),
        (dict(mask_prob=1.0), "mask_prob"),
        (dict(steps=-1), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(objective="cl", batch_size=1), "batch_size"),
        (dict(population=0), "population"),
        (dict(objective="cl", population=1), "population"),
    ],
)
def test_train_config_errors_name_the_parameter(kwargs, name):
    """Invalid TrainConfig: ValueError whose message names the offending parameter."""
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


def test_train_config_defaults():
    """None fields take the objective's SPEC §3 defaults; negatives default to batch size − 1."""
    mae, cl = TrainConfig(), TrainConfig(objective="cl", batch_size=16)
    assert (mae.mask_prob, mae.lr, mae.steps) == (0.5, 1e3, 300)
    assert (cl.mask_prob, cl.lr, cl.steps, cl.negatives) == (0.3, 2e4, 500, 15)
