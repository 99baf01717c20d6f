"""Helpers for the tests: closeness in the tolerances of convlab.tolerance, random configs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convlab import geometry, tolerance

ORACLE_CONFIGS = 0  # configurations compared with TensorFlow in this process


def oracle_checked(n: int = 1) -> None:
    """Count ``n`` configurations compared with TensorFlow (printed at the end of the run)."""
    global ORACLE_CONFIGS
    ORACLE_CONFIGS += n


def assert_close(got: Any, ref: Any, dtype: Any = np.float32, device: str = "cpu",
                 what: str = "", scale: Any = None) -> None:
    """Assert shape, dtype and values match ``ref`` within the tolerance for ``dtype``.

    ``scale``: the magnitudes the error is relative to (default ``ref``), see
    :func:`convlab.tolerance.errors`.
    """
    got = np.asarray(got)
    assert got.shape == np.shape(ref), f"{what}: shape {got.shape} != {np.shape(ref)}"
    assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype} != {np.dtype(dtype)}"
    _, rel = tolerance.errors(got, ref, scale)
    limit = tolerance.rtol(dtype, device)
    assert rel <= limit, f"{what}: relative error {rel:.3e} > {limit:.0e}"


@dataclass
class Config:
    """One convolution to test: NHWC shapes plus TF-style arguments."""

    n: int
    h: int
    w: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    strides: tuple[int, int]
    dilations: tuple[int, int]
    padding: Any
    data_format: str = "NHWC"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        if self.data_format == "NCHW":
            return (self.n, self.c_in, self.h, self.w)
        return (self.n, self.h, self.w, self.c_in)

    @property
    def filter_shape(self) -> tuple[int, int, int, int]:
        return (self.kh, self.kw, self.c_in, self.c_out)

    def _pad(self, i: int) -> Any:
        return self.padding if isinstance(self.padding, str) else tuple(self.padding[i])

    @property
    def output_hw(self) -> tuple[int, int]:
        return (
            geometry.output_size(self.h, self.kh, self.strides[0], self._pad(0), self.dilations[0]),
            geometry.output_size(self.w, self.kw, self.strides[1], self._pad(1), self.dilations[1]),
        )

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        oh, ow = self.output_hw
        if self.data_format == "NCHW":
            return (self.n, self.c_out, oh, ow)
        return (self.n, oh, ow, self.c_out)

    def args(self) -> tuple[Any, ...]:
        """``(strides, padding, data_format, dilations)`` as convlab and TF take them."""
        pad = self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding]
        return (list(self.strides), pad, self.data_format, list(self.dilations))

    def arrays(self, rng: np.random.Generator, dtype: Any = np.float32):
        """Random ``x``, ``w`` and ``dy`` for this configuration."""
        x = rng.standard_normal(self.input_shape).astype(dtype)
        w = rng.standard_normal(self.filter_shape).astype(dtype)
        dy = rng.standard_normal(self.output_shape).astype(dtype)
        return x, w, dy

    def fits(self) -> bool:
        """Whether at least one window fits (the grids compare non-empty outputs; the empty
        ones TensorFlow gives are compared in test_edges)."""
        try:
            return min(self.output_hw) > 0
        except ValueError:
            return False


def ids(cfg: Config) -> str:
    """A readable test id, e.g. ``NHWC-n2-7x6-c3to2-k3x3-s22-d11-SAME``."""
    pad = cfg.padding
    if not isinstance(pad, str):
        pad = "x".join(str(v) for pair in pad for v in pair)
    return (f"{cfg.data_format}-n{cfg.n}-{cfg.h}x{cfg.w}-c{cfg.c_in}to{cfg.c_out}"
            f"-k{cfg.kh}x{cfg.kw}-s{cfg.strides[0]}{cfg.strides[1]}"
            f"-d{cfg.dilations[0]}{cfg.dilations[1]}-{pad}")
