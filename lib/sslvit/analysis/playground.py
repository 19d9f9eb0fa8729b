"""The paper's model retrained in a fraction of a second: the preface's first picture and the playground.

One small setting, chosen so that a reader can change a control and see the model retrained live on a laptop
CPU: ``P = 64`` patches on an ``8 × 8`` grid, local areas of ``2 × 2`` blocks (``C_c = 4``), one global area of
``C_s`` patches (book chapter 1), so that the information gap is ``Δ = (log2 C_s − 4) / 3`` (chapter 3). Training
is chapter 6's: plain gradient descent from ``Q = 0`` with MAE at ``η = 10^4`` and CL at ``η = 2 · 10^4``; at the
default numbers of steps both have reached their end states (chapter 6, "Parameter choices").

:func:`retrain` trains one :class:`Setting` and returns an :class:`Outcome`: the end-of-training metrics of
chapter 6 on the run's evaluation batch, and the dense attention of one fresh image with three local queries
spread over the grid (:func:`sslvit.core.attention.spread_queries`). The figures are in :mod:`sslvit.plots.playground`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from sslvit.core.attention import attention_of, spread_queries
from sslvit.core.data import DataConfig, check_mask_prob
from sslvit.core.runs import MAX_SEED
from sslvit.core.training import DEFAULTS, Run, TrainConfig, train
from sslvit.core.validation import check_int, not_allowed

__all__ = ["PATCHES", "LOCAL_SIZE", "GLOBAL_SIZES", "STEP_SIZE", "DEFAULT_STEPS", "MAX_STEPS", "METRIC_NAMES",
           "Setting", "Outcome", "retrain"]

PATCHES = 64
LOCAL_SIZE = 4
#: global-area sizes the ``8 × 8`` grid allows with ``2 × 2`` local blocks (whole blocks); Δ from −1/3 to +0.53
GLOBAL_SIZES = (8, 12, 16, 24, 32, 48)
#: step sizes (chapter 6): MAE at ten times its default, so that 150 steps reach chapter 4's training time
STEP_SIZE = {"mae": 1e4, "cl": 2e4}
DEFAULT_STEPS = {"mae": 150, "cl": 100}
MAX_STEPS = 500
#: the end-of-training metrics an :class:`Outcome` carries (chapter 6)
METRIC_NAMES = ("own_area_attention", "global_area_attention", "nmi", "attention_distance")


@dataclass(frozen=True)
class Setting:
    """The controls of the playground. ``objective``: ``"mae"`` or ``"cl"``; ``global_size``: ``C_s``, one of
    :data:`GLOBAL_SIZES`; ``mask_prob``: ``γ`` in ``(0, 1)`` (default: the objective's, 0.5 for MAE, 0.3 for CL);
    ``steps``: ``0..MAX_STEPS`` gradient steps (default :data:`DEFAULT_STEPS`); ``seed``: layout, images, masks.
    Raises ``ValueError`` naming the control and what is allowed."""

    objective: str = "mae"
    global_size: int = 16
    mask_prob: Optional[float] = None
    steps: Optional[int] = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objective not in STEP_SIZE:
            raise not_allowed("objective", self.objective, "'mae' or 'cl'")
        object.__setattr__(self, "global_size", check_int(
            "global_size", self.global_size, allowed=f"one of {GLOBAL_SIZES} (whole 2 x 2 blocks of the 8 x 8 grid)"))
        if self.global_size not in GLOBAL_SIZES:
            raise not_allowed("global_size", self.global_size, f"one of {GLOBAL_SIZES} (whole 2 x 2 blocks of the 8 x 8 grid)")
        if self.mask_prob is None:
            object.__setattr__(self, "mask_prob", float(DEFAULTS[self.objective]["mask_prob"]))
        object.__setattr__(self, "mask_prob", check_mask_prob(self.mask_prob))
        if self.steps is None:
            object.__setattr__(self, "steps", DEFAULT_STEPS[self.objective])
        object.__setattr__(self, "steps", check_int("steps", self.steps, 0, MAX_STEPS,
                                                    allowed=f"an integer number of steps from 0 to {MAX_STEPS}"))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, MAX_SEED,
                                                   allowed=f"an integer from 0 to {MAX_SEED}"))

    @property
    def data(self) -> DataConfig:
        """The data of chapter 1 for this setting (grid layout, ``K = 4`` clusters)."""
        return DataConfig(patches=PATCHES, global_size=self.global_size, local_size=LOCAL_SIZE, layout="grid")

    @property
    def delta(self) -> float:
        """The information gap ``Δ = (log2 C_s − 4) / 3`` of chapter 3."""
        return self.data.delta

    def label(self, math: bool = False) -> str:
        """The setting in one line, ``C_s`` as mathtext (``$C_s$``) for a figure when ``math``."""
        c_s = "$C_s$" if math else "C_s"
        return (f"{self.objective.upper()}, {c_s} = {self.global_size} (Δ = {self.delta:+.2f}), "
                f"γ = {self.mask_prob:g}, {self.steps} steps")


@dataclass(frozen=True)
class Outcome:
    """What :func:`retrain` found. ``metrics``: :data:`METRIC_NAMES` → value at the last step (chapter 6, on the
    run's evaluation batch); ``attn`` ``(P, P)``: attention of one fresh image (rows: queries); ``key_area``
    ``(P,)``: area of every position (0 = global); ``scale`` ``(N,)``: the image's per-area scales; ``visible``
    ``(P,)``: its mask; ``queries``: three local query positions; ``seconds``: wall-clock time of the training."""

    setting: Setting
    metrics: dict[str, float]
    attn: torch.Tensor
    key_area: torch.Tensor
    scale: torch.Tensor
    visible: torch.Tensor
    queries: list[int] = field(default_factory=list)
    seconds: float = 0.0


def retrain(setting: Setting, view_mask_prob: Optional[float] = None, image_seed: int = 2024,
            dtype: torch.dtype = torch.float64) -> Outcome:
    """Train ``setting`` from ``Q = 0`` and look at the result (module docstring).

    ``view_mask_prob``: masking probability of the image whose attention is returned (default the setting's;
    give the same value to compare MAE and CL on the same masked image); ``image_seed``: that image.
    Runs with the same ``global_size`` and ``seed`` share the layout and, for the same ``view_mask_prob`` and
    ``image_seed``, the image and its mask.
    """
    if not isinstance(setting, Setting):
        raise TypeError(f"retrain(setting={setting!r}) is not allowed: a playground Setting")
    if view_mask_prob is not None:
        view_mask_prob = check_mask_prob(view_mask_prob, "view_mask_prob")
    image_seed = check_int("image_seed", image_seed, 0, allowed="a non-negative integer")
    steps = int(setting.steps or 0)
    run = Run(setting.data, TrainConfig(objective=setting.objective, mask_prob=setting.mask_prob,
                                        lr=STEP_SIZE[setting.objective], steps=max(steps, 1), seed=setting.seed))
    start = time.perf_counter()
    traj = train(run, log_every=max(steps, 1), dtype=dtype, progress=False)
    seconds = time.perf_counter() - start
    last = -1 if steps else 0                      # the history row: the last step, or step 0 (before any update)
    A, B = traj.correlations(0)
    if not steps:                                  # the model at initialisation, Q = 0: uniform attention
        A, B = torch.zeros_like(A), torch.zeros_like(B)
    view = attention_of(traj, 0, batch=1, mask_prob=setting.mask_prob if view_mask_prob is None else view_mask_prob, seed=image_seed, A=A, B=B)
    metrics = {name: float(traj.history[name][last, 0]) for name in METRIC_NAMES}
    width = setting.data.grid_hw[1]
    return Outcome(setting=setting, metrics=metrics, attn=view.attn[0], key_area=view.key_area[0],
                   scale=view.sample.scale[0], visible=view.sample.visible[0],
                   queries=spread_queries(view.key_area[0], view.sample.visible[0], width),
                   seconds=seconds)
