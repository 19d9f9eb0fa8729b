"""Helpers of the optimiser comparison (book chapter 7, beyond the paper).

The training loop itself (:func:`sslvit.train.train`) already offers full-batch gradient descent
(``TrainConfig(population=n)``), SGD on fresh batches (``batch_size``) and Adam (``optimizer="adam"``). This
module holds the two small computations the chapter adds on top:

* :func:`pick_step_size`: choose a step size from a scan by a stated rule (lowest mean final loss), so that
  Adam is compared at a step size that was chosen, not guessed;
* :func:`attention_breakdown`: where the attention of local queries goes (global area, own area, the other
  local areas, masked keys), to see *where* a collapsed attention lands when it does not land on the global
  area.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from sslvit.core.metrics import area_attention, local_query_mean

__all__ = ["pick_step_size", "attention_breakdown"]


def pick_step_size(step_sizes: Sequence[float], losses: torch.Tensor) -> tuple[float, list[float]]:
    """The step size with the lowest mean final loss.

    ``step_sizes``: the ``L`` scanned values (distinct, positive); ``losses``: ``(L, S)`` final losses (``S``
    runs per value: seeds, regimes). Returns ``(chosen, means)`` with ``means`` the ``L`` mean losses. A
    non-finite loss (a diverged run) makes its value ineligible; if every value is ineligible, ValueError.
    """
    lrs = [float(x) for x in step_sizes]
    loss = torch.as_tensor(losses, dtype=torch.float64)
    if len(lrs) == 0 or any(not (math.isfinite(x) and x > 0) for x in lrs) or len(set(lrs)) != len(lrs):
        raise ValueError(f"step_sizes={step_sizes!r}: need distinct positive finite values")
    if loss.ndim != 2 or loss.shape[0] != len(lrs) or loss.shape[1] < 1:
        raise ValueError(f"losses must be (L, S) with L={len(lrs)}, got {tuple(loss.shape)}")
    means = loss.mean(1)
    ok = torch.isfinite(means)
    if not bool(ok.any()):
        raise ValueError("every scanned step size has a non-finite loss")
    best = int(torch.where(ok, means, torch.full_like(means, math.inf)).argmin())
    return lrs[best], [float(m) for m in means]


def attention_breakdown(mass: torch.Tensor, key_area: torch.Tensor) -> dict[str, float]:
    """Mean split of the attention of local queries into four parts that sum to 1.

    ``mass`` ``(Bt, N, P)``: attention of query ``p`` on the visible patches of area ``j`` (e.g.
    :class:`sslvit.core.attention.AttentionView` ``.mass``); ``key_area`` ``(Bt, P)``: area of every position (0 =
    global). Returns the means over images and local queries of the mass on the ``global`` area, on the
    query's ``own`` area, on the ``other_local`` areas, and on ``masked`` keys (the rest, value 0).
    """
    if mass.ndim != 3 or key_area.ndim != 2 or mass.shape[0] != key_area.shape[0] or mass.shape[2] != key_area.shape[1]:
        raise ValueError(f"need mass (Bt, N, P) and key_area (Bt, P), got {tuple(mass.shape)} and {tuple(key_area.shape)}")
    if int(key_area.min()) < 0 or int(key_area.max()) >= mass.shape[1]:
        raise ValueError(f"key_area must lie in 0..N-1 = {mass.shape[1] - 1}")
    m = mass.to(torch.float64)
    if not bool((key_area != 0).any()):
        raise ValueError("no local query in key_area")
    own, glob = area_attention(m, key_area)                                   # means over local queries
    total = local_query_mean(m.sum(-2), key_area)                             # attention on visible keys
    return {"global": float(glob), "own": float(own), "other_local": float(total - glob - own),
            "masked": float(1.0 - total)}
