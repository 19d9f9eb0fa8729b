"""Train a :class:`~sslvit.vit.TinyViT` with an MAE or a CL objective, and measure its attention
(book chapters 12 and 13, "beyond the paper").

* **MAE** (masked reconstruction, He et al. 2022): every token is masked independently with probability
  ``mask_prob`` (the toy model's Bernoulli masking, chapter 2); masked tokens enter the encoder as the mask token
  (SimMIM style: the encoder sees all ``P`` positions, so its attention maps are ``P × P``); a linear head
  predicts every token's content and the loss is ``(1/(2|M|)) Σ_{p∈M} ‖ŷ_p − x_p‖²`` over the masked tokens of
  the batch.
* **CL** (InfoNCE, SimCLR style): two views of each image (the task's augmentations, optionally with
  independent masks ``view_mask_prob``), representation = mean of the output tokens, an optional projection
  head, cosine (or dot-product) similarity with temperature ``tau``, negatives = the other images of the batch.

A *task* is any object with attributes ``patches`` and ``in_dim`` and two methods drawing from a
``torch.Generator``: ``batch(g, n) → (n, P, in_dim)`` (clean tokens, the MAE input and target) and
``views(g, n) → ((n, P, in_dim), (n, P, in_dim))`` (two views of the same images, the CL input);
:class:`sslvit.vit.realdata.CropPool` is one.

Metrics (chapter 6, :mod:`sslvit.core.metrics`) per layer and head: :func:`attention_stats` returns the NMI and the
attention distance of every head, evaluated on clean, unmasked images unless a mask is given.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from sslvit.core.metrics import attention_distance, nmi
from sslvit.core.perturb import step_size_factor
from sslvit.vit.model import TinyViT, ViTConfig
from sslvit.core.validation import check_flag, check_int, check_real, not_allowed

__all__ = [
    "Task",
    "ViTTrainConfig",
    "ViTRun",
    "train_vit",
    "masked_patch_loss",
    "info_nce",
    "bernoulli_visible",
    "attention_maps",
    "attention_stats",
    "uniform_distance",
    "VIT_OBJECTIVES",
]

VIT_OBJECTIVES = ("mae", "cl")
SIMILARITIES = ("cosine", "dot")


class Task(Protocol):
    patches: int
    in_dim: int

    def batch(self, g: torch.Generator, n: int) -> torch.Tensor: ...

    def views(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]: ...



@dataclass(frozen=True)
class ViTTrainConfig:
    """How to train a :class:`~sslvit.vit.TinyViT` (Adam(W), constant step size after an optional warm-up).

    objective: ``"mae"`` or ``"cl"``. steps, batch_size, lr: as usual. weight_decay: AdamW's decoupled decay.
    warmup: steps of linear step-size warm-up. grad_clip: max gradient norm (``None``: no clipping).
    mask_prob: MAE masking probability (per token, independently). view_mask_prob: CL masking probability of
    each view (0: no masking). tau: CL temperature. similarity: ``"cosine"`` or ``"dot"``. proj_dim: output size
    of the CL projection head (Linear–GELU–Linear); ``None``: no head. symmetric: CL loss averaged over both
    directions (view 1 → view 2 and back) or only view 1 → view 2 (chapter 5). seed: seeds the initialisation, the
    batches and the masks.
    """

    objective: str
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: int = 0
    grad_clip: Optional[float] = 1.0
    mask_prob: float = 0.5
    view_mask_prob: float = 0.0
    tau: float = 0.2
    similarity: str = "cosine"
    proj_dim: Optional[int] = 64
    symmetric: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in VIT_OBJECTIVES:
            raise not_allowed("objective", self.objective, f"one of {VIT_OBJECTIVES}")
        fields = {name: check_int(name, getattr(self, name), 1, allowed="a positive integer")
                  for name in ("steps", "batch_size")}
        if self.objective == "cl" and fields["batch_size"] < 2:
            raise not_allowed("batch_size", self.batch_size, "at least 2 for CL (the negatives are the other images)")
        fields["warmup"] = check_int("warmup", self.warmup, 0, allowed="an integer >= 0")
        for name in ("lr", "tau"):
            fields[name] = check_real(name, getattr(self, name), 0.0, low_open=True, allowed="a finite number > 0")
        fields["weight_decay"] = check_real("weight_decay", self.weight_decay, 0.0, allowed="a finite number >= 0")
        if self.grad_clip is not None:
            fields["grad_clip"] = check_real("grad_clip", self.grad_clip, 0.0, low_open=True,
                                             allowed="a finite number > 0 or None")
        fields["mask_prob"] = check_real("mask_prob", self.mask_prob, 0.0, 1.0, low_open=True, high_open=True,
                                         allowed="a probability strictly between 0 and 1")
        fields["view_mask_prob"] = check_real("view_mask_prob", self.view_mask_prob, 0.0, 1.0, high_open=True,
                                              allowed="a probability in [0, 1)")
        if self.similarity not in SIMILARITIES:
            raise not_allowed("similarity", self.similarity, f"one of {SIMILARITIES}")
        if self.proj_dim is not None:
            fields["proj_dim"] = check_int("proj_dim", self.proj_dim, 1, allowed="a positive integer or None")
        fields["symmetric"] = check_flag("symmetric", self.symmetric)
        fields["seed"] = check_int("seed", self.seed, 0, 2**63 - 1, allowed="an integer from 0 to 2**63 - 1")
        for name, value in fields.items():   # checked, stored as Python numbers
            object.__setattr__(self, name, value)


@dataclass
class ViTRun:
    """A trained model: ``model`` (:class:`~sslvit.vit.TinyViT`, in eval mode), ``projector`` (CL head or
    ``None``), ``losses`` ``(steps,)`` float64 (training loss of every step), ``vit`` and ``train`` configs."""

    model: TinyViT
    projector: Optional[nn.Module]
    losses: torch.Tensor
    vit: ViTConfig
    train: ViTTrainConfig


def bernoulli_visible(n: int, patches: int, mask_prob: float, g: torch.Generator) -> torch.Tensor:
    """``(n, P)`` bool, ``True`` = visible: each token masked independently with probability ``mask_prob``."""
    return torch.rand(n, patches, generator=g, dtype=torch.float64) >= mask_prob


def masked_patch_loss(pred: torch.Tensor, target: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``(1/(2|M|)) Σ_{p∈M} ‖pred_p − target_p‖²`` over the masked tokens ``M`` of the batch (the form of chapter 4,
    pooled over the batch); ``pred``, ``target`` ``(B, P, D)``, ``visible`` ``(B, P)``. 0 if nothing is masked."""
    masked = (~visible).to(pred.dtype)
    err = ((pred - target) ** 2).sum(-1)                                    # (B, P)
    return 0.5 * (err * masked).sum() / masked.sum().clamp(min=1.0)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float, similarity: str = "cosine",
             symmetric: bool = True) -> torch.Tensor:
    """InfoNCE of representations ``z1``, ``z2`` ``(B, D)`` (row ``i`` of each: two views of image ``i``); the
    negatives of image ``i`` are the other images' second views. ``similarity`` ``"cosine"`` or ``"dot"``."""
    if similarity == "cosine":
        z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    elif similarity != "dot":
        raise not_allowed("similarity", similarity, f"one of {SIMILARITIES}")
    logits = z1 @ z2.T / tau
    labels = torch.arange(z1.shape[0])
    loss = F.cross_entropy(logits, labels)
    return 0.5 * (loss + F.cross_entropy(logits.T, labels)) if symmetric else loss


