"""Progress bars of long runs (sslvit.core.training.progress_steps, watched): shown to someone watching, a
terminal or a notebook, and never in a test or a script whose stderr goes to a file."""
import sys

import pytest

from sslvit.core.training import progress_steps, watched


def test_not_watched_under_pytest():
    assert not watched()                         # stderr captured, no Jupyter kernel
    assert progress_steps(3, "x") == range(1, 4)


def test_bar_when_asked_and_steps_unchanged():
    bar = progress_steps(3, "MAE x2 runs", progress=True)
    assert hasattr(bar, "set_postfix") and list(bar) == [1, 2, 3]
    assert progress_steps(3, "x", progress=False) == range(1, 4)


def test_a_notebook_kernel_is_watched(monkeypatch):
    class ZMQInteractiveShell:                   # the class name of IPython's kernel shell
        pass

    class FakeIPython:
        @staticmethod
        def get_ipython():
            return ZMQInteractiveShell()

    monkeypatch.setitem(sys.modules, "IPython", FakeIPython)
    assert watched()


def test_fullq_refuses_a_progress_that_is_not_a_flag():
    from sslvit import DataConfig, Run, TrainConfig
    from sslvit.beyond.fullq import train_fullq

    run = Run(DataConfig(patches=16, global_size=8, local_size=2), TrainConfig(objective="mae", steps=1))
    with pytest.raises(ValueError, match="progress"):
        train_fullq(run, progress="yes")
