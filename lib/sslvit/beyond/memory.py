"""A MoCo-style memory queue of past representations, used as extra CL negatives (book chapter 10).

Beyond the paper. MoCo {He et al. 2020} keeps a first-in-first-out queue of the *key* representations of past
batches and uses them as negatives, so that the number of negatives is decoupled from the batch size. Here
the keys are the second-view representations ``g = (1/P) Σ_p F_p`` of past training images, computed with
the parameters of the step at which they were enqueued and then frozen (detached constants). There is no
momentum encoder: this is MoCo with momentum ``m = 0`` (equivalently a FIFO memory bank).

Representations live in area coordinates: image ``b`` of cluster ``k`` has ``f_j = z_j · mean_p m_j(p)``
for its ``N`` areas; two representations of different clusters are orthogonal (their similarity is 0),
so the queue stores the cluster of every entry next to its ``N`` coordinates.

Shapes: ``R`` runs, ``Bt`` images per step, ``N`` areas (padded to the largest run), ``L`` queue capacity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Sequence

import torch

from sslvit.core.objectives import CL, BoundCL, Objective, cl_loss, in_batch_logits, representation
from sslvit.core.validation import check_int

__all__ = ["MemoryQueue", "RepresentationQueue", "cl_loss_with_queue", "check_queue_length"]


def check_queue_length(queue: int) -> int:
    """``queue`` as an ``int`` if it is a non-negative integer (0: no queue)."""
    return check_int("queue", queue, 0, allowed="a non-negative integer number of past representations "
                     "(0 = no memory queue)")


class RepresentationQueue:
    """FIFO queues of detached past representations, one per run, batched (book chapter 10).

    ``lengths``: queue length of every run (``(R,)``, ``0`` allowed: that run never uses an entry).
    Entry ``0`` is the newest. A step first reads the queue (:meth:`view`), then :meth:`stage` s the second-view
    representations of its batch (chunk by chunk) and :meth:`commit` pushes them all at once: the images of
    one batch enter in batch order (image 0 at position 0), older entries move back by ``Bt``, and entries
    past a run's length are no longer used (past the largest length they are dropped).
    """

    def __init__(self, lengths: Sequence[int], n_areas: int, batch: int, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu") -> None:
        for q in lengths:
            check_queue_length(int(q) if not isinstance(q, bool) else q)
        if len(lengths) == 0:
            raise ValueError("lengths is empty: give one queue length per run")
        if n_areas < 1 or batch < 1:
            raise ValueError(f"n_areas={n_areas}, batch={batch}: both must be positive")
        self.lengths = torch.tensor([int(q) for q in lengths], device=device)        # (R,)
        self.capacity = int(self.lengths.max())
        R = len(lengths)
        self.rep = torch.zeros(R, self.capacity, n_areas, dtype=dtype, device=device)   # (R, L, N)
        self.cluster = torch.full((R, self.capacity), -1, dtype=torch.long, device=device)  # (R, L)
        self.count = 0  #: entries pushed so far (the same for every run)
        self.batch = batch
        self._staged_rep = torch.zeros(R, batch, n_areas, dtype=dtype, device=device)
        self._staged_cluster = torch.full((R, batch), -1, dtype=torch.long, device=device)
        self._staged = torch.zeros(R, dtype=torch.bool)

    def valid(self, sl: slice = slice(None)) -> torch.Tensor:
        """``(R', L)`` bool: which entries of runs ``sl`` are filled and within the run's length."""
        limit = torch.clamp(self.lengths[sl], max=self.count)                          # (R',)
        return torch.arange(self.capacity, device=self.lengths.device)[None, :] < limit[:, None]

    def view(self, sl: slice = slice(None), n_areas: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rep (R', L, n), cluster (R', L), valid (R', L))`` of runs ``sl``: constants (no gradient); ``n``: the
        first ``n_areas`` coordinates (default all; the others are 0 for runs with fewer areas)."""
        return self.rep[sl, :, :n_areas], self.cluster[sl], self.valid(sl)

    def stage(self, sl: slice, rep: torch.Tensor, cluster: torch.Tensor) -> None:
        """Remember this step's second-view representations ``rep`` ``(R', Bt, N)`` and clusters ``(R', Bt)``
        of runs ``sl`` (detached; with fewer than ``N`` coordinates, the others are 0); they enter the queue at
        :meth:`commit`."""
        if rep.shape[1] != self.batch or rep.shape[2] > self.rep.shape[2]:
            raise ValueError(f"rep has shape {tuple(rep.shape)}; expected (runs, {self.batch}, at most {self.rep.shape[2]})")
        self._staged_rep[sl] = torch.nn.functional.pad(rep.detach().to(self.rep.dtype), (0, self.rep.shape[2] - rep.shape[2]))
        self._staged_cluster[sl] = cluster
        self._staged[sl] = True

    def commit(self) -> None:
        """Push the staged batch of every run (all runs must have been staged this step)."""
        if not bool(self._staged.all()):
            raise RuntimeError("commit() before every run staged its batch")
        if self.capacity > 0:
            self.rep = torch.cat([self._staged_rep, self.rep], 1)[:, : self.capacity].clone()
            self.cluster = torch.cat([self._staged_cluster, self.cluster], 1)[:, : self.capacity].clone()
        self.count += self.batch
        self._staged[:] = False


def cl_loss_with_queue(
    mass1: torch.Tensor,
    mass2: torch.Tensor,
    scale: torch.Tensor,
    cluster: torch.Tensor,
    allowed: torch.Tensor,
    tau: float,
    queue_rep: Optional[torch.Tensor] = None,
    queue_cluster: Optional[torch.Tensor] = None,
    queue_valid: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """InfoNCE per run ``(R,)`` with the in-batch negatives of :func:`sslvit.core.objectives.cl_loss` plus the
    valid entries of a memory queue as extra negatives.

    ``mass1``, ``mass2`` ``(R, Bt, N, P)``; ``scale`` ``(R, Bt, N)``; ``cluster`` ``(R, Bt)``; ``allowed``
    ``(R, Bt, Bt)``; ``queue_rep`` ``(R, L, N)``, ``queue_cluster`` ``(R, L)``, ``queue_valid`` ``(R, L)``
    bool (all three or none). Queue entries are constants: no gradient flows into them. Without a queue
    this is exactly :func:`sslvit.core.objectives.cl_loss`.
    """
    given = [x is not None for x in (queue_rep, queue_cluster, queue_valid)]
    if not any(given):
        return cl_loss(mass1, mass2, scale, cluster, allowed, tau)
    if not all(given):
        raise ValueError("give queue_rep, queue_cluster and queue_valid together, or none of them")
    assert queue_rep is not None and queue_cluster is not None and queue_valid is not None
    f1 = representation(mass1, scale)                                  # (R, Bt, N)
    logits, positive = in_batch_logits(f1, representation(mass2, scale), cluster, allowed, tau)
    q_same = (cluster[:, :, None] == queue_cluster[:, None, :]).to(f1.dtype)          # (R, Bt, L)
    q_logits = torch.einsum("rbn,rln->rbl", f1, queue_rep.detach().to(f1.dtype)) * q_same / tau
    q_logits = q_logits.masked_fill(~queue_valid[:, None, :], float("-inf"))
    return (torch.logsumexp(torch.cat([logits, q_logits], -1), dim=-1) - positive).mean(-1)


@dataclass(frozen=True)
class MemoryQueue(Objective):
    """CL with a memory queue of the last ``queue`` second-view representations as extra negatives (chapter 10).

    ``queue = 0`` is the paper's CL, bit for bit. Runs trained together may have different queue lengths.
    """

    queue: int = 0
    name: ClassVar[str] = "cl"
    defaults: ClassVar[dict[str, Any]] = CL.defaults
    min_images: ClassVar[int] = 2
    n_views: ClassVar[int] = 2
    contrastive: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "queue", check_queue_length(self.queue))

    def settings(self) -> dict[str, Any]:
        return {"queue": self.queue}

    def state_bytes(self, n_areas: int, item: int) -> int:
        """The queue: ``queue`` representations ``(N,)``, their clusters (int64) and validity flags."""
        return self.queue * (n_areas * item + 8 + 1)

    def bind(self, runs: Any) -> "BoundMemoryQueue":
        return BoundMemoryQueue(runs)


class BoundMemoryQueue(BoundCL):
    """CL whose InfoNCE also sees the valid entries of each run's queue; this step's second views enter the
    queue when the step ends. Without any queue (all lengths 0) it is :class:`~sslvit.core.objectives.BoundCL`."""

    def __init__(self, runs: Any) -> None:
        super().__init__(runs)
        lengths = [r.train.objective.queue for r in runs.runs]
        self.queue = (RepresentationQueue(lengths, runs.N, runs.images, runs.dtype, runs.device)
                      if any(lengths) else None)

    def loss(self, mass1, mass2, scale, cluster, sl):
        if self.queue is None:
            return super().loss(mass1, mass2, scale, cluster, sl)
        loss = cl_loss_with_queue(mass1, mass2, scale, cluster, self.allowed(mass1.shape[1], sl), self.tau,
                                  *self.queue.view(sl, scale.shape[-1]))
        self.queue.stage(sl, representation(mass2.detach(), scale), cluster)
        return loss

    def end_step(self) -> None:
        if self.queue is not None:
            self.queue.commit()