def train_vit(task: Task, vit: ViTConfig, cfg: ViTTrainConfig) -> ViTRun:
    """Train a fresh :class:`~sslvit.vit.TinyViT` on ``task`` with ``cfg`` (float32, CPU).

    ``vit.seed`` is replaced by ``cfg.seed`` (one seed per run); for MAE the linear head is set to the token
    dimension (``out_dim = task.in_dim``). Batches come from a generator seeded with ``cfg.seed``, masks from
    a second one, so two calls with the same arguments give the same run.
    """
    if not isinstance(vit, ViTConfig) or not isinstance(cfg, ViTTrainConfig):
        raise TypeError("train_vit(task, ViTConfig, ViTTrainConfig)")
    if vit.patches != task.patches or vit.in_dim != task.in_dim:
        raise ValueError(f"the ViT expects (P, in_dim) = ({vit.patches}, {vit.in_dim}) but the task gives "
                         f"({task.patches}, {task.in_dim})")
    vit = replace(vit, seed=cfg.seed, out_dim=task.in_dim if cfg.objective == "mae" else vit.out_dim)
    model = TinyViT(vit)
    projector = None
    if cfg.objective == "cl" and cfg.proj_dim is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1_000_003)
            projector = nn.Sequential(nn.Linear(vit.width, vit.width), nn.GELU(), nn.Linear(vit.width, cfg.proj_dim))
    params = list(model.parameters()) + (list(projector.parameters()) if projector is not None else [])
    lr = cfg.lr * step_size_factor()   # exactly cfg.lr except under the chaos audit's perturbation (the reproducibility appendix)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    g_data = torch.Generator().manual_seed(cfg.seed)
    g_mask = torch.Generator().manual_seed(cfg.seed + 7919)
    losses = torch.empty(cfg.steps, dtype=torch.float64)
    model.train()
    for step in range(cfg.steps):
        if cfg.warmup:
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / cfg.warmup)
        if cfg.objective == "mae":
            x = task.batch(g_data, cfg.batch_size).float()
            vis = bernoulli_visible(x.shape[0], x.shape[1], cfg.mask_prob, g_mask)
            loss = masked_patch_loss(model(x, vis).head, x, vis)
        else:
            x1, x2 = (v.float() for v in task.views(g_data, cfg.batch_size))
            vis1 = vis2 = None
            if cfg.view_mask_prob > 0:
                vis1 = bernoulli_visible(x1.shape[0], x1.shape[1], cfg.view_mask_prob, g_mask)
                vis2 = bernoulli_visible(x2.shape[0], x2.shape[1], cfg.view_mask_prob, g_mask)
            z1, z2 = model(x1, vis1).tokens.mean(1), model(x2, vis2).tokens.mean(1)
            if projector is not None:
                z1, z2 = projector(z1), projector(z2)
            loss = info_nce(z1, z2, cfg.tau, cfg.similarity, cfg.symmetric)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at step {step} (loss={float(loss)}); lower lr={cfg.lr}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        losses[step] = float(loss.detach())
    model.eval()
    if projector is not None:
        projector.eval()
    return ViTRun(model=model, projector=projector, losses=losses, vit=vit, train=cfg)


