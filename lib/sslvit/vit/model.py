"""A small standard Vision Transformer (book chapters 12 and 13, "beyond the paper").

The paper's model (chapter 2, :mod:`sslvit.core.model`) has one attention layer whose queries are position
embeddings only and whose values are the identity on content. :class:`TinyViT` is the ordinary architecture
the paper's motivation is about: a linear patch embedding, learned position embeddings, ``depth`` pre-LayerNorm
blocks of multi-head attention with **separate** ``W_Q, W_K, W_V`` (and an output projection ``W_O``), an
optional MLP, residual connections, and an optional linear head on every output token (the MAE decoder).

Inputs are generic: any token dimension ``in_dim`` and any number of tokens ``P`` (image patches as pixel
vectors in chapter 13, the toy model's patches ``x̃_q`` in chapter 12). Masked tokens (``visible=False``) are
replaced by a learned mask token (``mask_token="learned"``, as in SimMIM) or by the zero vector
(``mask_token="zero"``, the paper's convention) **before** the patch embedding's content is used, and the
position embedding is added to every token. There is no class token: attention maps are ``P × P``, like the
toy model's, so the metrics of chapter 6 apply unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from sslvit.core.validation import check_int, is_integer, is_real, not_allowed

__all__ = ["ViTConfig", "ViTOutput", "TinyViT", "MASK_TOKENS"]

MASK_TOKENS = ("learned", "zero")



def _pos_int(name: str, value: object) -> None:
    value = check_int(name, value, 1, allowed="a positive integer")


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of :class:`TinyViT`.

    in_dim: dimension of an input token (pixels per patch × channels, or the toy model's ``d``).
    patches: ``P``, number of tokens (one learned position embedding each).
    width: model dimension; must be a multiple of ``heads``.
    depth: number of blocks (attention [+ MLP]).
    heads: attention heads per block.
    mlp_ratio: hidden size of the MLP as a multiple of ``width``; ``0`` means attention-only blocks.
    layernorm: pre-LayerNorm in every block and a final LayerNorm (``False``: none anywhere).
    mask_token: ``"learned"`` (a trained vector replaces masked inputs) or ``"zero"`` (masked inputs are 0).
    out_dim: dimension of the linear head applied to every output token (the MAE decoder); ``None``: no head.
    pos_std: standard deviation of the initial position embeddings (Gaussian).
    seed: seed of the parameter initialisation.
    """

    in_dim: int
    patches: int
    width: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    layernorm: bool = True
    mask_token: str = "learned"
    out_dim: Optional[int] = None
    pos_std: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("in_dim", "patches", "width", "depth", "heads"):
            _pos_int(name, getattr(self, name))
        if self.width % self.heads:
            raise not_allowed("width", self.width, f"a multiple of heads={self.heads}")
        if not (isinstance(self.mlp_ratio, (int, float)) and math.isfinite(self.mlp_ratio) and self.mlp_ratio >= 0):
            raise not_allowed("mlp_ratio", self.mlp_ratio, "a finite number >= 0 (0: no MLP)")
        if self.mask_token not in MASK_TOKENS:
            raise not_allowed("mask_token", self.mask_token, f"one of {MASK_TOKENS}")
        if self.out_dim is not None:
            _pos_int("out_dim", self.out_dim)
        if not (is_real(self.pos_std) and math.isfinite(self.pos_std) and self.pos_std >= 0):
            raise not_allowed("pos_std", self.pos_std, "a finite number >= 0")
        if not is_integer(self.seed):
            raise not_allowed("seed", self.seed, "an int")


@dataclass
class ViTOutput:
    """What :meth:`TinyViT.forward` returns.

    tokens: ``(B, P, width)`` output tokens (after the final LayerNorm if any).
    attn: ``(L, B, H, P, P)`` attention of every layer and head (rows: queries, they sum to 1).
    head: ``(B, P, out_dim)`` the linear head on every token, or ``None`` without a head.
    """

    tokens: torch.Tensor
    attn: torch.Tensor
    head: Optional[torch.Tensor]


class _Attention(nn.Module):
    """Multi-head softmax attention with separate ``W_Q, W_K, W_V`` and an output projection ``W_O``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.k = nn.Linear(width, width)
        self.v = nn.Linear(width, width)
        self.o = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, P, W = x.shape
        H, dh = self.heads, W // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, P, H, dh).transpose(1, 2)                     # (B, H, P, dh)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)   # (B, H, P, P)
        out = (attn @ v).transpose(1, 2).reshape(B, P, W)
        return self.o(out), attn


class _Block(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        norm = (lambda: nn.LayerNorm(cfg.width)) if cfg.layernorm else nn.Identity
        self.norm1 = norm()
        self.attn = _Attention(cfg.width, cfg.heads)
        hidden = int(round(cfg.mlp_ratio * cfg.width))
        self.norm2 = norm() if hidden else None
        self.mlp = nn.Sequential(nn.Linear(cfg.width, hidden), nn.GELU(), nn.Linear(hidden, cfg.width)) if hidden else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, attn = self.attn(self.norm1(x))
        x = x + h
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x))
        return x, attn


class TinyViT(nn.Module):
    """A small ViT encoder (see the module docstring); ``TinyViT(ViTConfig(in_dim=16, patches=64))``.

    ``forward(tokens, visible=None)``: ``tokens`` ``(B, P, in_dim)``; ``visible`` ``(B, P)`` bool or ``None``
    (all visible) → :class:`ViTOutput`.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        if not isinstance(cfg, ViTConfig):
            raise TypeError(f"cfg must be a ViTConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.embed = nn.Linear(cfg.in_dim, cfg.width)
            self.pos = nn.Parameter(cfg.pos_std * torch.randn(cfg.patches, cfg.width))
            if cfg.mask_token == "learned":
                self.mask = nn.Parameter(0.02 * torch.randn(cfg.in_dim))
            else:
                self.register_buffer("mask", torch.zeros(cfg.in_dim))
            self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.depth)])
            self.norm = nn.LayerNorm(cfg.width) if cfg.layernorm else nn.Identity()
            self.head = nn.Linear(cfg.width, cfg.out_dim) if cfg.out_dim is not None else None

    def forward(self, tokens: torch.Tensor, visible: Optional[torch.Tensor] = None) -> ViTOutput:
        cfg = self.cfg
        if tokens.dim() != 3 or tokens.shape[1:] != (cfg.patches, cfg.in_dim):
            raise ValueError(f"tokens has shape {tuple(tokens.shape)}: expected (batch, {cfg.patches}, {cfg.in_dim})")
        if visible is not None:
            if visible.dtype != torch.bool or visible.shape != tokens.shape[:2]:
                raise ValueError(f"visible must be a bool tensor of shape {tuple(tokens.shape[:2])}, got "
                                 f"{visible.dtype} {tuple(visible.shape)}")
            tokens = torch.where(visible[..., None], tokens, self.mask.to(tokens.dtype))
        x = self.embed(tokens) + self.pos
        maps = []
        for block in self.blocks:
            x, attn = block(x)
            maps.append(attn)
        x = self.norm(x)
        head = self.head(x) if self.head is not None else None
        return ViTOutput(tokens=x, attn=torch.stack(maps), head=head)
