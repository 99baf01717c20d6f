"""GPU runs: skipped with a reason where TensorFlow sees no GPU."""

from __future__ import annotations

import numpy as np
import pytest

import convlab
from _support import Config, assert_close

pytestmark = [pytest.mark.tf, pytest.mark.gpu]

CONFIGS = [
    Config(2, 9, 8, 3, 4, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(1, 10, 7, 2, 3, 3, 2, (1, 1), (2, 2), ((1, 2), (0, 1))),
    Config(3, 7, 7, 4, 2, 2, 2, (2, 1), (1, 1), "VALID", "NCHW"),
]


@pytest.fixture(scope="module")
def gpu(ctf):
    if not ctf.gpu_available():
        pytest.skip("TensorFlow sees no GPU on this machine")
    return ctf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=["same-s2", "dilated", "nchw"])
def test_gpu_agrees_with_the_reference(gpu, cfg, dtype, rng):
    import tensorflow as tf

    x, w, dy = cfg.arrays(rng, dtype)
    args = cfg.args()
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    y = convlab.conv2d(x64, w64, *args)
    d_x = convlab.conv2d_backprop_input(cfg.input_shape, w64, dy64, *args)
    d_w = convlab.conv2d_backprop_filter(x64, cfg.filter_shape, dy64, *args)
    on = {"device": "gpu"}
    assert_close(gpu.conv2d(x, w, *args, **on), y, dtype, "gpu")
    for name, got in [
        ("backprop_input", gpu.conv2d_backprop_input(cfg.input_shape, w, dy, *args, **on)),
        ("transpose", gpu.conv2d_transpose(dy, w, cfg.input_shape, *args, **on)),
        ("via", gpu.grad_input_via_conv2d(cfg.input_shape, w, dy, *args, **on)),
        ("autodiff", gpu.autodiff(x, w, dy, *args, **on)[0]),
    ]:
        assert_close(got, d_x, dtype, "gpu", what=name)
    for name, got in [
        ("backprop_filter", gpu.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args, **on)),
        ("via", gpu.grad_filter_via_conv2d(x, cfg.filter_shape, dy, *args, **on)),
        ("autodiff", gpu.autodiff(x, w, dy, *args, **on)[1]),
    ]:
        assert_close(got, d_w, dtype, "gpu", what=name)
    # convlab's TF32 policy: off unless set_tf32(True) was called
    assert tf.config.experimental.tensor_float_32_execution_enabled() is gpu.tf32_enabled()


def test_verify_reports_cpu_and_gpu_rows(gpu):
    report = convlab.verify((2, 8, 8, 3), (3, 3, 3, 4), 2, "SAME", device="all", repeat=1)
    assert report.ok, str(report)
    assert {r.device for r in report.rows if r.backend == "tensorflow"} == {"cpu", "gpu"}
