"""Many runs as one batched computation (book chapter 2, "many runs at once"): their layouts, random streams
and per-run settings as tensors with a leading run axis ``R``, and the images each step draws.

Every run draws from its own random streams, so a run gives the same numbers alone or inside a batch:
stream 0 the layout, 1 the training batches, 2 the evaluation batch, 3 the separate views of an objective that
has them (the mixed objective of chapter 11), 4 a random initialisation (``TrainConfig.init_std``); the full-``Q``
trainer's streams are in the same table (:data:`STREAMS`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch

from sslvit.core.data import draw_images, draw_mask, make_layout
from sslvit.core.perturb import step_size_factor

__all__ = ["STREAMS", "STREAM_IDS", "MAX_SEED", "random_stream", "ImageBatch", "RunBatch", "SHARED_DATA", "SHARED_TRAIN", "check_runs", "chunks"]

#: every random stream of a run, in one table: the core's (layout, training batches, evaluation batch, the separate
#: views of the mixed objective, a random start) and the full-``Q`` trainer's of chapters 9 and 14
#: (:mod:`sslvit.beyond.fullq`: noise on the features for training and evaluation, a variant's fixed-fraction masks,
#: a variant's random start). Two ids serve two purposes that never meet in one run: the full-``Q`` trainer
#: takes the paper's two objectives only (no separate views) and starts from ``Q = 0`` or its own start (stream
#: 7), so its noise streams reuse 3 and 4 (renumbering them would change the stored measurements of chapter 14)
STREAMS = {"layout": 0, "train": 1, "eval": 2, "views": 3, "init": 4,
           "noise_train": 3, "noise_eval": 4, "mask_train": 5, "mask_eval": 6, "variant_init": 7}
#: stream ids are below this; a run's seed and stream give the generator seed ``seed * 1_000_003 + stream``
STREAM_IDS = 1_000_003
#: the largest seed whose streams do not wrap around the 63-bit generator seed (and so meet a smaller seed's)
MAX_SEED = (2**63 - 1) // STREAM_IDS - 1
#: what runs trained together must share (it fixes the tensor shapes and the loop)
SHARED_DATA = ("patches", "clusters", "layout", "grid_shape")
SHARED_TRAIN = ("objective", "steps", "batch_size", "optimizer", "tau", "population")


def random_stream(seed: int, stream: int) -> torch.Generator:
    """Independent random stream ``stream`` (see :data:`STREAMS`) of a run's seed."""
    if not (0 <= seed <= MAX_SEED and 0 <= stream < STREAM_IDS):
        raise ValueError(f"random_stream(seed={seed!r}, stream={stream!r}): the seed must be from 0 to {MAX_SEED} "
                         f"and the stream from 0 to {STREAM_IDS - 1}")
    g = torch.Generator()
    g.manual_seed(seed * STREAM_IDS + stream)
    return g


@dataclass
class ImageBatch:
    """The images of one step, per run: ``cluster`` ``(R, Bt)``, ``scale`` ``(R, Bt, N)`` (padded to the largest
    ``N``), and one visibility mask ``(R, Bt, P)`` per view of the objective (MAE one, CL two, mixed three)."""

    cluster: torch.Tensor
    scale: torch.Tensor
    views: tuple[torch.Tensor, ...]

    def images(self, sl: slice) -> "ImageBatch":
        """The images ``sl`` of every run (a view, no copy)."""
        return ImageBatch(self.cluster[:, sl], self.scale[:, sl], tuple(v[:, sl] for v in self.views))


def _same_kind(a: Any, b: Any, name: str) -> bool:
    """Shared-field equality; objectives only need to be of the same kind (their settings may differ per run)."""
    return type(a) is type(b) if name == "objective" else a == b


