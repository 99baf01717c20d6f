"""TensorFlow as the oracle: every numpy function and every via-conv2d method against TF.

The oracle runs TensorFlow itself (not convlab.tf) in float64 on the same rounded inputs,
on the CPU and in NHWC. Stock TF on CPU refuses NCHW and the gradients of dilated
convolutions, so the oracle works around both:

* NCHW data is transposed to NHWC, computed there, and transposed back;
* ``y`` comes from TF's dilated ``conv2d``, but ``d_x`` and ``d_w`` come from
  ``GradientTape`` through a dilation-1 ``conv2d`` with an explicitly dilated filter
  (``d - 1`` zero taps between neighbours); ``d_w`` of the real filter is that gradient
  sampled every ``d`` taps.

Where TF has a kernel, convlab.tf's direct ops are compared too; where it has none they
must raise ``TensorFlowUnsupportedError``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convlab
from _support import Config, assert_close, ids, oracle_checked

pytestmark = pytest.mark.tf

Arrays = dict[str, np.ndarray]


@pytest.fixture(scope="session")
def tf(ctf):
    """TensorFlow itself, for the oracle (skipped like ``ctf`` when it is missing)."""
    import tensorflow

    return tensorflow


# --- the oracle -------------------------------------------------------------------------


def to_nhwc(a: np.ndarray, data_format: str) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if data_format == "NCHW" else a


def from_nhwc(a: np.ndarray, data_format: str) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if data_format == "NCHW" else a


def dilate_filter(w: np.ndarray, dilations: tuple[int, int]) -> np.ndarray:
    """HWIO ``w`` with ``d - 1`` zero taps between neighbouring taps.

    Convolving with it at dilation 1 is convolving with ``w`` at dilation ``d``.
    """
    (dh, dw), (kh, kw) = dilations, w.shape[:2]
    out = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1, *w.shape[2:]), dtype=w.dtype)
    out[::dh, ::dw] = w
    return out


def tf_padding(cfg: Config) -> Any:
    """``cfg.padding`` as ``tf.nn.conv2d`` takes it in NHWC."""
    if isinstance(cfg.padding, str):
        return cfg.padding
    return [[0, 0], *([int(v) for v in pair] for pair in cfg.padding), [0, 0]]


def tf_oracle(tf, cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> Arrays:
    """``y``, ``d_x`` and ``d_w`` from TensorFlow in float64, laid out as ``cfg.data_format``."""
    fmt = cfg.data_format
    x64, dy64 = (to_nhwc(a.astype(np.float64), fmt) for a in (x, dy))
    w64 = w.astype(np.float64)
    strides, padding = [1, *cfg.strides, 1], tf_padding(cfg)
    with tf.device("/CPU:0"):
        y = tf.nn.conv2d(x64, w64, strides, padding, dilations=[1, *cfg.dilations, 1])
        xt, wt = tf.constant(x64), tf.constant(dilate_filter(w64, cfg.dilations))
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            y_undilated = tf.nn.conv2d(xt, wt, strides, padding)
        d_x, d_w = tape.gradient(y_undilated, [xt, wt], output_gradients=dy64)
    # the dilated filter must be the same convolution, or its gradients prove nothing
    assert_close(y_undilated, y, np.float64, what=f"oracle's dilated filter for {cfg}")
    dh, dw = cfg.dilations
    return {
        "y": from_nhwc(y.numpy(), fmt),
        "d_x": from_nhwc(d_x.numpy(), fmt),
        "d_w": d_w.numpy()[::dh, ::dw],
    }


def numpy_reference(cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> Arrays:
    """``y``, ``d_x`` and ``d_w`` from convlab's numpy functions in float64."""
    x, w, dy = (a.astype(np.float64) for a in (x, w, dy))
    args = cfg.args()
    return {
        "y": convlab.conv2d(x, w, *args),
        "d_x": convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args),
        "d_w": convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args),
    }


# --- the methods under test -------------------------------------------------------------

Method = tuple[str, str, Callable[[], Any], bool]  # quantity, name, compute, TF can run it


