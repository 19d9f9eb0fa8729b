"""The chaos audit's perturbation of the arithmetic (the book's reproducibility appendix, "Which numbers depend on the last bits").

The audit (``make audit``) re-executes every chapter under deliberately different arithmetic. One of its modes
multiplies every step size by ``1 + eps`` with ``eps`` of the order of float64 rounding (``1e-12``): a run that
is not chaotic changes in its 12th digit, a chaotic one ends elsewhere. The mode is switched on by the environment
variable :data:`STEP_SIZE_ENV` and is off (factor exactly ``1.0``) otherwise.

:data:`BOOK_ARITHMETIC` is the arithmetic the stored outputs are recorded and compared in (the Makefile's
``ARITHMETIC``); :func:`in_book_arithmetic` says whether this process runs in it, unperturbed, so that a chapter
can check a stored measurement bit for bit there and only show the comparison elsewhere.
"""
from __future__ import annotations

import math
import os

__all__ = ["STEP_SIZE_ENV", "BOOK_ARITHMETIC", "step_size_factor", "in_book_arithmetic"]

STEP_SIZE_ENV = "SSLVIT_AUDIT_STEP_SIZE_REL"
"""Name of the environment variable holding the relative perturbation ``eps`` of every step size."""

BOOK_ARITHMETIC = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                   "NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR", "OPENBLAS_CORETYPE": "Nehalem"}
"""The environment of the book's one arithmetic (the reproducibility appendix): PyTorch's portable kernels, MKL's vendor-independent
code path, NumPy's baseline kernels, one OpenBLAS kernel. The Makefile's ``ARITHMETIC`` sets the same."""


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


def in_book_arithmetic() -> bool:
    """Whether this process computes in the book's arithmetic (:data:`BOOK_ARITHMETIC`, read from the environment
    the process started with) with no step-size perturbation: where the stored outputs are reproduced bit for bit."""
    return all(os.environ.get(k) == v for k, v in BOOK_ARITHMETIC.items()) and step_size_factor() == 1.0
