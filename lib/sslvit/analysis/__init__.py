"""The analysis behind the paper's chapters: the competing gradients at initialisation and the ``P^Δ`` law
(:mod:`~sslvit.analysis.theory`, chapter 3), the phases of MAE training and the best possible reconstruction
(:mod:`~sslvit.analysis.phases`, chapter 4), sweeps over Δ, masking rates and seeds
(:mod:`~sslvit.analysis.sweeps`, chapter 6). Imports :mod:`sslvit.core`, never the reverse.
"""