def methods(ctf, cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> list[Method]:
    """Every way convlab computes ``y``, ``d_x`` and ``d_w``, numpy and TensorFlow.

    The last field says whether stock TF on CPU has a kernel: the forward conv2d needs
    NHWC, and TF's gradient ops (and GradientTape) also need dilations of 1. The
    via-conv2d methods run only NHWC forward conv2d, so they work everywhere.
    """
    a, xs, ws, cpu = cfg.args(), cfg.input_shape, cfg.filter_shape, {"device": "cpu"}
    forward = cfg.data_format == "NHWC"
    gradient = forward and cfg.dilations == (1, 1)
    return [
        ("y", "conv2d", lambda: convlab.conv2d(x, w, *a), True),
        ("d_x", "conv2d_backprop_input",
         lambda: convlab.conv2d_backprop_input(xs, w, dy, *a), True),
        ("d_x", "conv2d_transpose", lambda: convlab.conv2d_transpose(dy, w, xs, *a), True),
        ("d_x", "grad_input_via_conv2d",
         lambda: convlab.grad_input_via_conv2d(xs, w, dy, *a), True),
        ("d_w", "conv2d_backprop_filter",
         lambda: convlab.conv2d_backprop_filter(x, ws, dy, *a), True),
        ("d_w", "grad_filter_via_conv2d",
         lambda: convlab.grad_filter_via_conv2d(x, ws, dy, *a), True),
        ("d_x", "tf.grad_input_via_conv2d",
         lambda: ctf.grad_input_via_conv2d(xs, w, dy, *a, **cpu), True),
        ("d_w", "tf.grad_filter_via_conv2d",
         lambda: ctf.grad_filter_via_conv2d(x, ws, dy, *a, **cpu), True),
        ("y", "tf.conv2d", lambda: ctf.conv2d(x, w, *a, **cpu), forward),
        ("d_x", "tf.conv2d_backprop_input",
         lambda: ctf.conv2d_backprop_input(xs, w, dy, *a, **cpu), gradient),
        ("d_x", "tf.conv2d_transpose",
         lambda: ctf.conv2d_transpose(dy, w, xs, *a, **cpu), gradient),
        ("d_x", "tf.autodiff", lambda: ctf.autodiff(x, w, dy, *a, **cpu)[0], gradient),
        ("d_w", "tf.conv2d_backprop_filter",
         lambda: ctf.conv2d_backprop_filter(x, ws, dy, *a, **cpu), gradient),
        ("d_w", "tf.autodiff", lambda: ctf.autodiff(x, w, dy, *a, **cpu)[1], gradient),
    ]


def check_against_tf(ctf, tf, cfg: Config, dtype: Any, rng: np.random.Generator) -> None:
    """Compare every method with the TF oracle; where TF has no kernel, expect the refusal."""
    x, w, dy = cfg.arrays(rng, dtype)
    want = tf_oracle(tf, cfg, x, w, dy)
    for quantity, name, compute, runs in methods(ctf, cfg, x, w, dy):
        what = f"{name} ({quantity}) for {cfg}, {np.dtype(dtype).name}"
        if runs:
            assert_close(compute(), want[quantity], dtype, what=what)
        else:
            with pytest.raises(ctf.TensorFlowUnsupportedError):
                compute()
    oracle_checked()




# --- 1. a deterministic grid ------------------------------------------------------------

# (n, h, w, c_in, c_out, kh, kw, dtype): H != W everywhere, even and non-square kernels
SHAPES = [
    (1, 7, 9, 2, 3, 3, 3, np.float32),
    (2, 8, 7, 3, 1, 2, 4, np.float32),
    (3, 6, 10, 4, 2, 4, 1, np.float64),
]
STRIDES = [(1, 1), (2, 2), (3, 3), (1, 2)]
PADDINGS = ["VALID", "SAME", ((0, 2), (1, 0))]
DILATIONS = [(1, 1), (2, 2)]
FORMATS = ["NHWC", "NCHW"]

GRID = [
    (Config(n, h, w, ci, co, kh, kw, s, d, p, fmt), dtype)
    for (n, h, w, ci, co, kh, kw, dtype), s, p, d, fmt in itertools.product(
        SHAPES, STRIDES, PADDINGS, DILATIONS, FORMATS
    )
]
GRID = [(cfg, dtype) for cfg, dtype in GRID if cfg.fits()]


def test_grid_covers_the_cases_the_issue_names():
    configs = [cfg for cfg, _ in GRID]

    def odd_same(cfg: Config) -> bool:
        totals = [sum(convlab.same_padding(size, k, s, d)) for size, k, s, d in zip(
            (cfg.h, cfg.w), (cfg.kh, cfg.kw), cfg.strides, cfg.dilations, strict=True)]
        return cfg.padding == "SAME" and any(t % 2 for t in totals)

    assert len(GRID) >= 100
    assert any(c.padding == "SAME" and min(c.strides) >= 2 for c in configs)
    assert any(c.padding == "SAME" and c.strides == (3, 3) for c in configs)
    assert any(odd_same(c) for c in configs)
    assert any(not isinstance(c.padding, str) for c in configs)
    assert any(c.dilations == (2, 2) and c.strides != (1, 1) for c in configs)
    assert any(c.c_in != c.c_out for c in configs)
    assert any(c.n > 1 for c in configs)
    assert any(c.data_format == "NCHW" and c.dilations == (2, 2) for c in configs)
    assert {np.dtype(d).name for _, d in GRID} == {"float32", "float64"}


@pytest.mark.parametrize(("cfg", "dtype"), GRID, ids=[ids(c) for c, _ in GRID])
def test_grid_matches_tensorflow(cfg, dtype, ctf, tf, rng):
    check_against_tf(ctf, tf, cfg, dtype, rng)


# --- 2. random configurations -----------------------------------------------------------

pairs = st.tuples(st.integers(0, 3), st.integers(0, 3))


@st.composite
def configs(draw: st.DrawFn, data_format: str) -> Config:
    size = st.integers(1, 10)
    return Config(
        n=draw(st.integers(1, 3)), h=draw(size), w=draw(size),
        c_in=draw(st.integers(1, 4)), c_out=draw(st.integers(1, 4)),
        kh=draw(st.integers(1, 4)), kw=draw(st.integers(1, 4)),
        strides=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        dilations=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
        padding=draw(st.one_of(st.sampled_from(["VALID", "SAME"]), st.tuples(pairs, pairs))),
        data_format=data_format,
    )


@pytest.mark.parametrize("data_format", FORMATS)
@settings(max_examples=110, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_random_configs_match_tensorflow(ctf, tf, data_format, data, dtype, seed):
    cfg = data.draw(configs(data_format), label="cfg")
    assume(cfg.fits())
    check_against_tf(ctf, tf, cfg, dtype, np.random.default_rng(seed))


# Padding before the input so large that every window lies in it: the input gets a zero
# gradient, and the full correlation's "padding" crops more rows than d_out has.
EVERY_WINDOW_IN_THE_PADDING = [
    # height 1, kernel 1, stride 3, 2 rows on top: one window, on padded row 0
    Config(1, 1, 4, 1, 2, 1, 2, (3, 1), (1, 1), ((2, 0), (0, 1))),
    # the same along the width, with a dilated 2-tap kernel, in NCHW
    Config(2, 5, 1, 3, 2, 3, 2, (1, 3), (1, 2), ((1, 1), (4, 0)), "NCHW"),
]


@pytest.mark.parametrize("cfg", EVERY_WINDOW_IN_THE_PADDING, ids=ids)
def test_every_window_in_the_padding_matches_tensorflow(cfg, ctf, tf, rng):
    check_against_tf(ctf, tf, cfg, np.float32, rng)


# --- 3. dilated gradients on CPU: TF refuses, convlab.tf's via-conv2d methods do not -----


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
@pytest.mark.parametrize("padding", ["SAME", ((0, 2), (1, 0))])
def test_tf_via_conv2d_computes_dilated_gradients_that_tf_refuses(ctf, rng, dtype, strides,
                                                                   padding):
    cfg = Config(2, 9, 8, 2, 3, 3, 2, strides, (2, 2), padding)
    x, w, dy = cfg.arrays(rng, dtype)
    want = numpy_reference(cfg, x, w, dy)
    xs, ws, args = cfg.input_shape, cfg.filter_shape, cfg.args()

    d_x = ctf.grad_input_via_conv2d(xs, w, dy, *args, device="cpu")
    d_w = ctf.grad_filter_via_conv2d(x, ws, dy, *args, device="cpu")
    assert_close(d_x, want["d_x"], dtype, what="tf.grad_input_via_conv2d")
    assert_close(d_w, want["d_w"], dtype, what="tf.grad_filter_via_conv2d")

    with pytest.raises(ctf.TensorFlowUnsupportedError, match="grad_input_via_conv2d"):
        ctf.conv2d_backprop_input(xs, w, dy, *args, device="cpu")
    with pytest.raises(ctf.TensorFlowUnsupportedError, match="grad_filter_via_conv2d"):
        ctf.conv2d_backprop_filter(x, ws, dy, *args, device="cpu")


# --- 4. float16 -------------------------------------------------------------------------

HALF = [
    Config(2, 8, 7, 3, 2, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(1, 6, 9, 2, 4, 2, 3, (1, 2), (1, 1), ((0, 2), (1, 0))),
    Config(2, 9, 8, 3, 2, 3, 2, (2, 1), (2, 2), "SAME", "NCHW"),
]


@pytest.mark.parametrize("cfg", HALF, ids=ids)
def test_float16_matches_tensorflow_and_the_float64_reference(cfg, ctf, tf, rng):
    x, w, dy = cfg.arrays(rng, np.float16)
    oracle, reference = tf_oracle(tf, cfg, x, w, dy), numpy_reference(cfg, x, w, dy)
    results = [(q, name, compute()) for q, name, compute, runs in methods(ctf, cfg, x, w, dy)
               if runs]
    for quantity, name, got in results:
        assert_close(got, oracle[quantity], np.float16, what=f"{name} vs TF float64")
        assert_close(got, reference[quantity], np.float16, what=f"{name} vs numpy float64")
    half_tf = [(q, name, got) for q, name, got in results if name.startswith("tf.")]
    for (q, name, got), (q_tf, name_tf, got_tf) in itertools.product(results, half_tf):
        if q == q_tf and not name.startswith("tf."):
            assert_close(got, np.asarray(got_tf), np.float16, what=f"{name} vs {name_tf}")
    oracle_checked()


# --- 5. convlab.verify ------------------------------------------------------------------

GRADIENT_OPS = {"autodiff", "conv2d_backprop_input", "conv2d_transpose",
                "conv2d_backprop_filter"}

VERIFY = [
    # (verify's keyword arguments, the TF methods stock TF on CPU refuses)
    (dict(input_shape=(2, 9, 8, 3), filter_shape=(3, 3, 3, 4), strides=2, padding="SAME"),
     set()),
    (dict(input_shape=(1, 9, 10, 2), filter_shape=(3, 2, 2, 3), strides=1,
          padding=[[0, 2], [1, 0]], dilations=2), GRADIENT_OPS),
    (dict(input_shape=(2, 3, 8, 7), filter_shape=(2, 3, 3, 2), strides=(2, 1),
          padding="SAME", data_format="NCHW"), GRADIENT_OPS | {"conv2d"}),
    (dict(input_shape=(3, 7, 6, 2), filter_shape=(4, 3, 2, 1), strides=3, padding="VALID",
          dtype="float64"), set()),
]


@pytest.mark.parametrize(("kwargs", "refused"), VERIFY)
def test_verify_agrees_and_explains_tf_refusals(ctf, kwargs, refused):
    report = convlab.verify(**kwargs, device="cpu", repeat=1,
                            backends=("numpy", "tensorflow"))
    assert report.ok, str(report)
    assert report.adjoint_ok, str(report)

    tf_rows = [r for r in report.rows if r.backend == "tensorflow"]
    assert {r.method for r in tf_rows if r.ok is None} == refused, str(report)
    assert all(r.ok for r in report.rows if r.backend == "numpy")
    assert all(r.ok for r in tf_rows if r.method == "via conv2d")
    for row in (r for r in tf_rows if r.ok is None):
        assert row.note.startswith("TF refuses"), row
        assert ("via conv2d" in row.note) == (row.method != "conv2d"), row
    if refused:
        assert "n/a" in str(report)
