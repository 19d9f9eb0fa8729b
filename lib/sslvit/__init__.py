"""sslvit: the library of the executable companion book to Huang, Wen, Chi & Liang (ICLR 2025),
"A Theoretical Analysis of Self-Supervised Learning for Vision Transformers" (arXiv:2403.02233).

Modules, one idea each: :mod:`~sslvit.core.data` (spatially structured data), :mod:`~sslvit.core.model` (the
reference one-layer ViT), :mod:`~sslvit.core.engine` (the fast reduced engine on the attention correlations),
:mod:`~sslvit.core.objectives` (MAE and CL), :mod:`~sslvit.train` (batched training), :mod:`~sslvit.core.metrics`
(SPEC §4 metrics), :mod:`~sslvit.cli` (``python -m sslvit``).
"""
from sslvit.core.data import DataConfig, Layout, Sample, dense_patches, information_gap, make_layout, sample_batch, sizes_from_kappa
from sslvit.core.metrics import METRICS, attention_distance, nmi
from sslvit.core.model import OneLayerViT, correlations_from_q, q_from_correlations
from sslvit.core.training import DEFAULTS, Run, TrainConfig, Trajectory, TrainingDiverged, evaluate, train

__version__ = "0.1.0"

__all__ = [
    "DataConfig", "Layout", "Sample", "dense_patches", "information_gap", "make_layout", "sample_batch",
    "sizes_from_kappa", "METRICS", "attention_distance", "nmi", "OneLayerViT", "correlations_from_q",
    "q_from_correlations", "DEFAULTS", "Run", "TrainConfig", "Trajectory", "TrainingDiverged", "evaluate",
    "train", "__version__",
]
