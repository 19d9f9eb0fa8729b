"""Why contrastive learning collapses (book chapter 5): the computations behind the chapter's intuition and checks.

Reference attention patterns (:func:`pattern_attention`: uniform, own area, all on the global area), their area
masses (:func:`area_mass`), the norm of the CL representation and the positive-pair similarity under each pattern
(:func:`pattern_norms`), how much attention depends on the query (:func:`max_row_tv`), and when a metric first
crosses a level (:func:`first_crossing`). The figures are in :mod:`sslvit.plots.cl`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from sslvit.core.data import DataConfig, Layout, as_generator, draw_images, draw_mask
from sslvit.core.engine import area_masses, key_areas
from sslvit.core.objectives import oracle_attention, representation, uniform_rows
from sslvit.core.validation import check_int, is_integer

__all__ = ["PATTERNS", "PATTERN_LABELS", "pattern_attention", "area_mass", "pattern_norms", "max_row_tv",
           "first_crossing"]

PATTERNS = ("uniform", "own", "global")
PATTERN_LABELS = {
    "uniform": "uniform (initialisation, $Q = 0$)",
    "own": "each query on its own area",
    "global": "every query on the global area",
}


# ---- computations --------------------------------------------------------------------------------------------

def _check_image_tensors(key_area: torch.Tensor, visible: torch.Tensor) -> None:
    if key_area.dim() != 2 or visible.shape != key_area.shape:
        raise ValueError(f"key_area and visible must both be (Bt, P), got {tuple(key_area.shape)} and "
                         f"{tuple(visible.shape)}")


def pattern_attention(key_area: torch.Tensor, visible: torch.Tensor, pattern: str,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Dense attention ``(Bt, P, P)`` (rows: queries) of a reference pattern.

    ``key_area`` ``(Bt, P)`` long (area of every position, ``0`` = global), ``visible`` ``(Bt, P)`` bool.

    * ``"uniform"``: ``1/P`` on every key, masked ones included (the model at ``Q = 0``, chapter 2);
    * ``"own"``: query ``p`` spreads uniformly over the visible patches of its own area (the oracle of chapter 4);
    * ``"global"``: every query spreads uniformly over the visible patches of the global area.

    When the target set has no visible patch, the row spreads over all visible patches (and over all keys
    if nothing is visible).
    """
    _check_image_tensors(key_area, visible)
    if pattern not in PATTERNS:
        raise ValueError(f"pattern={pattern!r} is not allowed: one of {PATTERNS}")
    Bt, P = key_area.shape
    vis = visible.bool()
    if pattern == "uniform":
        return torch.full((Bt, P, P), 1.0 / P, dtype=dtype)
    if pattern == "own":
        return oracle_attention(key_area, vis, dtype)
    return uniform_rows(((key_area == 0) & vis)[:, None, :].expand(Bt, P, P), vis, dtype)


