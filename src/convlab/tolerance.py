"""How close two results must be to agree: one table, keyed by dtype and device.

Errors are measured against a float64 numpy reference computed from the same (rounded)
inputs, relative to the largest magnitude in the reference (a normwise error, which is
well defined where single elements are near zero).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ADJOINT_RTOL", "RTOL", "errors", "rtol"]

RTOL: dict[tuple[str, str], float] = {
    ("float64", "cpu"): 1e-12,
    ("float64", "gpu"): 1e-12,
    ("float32", "cpu"): 1e-5,
    # cuDNN may choose Winograd or FFT algorithms, which round differently
    ("float32", "gpu"): 1e-4,
    # TensorFloat-32 keeps 10 mantissa bits of each float32 input
    ("float32", "gpu-tf32"): 2e-2,
    # float16 keeps 10 mantissa bits and some kernels accumulate in float16
    ("float16", "cpu"): 2e-2,
    ("float16", "gpu"): 2e-2,
    # bfloat16 (JAX) keeps 7 mantissa bits: rounding the output alone costs up to 2**-8
    ("bfloat16", "cpu"): 2e-2,
    ("bfloat16", "gpu"): 2e-2,
}

# vdot(conv2d(x, w), dy) == vdot(x, d_x) == vdot(w, d_w), all in float64
ADJOINT_RTOL = 1e-10


def rtol(dtype: str | np.dtype, device: str = "cpu", tf32: bool = False) -> float:
    """Return the relative tolerance for results of ``dtype`` computed on ``device``.

    Examples
    --------
    >>> rtol("float32", "gpu", tf32=True)
    0.02
    >>> rtol("bfloat16")
    0.02
    """
    name = "bfloat16" if dtype == "bfloat16" else np.dtype(dtype).name  # numpy has none
    key = "gpu-tf32" if device == "gpu" and tf32 and name == "float32" else device
    return RTOL[(name, key)]


def errors(got: ArrayLike, ref: ArrayLike, scale: ArrayLike | None = None) -> tuple[float, float]:
    """Return ``(max |got - ref|, max |got - ref| / max |scale|)`` computed in float64.

    ``scale`` defaults to ``ref``. Where a result is a sum whose terms cancel, pass the
    same sum over the terms' magnitudes (the function of ``|x|``, ``|w|``, ``|dy|``):
    rounding errors grow with the terms, not with what is left of them.

    Raises
    ------
    ValueError
        If the shapes differ: a wrong shape is never a small error.
    """
    a = np.asarray(got, dtype=np.float64)
    b = np.asarray(ref, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape {a.shape} does not match the reference shape {b.shape}")
    m = b if scale is None else np.asarray(scale, dtype=np.float64)
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    top = float(np.max(np.abs(m))) if m.size else 0.0
    return diff, diff / top if top > 0 else diff
