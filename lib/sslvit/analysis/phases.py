"""The phases of MAE training and the best possible reconstruction (book chapter 4, claims C4, C5).

**Phases.** For a local query the two feature-position (FP) correlations that compete are its own-area FP
correlation (``fp_own``, pushed up) and its global FP correlation (``fp_global``, pushed down: the global
feature is *decoupled* from the query). Between two logged steps ``s_i < s_{i+1}`` define the per-step

* **growth rate**     ``r_grow,i = (fp_own[i+1] − fp_own[i]) / (s_{i+1} − s_i)``,
* **decoupling rate** ``r_dec,i = −(fp_global[i+1] − fp_global[i]) / (s_{i+1} − s_i)``.

An interval is **global-led** when ``r_dec,i > r_grow,i`` (the global FP correlation falls faster than the own FP
correlation grows) and **own-led** otherwise. Following claim C5 ( "Phase I, global FP of local queries
falls first, faster than own FP grows, then Phase II, own FP overtakes"):

* **Phase I** is the initial stretch of global-led intervals. It ends at the **phase boundary** ``s_b``, the
  start of the first run of ``patience`` consecutive own-led intervals (``patience`` makes the boundary
  robust to a single noisy interval). ``b = 0`` means the first interval is already own-led: there is no
  Phase I and training has one phase (C4, ``Δ < 0``).
* **Phase II** runs from ``s_b`` to the end: the growth of the own FP correlation leads.
* The **overtaking step** is the first logged step ``s_i > s_0`` where the own FP correlation exceeds the
  magnitude of the global one, ``fp_own ≥ |fp_global|``. It is a second, value-based marker: it falls inside
  Phase II, later than the rate-based boundary.

The boundary is resolved only to the logging grid: log densely (e.g. geometric ``log_steps``) where it is
expected.

**Best reconstruction.** The oracle of chapter 4 spreads a masked query's attention uniformly over the visible
patches of its own area, and over *all* visible patches when its own area is fully masked. The second rule is
not optimal: the output is then ``F = Σ_j m_j z_j v_j`` with no component on the query's own feature, so
``‖F − x_p‖² = ‖F‖² + z_*²`` is smallest at ``F = 0``, i.e. with all attention on masked keys (whose value is
the mask token 0). :func:`best_oracle_mass` is that minimiser; its loss is a pointwise lower bound of the MAE
loss of any attention, which the oracle is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch

from sslvit.core.validation import check_int

__all__ = ["Phases", "interval_rates", "locate_phases", "phases_of", "best_oracle_mass", "Reconstruction",
           "reconstruction", "masked_key_attention"]

ArrayLike = Union[torch.Tensor, Sequence[float]]


@dataclass(frozen=True)
class Phases:
    """The phases of one trajectory (module docstring).

    ``first_step``: the first logged step ``s_0``. ``boundary``: the phase boundary ``s_b`` (start of Phase
    II); equal to ``first_step`` when there is no Phase I, ``None`` when no own-led stretch of ``patience``
    intervals is ever found (Phase I never ends within the logged steps). ``overtake``: the first logged step
    with ``fp_own ≥ |fp_global|`` (``None`` if never). ``growth`` and ``decoupling``: the per-step rates of
    the first interval.
    """

    first_step: int
    boundary: Optional[int]
    overtake: Optional[int]
    growth: float
    decoupling: float

    @property
    def has_phase_one(self) -> bool:
        """Whether training starts with a global-led Phase I."""
        return self.boundary is None or self.boundary > self.first_step

    @property
    def two_phases(self) -> bool:
        """A Phase I followed by a Phase II within the logged steps."""
        return self.boundary is not None and self.boundary > self.first_step


def _as_1d(name: str, values: ArrayLike) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float64)
    if t.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per logged step), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def interval_rates(steps: ArrayLike, fp_own: ArrayLike, fp_global: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step growth rate ``u`` of ``fp_own`` and decoupling rate ``v`` of ``fp_global`` on every interval.

    ``steps``, ``fp_own``, ``fp_global``: ``(T,)`` with strictly increasing steps, ``T ≥ 2``. Returns two
    ``(T − 1,)`` float64 tensors ``(u, v)`` (module docstring).
    """
    s = _as_1d("steps", steps)
    own = _as_1d("fp_own", fp_own)
    glob = _as_1d("fp_global", fp_global)
    if not (s.numel() == own.numel() == glob.numel()):
        raise ValueError(f"steps, fp_own and fp_global must have the same length, got {s.numel()}, "
                         f"{own.numel()}, {glob.numel()}")
    if s.numel() < 2:
        raise ValueError("need at least two logged steps to compute rates")
    ds = s.diff()
    if not (ds > 0).all():
        raise ValueError("steps must be strictly increasing")
    return own.diff() / ds, -glob.diff() / ds


