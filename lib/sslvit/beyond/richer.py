"""The paper's toy data fed to a richer model, :class:`~sslvit.vit.TinyViT` (book chapter 12, "beyond the paper").

:class:`ToyTask` turns the data model of chapter 1 into token sequences for a standard ViT: the token of patch
``p`` is its content ``x_p = z_{j(p)} v_{k, j(p)}`` written in the feature basis, i.e. a one-hot vector of the
feature index ``k N + j`` times the scale ``z`` (dimension ``K N``; the position part of the paper's tokens is
left to the ViT's learned position embeddings). Masked patches become the zero vector (the paper's mask token,
``ViTConfig(mask_token="zero")``). CL views of an image are the image itself; the two views differ only in their
random masks (chapter 2).

:func:`local_query_attention` measures, on a dense attention map, where **local** queries attend (chapter 6
``own_area_attention`` and ``global_area_attention``), so a trained TinyViT can be compared layer by layer with
the one-layer model of chapters 4–6.
"""
from __future__ import annotations

from typing import Optional

import torch

from sslvit.core.data import DataConfig, Layout, draw_images, draw_mask, make_layout
from sslvit.core import engine
from sslvit.core.metrics import area_attention, attention_distance, nmi
from sslvit.vit.model import TinyViT
from sslvit.core.validation import check_int

__all__ = ["ToyTask", "local_query_attention", "toy_attention_report"]


class ToyTask:
    """Chapter 1 images as ``(n, P, K N)`` token tensors for :func:`sslvit.vit.training.train_vit`.

    ``cfg``: the data configuration; ``layout_seed``: seed of the layout (which positions form which area in each
    cluster). Attributes ``patches`` (``P``), ``in_dim`` (``K N``), ``layout``.
    """

    def __init__(self, cfg: DataConfig, layout_seed: int = 0) -> None:
        if not isinstance(cfg, DataConfig):
            raise TypeError(f"cfg must be a DataConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.layout: Layout = make_layout(cfg, layout_seed)
        self.patches = cfg.patches
        self.in_dim = cfg.clusters * cfg.n_areas

    def sample(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` images drawn with ``g``: tokens ``(n, P, K N)`` float32 and the area of every position ``(n, P)``."""
        n = check_int("n", n, 1, allowed="a positive integer")
        cluster, scale = draw_images(self.cfg, n, g, torch.float32)
        area = self.layout.area[cluster]                                       # (n, P)
        feature = cluster[:, None] * self.cfg.n_areas + area                   # (n, P)
        tokens = torch.zeros(n, self.patches, self.in_dim)
        tokens.scatter_(2, feature[..., None], torch.gather(scale, 1, area)[..., None])
        return tokens, area

    def batch(self, g: torch.Generator, n: int) -> torch.Tensor:
        return self.sample(g, n)[0]

    def views(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.batch(g, n)
        return x, x


def local_query_attention(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(own, global)`` area attention of **local** queries (chapter 6) for a dense attention map.

    ``attn`` ``(..., B, P, P)`` (rows: queries), ``key_area`` ``(B, P)`` (0: global area), ``visible`` ``(B, P)``
    bool → two tensors ``(...)``: the mean over images and local query positions of the attention mass on the
    visible patches of the query's own area, resp. of the global area.
    """
    if attn.shape[-3:] != (*key_area.shape, key_area.shape[-1]) or visible.shape != key_area.shape:
        raise ValueError(f"attn {tuple(attn.shape)}, key_area {tuple(key_area.shape)} and visible "
                         f"{tuple(visible.shape)} do not match: expected (..., B, P, P), (B, P), (B, P)")
    lead = attn.shape[:-2]
    mass = engine.area_masses(attn, key_area.expand(lead + key_area.shape[-1:]), visible.expand(lead + visible.shape[-1:]),
                              int(key_area.max()) + 1)                          # (..., B, N, P)
    return area_attention(mass, key_area)


def toy_attention_report(model: TinyViT, task: ToyTask, mask_prob: float, n: int = 64, seed: int = 12345,
                         coords: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """Per layer and head, on ``n`` fresh images masked with ``mask_prob`` (the run's masking law, chapter 6):
    ``own`` and ``global`` (:func:`local_query_attention`), ``self`` (local queries' attention on themselves), ``masked``
    (local queries' attention on masked keys), ``nmi`` and, on the grid layout, ``distance``; each ``(L, H)``."""
    if not 0 <= mask_prob < 1:
        raise ValueError(f"mask_prob={mask_prob!r} is not allowed: a probability in [0, 1)")
    g = torch.Generator().manual_seed(seed)
    tokens, area = task.sample(g, n)
    visible = draw_mask(task.patches, n, mask_prob, g) if mask_prob > 0 else torch.ones(n, task.patches, dtype=torch.bool)
    with torch.no_grad():
        attn = model(tokens, visible).attn.transpose(1, 2).double()           # (L, H, B, P, P)
    own, glob = local_query_attention(attn, area, visible)
    local = (area != 0).to(attn.dtype)                                        # (B, P) local queries
    n_local = local.sum().clamp(min=1.0)
    self_mass = (torch.diagonal(attn, dim1=-2, dim2=-1) * local).sum((-1, -2)) / n_local
    masked_mass = ((attn * (~visible).to(attn.dtype)[:, None, :]).sum(-1) * local).sum((-1, -2)) / n_local
    out = {"own": own, "global": glob, "self": self_mass, "masked": masked_mass, "nmi": nmi(attn)}
    coords = task.layout.coords if coords is None else coords
    if coords is not None:
        out["distance"] = attention_distance(attn, coords.double())
    return out
