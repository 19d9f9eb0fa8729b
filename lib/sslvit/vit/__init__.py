"""A small standard Vision Transformer and real images (book chapters 12, 13): the model
(:mod:`~sslvit.vit.model`), its MAE and CL training with per-layer, per-head statistics
(:mod:`~sslvit.vit.training`), crops of scikit-learn's sample photographs (:mod:`~sslvit.vit.realdata`).
"""
from sslvit.vit.model import TinyViT, ViTConfig, ViTOutput

__all__ = ["TinyViT", "ViTConfig", "ViTOutput"]
