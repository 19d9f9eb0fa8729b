"""Spatially structured data: clusters, global and local areas, features and scales (book chapter 1).

An image has ``P`` patches. It belongs to one of ``K`` clusters, drawn uniformly. Cluster ``k`` partitions
the positions into ``N`` areas: area ``0`` is the **global area** (size ``C_s``), areas ``1..N-1`` are the
**local areas** (size ``C_c`` each). Area ``j`` of cluster ``k`` carries the feature ``v_{k,j}``; each area
draws one scale ``z_j ~ Uniform[L, U]`` per image and every patch of the area equals ``z_j v_{k,j}``.

Features and position embeddings are one orthonormal set (standard basis vectors): position ``p`` is basis
vector ``p`` and feature ``v_{k,j}`` is basis vector ``P + k N + j``, so the token dimension is
``d = P + K N``.

The reduced engine never builds the ``d``-dimensional vectors: a sample is stored as cluster ids, per-area
scales and a visibility mask; :func:`dense_patches` builds the full vectors for the reference model.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Union

import torch

from sslvit.core.validation import check_flag, check_int, check_real, is_integer, not_allowed

__all__ = [
    "DataConfig",
    "Layout",
    "Sample",
    "information_gap",
    "sizes_from_kappa",
    "make_layout",
    "sample_batch",
    "dense_patches",
    "as_generator",
]

LAYOUTS = ("random", "grid")
#: the largest per-area scale magnitude |L|, |U| a configuration may ask for (the paper's scales are in [0.5, 1.5])
MAX_SCALE = 1000.0
#: the largest log-standard deviation of the log-normal scale law, the smallest tail index of the Pareto law
MAX_LOG_SD, MIN_TAIL_INDEX = 4.0, 1.1
GLOBAL = 0  #: index of the global area in every cluster



def information_gap(patches: int, global_size: int, local_size: int, strict: bool = True) -> float:
    """Information gap ``Δ = 2 κ_s − κ_c − 1`` with ``κ = log(size) / log(P)`` (chapter 1, {prf:ref}`def-info-gap`, reconstructed).

    ``Δ > 0``: the global feature dominates (MAE learns in two phases); ``Δ < 0``: local features are
    competitive from the start (one phase). ``strict=False`` (book chapter 8, no dominant area) also accepts
    ``local_size >= global_size`` and returns the same formula, which can then fall to ``−1`` and below.
    """
    if patches < 2:
        raise not_allowed("patches", patches, "need at least 2 patches")
    if not strict:
        if not (0 < local_size <= patches and 0 < global_size <= patches):
            raise ValueError(f"need 0 < local_size <= patches and 0 < global_size <= patches, got "
                             f"local_size={local_size}, global_size={global_size}, patches={patches}")
    elif not 0 < local_size < global_size <= patches:
        raise ValueError(
            f"need 0 < local_size < global_size <= patches, got local_size={local_size}, "
            f"global_size={global_size}, patches={patches}"
        )
    logp = math.log(patches)
    return 2 * math.log(global_size) / logp - math.log(local_size) / logp - 1.0


def sizes_from_kappa(patches: int, kappa_s: float, kappa_c: float) -> tuple[int, int]:
    """Area sizes ``(C_s, C_c)`` closest to ``(P^κ_s, P^κ_c)`` that tile ``P`` exactly.

    ``C_c = round(P^κ_c)``; ``C_s`` is the size ``P − m C_c`` (``m`` local areas) closest to ``P^κ_s``.
    The information gap of the result is recomputed from the integer sizes by :func:`information_gap`.
    """
    if not 0 < kappa_c < kappa_s <= 1:
        raise ValueError(f"need 0 < kappa_c < kappa_s <= 1, got kappa_s={kappa_s}, kappa_c={kappa_c}")
    c_c = max(1, round(patches**kappa_c))
    n_local = max(0, round((patches - patches**kappa_s) / c_c))
    c_s = patches - n_local * c_c
    if c_s <= c_c:
        raise ValueError(
            f"kappa_s={kappa_s}, kappa_c={kappa_c} at patches={patches} give global_size={c_s} <= "
            f"local_size={c_c}; use more patches or a larger gap between kappa_s and kappa_c"
        )
    return c_s, c_c


@dataclass(frozen=True)
class DataConfig:
    """The data model of chapter 1.

    Parameters
    ----------
    patches: ``P``, number of patch positions.
    clusters: ``K``, number of clusters (image types), drawn uniformly.
    global_size: ``C_s``, size of the global area.
    local_size: ``C_c``, size of every local area; ``P − C_s`` must be a multiple of it.
    layout: ``"random"`` (areas are random subsets) or ``"grid"`` (local areas are square blocks on an
        ``H × W`` grid, the global area is the rest).
    low, high: ``L``, ``U``, the range of the per-area scale ``z ~ Uniform[L, U]``.
    grid_shape: ``(H, W)`` for the grid layout; default the square ``√P × √P``.
    scale_law: law of the per-area scale (book chapter 9, beyond the paper): ``"uniform"`` (default,
        ``z ~ Uniform[L, U]``), ``"sign"`` (``z = s u``, ``u ~ Uniform[L, U]``, ``s = −1`` with probability
        ``scale_param``, default 0.5, else ``+1``), ``"lognormal"`` (``z = m exp(σ ξ − σ²/2)``, ``ξ ~ N(0, 1)``,
        ``σ = scale_param`` default 0.5, mean ``m = (L + U)/2``) or ``"pareto"`` (``z = m (α−1)/α · u^{−1/α}``,
        ``u ~ Uniform(0, 1]``, tail index ``α = scale_param > 1`` default 2, mean ``m``).
    scale_param: the parameter of ``scale_law`` (``None``: the law's default; must be ``None`` for uniform).
    allow_no_dominant: book chapter 8 (beyond the paper): if ``True``, ``local_size`` may equal or exceed
        ``global_size`` (no dominant area; area 0 is still called the global area). Default ``False``.
    """

    patches: int = 256
    clusters: int = 4
    global_size: int = 64
    local_size: int = 4
    layout: str = "random"
    low: float = 0.5
    high: float = 1.5
    grid_shape: Optional[tuple[int, int]] = field(default=None)
    scale_law: str = "uniform"
    scale_param: Optional[float] = None
    #: book chapter 8 (no dominant area): allow ``local_size >= global_size``; area 0 keeps the name "global"
    allow_no_dominant: bool = False

    def __post_init__(self) -> None:
        # numbers are checked, then stored as Python numbers (a NumPy integer is accepted and converted)
        for name in ("patches", "clusters", "global_size", "local_size"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), 1, allowed="a positive integer"))
        if self.patches < 2:
            raise not_allowed("patches", self.patches, "need at least 2 patches")
        if self.layout not in LAYOUTS:
            raise not_allowed("layout", self.layout, f"one of {LAYOUTS}")
        object.__setattr__(self, "allow_no_dominant", check_flag("allow_no_dominant", self.allow_no_dominant))
        if self.global_size > self.patches - self.local_size:
            raise not_allowed("global_size", self.global_size,
                              f"at most patches - local_size = {self.patches - self.local_size} (at least one local "
                              "area: the local areas are what the book's questions are about)")
        if self.local_size >= self.global_size and not self.allow_no_dominant:
            raise not_allowed("local_size", self.local_size, f"must be smaller than global_size={self.global_size} "
                        "(set allow_no_dominant=True for layouts without a dominant global area)")
        if (self.patches - self.global_size) % self.local_size:
            raise not_allowed(
                "local_size",
                self.local_size,
                f"patches - global_size = {self.patches - self.global_size} must be a multiple of local_size "
                "so that the areas tile the positions exactly",
            )
        for name in ("low", "high"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), -MAX_SCALE, MAX_SCALE,
                                                      allowed=f"a finite per-area scale from {-MAX_SCALE:g} to "
                                                              f"{MAX_SCALE:g} (the paper's scales are of order 1)"))
        if self.low > self.high:
            raise not_allowed("low", self.low, f"must not exceed high={self.high}")
        if self.grid_shape is not None:
            shape = self.grid_shape
            if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(is_integer(x) and x > 0 for x in shape)):
                raise not_allowed("grid_shape", shape, "None or (H, W), two positive integers")
            object.__setattr__(self, "grid_shape", (int(shape[0]), int(shape[1])))
        if self.scale_param is not None:
            object.__setattr__(self, "scale_param", check_real("scale_param", self.scale_param))
        _check_scale_law(self.scale_law, self.scale_param)
        if self.layout == "grid":
            h, w = self.grid_hw
            if h * w != self.patches:
                raise not_allowed("grid_shape", self.grid_shape, f"H*W must equal patches={self.patches}")
            side = math.isqrt(self.local_size)
            if side * side != self.local_size:
                raise not_allowed("local_size", self.local_size, "the grid layout needs a square local size (4, 9, 16, ...)")
            if h % side or w % side:
                raise not_allowed("grid_shape", (h, w), f"H and W must be multiples of the block side {side}")
            if (h // side) * (w // side) < self.n_areas - 1:
                raise not_allowed("global_size", self.global_size, "too many local blocks for the grid")
        elif self.grid_shape is not None:
            raise not_allowed("grid_shape", self.grid_shape, "only used with layout='grid'")

    @classmethod
    def from_kappa(cls, patches: int, kappa_s: float, kappa_c: float, **kwargs: object) -> "DataConfig":
        """Config whose sizes are the tiling sizes closest to ``P^κ_s`` and ``P^κ_c`` (:func:`sizes_from_kappa`)."""
        c_s, c_c = sizes_from_kappa(patches, kappa_s, kappa_c)
        return cls(patches=patches, global_size=c_s, local_size=c_c, **kwargs)  # type: ignore[arg-type]

    @property
    def n_areas(self) -> int:
        """``N``: one global area plus ``(P − C_s)/C_c`` local areas."""
        return 1 + (self.patches - self.global_size) // self.local_size

    @property
    def dim(self) -> int:
        """Token dimension ``d = P + K N`` of the dense representation."""
        return self.patches + self.clusters * self.n_areas

    @property
    def kappa_s(self) -> float:
        return math.log(self.global_size) / math.log(self.patches)

    @property
    def kappa_c(self) -> float:
        return math.log(self.local_size) / math.log(self.patches)

    @property
    def delta(self) -> float:
        """Information gap Δ of these sizes (:func:`information_gap`)."""
        return information_gap(self.patches, self.global_size, self.local_size, strict=not self.allow_no_dominant)

    @property
    def grid_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the grid (square by default)."""
        if self.grid_shape is not None:
            return (int(self.grid_shape[0]), int(self.grid_shape[1]))
        side = math.isqrt(self.patches)
        if side * side != self.patches:
            raise not_allowed("patches", self.patches, "the grid layout needs a square number of patches or grid_shape")
        return (side, side)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["delta"] = self.delta
        d["n_areas"] = self.n_areas
        return d


@dataclass(frozen=True)
class Layout:
    """Which area every position belongs to, per cluster.

    ``area``: ``(K, P)`` long tensor, ``area[k, p] ∈ {0..N-1}``; ``0`` is the global area.
    ``coords``: ``(P, 2)`` float tensor of grid coordinates (row, column) in patch units, or ``None`` for the
    random layout (attention distance is then undefined).
    """

    area: torch.Tensor
    coords: Optional[torch.Tensor]
    n_areas: int


GeneratorLike = Union[int, torch.Generator]


def as_generator(seed: GeneratorLike) -> torch.Generator:
    """A CPU ``torch.Generator`` from a seed (int) or the generator itself."""
    if isinstance(seed, torch.Generator):
        return seed
    seed = check_int("seed", seed, -(2**63), 2**64 - 1,
                     allowed="an integer from -2**63 to 2**64 - 1 (what a torch.Generator takes) or a torch.Generator")
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def make_layout(cfg: DataConfig, seed: GeneratorLike) -> Layout:
    """Draw each cluster's partition of the positions into areas (chapter 1: random or grid layout).

    ``random``: a random permutation of the positions per cluster; the first ``C_s`` positions form the
    global area, the next blocks of ``C_c`` the local areas. ``grid``: the ``H × W`` grid is cut into
    ``s × s`` blocks (``s² = C_c``); ``N − 1`` of them, chosen at random per cluster, are the local areas and
    the remaining positions form the global area (the background).
    """
    g = as_generator(seed)
    P, K, N = cfg.patches, cfg.clusters, cfg.n_areas
    area = torch.empty(K, P, dtype=torch.long)
    coords = None
    if cfg.layout == "random":
        labels = torch.zeros(P, dtype=torch.long)
        labels[cfg.global_size:] = 1 + torch.arange(P - cfg.global_size) // cfg.local_size
        for k in range(K):
            perm = torch.randperm(P, generator=g)
            area[k, perm] = labels
    else:
        h, w = cfg.grid_hw
        s = math.isqrt(cfg.local_size)
        rows = torch.arange(P) // w
        cols = torch.arange(P) % w
        block = (rows // s) * (w // s) + cols // s  # (P,) block index of every position
        n_blocks = (h // s) * (w // s)
        for k in range(K):
            chosen = torch.randperm(n_blocks, generator=g)[: N - 1]
            block_to_area = torch.zeros(n_blocks, dtype=torch.long)
            block_to_area[chosen] = torch.arange(1, N)
            area[k] = block_to_area[block]
        coords = torch.stack([rows, cols], dim=1).to(torch.float64)
    return Layout(area=area, coords=coords, n_areas=N)


@dataclass(frozen=True)
class Sample:
    """A batch of ``B`` images in compact form (one view; CL draws two masks).

    ``cluster``: ``(B,)`` long, the cluster of each image. ``scale``: ``(B, N)``, per-area scales ``z``.
    ``visible``: ``(B, P)`` bool, ``True`` where the patch is not masked.
    """

    cluster: torch.Tensor
    scale: torch.Tensor
    visible: torch.Tensor


SCALE_LAWS = ("uniform", "sign", "lognormal", "pareto")
#: default parameter of each scale law (see DataConfig.scale_law)
SCALE_PARAM_DEFAULTS = {"uniform": None, "sign": 0.5, "lognormal": 0.5, "pareto": 2.0}


def _check_scale_law(law: str, param: Optional[float]) -> None:
    if law not in SCALE_LAWS:
        raise not_allowed("scale_law", law, f"one of {SCALE_LAWS}")
    if law == "uniform":
        if param is not None:
            raise not_allowed("scale_param", param, "must be None for scale_law='uniform'")
        return
    if param is None:
        return
    if law == "sign":
        check_real("scale_param", param, 0.0, 1.0, allowed="the probability of a negative sign, in [0, 1]")
    if law == "lognormal":
        check_real("scale_param", param, 0.0, MAX_LOG_SD,
                   allowed=f"the log-standard deviation sigma from 0 to {MAX_LOG_SD:g} (beyond, the median scale "
                           f"mean * exp(-sigma^2/2) is below {math.exp(-MAX_LOG_SD**2 / 2):.0e} of the mean: "
                           "almost every area would be blank)")
    if law == "pareto":
        check_real("scale_param", param, MIN_TAIL_INDEX, allowed=f"the tail index alpha >= {MIN_TAIL_INDEX:g} "
                   "(the mean must exist; closer to 1, the factor (alpha - 1)/alpha shrinks almost every scale "
                   "towards 0)")


def draw_scales(cfg: DataConfig, batch: int, g: torch.Generator) -> torch.Tensor:
    """Per-area scales ``(B, N)`` in float64 from ``cfg.scale_law`` (see :class:`DataConfig`)."""
    shape = (batch, cfg.n_areas)
    law = cfg.scale_law
    param = cfg.scale_param if cfg.scale_param is not None else SCALE_PARAM_DEFAULTS[law]
    mean = 0.5 * (cfg.low + cfg.high)
    if law in ("uniform", "sign"):
        scale = cfg.low + (cfg.high - cfg.low) * torch.rand(*shape, generator=g, dtype=torch.float64)
        if law == "sign":
            negative = torch.rand(*shape, generator=g, dtype=torch.float64) < param
            scale = torch.where(negative, -scale, scale)
        return scale
    if law == "lognormal":
        xi = torch.randn(*shape, generator=g, dtype=torch.float64)
        return mean * torch.exp(param * xi - 0.5 * param * param)
    u = 1.0 - torch.rand(*shape, generator=g, dtype=torch.float64)  # (0, 1]
    return mean * (param - 1.0) / param * u.pow(-1.0 / param)


def draw_images(cfg: DataConfig, batch: int, g: torch.Generator, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster ids ``(B,)`` and per-area scales ``(B, N)`` drawn from ``g`` (law: ``cfg.scale_law``)."""
    cluster = torch.randint(cfg.clusters, (batch,), generator=g)
    scale = draw_scales(cfg, batch, g)
    return cluster, scale.to(dtype)


def draw_mask(patches: int, batch: int, mask_prob: float, g: torch.Generator) -> torch.Tensor:
    """Visibility ``(B, P)`` bool: each patch is masked independently with probability ``mask_prob``."""
    check_mask_prob(mask_prob)
    return torch.rand(batch, patches, generator=g, dtype=torch.float64) >= mask_prob


def check_mask_prob(mask_prob: float, name: str = "mask_prob") -> float:
    """``mask_prob`` as a float if it is a probability strictly between 0 and 1."""
    return check_real(name, mask_prob, 0.0, 1.0, low_open=True, high_open=True,
                      allowed="a probability strictly between 0 and 1")


def sample_batch(cfg: DataConfig, batch: int, mask_prob: float, seed: GeneratorLike, dtype: torch.dtype = torch.float64) -> Sample:
    """Draw ``batch`` images and one mask each (chapter 1). Reproducible under ``seed``."""
    check_mask_prob(mask_prob)
    batch = check_int("batch", batch, 1, allowed="a positive integer")
    g = as_generator(seed)
    cluster, scale = draw_images(cfg, batch, g, dtype)
    visible = draw_mask(cfg.patches, batch, mask_prob, g)
    return Sample(cluster=cluster, scale=scale, visible=visible)


def dense_patches(cfg: DataConfig, layout: Layout, cluster: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Full patch vectors ``X`` of shape ``(B, P, d)``: ``x_p = z_{j(p)} v_{k, j(p)}`` (chapter 1).

    ``cluster``: ``(B,)``; ``scale``: ``(B, N)``. Feature ``v_{k,j}`` is basis vector ``P + k N + j``.
    """
    B = cluster.shape[0]
    P, N = cfg.patches, cfg.n_areas
    area = layout.area[cluster]  # (B, P)
    X = torch.zeros(B, P, cfg.dim, dtype=scale.dtype)
    feat_index = P + cluster[:, None] * N + area  # (B, P)
    X.scatter_(2, feat_index[..., None], torch.gather(scale, 1, area)[..., None])
    return X
