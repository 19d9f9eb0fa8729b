"""How much memory a training call needs, estimated before anything is allocated (the book's reproducibility appendix).

The reduced engine's memory grows with the number of runs ``R``, the ``P × P`` correlations ``B`` and, per
engine call, the ``(images, areas, positions)`` tensors of the factorised softmax and the ``P × P`` attention
of the evaluation (the trainer bounds both with the chunk sizes below, computing large batches in parts).
:func:`check_fits` compares the estimate with the memory the machine has free and stops a call that cannot fit,
with a message that says what to change, instead of letting it fail (or swap) while allocating.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import torch

from sslvit.core.runs import chunks

__all__ = ["TRAIN_CHUNK_ELEMENTS", "EVAL_CHUNK_ELEMENTS", "IMAGE_PART_ELEMENTS", "MemoryEstimate", "estimate_memory", "per_call", "image_parts", "available_memory", "check_fits", "TooLarge"]

#: runs per engine call are chosen so that one (runs, images, areas, positions) tensor has at most this many
#: elements: small enough to stay in cache, large enough to amortise the per-call overhead
TRAIN_CHUNK_ELEMENTS = 2_000_000
#: the same for the dense (runs, images, positions, positions) attention of the evaluation
EVAL_CHUNK_ELEMENTS = 8_000_000
#: a single run whose batch tensor would exceed this many elements (128 MB in float64) is computed in parts of
#: its images, so that memory stays bounded at large ``P`` (MAE's training, and every evaluation); about
#: ``P²`` at ``P = 4096``, so that a part still amortises the work on the ``P × P`` correlations ``B``
IMAGE_PART_ELEMENTS = 16_000_000

#: tensors of the (images, areas, positions) size alive at once in a training step: two kept by the forward
#: pass of every view, and the temporaries of the loss and one backward pass (10: measured, MAE at P = 64 with
#: 10^5 images peaks at 1.67 GB above the process's base, which 6 temporaries underestimated at 1.10 GB)
X_PER_VIEW, X_TEMPORARIES = 2, 10
#: tensors of the (images, images) size per run of a contrastive objective alive at once (the offsets of the
#: negatives mask, int64, counted as two; the mask; the same-cluster matrix, the logits and their gradient)
PAIR_TENSORS = 6
#: tensors of the P × P size per run alive at once in an engine call (e^B, its transpose, the gradient, ...)
PP_TENSORS = 6
#: tensors of the dense attention's size alive at once in the evaluation (scores, softmax, a product, x log x)
ATTN_TENSORS = 4


class TooLarge(MemoryError):
    """A training call would need more memory than the machine has free (raised before allocating)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated bytes: ``state`` (layouts, ``A``, ``B``, their gradients and the optimiser's moments), ``step``
    (one engine call of the training step) and ``evaluation`` (one engine call of the evaluation); ``total`` is
    ``state`` plus the larger of the other two."""

    state: int
    step: int
    evaluation: int

    @property
    def total(self) -> int:
        return self.state + max(self.step, self.evaluation)


#: metrics logged per run and logged step (a float64 each), with room for an objective's own
HISTORY_METRICS = 16


def images_bytes(runs: int, images: int, n_areas: int, patches: int, views: int, item: int) -> int:
    """Bytes of a drawn batch of ``images`` images per run: clusters (int64), scales, the views' masks (bool) and
    the float64 uniforms a mask is drawn from."""
    return runs * images * (8 + 8 * n_areas + item * n_areas + views * patches + 8 * patches)


def image_parts(runs: slice, images: int, per_image: int, limit: int, splittable: bool = True) -> list[slice]:
    """How the images of a batch are computed for the runs ``runs`` (a slice from :func:`~sslvit.core.runs.chunks`):
    whole (``[slice(None)]``), or, when a single run's batch has more than ``limit`` elements of ``per_image``
    each and ``splittable``, in parts of at most ``limit`` elements (at least one image each)."""
    if runs.stop - runs.start > 1 or images * per_image <= limit or not splittable:
        return [slice(None)]
    return chunks(images, per_image, limit)


def per_call(runs: int, images: int, per_image: int, chunk: int, part: int, splits: bool) -> tuple[int, int]:
    """``(runs, images)`` of the largest engine call of a step or an evaluation: the first slice of
    :func:`~sslvit.core.runs.chunks` over the runs and, for a lone run, the first part of :func:`image_parts` over its
    images. The trainer (:func:`sslvit.core.training.loss_and_grads`, the evaluation) cuts its calls with the same
    two functions, so the estimate follows its policy."""
    first = chunks(runs, images * per_image, chunk)[0]
    part0 = image_parts(first, images, per_image, part, splits)[0]
    return first.stop - first.start, images if part0 == slice(None) else part0.stop - part0.start


def estimate_memory(runs: Sequence[Any], dtype: torch.dtype = torch.float64, eval_batch: Optional[int] = None,
                    logged: int = 2) -> MemoryEstimate:
    """Estimate the memory of ``sslvit.train(runs, dtype=dtype, eval_batch=eval_batch)`` from the configurations
    alone (no tensor is made). ``runs``: :class:`~sslvit.core.training.Run` objects sharing ``P`` and ``K``;
    ``logged``: the number of logged steps. Counts every tensor that grows with a setting: the correlations and
    the optimiser's moments, the training batch (or the fixed population) and the evaluation batch, an
    objective's own state (a memory queue), the logged history, and the larger of one training step's and one
    evaluation's working tensors."""
    first = runs[0]
    R, P, K = len(runs), first.data.patches, first.data.clusters
    N = max(r.data.n_areas for r in runs)
    item = torch.finfo(dtype).bits // 8
    objective = first.train.objective
    splits = objective.splits_images
    images = first.train.images_per_step
    moments = 3 if first.train.optimizer == "adam" else 1
    size = eval_batch if eval_batch is not None else first.train.batch_size
    state = (8 * R * K * P + item * R * (P * K * N + P * P) * (1 + moments)
             + images_bytes(R, images, N, P, objective.n_views, item) + images_bytes(R, size, N, P, 1, item)
             + sum(r.train.objective.state_bytes(N, item) for r in runs) + 8 * R * HISTORY_METRICS * logged)
    r, b = per_call(R, images, N * P, TRAIN_CHUNK_ELEMENTS, IMAGE_PART_ELEMENTS, splits)
    pairs = PAIR_TENSORS if objective.contrastive else 0                        # InfoNCE: every image against every other
    step = item * ((X_PER_VIEW * objective.n_views + X_TEMPORARIES) * r * b * N * P + PP_TENSORS * r * P * P
                   + pairs * r * images * images)
    r, b = per_call(R, size, P * P, EVAL_CHUNK_ELEMENTS, IMAGE_PART_ELEMENTS, True)
    kept = 0 if splits else r * size * N * P * (X_PER_VIEW + X_TEMPORARIES // 2)  # CL: masses of all images
    evaluation = item * (ATTN_TENSORS * r * b * P * P + kept + PP_TENSORS * r * P * P + pairs * r * size * size)
    return MemoryEstimate(state=int(state), step=int(step), evaluation=int(evaluation))


def available_memory(device: Union[str, torch.device] = "cpu") -> Optional[int]:
    """Bytes free for a new computation: the GPU's free memory, or on the CPU the kernel's ``MemAvailable``
    (and the container's limit and the process's address-space limit, if lower); ``None`` where it cannot be
    read."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        return None
    for path, used_path in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit, used = open(path).read().strip(), int(open(used_path).read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            free = min(free, int(limit) - used) if free is not None else int(limit) - used
        break
    room = _address_space_room()
    if room is not None:
        free = min(free, room) if free is not None else room
    return free


def _address_space_room() -> Optional[int]:
    """Bytes this process may still map under its address-space limit (``ulimit -v``), or ``None`` if unlimited."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        return max(0, soft - size)
    except (ImportError, OSError, ValueError, StopIteration):
        return None


def _gb(n: float) -> str:
    return f"{n / 2**30:.3g} GB"


def check_fits(runs: Sequence[Any], dtype: torch.dtype, eval_batch: Optional[int],
               device: Union[str, torch.device] = "cpu", logged: int = 2) -> MemoryEstimate:
    """Raise :class:`TooLarge` when :func:`estimate_memory` exceeds :func:`available_memory` (unless the
    environment variable ``SSLVIT_NO_MEMORY_CHECK`` is set). Returns the estimate."""
    estimate = estimate_memory(runs, dtype, eval_batch, logged)
    free = None if os.environ.get("SSLVIT_NO_MEMORY_CHECK") else available_memory(device)
    if free is not None and estimate.total > free:
        first = runs[0]
        raise TooLarge(
            f"this training needs about {_gb(estimate.total)} but {_gb(free)} are free on {device} "
            f"({len(runs)} run(s), P = {first.data.patches}, {max(r.data.n_areas for r in runs)} areas, "
            f"{first.train.images_per_step} images per step, {logged} logged steps, {dtype}; estimate: "
            f"{_gb(estimate.state)} for the correlations A, B, their gradients, the images, an objective's state "
            f"and the history, {_gb(estimate.step)} per training step, "
            f"{_gb(estimate.evaluation)} per evaluation). Memory grows with P² (the P × P correlations and "
            "attention) and with the number of runs trained together: use fewer patches, larger areas (fewer "
            "areas), fewer runs per call, a smaller batch_size, population, eval_batch or memory queue, fewer logged "
            "steps, or torch.float32")
    return estimate
