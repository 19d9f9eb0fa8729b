"""What an objective is to the training loop (book chapter 2, "one training step"): which masked views of an
image to draw, the loss and its exact gradient with respect to the correlations ``A``, ``B``, and the metrics
only it can compute. MAE and CL (this package) implement it; so do the variants beyond the paper (a memory
queue of negatives, :mod:`sslvit.beyond.memory`; the mixed objective, :mod:`sslvit.beyond.mix`). A new objective
is one new file: a settings class (frozen dataclass, one per run) whose :meth:`Objective.bind` returns the
computation for a batch of runs (:class:`BoundObjective`), registered under its name.

Shapes (leading run axis ``R``, ``Bt`` images, ``N`` areas, ``P`` positions): masses ``(R, Bt, N, P)``,
``scale`` ``(R, Bt, N)``, ``cluster`` ``(R, Bt)``, ``visible`` ``(R, Bt, P)`` bool.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import torch

from sslvit.core import engine
from sslvit.core.validation import not_allowed

if TYPE_CHECKING:  # only for annotations: the batched state imports this module
    from sslvit.core.runs import ImageBatch, RunBatch

__all__ = ["Objective", "BoundObjective", "View", "register_objective", "objective_named", "registered_objectives",
           "forward_views", "backward_views"]

#: a view of the images: its masking probability, and whether it is drawn from the run's separate view stream
View = tuple[float, bool]

_REGISTRY: dict[str, type["Objective"]] = {}


class Objective:
    """The settings of one run's objective (subclasses are frozen dataclasses).

    ``name``: what :class:`~sslvit.core.training.TrainConfig` and the command line call it. ``defaults``: the
    masking probability, step size and number of steps used when a run does not set them (chapter 4 and 5).
    ``min_images``: images a step needs (CL needs a negative). ``n_views``: masked views of every image a step
    draws (for the memory estimate of :mod:`sslvit.core.budget`). ``splits_images``: whether the loss is a mean
    over the images of terms that each depend on one image only (MAE); the trainer may then compute a large
    batch in parts of its images, weighted by their sizes, so that memory stays bounded at large ``P``
    (CL's images are each other's negatives: its batch is always computed whole). ``contrastive``: whether the
    run's ``tau`` and ``negatives`` mean something to it (CL and its variants); other objectives refuse them.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    min_images: ClassVar[int] = 1
    n_views: ClassVar[int] = 1
    splits_images: ClassVar[bool] = False
    contrastive: ClassVar[bool] = False

    def check(self, train: Any) -> None:
        """Raise ``ValueError`` if the run's :class:`~sslvit.core.training.TrainConfig` does not suit it."""
        if train.images_per_step < self.min_images:
            name = "population" if train.population is not None else "batch_size"
            raise not_allowed(name, getattr(train, name),
                              f"at least {self.min_images} images per step for objective {self.name!r}")

    def settings(self) -> dict[str, Any]:
        """The objective's own settings, for a run's summary (empty for the paper's two objectives)."""
        return {}

    def state_bytes(self, n_areas: int, item: int) -> int:
        """Bytes of the state this run's objective keeps across steps (a memory queue), for the estimate of
        :mod:`sslvit.core.budget`; ``item``: bytes per number of the working dtype."""
        return 0

    def bind(self, runs: "RunBatch") -> "BoundObjective":
        """The batched computation of this objective for ``runs`` (which all have an objective of this class)."""
        raise NotImplementedError


class BoundObjective(ABC):
    """An objective bound to the runs of one :func:`~sslvit.core.training.train` call."""

    def __init__(self, runs: "RunBatch") -> None:
        self.runs = runs

    @abstractmethod
    def views(self, run: Any) -> Sequence[View]:
        """The views of every image that run ``run`` draws, in drawing order."""

    @abstractmethod
    def loss_and_grads(self, A: torch.Tensor, B: torch.Tensor, batch: "ImageBatch", sl: slice, method: str
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss per run ``(R',)`` and its exact gradients ``dA``, ``dB`` for the runs ``sl`` (``A``, ``B``: theirs)."""

    @abstractmethod
    def evaluate(self, A: torch.Tensor, B: torch.Tensor, batch: "ImageBatch", sl: slice,
                 first: engine.DenseForward) -> dict[str, torch.Tensor]:
        """The objective's metrics (at least ``loss``) for the runs ``sl``; ``first``: the area masses of the first
        view (``mass``, ``key_area``: :class:`~sslvit.core.engine.ViewMasses`), from the dense attention from
        which the trainer already took the attention metrics."""

    def end_step(self) -> None:
        """Called after every training step (all chunks of runs done)."""


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: make ``cls`` available by its name (``TrainConfig(objective="mix")``)."""
    _REGISTRY[cls.name] = cls
    return cls


def registered_objectives() -> tuple[str, ...]:
    """Names of the objectives that can be given by name."""
    return tuple(_REGISTRY)


def objective_named(name: str) -> Objective:
    """The default settings of the objective called ``name``."""
    if name not in _REGISTRY:
        raise not_allowed("objective", name, f"one of {registered_objectives()} or an Objective instance")
    return _REGISTRY[name]()


def forward_views(A: torch.Tensor, B: torch.Tensor, area: torch.Tensor, cluster: torch.Tensor, scale: torch.Tensor,
                  views: Sequence[torch.Tensor], method: str) -> list:
    """Area masses of every view: the factorised softmax (``method="fast"``) unless it would lose precision for
    one of the views (then all views take the dense attention), or the dense attention (``method="dense"``)."""
    if method == "fast":
        fwds = [engine.fast_forward(A, B, area, cluster, scale, v) for v in views]
        if all(f is not None for f in fwds):
            return fwds
    return [engine.dense_forward(A, B, area, cluster, scale, v) for v in views]


def backward_views(fwds: Sequence, grads: Sequence[torch.Tensor], cluster: torch.Tensor, scale: torch.Tensor,
                   n_clusters: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dA, dB)``: the gradients with respect to the views' masses taken back through each view's forward pass,
    summed over the views."""
    dA = dB = None
    for f, g in zip(fwds, grads):
        if isinstance(f, engine.FastForward):
            ga, gb = engine.fast_backward(f, g, cluster, scale, n_clusters)
        else:
            ga, gb = engine.dense_backward(f, g, cluster, n_clusters)
        dA, dB = (ga, gb) if dA is None else (dA + ga, dB + gb)
    return dA, dB  # type: ignore[return-value]
