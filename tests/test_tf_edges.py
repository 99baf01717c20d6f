"""convlab.tf at its edges, against TensorFlow's own ops.

* Inside ``tf.function`` with shapes known only in part when it is traced (an unknown
  batch, height and width, or rank) and sizes given as tensors (``tf.shape(x)``): the
  same result as the raw op, or a clear error naming what must be known.
* Strides and dilations beyond TensorFlow's int32 limit: a clear error, eager or traced.
* Empty shapes (a zero batch, height, width or out_channels; a filter longer than the
  padded input by less than twice the stride): TensorFlow's shape and dtype, zeros for
  the gradients, and TensorFlow's refusals where it refuses. The oracle never calls
  TensorFlow's ``Conv2DBackpropFilter`` on an empty case: its Eigen kernel returns
  uninitialised memory there, or crashes the process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab
from _support import assert_close, oracle_checked

pytestmark = pytest.mark.tf

FUNCTIONS = ("conv2d", "conv2d_backprop_input", "conv2d_backprop_filter", "conv2d_transpose",
             "autodiff", "grad_input_via_conv2d", "grad_filter_via_conv2d")


@pytest.fixture(scope="session")
def tf(ctf):
    """TensorFlow itself (skipped like ``ctf`` when it is missing)."""
    import tensorflow

    return tensorflow


@pytest.fixture
def tf_unreached(ctf, monkeypatch):
    """convlab.tf whose TensorFlow part fails the test: its checks must refuse first."""
    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("TensorFlow was reached: convlab's checks let the argument through")
    monkeypatch.setattr(ctf, "_on", reached)
    return ctf


def call(ctf, fn: str, x: Any, w: Any, dy: Any, *args: Any, x_sizes: Any = None,
         w_sizes: Any = None, **kwargs: Any) -> Any:
    """``ctf.fn`` with the roles it takes; sizes default to the shapes of ``x`` and ``w``."""
    x_sizes = np.shape(x) if x_sizes is None else x_sizes
    w_sizes = np.shape(w) if w_sizes is None else w_sizes
    f = getattr(ctf, fn)
    return {
        "conv2d": lambda: f(x, w, *args, **kwargs),
        "conv2d_backprop_input": lambda: f(x_sizes, w, dy, *args, **kwargs),
        "conv2d_backprop_filter": lambda: f(x, w_sizes, dy, *args, **kwargs),
        "conv2d_transpose": lambda: f(dy, w, x_sizes, *args, **kwargs),
        "autodiff": lambda: f(x, w, dy, *args, **kwargs),
        "grad_input_via_conv2d": lambda: f(x_sizes, w, dy, *args, **kwargs),
        "grad_filter_via_conv2d": lambda: f(x, w_sizes, dy, *args, **kwargs),
    }[fn]()


def tf_pad(padding: Any) -> Any:
    """``padding`` as ``tf.nn.conv2d`` takes it in NHWC."""
    return padding if isinstance(padding, str) else [[0, 0], *padding, [0, 0]]


def forward(tf, x: np.ndarray, w: np.ndarray, strides: int, padding: Any) -> np.ndarray:
    """``y`` from ``tf.nn.conv2d`` on the CPU (raises where TensorFlow refuses)."""
    with tf.device("/CPU:0"):
        return np.asarray(tf.nn.conv2d(x, w, strides, tf_pad(padding)))


def expected(tf, fn: str, x, w, dy, strides, padding) -> list[np.ndarray]:
    """What ``fn`` must return: TensorFlow's y and d_x, and d_w from convlab's numpy.

    TensorFlow's own ops, NHWC on the CPU; never its Conv2DBackpropFilter (see above).
    """
    s = [1, strides, strides, 1]
    mode = padding if isinstance(padding, str) else "EXPLICIT"
    explicit = [] if isinstance(padding, str) else [v for pair in tf_pad(padding) for v in pair]
    with tf.device("/CPU:0"):
        y = forward(tf, x, w, strides, padding)
        d_x = np.asarray(tf.raw_ops.Conv2DBackpropInput(
            input_sizes=x.shape, filter=w, out_backprop=dy, strides=s, padding=mode,
            explicit_paddings=explicit))
        transpose = np.asarray(tf.nn.conv2d_transpose(dy, w, x.shape, s, tf_pad(padding)))
    d_w = convlab.conv2d_backprop_filter(x, w.shape, dy, strides, padding)
    return {
        "conv2d": [y], "conv2d_backprop_input": [d_x], "conv2d_transpose": [transpose],
        "grad_input_via_conv2d": [d_x], "autodiff": [d_x, d_w],
        "conv2d_backprop_filter": [d_w], "grad_filter_via_conv2d": [d_w],
    }[fn]


def results(value: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in (value if isinstance(value, tuple) else (value,))]


# --- 1. inside tf.function ----------------------------------------------------------------

X, W, STRIDES, PADDING = (2, 6, 5, 3), (3, 2, 3, 4), 2, [[1, 0], [0, 2]]
DY = (2, 3, 3, 4)  # conv2d's output for X, W, STRIDES, PADDING
UNKNOWN = {  # input_signature shapes of x and dy
    "batch": ([None, 6, 5, 3], [None, 3, 3, 4]),
    "spatial": ([2, None, None, 3], [2, None, None, 4]),
    "rank": (None, None),
}


def traced_call(tf, ctf, fn: str, unknown: str, **options: Any):
    """``fn`` in a ``tf.function`` whose x and dy shapes are ``UNKNOWN[unknown]``.

    Sizes are tensors: ``tf.shape(x)`` and ``tf.shape(w)``, and for the transpose a list
    holding ``tf.shape(dy)[0]``.
    """
    xs, ds = UNKNOWN[unknown]
    spec = [tf.TensorSpec(xs, tf.float64), tf.TensorSpec(W, tf.float64),
            tf.TensorSpec(ds, tf.float64)]

    def body(x, w, dy):
        x_sizes = tf.shape(x)
        if fn == "conv2d_transpose" and unknown == "batch":
            x_sizes = [tf.shape(dy)[0], *X[1:]]
        return call(ctf, fn, x, w, dy, STRIDES, PADDING, x_sizes=x_sizes, w_sizes=tf.shape(w))

    return tf.function(body, input_signature=spec, **options)


@pytest.mark.parametrize("unknown", sorted(UNKNOWN))
def test_traced_with_unknown_dimensions_matches_tensorflow(tf, ctf, rng, unknown):
    x, w, dy = (rng.standard_normal(s) for s in (X, W, DY))
    for fn in FUNCTIONS:
        f = traced_call(tf, ctf, fn, unknown, autograph=fn == "autodiff")
        if fn.endswith("via_conv2d") and unknown != "batch":
            with pytest.raises(ValueError, match="every size but the batch must be known when "
                                                 "the function is traced"):
                f(x, w, dy)
            continue
        got = results(f(x, w, dy))
        want = expected(tf, fn, x, w, dy, STRIDES, PADDING)
        for g, r in zip(got, want, strict=True):
            assert_close(g, r, np.float64, what=f"{fn} traced with unknown {unknown}")
        oracle_checked()


def test_traced_batch_may_change_between_calls(tf, ctf, rng):
    # one trace, two batches: nothing of the first batch is baked in
    f = traced_call(tf, ctf, "grad_input_via_conv2d", "batch")
    g = traced_call(tf, ctf, "conv2d_backprop_filter", "batch")
    w = rng.standard_normal(W)
    for n in (1, 3):
        x, dy = (rng.standard_normal((n, *s[1:])) for s in (X, DY))
        want = expected(tf, "autodiff", x, w, dy, STRIDES, PADDING)
        assert_close(f(x, w, dy), want[0], np.float64, what=f"d_x, batch {n}")
        assert_close(g(x, w, dy), want[1], np.float64, what=f"d_w, batch {n}")


def traced_error(tf, fn, specs: list[tuple[Any, Any]], *args: Any) -> None:
    """Trace ``fn`` with these (shape, dtype) specs, which must fail while tracing."""
    spec = [tf.TensorSpec(shape, dtype) for shape, dtype in specs]
    tf.function(fn, input_signature=spec, autograph=False).get_concrete_function()


@pytest.mark.parametrize(("case", "error", "match"), [
    ("via_spatial", ValueError, r"grad_filter_via_conv2d builds its padding from the sizes, so "
     r"every size but the batch must be known when the function is traced; got input "
     r"\(None, None, 5, 3\), where None is known only when it runs"),
    ("via_rank", ValueError, r"grad_input_via_conv2d .* got out_backprop of unknown rank$"),
    ("via_sizes", ValueError, r"got input_sizes \(None, None, None, None\)"),
    ("tensorshape", ValueError, r"input_sizes must be known when the function is traced, but it "
     r"is a TensorShape with unknown dimensions, \(None, 6, 5, 3\); pass tf.shape\(x\)"),
    ("float_sizes", TypeError, r"output_shape given as a tensor must be a 1-D integer tensor"),
    ("float_entry", TypeError, r"input_sizes must hold 4 ints; an entry given as a tensor must "
     r"be an integer scalar"),
    ("channels", ValueError, r"input has 2 channels but filters expects 3 .*\[while tracing, "
     r"with input \(None, 6, 5, 2\): None is a dimension known only when the function runs"),
    ("rank3", ValueError, r"input must be 4-D \[batch, height, width, channels\], got shape "
     r"\(None, 6, 5\)"),
    ("out_backprop", ValueError, r"out_backprop has height x width 4 x 3, but input with this "
     r"filter, strides, padding and dilations gives 3 x 3 \[while tracing"),
    ("strides", ValueError, r"strides must be .* at most 2147483647"),
    ("batch_entry", ValueError, r"out_backprop has batch 3 but input_sizes has batch 2"),
])
def test_traced_errors_name_what_must_be_known(tf, tf_unreached, case, error, match):
    ctf, f64 = tf_unreached, tf.float64
    x, w, dy = ([None, 6, 5, 3], f64), (W, f64), ([None, 3, 3, 4], f64)
    cases = {
        "via_spatial": ([([None, None, 5, 3], f64), dy], lambda a, c: ctf.grad_filter_via_conv2d(
            a, W, c, STRIDES, PADDING)),
        "via_rank": ([w, (None, f64)], lambda b, c: ctf.grad_input_via_conv2d(
            [2, 6, 5, 3], b, c, STRIDES, PADDING)),
        "via_sizes": ([(None, tf.int32), w, dy], lambda s, b, c: ctf.grad_input_via_conv2d(
            s, b, c, STRIDES, PADDING)),
        "tensorshape": ([x, w, dy], lambda a, b, c: ctf.conv2d_backprop_input(
            a.shape, b, c, STRIDES, PADDING)),
        "float_sizes": ([x, w, dy], lambda a, b, c: ctf.conv2d_transpose(
            c, b, tf.cast(tf.shape(a), tf.float32), STRIDES, PADDING)),
        "float_entry": ([x, w, dy], lambda a, b, c: ctf.conv2d_backprop_input(
            [tf.cast(tf.shape(a)[0], tf.float32), 6, 5, 3], b, c, STRIDES, PADDING)),
        "channels": ([([None, 6, 5, 2], f64), w], lambda a, b: ctf.conv2d(
            a, b, STRIDES, PADDING)),
        "rank3": ([([None, 6, 5], f64), w], lambda a, b: ctf.conv2d(a, b, STRIDES, PADDING)),
        "out_backprop": ([x, w, ([None, 4, 3, 4], f64)], lambda a, b, c: ctf.autodiff(
            a, b, c, STRIDES, PADDING)),
        "strides": ([x, w], lambda a, b: ctf.conv2d(a, b, 2**31, PADDING)),
        "batch_entry": ([([2, 6, None, 3], f64), w, ([3, None, None, 4], f64)],
                        lambda a, b, c: ctf.conv2d_backprop_input(
                            [tf.shape(a)[0], 6, 5, 3], b, c, STRIDES, PADDING)),
    }
    specs, fn = cases[case]
    with pytest.raises(error, match=match) as info:
        traced_error(tf, fn, specs)
    assert type(info.value) is error


@pytest.mark.parametrize("fn", ["conv2d", "autodiff"])
def test_traced_window_longer_than_the_input_is_refused_as_tensorflow_does(tf, tf_unreached,
                                                                         fn):
    # run eagerly, TensorFlow gives 0 rows; traced, its shape inference refuses
    spec = [tf.TensorSpec([None, 3, 5, 2], tf.float64), tf.TensorSpec([4, 1, 2, 3], tf.float64),
            tf.TensorSpec(None, tf.float64)]
    with pytest.raises(ValueError, match="Negative dimension size"):
        traced_error(tf, lambda a, b, c: tf.nn.conv2d(a, b, 1, "VALID"), [
            (s.shape, s.dtype) for s in spec])
    with pytest.raises(ValueError, match=r"filters does not fit input in a traced function: "
                                         r"along the height the filter spans 4 but the padded "
                                         r"input is only 3 long"):
        traced_error(tf, lambda a, b, c: call(tf_unreached, fn, a, b, c, 1, "VALID"), [
            (s.shape, s.dtype) for s in spec])


def test_traced_empty_at_run_time_gives_zero_gradients(tf, ctf, rng):
    # the sizes are known only when the function runs: tf.cond keeps TensorFlow's
    # Conv2DBackpropFilter away from an empty out_backprop (it would crash or return garbage)
    f64 = tf.float64
    spec = [tf.TensorSpec([2, None, None, 2], f64), tf.TensorSpec([5, 5, 2, 3], f64),
            tf.TensorSpec([2, None, None, 3], f64)]
    grads = tf.function(lambda a, b, c: ctf.autodiff(a, b, c, 3, "VALID"), input_signature=spec,
                        autograph=False)
    d_w = tf.function(lambda a, c: ctf.conv2d_backprop_filter(a, [5, 5, 2, 3], c, 3, "VALID"),
                      input_signature=[spec[0], spec[2]], autograph=False)
    x, w = rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((5, 5, 2, 3))
    empty = np.zeros((2, 0, 0, 3))  # the 5x5 window is 2 rows longer than x: no output
    for got in (*grads(x, w, empty), d_w(x, empty)):
        assert not np.any(np.asarray(got))
    # and the same functions on a case that is not empty
    x, dy = rng.standard_normal((2, 8, 7, 2)), rng.standard_normal((2, 2, 1, 3))
    want = expected(tf, "autodiff", x, w, dy, 3, "VALID")
    for g, r in zip([*grads(x, w, dy), d_w(x, dy)], [*want, want[1]], strict=True):
        assert_close(g, r, np.float64, what="traced autodiff and backprop_filter")


def test_traced_via_conv2d_with_a_batch_of_zero(tf, ctf, rng):
    spec = [tf.TensorSpec([None, 6, 5, 3], tf.float64), tf.TensorSpec(W, tf.float64),
            tf.TensorSpec([None, 3, 3, 4], tf.float64)]
    d_x = tf.function(lambda a, b, c: ctf.grad_input_via_conv2d(
        tf.shape(a), b, c, STRIDES, PADDING), input_signature=spec, autograph=False)
    d_w = tf.function(lambda a, b, c: ctf.grad_filter_via_conv2d(
        a, W, c, STRIDES, PADDING), input_signature=spec, autograph=False)
    x, w, dy = np.zeros((0, *X[1:])), rng.standard_normal(W), np.zeros((0, *DY[1:]))
    got = d_x(x, w, dy)
    assert got.shape == (0, *X[1:]) and got.dtype == tf.float64
    assert np.array_equal(np.asarray(d_w(x, w, dy)), np.zeros(W))


# --- 2. strides and dilations beyond TensorFlow's int32 limit ---------------------------

@pytest.mark.parametrize("value", [2**31, 2**63, 2**64, 10**30])
@pytest.mark.parametrize("name", ["strides", "dilations"])
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_strides_and_dilations_beyond_the_limit_are_refused(tf_unreached, fn, name, value):
    x, w = np.ones((1, 4, 4, 1), np.float32), np.ones((1, 1, 1, 1), np.float32)
    settings_ = {"strides": 1, "dilations": 1, name: value}
    with pytest.raises(ValueError, match=rf"{name} must be .* at most 2147483647") as info:
        call(tf_unreached, fn, x, w, x, settings_["strides"], "SAME",
             dilations=settings_["dilations"])
    assert type(info.value) is ValueError


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_strides_and_dilations_at_the_limit_match_tensorflow(tf, ctf, rng, fn):
    # y from TensorFlow; the gradients from convlab's numpy, held to TensorFlow elsewhere
    # (TensorFlow's CPU kernels refuse the gradients of a dilated conv2d)
    top = 2**31 - 1
    x, w = rng.standard_normal((1, 5, 4, 2)), rng.standard_normal((3, 3, 2, 2))
    for strides, dilations in ((top, 1), (1, top)):
        if fn in ("conv2d_backprop_input", "conv2d_backprop_filter", "conv2d_transpose",
                  "autodiff") and dilations > 1:
            continue
        a = (strides, "SAME", "NHWC", dilations)
        y = np.asarray(tf.nn.conv2d(x, w, strides, "SAME", dilations=dilations))
        dy = rng.standard_normal(y.shape)
        if fn.endswith("via_conv2d") and dilations > 1:
            # the identities' padded arrays span the dilated filter, 2**32 rows: as numpy's
            with pytest.raises(MemoryError, match=r"needs .* TiB, but this machine has only"):
                call(ctf, fn, x, w, dy, *a, device="cpu")
            continue
        d_x = convlab.conv2d_backprop_input(x.shape, w, dy, *a)
        d_w = convlab.conv2d_backprop_filter(x, w.shape, dy, *a)
        want = {"conv2d": [y], "conv2d_backprop_input": [d_x], "conv2d_transpose": [d_x],
                "grad_input_via_conv2d": [d_x], "autodiff": [d_x, d_w],
                "conv2d_backprop_filter": [d_w], "grad_filter_via_conv2d": [d_w]}[fn]
        got = results(call(ctf, fn, x, w, dy, *a, device="cpu"))
        for g, r in zip(got, want, strict=True):
            assert_close(g, r, np.float64, what=f"{fn}, strides {strides}, dilations {dilations}")
        oracle_checked()


# --- 3. empty shapes ----------------------------------------------------------------------

EMPTY = [  # (x shape, filter shape, strides, padding): TensorFlow computes each
    ((0, 4, 4, 2), (3, 3, 2, 3), 1, "SAME"),       # no batch
    ((2, 0, 4, 2), (3, 3, 2, 3), 1, "SAME"),       # no rows
    ((2, 4, 0, 2), (3, 3, 2, 3), 2, "SAME"),       # no columns
    ((2, 4, 4, 2), (3, 3, 2, 0), 1, "SAME"),       # no out_channels
    ((2, 3, 3, 2), (4, 4, 2, 3), 1, "VALID"),      # the window 1 longer than x
    ((2, 3, 3, 2), (5, 5, 2, 3), 3, "VALID"),      # 2 longer, stride 3 (TF's kernel crashes)
    ((1, 2, 2, 1), (3, 3, 1, 1), 1, [[0, 1], [0, 0]]),  # no columns once padded
    ((1, 0, 3, 1), (3, 3, 1, 1), 1, [[2, 2], [1, 1]]),  # x empty, the output not
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("xs", "ws", "strides", "padding"), EMPTY)
def test_empty_shapes_match_tensorflow(tf, ctf, rng, xs, ws, strides, padding, dtype):
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    dy = rng.standard_normal(forward(tf, x, w, strides, padding).shape).astype(dtype)
    for fn in FUNCTIONS:
        got = results(call(ctf, fn, x, w, dy, strides, padding, device="cpu"))
        for g, r in zip(got, expected(tf, fn, x, w, dy, strides, padding), strict=True):
            assert_close(g, r, dtype, what=f"{fn} on {xs}, {ws}, {strides}, {padding}")
        oracle_checked()


def test_empty_shapes_in_nchw_and_float16(tf, ctf, rng):
    # the via-conv2d methods in NCHW on the CPU, where TensorFlow's own gradients refuse
    x = rng.standard_normal((2, 2, 3, 3)).astype(np.float16)  # NCHW
    w = rng.standard_normal((5, 5, 2, 3)).astype(np.float16)
    dy = np.zeros((2, 3, 0, 0), np.float16)
    d_x = ctf.grad_input_via_conv2d(x.shape, w, dy, 3, "VALID", "NCHW", device="cpu")
    d_w = ctf.grad_filter_via_conv2d(x, w.shape, dy, 3, "VALID", "NCHW", device="cpu")
    assert (d_x.shape, d_x.dtype, d_w.shape, d_w.dtype) == (
        x.shape, tf.float16, w.shape, tf.float16)
    assert not np.any(np.asarray(d_x)) and not np.any(np.asarray(d_w))
    y = ctf.conv2d(x.transpose(0, 2, 3, 1), w, 3, "VALID")
    assert (y.shape, y.dtype) == ((2, 0, 0, 3), tf.float16)


@pytest.mark.parametrize("fn", ["conv2d_backprop_input", "conv2d_backprop_filter",
                                "conv2d_transpose", "autodiff"])
@pytest.mark.parametrize(("data_format", "dilations"), [("NHWC", 2), ("NCHW", 1)])
def test_empty_gradients_refused_where_tensorflow_has_no_kernel(tf, ctf, fn, data_format,
                                                                dilations):
    # zeros would be right, but TensorFlow's CPU kernels refuse these settings whatever the
    # sizes (the gradient's own op, the same sizes, below), and convlab.tf says so
    nhwc = data_format == "NHWC"
    x = np.ones((2, 2, 2, 2) if nhwc else (2, 2, 3, 3))
    w = np.ones((2, 2, 2, 3) if nhwc else (4, 4, 2, 3))  # a window 1 longer than x: no output
    dy = np.zeros((2, 0, 0, 3) if nhwc else (2, 3, 0, 0))
    with pytest.raises(tf.errors.OpError), tf.device("/CPU:0"):
        tf.raw_ops.Conv2DBackpropInput(
            input_sizes=x.shape, filter=w, out_backprop=dy, strides=[1, 1, 1, 1],
            padding="VALID", data_format=data_format,
            dilations=[1, dilations, dilations, 1] if nhwc else [1, 1, 1, 1])
    with pytest.raises(ctf.TensorFlowUnsupportedError, match="cannot compute"):
        call(ctf, fn, x, w, dy, 1, "VALID", data_format, dilations, device="cpu")


@pytest.mark.parametrize(("xs", "ws", "strides", "padding", "match"), [
    ((2, 4, 4, 0), (3, 3, 0, 2), 1, "SAME", "0 channels"),
    ((2, 4, 4, 2), (0, 3, 2, 2), 1, "SAME", "height and width of at least 1"),
    ((2, 3, 3, 2), (5, 5, 2, 3), 1, "VALID", "twice the stride"),
])
def test_empty_cases_tensorflow_refuses_are_refused_first(tf, tf_unreached, xs, ws, strides,
                                                          padding, match):
    x, w = np.ones(xs, np.float32), np.ones(ws, np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.nn.conv2d(x, w, strides, padding)
    with pytest.raises(ValueError, match=match):
        tf_unreached.conv2d(x, w, strides, padding)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(n=st.integers(0, 2), h=st.integers(0, 4), w=st.integers(0, 4), c_out=st.integers(0, 2),
       k=st.integers(1, 4), strides=st.integers(1, 3), pads=st.sampled_from(
           ["VALID", "SAME", [[0, 1], [2, 0]]]))
def test_random_small_and_empty_shapes_match_tensorflow(tf, ctf, n, h, w, c_out, k, strides,
                                                        pads):
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + k)
    x, f = rng.standard_normal((n, h, w, 2)), rng.standard_normal((k, k, 2, c_out))
    try:
        y = forward(tf, x, f, strides, pads)
    except tf.errors.InvalidArgumentError:
        with pytest.raises(ValueError):
            ctf.conv2d(x, f, strides, pads)
        return
    dy = rng.standard_normal(y.shape)
    for fn in FUNCTIONS:
        got = results(call(ctf, fn, x, f, dy, strides, pads, device="cpu"))
        for g, r in zip(got, expected(tf, fn, x, f, dy, strides, pads), strict=True):
            assert_close(g, r, np.float64, what=f"{fn} on {x.shape}, {f.shape}")
    oracle_checked()