def attention_maps(model: TinyViT, tokens: torch.Tensor, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Attention of every layer and head on ``tokens`` ``(B, P, D)``: ``(L, H, B, P, P)`` float64 (the layout
    :func:`sslvit.core.metrics.nmi` reads: the image axis just before the two ``P`` axes)."""
    with torch.no_grad():
        attn = model(tokens.float(), visible).attn                          # (L, B, H, P, P)
    return attn.transpose(1, 2).double()


def attention_stats(model: TinyViT, tokens: torch.Tensor, coords: Optional[torch.Tensor] = None,
                    visible: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """The metrics of chapter 6 of every layer and head: ``{"nmi": (L, H), "distance": (L, H)}`` (``distance`` only when
    the patch coordinates ``coords`` ``(P, 2)`` are given), averaged over the images of ``tokens``."""
    attn = attention_maps(model, tokens, visible)
    out = {"nmi": nmi(attn)}
    if coords is not None:
        if coords.shape != (attn.shape[-1], 2):
            raise ValueError(f"coords has shape {tuple(coords.shape)}: expected ({attn.shape[-1]}, 2)")
        out["distance"] = attention_distance(attn, coords.double())
    return out


def uniform_distance(coords: torch.Tensor) -> float:
    """Attention distance of uniform attention over all keys: the mean pairwise distance of the grid."""
    return float(torch.cdist(coords.double(), coords.double()).mean())
