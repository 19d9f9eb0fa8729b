"""Shared settings and small configurations for the sslvit unit tests.

Every comparison runs in float64 on tiny problems (P = 8..64) so that the whole suite stays fast on two
CPU cores. One intra-op thread: at these sizes a second thread does not pay, and on a busy machine two
OpenMP threads were measured 15x slower (CPU time 0.5 s -> 8.8 s for a 300-step P = 64 run) because of
spin-waiting; pytest itself, or pytest-xdist, can use the second core.
"""
from __future__ import annotations

import pytest
import torch

from sslvit import DataConfig

torch.set_num_threads(1)


@pytest.fixture
def tiny_cfg() -> DataConfig:
    """P = 16, three clusters, one global area of 8 and four local areas of 2 (N = 5, d = 31)."""
    return DataConfig(patches=16, clusters=3, global_size=8, local_size=2)


@pytest.fixture
def grid_cfg() -> DataConfig:
    """4 × 4 grid, 2 × 2 local blocks: a global area of 8 and two local blocks."""
    return DataConfig(patches=16, clusters=2, global_size=8, local_size=4, layout="grid")


def pytest_configure(config):
    # sslvit.core.engine silences these torch beta-feature notices at import; pytest resets warning filters per test.
    config.addinivalue_line("filterwarnings", "ignore:Sparse CSR tensor support is in beta state")
    config.addinivalue_line("filterwarnings", "ignore:Sparse invariant checks are implicitly disabled")
