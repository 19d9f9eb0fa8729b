"""Experiments beyond the paper (book chapters 7–12): other optimisers (:mod:`~sslvit.beyond.optimizers`),
which area CL collapses onto (:mod:`~sslvit.beyond.collapse`), overlapping features and noise on the full-``Q``
model (:mod:`~sslvit.beyond.fullq`, :mod:`~sslvit.beyond.assumptions`), a MoCo-style memory queue
(:mod:`~sslvit.beyond.memory`), the mixed objective (:mod:`~sslvit.beyond.mix`), the toy data for a standard ViT
(:mod:`~sslvit.beyond.richer`). Imports :mod:`sslvit.core`, never the reverse.
"""
