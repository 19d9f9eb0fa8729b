"""Process-level performance settings used by the training engine.

The engine allocates many short-lived tensors of a few to tens of MB. glibc's default is to serve such blocks
with ``mmap`` and give them back at once, so every allocation pays page faults again; keeping them in the heap
makes a training step about twice as fast on CPU. At large ``P``, where a batch is computed in parts of its
images, the heap would then hold the free space between blocks of different sizes (several GB at
``P = 4096``): :func:`release_free_memory` hands it back after every part. :func:`keep_large_allocations` asks glibc for that once
per process (``mallopt``), only on Linux with glibc, and never when the environment variable
``SSLVIT_NO_MALLOPT`` is set. It changes speed and resident memory, never results.
"""
from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_large_allocations", "release_free_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False
#: blocks from this size on still come from ``mmap`` (and go back to the system at once)
MMAP_THRESHOLD = 1 << 30


def keep_large_allocations() -> bool:
    """Serve large allocations from the heap and do not trim it (glibc only). Returns whether it applied."""
    global _done
    if _done:
        return True
    if os.environ.get("SSLVIT_NO_MALLOPT") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``); a no-op elsewhere or when
    :func:`keep_large_allocations` did not apply. Costs page faults when the memory is used again, so the
    engine calls it only between the parts of a large batch."""
    if _done:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