def locate_phases(steps: ArrayLike, fp_own: ArrayLike, fp_global: ArrayLike, patience: int = 2) -> Phases:
    """Locate Phase I, the phase boundary and the overtaking step of one trajectory (module docstring).

    ``steps`` ``(T,)`` the logged steps (strictly increasing, e.g. ``Trajectory.steps``); ``fp_own`` and
    ``fp_global`` ``(T,)`` the mean own-area and global FP correlations of local queries at those steps.
    ``patience``: number of consecutive own-led intervals that confirm Phase II (≥ 1). Near the end of the
    trajectory fewer than ``patience`` intervals may remain: a final own-led stretch that reaches the last
    logged step also counts.
    """
    patience = check_int("patience", patience, 1, allowed="a positive integer")
    u, v = interval_rates(steps, fp_own, fp_global)
    s = _as_1d("steps", steps)
    own_led = (u >= v).tolist()
    n = len(own_led)
    boundary: Optional[int] = None
    for i in range(n):
        stretch = own_led[i:i + patience]
        if all(stretch) and (len(stretch) == patience or i + len(stretch) == n):
            boundary = int(s[i])
            break
    own = _as_1d("fp_own", fp_own)
    glob = _as_1d("fp_global", fp_global)
    ahead = ((own >= glob.abs()) & (own > 0)).tolist()
    overtake = next((int(s[i]) for i in range(1, len(ahead)) if ahead[i]), None)
    return Phases(first_step=int(s[0]), boundary=boundary, overtake=overtake, growth=float(u[0]),
                  decoupling=float(v[0]))


def phases_of(steps: Sequence[int], fp_own: torch.Tensor, fp_global: torch.Tensor, patience: int = 2) -> list[Phases]:
    """:func:`locate_phases` for every run: ``fp_own`` and ``fp_global`` ``(T, R)`` as in
    ``Trajectory.history`` → a list of ``R`` :class:`Phases`."""
    own = torch.as_tensor(fp_own)
    glob = torch.as_tensor(fp_global)
    if own.ndim != 2 or own.shape != glob.shape:
        raise ValueError(f"fp_own and fp_global must both be (T, R), got {tuple(own.shape)} and {tuple(glob.shape)}")
    return [locate_phases(steps, own[:, r], glob[:, r], patience) for r in range(own.shape[1])]


# ---- the best reconstruction ---------------------------------------------------------------------------------

def best_oracle_mass(visible: torch.Tensor, key_area: torch.Tensor, n_areas: int) -> torch.Tensor:
    """Area masses ``(R, Bt, N, P)`` (float64) of the attention that minimises the MAE loss of every query.

    ``visible`` ``(R, Bt, P)`` bool, ``key_area`` ``(R, Bt, P)`` long (area of every position), ``n_areas``
    ``N``. A query with a visible patch in its own area puts all its mass there (exact reconstruction, loss
    0); a query whose own area is fully masked puts all its mass on masked keys (output 0, loss ``z_*²/2``),
    so its mass on visible patches is 0. Same layout as :func:`sslvit.core.objectives.oracle_mass`.
    """
    if visible.shape != key_area.shape or visible.ndim != 3:
        raise ValueError(f"visible and key_area must both be (R, Bt, P), got {tuple(visible.shape)} and "
                         f"{tuple(key_area.shape)}")
    if visible.dtype != torch.bool:
        raise ValueError("visible must be a bool tensor")
    if int(key_area.min()) < 0 or int(key_area.max()) >= n_areas:
        raise ValueError(f"key_area must lie in 0..n_areas-1 = {n_areas - 1}")
    vis = visible.to(torch.float64)
    counts = torch.zeros(*vis.shape[:2], n_areas, dtype=vis.dtype).scatter_add_(2, key_area, vis)  # (R, Bt, N)
    has_own = (torch.gather(counts, 2, key_area) > 0)[:, :, None, :]                                 # (R, Bt, 1, P)
    own = torch.nn.functional.one_hot(key_area, n_areas).transpose(2, 3).to(vis.dtype)               # (R, Bt, N, P)
    return own * has_own


@dataclass(frozen=True)
class Reconstruction:
    """MAE losses of one run on a batch of fresh images: ``loss`` (the trained model), ``oracle`` (the
    oracle) and ``best`` (:func:`best_oracle_mass`, the lower bound); ``images`` in the batch."""

    loss: float
    oracle: float
    best: float
    images: int


