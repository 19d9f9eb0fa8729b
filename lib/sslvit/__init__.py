"""sslvit: the library of the executable companion book to Huang, Wen, Chi & Liang (ICLR 2025),
"A Theoretical Analysis of Self-Supervised Learning for Vision Transformers" (arXiv:2403.02233).

Rooms, from the inside out: :mod:`sslvit.core` (the paper's setup: data, model, engine, objectives, training,
metrics, to be read top to bottom), :mod:`sslvit.analysis` (the analysis behind the paper's chapters),
:mod:`sslvit.beyond` (experiments beyond the paper), :mod:`sslvit.vit` (a standard ViT and real images),
:mod:`sslvit.plots` (figures), :mod:`sslvit.cli` (``python -m sslvit``). Outer rooms import the core, never the
reverse. The names below are the core's, plus the objectives of chapters 10 and 11, which are imported from
:mod:`sslvit.beyond` only when asked for (``sslvit.Mixed``): importing the library, or its core, imports no
outer room.
"""
import sys as _sys

if _sys.argv[:1] == ["-m"]:  # ``python -m sslvit`` is loading the library: Ctrl-C now is one line and status 130
    import os as _os
    import signal as _signal

    def _interrupted_while_loading(signum, frame):  # noqa: ANN001
        _sys.stderr.write("python -m sslvit: interrupted: stopped while loading (Ctrl-C)\n")
        _sys.stderr.flush()
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _interrupted_while_loading)
from sslvit.core.data import DataConfig, Layout, Sample, dense_patches, information_gap, make_layout, sample_batch, sizes_from_kappa
from sslvit.core.metrics import METRICS, attention_distance, nmi
from sslvit.core.model import OneLayerViT, correlations_from_q, q_from_correlations
from sslvit.core.objectives import CL, MAE, Objective
from sslvit.core.training import DEFAULTS, Run, TrainConfig, Trajectory, TrainingDiverged, TrainingInterrupted, evaluate, train

__version__ = "0.1.0"

#: names of the package that live in an outer room, imported on first use (PEP 562)
_OUTER_NAMES = {"MemoryQueue": "sslvit.beyond.memory", "Mixed": "sslvit.beyond.mix"}


def __getattr__(name: str):  # noqa: ANN202
    if name in _OUTER_NAMES:
        import importlib

        return getattr(importlib.import_module(_OUTER_NAMES[name]), name)
    raise AttributeError(f"module 'sslvit' has no attribute {name!r}")

__all__ = [
    "DataConfig", "Layout", "Sample", "dense_patches", "information_gap", "make_layout", "sample_batch",
    "sizes_from_kappa", "METRICS", "attention_distance", "nmi", "OneLayerViT", "correlations_from_q",
    "q_from_correlations", "Objective", "MAE", "CL", "MemoryQueue", "Mixed", "DEFAULTS", "Run", "TrainConfig",
    "Trajectory", "TrainingDiverged", "TrainingInterrupted", "evaluate", "train", "__version__",
]
