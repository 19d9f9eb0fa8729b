"""The paper's setup, to be read top to bottom like its Section 2 (book chapters 1–5):

* :mod:`~sslvit.core.data` — spatially structured images: clusters, a global area and local areas, scales,
  masking, the information gap Δ (chapter 1);
* :mod:`~sslvit.core.model` — the one-layer softmax ViT with its full matrix ``Q`` (the reference, chapter 2);
* :mod:`~sslvit.core.engine` — the same model on its attention correlations ``(A, B)``: area masses forward,
  exact gradients backward (chapter 2);
* :mod:`~sslvit.core.objectives` — MAE and CL on the area masses (chapters 4, 5);
* :mod:`~sslvit.core.training` — gradient descent on many runs at once, with the metrics logged
  (chapters 4–6);
* :mod:`~sslvit.core.metrics` — own/global-area attention, FP correlations, NMI, attention distance (chapter 6);
* :mod:`~sslvit.core.attention` — the dense attention of a trained run on fresh images (for pictures).

The rooms around the core import it, never the reverse: :mod:`sslvit.analysis` (the analysis behind the
paper's chapters), :mod:`sslvit.beyond` (experiments beyond the paper), :mod:`sslvit.vit` (a standard ViT and
real images), :mod:`sslvit.plots` (figures).
"""
