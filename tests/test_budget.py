"""The memory estimate and the early stop of a training call that cannot fit (the book's reproducibility appendix), and the device
argument."""
from __future__ import annotations

import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.core.budget import TooLarge, available_memory, check_fits, estimate_memory


def runs_at(patches: int, n: int = 1, objective: str = "mae") -> list[Run]:
    return [Run(DataConfig(patches=patches, clusters=4, global_size=64, local_size=4),
                TrainConfig(objective=objective, steps=2, seed=s)) for s in range(n)]


def test_estimate_grows_with_runs_and_patches():
    small, more_runs, more_p = (estimate_memory(r) for r in (runs_at(256), runs_at(256, 8), runs_at(1024)))
    assert 0 < small.total < more_runs.total and small.total < more_p.total
    assert more_runs.state == pytest.approx(8 * small.state, rel=1e-9)          # A, B per run
    assert estimate_memory(runs_at(256), torch.float32).total < small.total      # half the bytes per number
    assert estimate_memory(runs_at(256, objective="cl")).step > small.step       # two views


def test_large_mae_is_bounded_by_image_parts():
    """Past one engine call's size, MAE's step is computed in parts of images: its step memory stops growing
    with the batch, CL's (computed whole) does not."""
    def step(objective: str, batch: int) -> int:
        run = Run(DataConfig(patches=4096, clusters=4, global_size=64, local_size=4),
                  TrainConfig(objective=objective, batch_size=batch))
        return estimate_memory([run]).step
    assert step("mae", 64) == step("mae", 32)
    assert step("cl", 64) > 1.9 * step("cl", 32)


def test_too_large_stops_before_allocating():
    """P = 10⁹ would need ~10¹¹ GB: the call stops at once, with the estimate and what to change."""
    huge = [Run(DataConfig(patches=10**9, clusters=4, global_size=5 * 10**8, local_size=4), TrainConfig(steps=1))]
    with pytest.raises(TooLarge) as err:
        train(huge)
    message = str(err.value)
    assert "GB" in message and "fewer patches" in message and "P = 1000000000" in message


def test_check_fits_can_be_switched_off(monkeypatch):
    huge = [Run(DataConfig(patches=10**9, clusters=4, global_size=5 * 10**8, local_size=4), TrainConfig(steps=1))]
    monkeypatch.setenv("SSLVIT_NO_MEMORY_CHECK", "1")
    assert check_fits(huge, torch.float64, None).total > 10**15


def test_available_memory_on_cpu():
    free = available_memory("cpu")
    assert free is None or free > 0


def test_device_argument():
    """Training on an explicit CPU device gives the default's numbers; a device this machine lacks, or no device
    at all, is refused with a message that names it."""
    run = Run(DataConfig(patches=64, clusters=2, global_size=16, local_size=4), TrainConfig(steps=3, batch_size=4))
    a, b = train(run, log_every=3), train(run, log_every=3, device=torch.device("cpu"))
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)
    with pytest.raises(ValueError, match="device='nonsense'"):
        train(run, device="nonsense")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda'.*use 'cpu'"):
            train(run, device="cuda")
