"""Numbers at the library's boundary (sslvit.core.validation.is_integer / is_real): NumPy integers and floats are
accepted wherever Python's are, bools are refused by name."""
import numpy as np
import pytest
import torch

from sslvit.analysis.stats import share
from sslvit.analysis.theory import init_rates
from sslvit.checks import below
from sslvit.vit.realdata import patchify


def test_numpy_numbers_are_numbers():
    assert share(3, 10, level=np.float64(0.9)) == share(3, 10, level=0.9)
    assert below(1e-13, np.float32(1e-12)).holds
    images = torch.zeros(2, 1, 8, 8)
    assert torch.equal(patchify(images, np.int64(4)), patchify(images, 4))
    assert init_rates(np.int64(256), np.int64(64), np.int64(4), 0.5).ratio == init_rates(256, 64, 4, 0.5).ratio


@pytest.mark.parametrize("call, name", [
    (lambda: share(3, 10, level=True), "level"),
    (lambda: below(1e-13, True), "tol"),
    (lambda: patchify(torch.zeros(2, 1, 8, 8), True), "patch"),
    (lambda: init_rates(True, 64, 4, 0.5), "patches"),
])
def test_bools_are_refused_by_name(call, name):
    with pytest.raises(ValueError, match=name):
        call()
