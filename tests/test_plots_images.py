"""Tests of the data-model pictures (sslvit.plots.images, book chapters 1 and 2)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sslvit import DataConfig, OneLayerViT, dense_patches, make_layout, sample_batch  # noqa: E402
from sslvit.plots.images import (  # noqa: E402
    GLOBAL_COLOR,
    MASK_COLOR,
    area_colors,
    delta_plane,
    image_gallery,
    image_rgb,
    plot_area_labels,
    plot_image,
    plot_kappa_plane,
    plot_matrix_blocks,
)

GRID = DataConfig(patches=64, clusters=2, global_size=32, local_size=4, layout="grid")
RANDOM = DataConfig(patches=64, clusters=3, global_size=16, local_size=4, layout="random")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_area_colors_global_grey_and_distinct_neighbours():
    cols = area_colors(25)
    assert cols.shape == (25, 3)
    assert np.allclose(cols[0], GLOBAL_COLOR)
    assert not np.allclose(cols[1], cols[2])
    assert all(not np.allclose(c, GLOBAL_COLOR) for c in cols[1:])
    with pytest.raises(ValueError, match="n_areas"):
        area_colors(0)


def test_image_rgb_shape_mask_and_intensity():
    layout = make_layout(GRID, 0)
    N = GRID.n_areas
    scale = torch.full((N,), 0.5, dtype=torch.float64)
    scale[0] = 1.5
    vis = torch.ones(GRID.patches, dtype=torch.bool)
    vis[:5] = False
    rgb = image_rgb(layout.area[0], scale, GRID.grid_hw, GRID.low, GRID.high, vis)
    assert rgb.shape == (8, 8, 3)
    assert np.all((rgb >= 0) & (rgb <= 1))
    flat = rgb.reshape(-1, 3)
    assert np.allclose(flat[:5], MASK_COLOR)
    glob = (layout.area[0] == 0).numpy() & vis.numpy()
    assert np.allclose(flat[glob], GLOBAL_COLOR)          # the highest scale shows the full colour
    local = (layout.area[0] != 0).numpy() & vis.numpy()
    assert flat[local].mean() > flat[glob].mean()         # low scales are paler (closer to white)


def test_image_rgb_rejects_bad_input():
    layout = make_layout(GRID, 0)
    scale = torch.ones(GRID.n_areas)
    with pytest.raises(ValueError, match="H\\*W"):
        image_rgb(layout.area[0], scale, (7, 8))
    with pytest.raises(ValueError, match="area labels"):
        image_rgb(layout.area[0], scale[:2], GRID.grid_hw)
    with pytest.raises(ValueError, match="visible"):
        image_rgb(layout.area[0], scale, GRID.grid_hw, visible=torch.ones(3, dtype=torch.bool))


def test_plot_image_and_gallery_label_axes():
    layout = make_layout(GRID, 1)
    s = sample_batch(GRID, 3, 0.5, 2)
    ax = plot_image(GRID, layout, int(s.cluster[0]), s.scale[0], s.visible[0], title="x")
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_images()[0].get_array().shape == (8, 8, 3)
    fig = image_gallery(GRID, layout, s.cluster, s.scale, s.visible)
    panels = [a for a in fig.axes if a.get_images()]
    assert len(panels) == 6
    assert all(a.get_xlabel() for a in panels)
    assert any("scale" in a.get_ylabel() for a in fig.axes)  # the colour bar
    with pytest.raises(ValueError, match="cluster"):
        plot_image(GRID, layout, 5, s.scale[0])
    with pytest.raises(ValueError, match="same"):
        image_gallery(GRID, layout, s.cluster, s.scale[:2])


def test_plot_area_labels_random_and_grid():
    fig = plot_area_labels(RANDOM, make_layout(RANDOM, 0), clusters=(0, 2))
    panels = [a for a in fig.axes if a.get_images()]
    assert len(panels) == 2 and all(a.get_xlabel() and a.get_title() for a in panels)
    shown = panels[0].get_images()[0].get_array()
    assert shown.shape == (8, 8, 3)
    fig = plot_area_labels(GRID, make_layout(GRID, 0), clusters=(1,))
    assert len([a for a in fig.axes if a.get_images()]) == 1
    with pytest.raises(ValueError, match="clusters"):
        plot_area_labels(RANDOM, make_layout(RANDOM, 0), clusters=(3,))


def test_delta_plane_values():
    ks, kc, delta = delta_plane(11)
    assert delta.shape == (11, 11)
    i, j = 2, 8                                        # κ_c = 0.2, κ_s = 0.8
    assert delta[i, j] == pytest.approx(2 * 0.8 - 0.2 - 1)
    assert np.isnan(delta[8, 2])                        # κ_c > κ_s is not admissible
    assert np.all(np.isnan(delta[0]))                   # κ_c = 0 is not admissible
    with pytest.raises(ValueError):
        delta_plane(1)


def test_plot_kappa_plane_marks_points_and_zero_line():
    pts = [DataConfig(patches=256, global_size=g, local_size=4) for g in (16, 64)]
    fig = plot_kappa_plane(pts + [("own", 0.9, 0.3)], resolution=21)
    ax = fig.axes[0]
    assert "kappa_s" in ax.get_xlabel() and "kappa_c" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("Delta = 0" in t for t in labels)
    assert any("(16, 4)" in t and "-0.25" in t for t in labels)
    assert any(t.startswith("own") and "+0.50" in t for t in labels)
    with pytest.raises(ValueError, match="kappa_c"):
        plot_kappa_plane([("bad", 0.3, 0.5)], resolution=5)


def test_plot_matrix_blocks_tokens_and_gradient():
    cfg = DataConfig(patches=16, clusters=2, global_size=8, local_size=2)
    layout = make_layout(cfg, 0)
    s = sample_batch(cfg, 1, 0.5, 0)
    X = dense_patches(cfg, layout, s.cluster, s.scale)[0]
    H = X * s.visible[0, :, None] + torch.eye(cfg.patches, cfg.dim, dtype=X.dtype)
    ax = plot_matrix_blocks(H, cfg, row_kind="token", label="token entry")
    assert ax.get_images()[0].get_array().shape == (16, cfg.dim)
    assert "token" in ax.get_ylabel() and ax.get_xlabel()
    model = OneLayerViT(cfg)
    F, _ = model(X[None], s.visible)
    F.pow(2).sum().backward()
    plt.figure()
    ax = plot_matrix_blocks(model.Q.grad, cfg, log=True, label="dL/dQ")
    assert ax.get_images()[0].get_array().shape == (cfg.dim, cfg.dim)
    with pytest.raises(ValueError, match="shape"):
        plot_matrix_blocks(torch.zeros(3, 4), cfg)
    with pytest.raises(ValueError, match="row_kind"):
        plot_matrix_blocks(H, cfg, row_kind="x")
