"""The two self-supervised objectives of the paper, MAE (chapter 4) and CL (chapter 5), on the area masses of
the reduced engine and on the model's dense outputs, and the interface every objective of the training loop
implements (:mod:`~sslvit.core.objectives.base`).
"""
from sslvit.core.objectives.base import (BoundObjective, Masses, Objective, objective_named, register_objective,
                                         registered_objectives)
from sslvit.core.objectives.cl import (CL, BoundCL, check_negatives, cl_loss, in_batch_logits, negatives_mask,
                                       representation)
from sslvit.core.objectives.dense import cl_loss_dense, infonce_dense, mae_loss_dense
from sslvit.core.objectives.mae import MAE, mae_loss, mae_loss_and_grad, oracle_attention, oracle_mass, uniform_rows

__all__ = [
    "Objective", "BoundObjective", "register_objective", "registered_objectives", "objective_named",
    "Masses", "MAE", "CL", "BoundCL", "mae_loss", "mae_loss_and_grad", "oracle_mass",
    "oracle_attention", "uniform_rows", "check_negatives", "negatives_mask", "representation", "in_batch_logits",
    "cl_loss", "mae_loss_dense", "cl_loss_dense", "infonce_dense",
]
