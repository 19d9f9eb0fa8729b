"""The chaos audit's perturbation of the arithmetic (book chapter 7, "Which numbers depend on the last bits").

The audit (``make audit``) re-executes every chapter under deliberately different arithmetic. One of its modes
multiplies every step size by ``1 + eps`` with ``eps`` of the order of float64 rounding (``1e-12``): a run that
is not chaotic changes in its 12th digit, a chaotic one ends elsewhere. The mode is switched on by the environment
variable :data:`STEP_SIZE_ENV` and is off (factor exactly ``1.0``) otherwise.
"""
from __future__ import annotations

import math
import os

__all__ = ["STEP_SIZE_ENV", "step_size_factor"]

STEP_SIZE_ENV = "SSLVIT_AUDIT_STEP_SIZE_REL"
"""Name of the environment variable holding the relative perturbation ``eps`` of every step size."""


def step_size_factor() -> float:
    """``1 + eps`` with ``eps`` read from :data:`STEP_SIZE_ENV`; ``1.0`` where it is unset or empty.

    Raises ``ValueError`` naming the variable when ``eps`` is not a finite number with ``|eps| <= 1e-6`` (the audit
    perturbs the last bits; a larger change would be a different experiment).
    """
    raw = os.environ.get(STEP_SIZE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        eps = float(raw)
    except ValueError:
        raise ValueError(f"{STEP_SIZE_ENV}={raw!r} is not allowed: a number with |eps| <= 1e-6, e.g. 1e-12") from None
    if not (math.isfinite(eps) and abs(eps) <= 1e-6):
        raise ValueError(f"{STEP_SIZE_ENV}={raw!r} is not allowed: a number with |eps| <= 1e-6, e.g. 1e-12")
    return 1.0 + eps
