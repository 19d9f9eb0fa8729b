"""What an objective is to the training loop (book chapter 2, "one training step"): which masked views of an
image to draw, and, from the **area masses** of those views, the loss and its gradient with respect to the masses,
and the metrics only it can compute. The objective never sees the correlations ``A``, ``B`` or the engine: the
trainer (:func:`sslvit.core.training.step_gradients`) computes the masses (:func:`sslvit.core.engine.forward`),
asks the objective for the loss and the mass gradients, and takes them back to ``A`` and ``B``
(:func:`sslvit.core.engine.backward`). MAE and CL (this package) implement it; so do the variants beyond the
paper (a memory queue of negatives, :mod:`sslvit.beyond.memory`; the mixed objective, :mod:`sslvit.beyond.mix`).
A new objective is one new file: a settings class (frozen dataclass, one per run) whose :meth:`Objective.bind`
returns the computation for a batch of runs (:class:`BoundObjective`), registered under its name where it is
defined (:func:`register_objective`); an objective outside the core is found by name through the entry points of
the group ``sslvit.objectives`` (the package's ``pyproject.toml``), so that nothing has to import it in advance.

Shapes (leading run axis ``R``, ``Bt`` images, ``N`` areas, ``P`` positions): masses ``(R, Bt, N, P)``,
``scale`` ``(R, Bt, N)``, ``cluster`` ``(R, Bt)``, ``visible`` ``(R, Bt, P)`` bool.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import torch

from sslvit.core.validation import not_allowed

if TYPE_CHECKING:  # only for annotations: the batched state imports this module
    from sslvit.core.runs import RunBatch

__all__ = ["Objective", "BoundObjective", "View", "Masses", "ENTRY_POINTS", "register_objective", "objective_named",
           "registered_objectives"]

#: the entry-point group under which objectives outside the core are found by name
ENTRY_POINTS = "sslvit.objectives"

#: a view of the images: its masking probability, and whether it is drawn from the run's separate view stream
View = tuple[float, bool]

_REGISTRY: dict[str, type["Objective"]] = {}


@dataclass
class Masses:
    """What an objective sees of a step (or of an evaluation) of the runs ``sl``: the area masses ``mass[v]``
    ``(R', Bt, N, P)`` of each of its views (in the order of :meth:`BoundObjective.views`), their masks
    ``visible[v]`` ``(R', Bt, P)`` bool, the images' scales ``(R', Bt, N)`` and clusters ``(R', Bt)``, and the
    area of every position ``key_area`` ``(R', Bt, P)`` (long)."""

    mass: list[torch.Tensor]
    visible: list[torch.Tensor]
    scale: torch.Tensor
    cluster: torch.Tensor
    key_area: torch.Tensor
    sl: slice

    def select(self, views: Sequence[int]) -> "Masses":
        """The same step seen through the views ``views`` only (a part of a combined objective)."""
        return Masses([self.mass[v] for v in views], [self.visible[v] for v in views], self.scale, self.cluster,
                      self.key_area, self.sl)


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
    def loss_and_grad(self, masses: Masses) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The loss per run ``(R',)`` and, for every view, the gradient of ``loss.sum()`` with respect to that
        view's masses (broadcastable to ``(R', Bt, N, P)``: CL's is constant over the queries)."""

    @abstractmethod
    def metrics(self, masses: Masses) -> dict[str, torch.Tensor]:
        """The objective's metrics per run (at least ``loss``), from the masses of the evaluation batch."""

    def end_step(self) -> None:
        """Called after every training step (all chunks of runs done)."""


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Class decorator: make ``cls`` available by its name (``TrainConfig(objective="mix")``)."""
    _REGISTRY[cls.name] = cls
    return cls


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINTS)}


def registered_objectives() -> tuple[str, ...]:
    """Names of the objectives that can be given by name: the core's, then those of the entry points."""
    return tuple(dict.fromkeys([*_REGISTRY, *sorted(_entry_points())]))


def objective_named(name: str) -> Objective:
    """The default settings of the objective called ``name``; an objective outside the core is imported from its
    entry point the first time its name is asked for (its module registers it)."""
    if name not in _REGISTRY and isinstance(name, str) and name in _entry_points():
        _entry_points()[name].load()
    if name not in _REGISTRY:
        raise not_allowed("objective", name, f"one of {registered_objectives()} or an Objective instance")
    return _REGISTRY[name]()