def check_runs(runs: Sequence[Any]) -> list:
    """Raise unless ``runs`` is a non-empty list of :class:`~sslvit.core.training.Run` that share what runs
    trained together must share (:data:`SHARED_DATA`, :data:`SHARED_TRAIN`). Returns ``list(runs)``."""
    if len(runs) == 0:
        raise ValueError("runs is empty: give at least one Run")
    for r in runs:
        if not hasattr(r, "data") or not hasattr(r, "train"):
            raise TypeError(f"expected sslvit.Run objects, got {type(r).__name__}")
    first = runs[0]
    for i, r in enumerate(runs):
        for part, names in (("data", SHARED_DATA), ("train", SHARED_TRAIN)):
            for name in names:
                a, b = getattr(getattr(r, part), name), getattr(getattr(first, part), name)
                if not _same_kind(a, b, name):
                    raise ValueError(f"runs[{i}].{part}.{name}={a!r} differs from runs[0] ({b!r}); runs trained "
                                     f"together must share {SHARED_DATA + SHARED_TRAIN}")
    return list(runs)


class RunBatch:
    """Layouts, random streams and per-run settings of a list of runs trained together, as batched tensors.

    ``objective``: the runs' objective bound to this batch (:class:`~sslvit.core.objectives.BoundObjective`).
    """

    def __init__(self, runs: Sequence[Any], dtype: torch.dtype, device: Union[str, torch.device]) -> None:
        check_runs(runs)
        first = runs[0]
        self.runs = tuple(runs)
        self.dtype, self.device = dtype, torch.device(device)
        self.P, self.K = first.data.patches, first.data.clusters
        self.n_areas = [r.data.n_areas for r in runs]                                        # per run
        self.N = max(self.n_areas)
        self.images = first.train.images_per_step
        self.layouts = tuple(make_layout(r.data, random_stream(r.train.seed, STREAMS["layout"])) for r in runs)
        self.area = torch.stack([lay.area for lay in self.layouts]).to(self.device)        # (R, K, P)
        self.coords = self.layouts[0].coords
        # (R,); step_size_factor() is exactly 1.0 except under the chaos audit's perturbation (the reproducibility appendix)
        self.lr = torch.tensor([r.train.lr * step_size_factor() for r in runs], dtype=dtype, device=self.device)
        self.train_streams = [random_stream(r.train.seed, STREAMS["train"]) for r in runs]
        self.objective = first.train.objective.bind(self)
        separate = any(extra for r in runs for _, extra in self.objective.views(r))
        self.view_streams = [random_stream(r.train.seed, STREAMS["views"]) for r in runs] if separate else None

    def areas(self, sl: slice) -> int:
        """The number of areas of the runs ``sl`` (the largest of theirs): an engine call on those runs works on
        that many areas, not on the padding up to :attr:`N`."""
        return max(self.n_areas[sl])

    def draw(self, streams: Sequence[torch.Generator], batch: int,
             view_streams: Optional[Sequence[torch.Generator]] = None) -> ImageBatch:
        """``batch`` images per run from each run's stream: clusters, scales, then the objective's views (a view
        marked separate comes from ``view_streams`` when given, else from the same stream)."""
        clusters, scales, views = [], [], []
        for r, (run, g) in enumerate(zip(self.runs, streams)):
            cluster, scale = draw_images(run.data, batch, g, self.dtype)
            clusters.append(cluster)
            scales.append(torch.nn.functional.pad(scale, (0, self.N - scale.shape[1])))
            views.append([draw_mask(self.P, batch, prob, view_streams[r] if separate and view_streams else g)
                          for prob, separate in self.objective.views(run)])
        to = lambda xs: torch.stack(xs).to(self.device)  # noqa: E731
        return ImageBatch(to(clusters), to(scales), tuple(to(list(v)) for v in zip(*views)))


def chunks(n_runs: int, per_run: int, budget: int, groups: Optional[Sequence[Any]] = None) -> list[slice]:
    """Split the run axis into slices of at most ``budget`` elements of ``per_run`` each (at least one run); with
    ``groups`` (one key per run, e.g. its number of areas), a slice holds consecutive runs of one key only."""
    size = max(1, budget // max(per_run, 1))
    inner = [] if groups is None else [i for i in range(1, n_runs) if groups[i] != groups[i - 1]]
    bounds = [0, *inner, n_runs]
    return [slice(i, min(i + size, end)) for start, end in zip(bounds, bounds[1:]) for i in range(start, end, size)]