def reconstruction(traj: "object", run: int = 0, batch: int = 256, seed: int = 2024,
                   A: Optional[torch.Tensor] = None, B: Optional[torch.Tensor] = None,
                   chunk: int = 64) -> Reconstruction:
    """Loss of run ``run`` of a :class:`~sslvit.train.Trajectory` (final correlations unless ``A`` ``(P, K, N)``
    and ``B`` ``(P, P)`` are given) against the oracle and the best possible attention, on ``batch``
    fresh images drawn with the run's masking law from ``seed`` (evaluated ``chunk`` images at a time with the
    dense engine, in the dtype of the correlations).
    """
    from sslvit.core import engine
    from sslvit.core.data import sample_batch
    from sslvit.core.objectives import mae_loss, oracle_mass

    if not 0 <= run < len(traj.runs):  # type: ignore[attr-defined]
        raise ValueError(f"run={run} is not allowed: the trajectory has runs 0..{len(traj.runs) - 1}")  # type: ignore[attr-defined]
    batch = check_int("batch", batch, 1, allowed="a positive integer")
    chunk = check_int("chunk", chunk, 1, allowed="a positive integer")
    spec = traj.runs[run]  # type: ignore[attr-defined]
    if spec.train.objective.name != "mae":
        raise ValueError("reconstruction() needs an MAE run")
    A_r, B_r = traj.correlations(run)  # type: ignore[attr-defined]
    A_r = A_r if A is None else A
    B_r = B_r if B is None else B
    area = traj.layouts[run].area  # type: ignore[attr-defined]
    N = spec.data.n_areas
    sample = sample_batch(spec.data, batch, spec.train.mask_prob, seed, dtype=A_r.dtype)
    totals = torch.zeros(3, dtype=torch.float64)
    with torch.no_grad():
        for lo in range(0, batch, chunk):
            sl = slice(lo, min(lo + chunk, batch))
            cl, sc, vis = sample.cluster[None, sl], sample.scale[None, sl], sample.visible[None, sl]
            fwd = engine.dense_forward(A_r[None], B_r[None], area[None], cl, sc, vis)
            sc64 = sc.to(torch.float64)
            masses = (fwd.mass.to(torch.float64), oracle_mass(vis, fwd.key_area, N), best_oracle_mass(vis, fwd.key_area, N))
            n = sl.stop - sl.start
            totals += torch.stack([mae_loss(m, sc64, vis, fwd.key_area)[0] * n for m in masses])
    loss, oracle, best = (float(x) / batch for x in totals)
    return Reconstruction(loss=loss, oracle=oracle, best=best, images=batch)


def masked_key_attention(attn: torch.Tensor, key_area: torch.Tensor, visible: torch.Tensor
                         ) -> tuple[float, float, int]:
    """Where the local queries whose own area is fully masked attend.

    ``attn`` ``(Bt, P, P)`` (rows: queries, e.g. :class:`sslvit.core.attention.AttentionView` ``.attn``),
    ``key_area`` ``(Bt, P)``, ``visible`` ``(Bt, P)`` bool. Over those queries, returns the mean attention
    on **masked** keys (which carry the value 0), the mean attention on the masked keys **of the query's own
    area** (a part of the former), and the number of such queries. The best attention
    (:func:`best_oracle_mass`) puts all of it on masked keys; uniform attention puts the fraction of masked
    keys. Returns ``(nan, nan, 0)`` when no such query exists.
    """
    if attn.ndim != 3 or key_area.shape != visible.shape or attn.shape[:2] != key_area.shape \
            or attn.shape[2] != key_area.shape[1]:
        raise ValueError(f"need attn (Bt, P, P), key_area and visible (Bt, P); got {tuple(attn.shape)}, "
                         f"{tuple(key_area.shape)}, {tuple(visible.shape)}")
    N = int(key_area.max()) + 1
    counts = torch.zeros(key_area.shape[0], N, dtype=torch.long).scatter_add_(1, key_area, visible.long())
    chosen = (key_area != 0) & (torch.gather(counts, 1, key_area) == 0)               # (Bt, P) queries
    n = int(chosen.sum())
    if n == 0:
        return float("nan"), float("nan"), 0
    a = attn.to(torch.float64)
    masked = (~visible).to(torch.float64)                                             # (Bt, P) keys
    same = (key_area[:, :, None] == key_area[:, None, :]).to(torch.float64)           # (Bt, P, P)
    on_masked = (a * masked[:, None, :]).sum(-1)                                      # (Bt, P)
    on_own_masked = (a * masked[:, None, :] * same).sum(-1)
    return float(on_masked[chosen].mean()), float(on_own_masked[chosen].mean()), n