def area_mass(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(Bt, N, P)`` of one batch of images, with checked shapes (:func:`sslvit.core.engine.area_masses`).

    ``attn`` ``(Bt, P, P)``, ``key_area`` ``(Bt, P)``, ``visible`` ``(Bt, P)`` bool. Masked keys carry
    value 0, so their attention is in no area (chapter 2).
    """
    _check_image_tensors(key_area, visible)
    Bt, P = key_area.shape
    if attn.shape != (Bt, P, P):
        raise ValueError(f"attn must be (Bt, P, P) = {(Bt, P, P)}, got {tuple(attn.shape)}")
    if not is_integer(n_areas) or n_areas <= int(key_area.max()):
        raise ValueError(f"n_areas={n_areas!r} is not allowed: an integer above the largest area id "
                         f"{int(key_area.max())}")
    return area_masses(attn, key_area, visible, n_areas)


def pattern_norms(cfg: DataConfig, layout: Layout, batch: int = 256, mask_prob: float = 0.3,
                  seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean representation norm and positive-pair similarity under each reference pattern (chapter 5).

    Draws ``batch`` images of ``cfg`` with two independent masks (the two CL views, masking probability
    ``mask_prob``), builds each :data:`PATTERNS` attention on both views and returns
    ``{pattern: {"norm": E‖f‖, "positive": E[f1·f2], "global_share": E[f_global² / ‖f‖²]}}`` (averages over
    the images and both views for the norm and the share).
    """
    batch = check_int("batch", batch, 1, allowed="a positive integer")
    if not 0 < mask_prob < 1:
        raise ValueError(f"mask_prob={mask_prob!r} is not allowed: a probability strictly between 0 and 1")
    if layout.area.shape != (cfg.clusters, cfg.patches):
        raise ValueError(f"layout.area has shape {tuple(layout.area.shape)}, expected (K, P) = "
                         f"{(cfg.clusters, cfg.patches)} for this DataConfig")
    g = as_generator(seed)
    cluster, scale = draw_images(cfg, batch, g, torch.float64)
    views = [draw_mask(cfg.patches, batch, mask_prob, g) for _ in range(2)]
    key_area = key_areas(layout.area[None], cluster[None])[0]                      # (Bt, P)
    out: dict[str, dict[str, float]] = {}
    for pattern in PATTERNS:
        fs = []
        for vis in views:
            attn = pattern_attention(key_area, vis, pattern)
            fs.append(representation(area_mass(attn, key_area, vis, cfg.n_areas), scale))  # (Bt, N)
        norms = torch.stack([f.norm(dim=-1) for f in fs])                          # (2, Bt)
        share = torch.stack([f[:, 0] ** 2 / (f ** 2).sum(-1) for f in fs])
        out[pattern] = {"norm": float(norms.mean()), "positive": float((fs[0] * fs[1]).sum(-1).mean()),
                        "global_share": float(share.mean())}
    return out


def max_row_tv(attn: torch.Tensor, queries: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Largest total-variation distance between two query rows of the same image, ``(Bt,)``.

    ``attn`` ``(Bt, P, P)`` (rows: queries, each sums to 1). ``TV(a, b) = ½ Σ_k |a_k − b_k|`` is 0 for
    identical rows and 1 for rows on disjoint keys; the maximum over all pairs of queries (or over the pairs
    of ``queries``, a ``(P,)`` bool selection) is 0 exactly when the attention does not depend on the query.
    """
    if attn.dim() != 3 or attn.shape[1] != attn.shape[2]:
        raise ValueError(f"attn must be (Bt, P, P), got {tuple(attn.shape)}")
    if queries is not None:
        if queries.shape != (attn.shape[1],) or queries.dtype != torch.bool:
            raise ValueError(f"queries must be a (P,) bool selection, got {tuple(queries.shape)} {queries.dtype}")
        if not bool(queries.any()):
            raise ValueError("queries selects no query")
        attn = attn[:, queries]
    out = []
    for a in attn:                                                                  # (Q, P), one image at a time
        out.append(0.5 * torch.cdist(a[None], a[None], p=1.0)[0].max())
    return torch.stack(out)


def first_crossing(steps: Sequence[int], values: torch.Tensor, level: float) -> torch.Tensor:
    """First logged step at which each run's metric reaches ``level``, ``(R,)`` float (``nan`` if never).

    ``steps`` ``(T,)`` increasing, ``values`` ``(T, R)`` (a ``Trajectory.history`` entry). With geometric
    ``log_steps`` the answer is exact up to the spacing of the logged steps.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() != 2 or values.shape[0] != len(steps):
        raise ValueError(f"values must be (T, R) with T = len(steps) = {len(steps)}, got {tuple(values.shape)}")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError("steps must be strictly increasing")
    if not math.isfinite(level):
        raise ValueError(f"level={level!r} is not allowed: a finite number")
    hit = values >= level
    first = hit.to(torch.int64).argmax(0)
    s = torch.tensor(list(steps), dtype=torch.float64)[first]
    return torch.where(hit.any(0), s, torch.full_like(s, float("nan")))


