"""Memory bounded by the data, not by the arithmetic of strides, padding and dilations.

The bound for the numpy reference (conv2d, conv2d_backprop_input, conv2d_transpose,
conv2d_backprop_filter): extra memory within ``max(2 L, _engine._FLOOR)``, ``L`` the
largest array given or returned. For the via-conv2d identities, which make an array of
their own of ``G`` bytes (the zero-stretched ``dy`` padded to the full correlation, or
the padded input; see convlab.via_conv2d): ``max(2 max(L, G), _FLOOR) + 2 G + 2 L``, where
``G`` is at most ``N (H + K_eff - 1) (W + K_eff - 1) C_out`` numbers for ``d_x`` and
``N (H + 2 K_eff - 2) (W + 2 K_eff - 2) C_in`` for ``d_w``, whatever the strides and
padding. A request beyond the memory available fails at once with a MemoryError.

The issue's cases run in a child process under a 4 GiB address-space limit, so that a
regression fails the test rather than the machine; the results are checked against an
oracle that visits only the windows (a loop over output positions and taps, adding
where a tap lands inside ``x``), and against TensorFlow on moderate cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convlab
from _support import Config, assert_close, ids
from convlab import _engine, _memory, _parallel, tolerance
from test_tf_oracle import check_against_tf

FLOAT = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


@pytest.fixture(scope="session")
def tf(ctf):
    """TensorFlow itself (skipped like ``ctf`` when it is missing)."""
    import tensorflow

    return tensorflow


# --- an oracle that visits the windows, never the padding -------------------------------


def sparse_conv(x, w, dy, strides, padding, dilations=1):
    """``y``, ``d_x`` and ``d_w`` in float64 by the index formula, NHWC, a window at a time.

    Tap ``(a, b)`` of window ``(i, j)`` reads ``x[s_h*i + d_h*a - p_t, s_w*j + d_w*b - p_l]``
    where that is inside ``x``, and zero padding elsewhere. Cost: windows times taps.
    """
    conv = convlab.conv_geometry(x.shape, w.shape, strides, padding, "NHWC", dilations)
    top, left = conv.h.pad_before, conv.w.pad_before
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    _, height, width, _ = x.shape
    kh, kw = w.shape[:2]
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    y = np.zeros(conv.output_shape)
    d_x, d_w = np.zeros(x.shape), np.zeros(w.shape)
    assert dy.shape[1] * dy.shape[2] * kh * kw <= 10**5, "the oracle visits every window"
    for i, j, a, b in np.ndindex(dy.shape[1], dy.shape[2], kh, kw):
        p, q = sh * i + dh * a - top, sw * j + dw * b - left
        if 0 <= p < height and 0 <= q < width:
            y[:, i, j] += x64[:, p, q] @ w64[a, b]
            d_x[:, p, q] += dy64[:, i, j] @ w64[a, b].T
            d_w[a, b] += x64[:, p, q].T @ dy64[:, i, j]
    return y, d_x, d_w


def extra_bytes(fn):
    """tracemalloc's peak during ``fn()`` beyond its result, and the result."""
    _parallel.release()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - result.nbytes, result


def identity_bytes(what, x_shape, w_shape, strides, padding, dilations, dtype):
    """``G`` of the module docstring: the most the identity's own array may take."""
    conv = convlab.conv_geometry(x_shape, w_shape, strides, padding, "NHWC", dilations)
    n, h, w, c_in = x_shape
    kh, kw = conv.h.k_eff, conv.w.k_eff
    item = max(np.dtype(dtype).itemsize, 4)
    if what == "d_x":
        return n * (h + kh - 1) * (w + kw - 1) * w_shape[3] * item
    return n * (h + 2 * kh - 2) * (w + 2 * kw - 2) * c_in * item


def bound(via, largest, g):
    """The bound of the module docstring."""
    if via:
        return max(2 * max(largest, g), _engine._FLOOR) + 2 * g + 2 * largest
    return max(2 * largest, _engine._FLOOR)


def functions(x, w, dy, strides, padding, dilations):
    """``(quantity, name, fn, arrays given)`` for every numpy function, NHWC."""
    xs, ws, args = x.shape, w.shape, (strides, padding, "NHWC", dilations)
    return [
        ("y", "conv2d", lambda: convlab.conv2d(x, w, *args), (x, w)),
        ("d_x", "conv2d_backprop_input",
         lambda: convlab.conv2d_backprop_input(xs, w, dy, *args), (w, dy)),
        ("d_x", "conv2d_transpose", lambda: convlab.conv2d_transpose(dy, w, xs, *args),
         (w, dy)),
        ("d_x", "grad_input_via_conv2d",
         lambda: convlab.grad_input_via_conv2d(xs, w, dy, *args), (w, dy)),
        ("d_w", "conv2d_backprop_filter",
         lambda: convlab.conv2d_backprop_filter(x, ws, dy, *args), (x, dy)),
        ("d_w", "grad_filter_via_conv2d",
         lambda: convlab.grad_filter_via_conv2d(x, ws, dy, *args), (x, dy)),
    ]


def run_and_measure(x, w, dy, strides, padding, dilations, which=("y", "d_x", "d_w"),
                    via=True):
    """``(name, extra, bound, relative error)`` of each function asked for."""
    want = dict(zip(("y", "d_x", "d_w"), sparse_conv(x, w, dy, strides, padding, dilations),
                    strict=True))
    rows = []
    for quantity, name, fn, inputs in functions(x, w, dy, strides, padding, dilations):
        is_via = "via" in name
        if quantity not in which or (is_via and not via):
            continue
        extra, got = extra_bytes(fn)
        largest = max(got.nbytes, *(a.nbytes for a in inputs))
        g = identity_bytes(quantity, x.shape, w.shape, strides, padding, dilations,
                           x.dtype) if is_via else 0
        err = float(np.abs(got.astype(np.float64) - want[quantity]).max(initial=0.0))
        scale = float(np.abs(want[quantity]).max(initial=0.0)) or 1.0
        assert got.shape == want[quantity].shape and got.dtype == x.dtype, name
        rows.append((name, extra, bound(is_via, largest, g), err / scale))
    return rows


# --- the cases, under a 4 GiB address-space limit -------------------------------

# name, quantities, via-conv2d too, x shape, w shape, strides, padding, dilations, dtype.
# Each would have taken gigabytes (a padded gradient, a zero-stretched dy) before.
HUGE = [
    ("1x1, pad and stride 20000", ["y", "d_x", "d_w"], True, (1, 1, 1, 1), (1, 1, 1, 1),
     20000, [[20000, 20000], [20000, 20000]], 1, "float32"),
    ("3x3 filter, pad and stride 20000", ["d_x", "d_w"], True, (1, 1, 1, 1), (3, 3, 1, 1),
     20000, [[20000, 20000], [20000, 20000]], 1, "float32"),
    ("3x3 input, stride 10**9, SAME", ["d_x", "d_w"], True, (1, 3, 3, 1), (3, 3, 1, 1),
     10**9, "SAME", 1, "float64"),
    ("channels, stride beyond the window, windows in the padding", ["d_x", "d_w"], True,
     (2, 5, 4, 20), (2, 3, 20, 3), (30000, 40000), [[29999, 40000], [1, 39998]], 1,
     "float32"),
    ("few channels (col2im), pad 5000", ["d_x"], True, (1, 4, 5, 3), (3, 3, 3, 2), 5000,
     [[4999, 5000], [4998, 5000]], 1, "float16"),
    ("the first window on x starts inside x", ["d_x", "d_w"], True, (1, 9, 9, 2),
     (2, 2, 2, 2), 50007, [[50004, 50000], [50004, 50000]], 1, "float64"),
    ("dilation 3000 and padding", ["y", "d_x", "d_w"], False, (1, 1, 1, 16),
     (2, 2, 16, 16), 1, [[3000, 0], [3000, 0]], 3000, "float32"),
    ("dilation 300 and padding", ["d_x", "d_w"], True, (1, 1, 1, 2), (2, 2, 2, 2), 1,
     [[300, 0], [300, 0]], 300, "float32"),
    ("no window overlaps x", ["y", "d_x", "d_w"], True, (1, 1, 1, 2), (1, 1, 2, 2),
     3 * 10**8, [[10**8, 10**8], [10**8, 10**8]], 1, "float32"),
]

_CHILD = textwrap.dedent('''
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    import convlab
    import test_memory as t

    out = []
    for name, which, via, xs, ws, s, p, d, dtype in json.loads(sys.argv[1]):
        conv = convlab.conv_geometry(xs, ws, s, p, "NHWC", d)
        rng = np.random.default_rng(0)
        x, w, dy = (rng.standard_normal(shape).astype(t.FLOAT[dtype])
                    for shape in (xs, ws, conv.output_shape))
        try:
            rows = t.run_and_measure(x, w, dy, s, p, d, which, via)
        except Exception as err:
            rows = [(None, None, None, f"{type(err).__name__}: {err}")]
        out += [[name, dtype, *row] for row in rows]
    print(json.dumps(out))
''')


def _child_env() -> dict[str, str]:
    # BLAS and OpenMP thread stacks take address space under RLIMIT_AS
    threads = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                "MKL_NUM_THREADS", "CONVLAB_NUM_THREADS")}
    return {**os.environ, **threads}


def _run_child(cases) -> list:
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cases), here],
                          capture_output=True, text=True, env=_child_env(), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_huge_strides_padding_and_dilations_stay_within_the_bound():
    tolerance = {"float16": 2e-2, "float32": 1e-5, "float64": 1e-12}
    rows = _run_child(HUGE)
    functions_of = {"y": 1, "d_x": 2, "d_w": 1}  # and one via-conv2d for d_x and d_w
    wanted = sum(functions_of[q] + (q != "y" and via) for _, which, via, *_ in HUGE
                 for q in which)
    assert len(rows) == wanted, rows
    for case, dtype, name, extra, limit, rel in rows:
        assert name is not None, f"{case}: {rel}"
        what = f"{name}, {case}"
        assert extra <= limit, f"{what}: {extra / 2**20:.1f} MiB extra, bound {limit / 2**20:.1f}"
        assert rel <= tolerance[dtype], f"{what}: relative error {rel:.2e}"


TOO_LARGE = textwrap.dedent('''
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    import convlab
    f32 = np.float32
    calls = [
        # a result of 13.4 GiB from a 2x2 out_backprop
        lambda: convlab.conv2d_backprop_input((1, 60000, 60000, 1), np.ones((1, 1, 1, 1), f32),
                                              np.ones((1, 2, 2, 1), f32), 59999, "VALID"),
        lambda: convlab.conv2d_transpose(np.ones((1, 2, 2, 1), f32), np.ones((1, 1, 1, 1), f32),
                                         (1, 60000, 60000, 1), 59999, "VALID"),
        # y of 37 GiB from one number
        lambda: convlab.conv2d(np.ones((1, 1, 1, 1), f32), np.ones((1, 1, 1, 1), f32), 1,
                               [[50000, 50000], [50000, 50000]]),
        # the identity's zero-stretched dy: 1000 channels on a 1000 x 1000 input
        lambda: convlab.grad_input_via_conv2d((1, 1000, 1000, 1), np.ones((1, 1, 1, 1000), f32),
                                              np.ones((1, 2, 2, 1000), f32), 999, "VALID"),
    ]
    for call in calls:
        start = time.perf_counter()
        try:
            call()
            print("computed")
        except MemoryError as err:
            print(f"{time.perf_counter() - start:.3f} {err}")
''')


def test_a_request_beyond_the_memory_available_fails_fast_naming_the_sizes():
    done = subprocess.run([sys.executable, "-c", TOO_LARGE], capture_output=True, text=True,
                          env=_child_env(), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    for line, shape in zip(lines, ["(1, 60000, 60000, 1)", "(1, 60000, 60000, 1)",
                                   "(1, 100001, 100001, 1)", "(1, 1000, 1000, 1000)"],
                           strict=True):
        seconds, message = line.split(" ", 1)
        assert float(seconds) < 1.0, line
        assert shape in message and "GiB" in message and "available" in message, line
    assert "conv2d_backprop_input computes the same gradient" in lines[3]


def test_require_names_what_needs_the_memory(monkeypatch):
    monkeypatch.setattr(_memory, "available", lambda: 100 << 20)
    _memory.require(99 << 20, "anything")  # fits
    with pytest.raises(MemoryError, match=r"the result, NHWC shape \(1, 8192, 8192, 1\) "
                                          r"float32, needs 256\.0 MiB.*100\.0 MiB available"):
        convlab.conv2d(np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32),
                       1, [[4096, 4095], [4096, 4095]])
    monkeypatch.setattr(_memory, "available", lambda: None)  # nothing known: no check
    _memory.require(1 << 50, "anything")


def test_available_memory_is_read_from_the_machine():
    left = _memory.available()
    assert left is not None and 0 < left < 1 << 50


# --- property: any stride, padding and dilation, small arrays -------------------------

@st.composite
def geometries(draw):
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    c_in = draw(st.sampled_from([1, 3, 16]))  # col2im, taps and the gather
    c_out = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = tuple(draw(st.sampled_from([1, 2, 7, 300, 5000])) for _ in range(2))
    dilations = tuple(draw(st.sampled_from([1, 2, 40])) for _ in range(2))
    pads = [[draw(st.integers(0, 3000)) for _ in range(2)] for _ in range(2)]
    dtype = draw(st.sampled_from(["float32", "float64"]))
    cfg = Config(n, h, w, c_in, c_out, kh, kw, strides, dilations, pads)
    assume(cfg.fits() and min(cfg.output_hw) > 0)
    oh, ow = cfg.output_hw
    assume(oh * ow * kh * kw <= 1000)
    return cfg, dtype


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometries(), st.integers(0, 2**32 - 1))
def test_every_gradient_stays_within_the_bound_and_right(case, seed):
    cfg, dtype = case
    x, w, dy = cfg.arrays(np.random.default_rng(seed), FLOAT[dtype])
    for name, extra, limit, rel in run_and_measure(x, w, dy, cfg.strides, cfg.padding,
                                                   cfg.dilations):
        assert extra <= limit, f"{name} {ids(cfg)}: {extra} bytes extra, bound {limit}"
        assert rel <= tolerance.rtol(dtype), f"{name} {ids(cfg)}: relative error {rel:.2e}"


def test_only_the_windows_that_overlap_x_are_kept():
    # exhaustively on small axes: kept windows are those whose span meets x, and the
    # cropped padded input runs from the first kept window to the later of the last
    # one's end and x's end
    seen_negative = False
    for size, kernel, stride, dilation, before, after in np.ndindex(3, 3, 4, 2, 7, 6):
        size, kernel, stride, dilation = size + 1, kernel + 1, stride + 1, dilation + 1
        try:
            conv = convlab.conv_geometry((1, size, 1, 1), (kernel, 1, 1, 1), (stride, 1),
                                         [[before, after], [0, 0]], "NHWC", (dilation, 1))
        except ValueError:
            continue
        axis = conv.h
        if axis.out < 1:
            continue
        spans = [(stride * i, stride * i + axis.k_eff) for i in range(axis.out)]
        on_x = [i for i, (a, b) in enumerate(spans) if a < before + size and b > before]
        kept = _memory.on_x(conv)
        if not on_x:
            assert kept is None
            continue
        cropped, rows, _ = kept
        assert (rows.start, rows.stop) == (on_x[0], on_x[-1] + 1)
        h = cropped.h
        assert h.out == len(on_x) and h.size == size
        assert h.pad_before == before - spans[on_x[0]][0]
        assert h.padded == max(spans[on_x[-1]][1], before + size) - spans[on_x[0]][0]
        assert h.padded <= size + 2 * (axis.k_eff - 1)
        seen_negative |= h.pad_before < 0
        if len(on_x) == axis.out and h.padded == axis.padded:
            assert cropped is conv  # nothing dropped: the geometry as it was
    assert seen_negative  # the first window kept may start inside x: a crop


# --- TensorFlow as the oracle on moderate cases -----------------------------------------

MODERATE = [
    # windows partly and wholly in the padding, strides beyond the window
    Config(2, 3, 4, 2, 3, 2, 2, (7, 9), (1, 1), ((8, 13), (5, 20))),
    # the 1x1 input, at a scale TensorFlow's own ops compute quickly
    Config(1, 1, 1, 2, 2, 1, 1, (20, 20), (1, 1), ((20, 20), (20, 20))),
    # the first window on x starts inside x (the crop reaches into x)
    Config(1, 10, 10, 2, 3, 2, 2, (7, 7), (1, 1), ((6, 3), (6, 3))),
    # a dilated window mostly in the padding
    Config(1, 2, 3, 1, 2, 2, 2, (1, 1), (9, 11), ((9, 0), (0, 11))),
    # no window overlaps x: zeros
    Config(1, 1, 2, 1, 1, 1, 1, (3, 3), (1, 1), ((5, 5), (5, 5))),
    # NCHW, stride 2 beyond a dilated window's taps
    Config(2, 5, 6, 3, 2, 2, 3, (11, 5), (2, 1), ((9, 12), (4, 7)), "NCHW"),
]


@pytest.mark.parametrize("cfg", MODERATE, ids=ids)
def test_large_strides_and_padding_match_tensorflow(cfg, ctf, tf, rng):
    check_against_tf(ctf, tf, cfg, np.float64, rng)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_large_strides_and_padding_match_tensorflow(ctf, tf, data):
    n, h, w = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4)), data.draw(
        st.integers(1, 4))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    strides = (data.draw(st.integers(1, 30)), data.draw(st.integers(1, 30)))
    dilations = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    pads = tuple(tuple(data.draw(st.integers(0, 25)) for _ in range(2)) for _ in range(2))
    fmt = data.draw(st.sampled_from(["NHWC", "NCHW"]))
    cfg = Config(n, h, w, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), kh, kw,
                 strides, dilations, pads, fmt)
    assume(cfg.fits() and min(cfg.output_hw) > 0)
    check_against_tf(ctf, tf, cfg, np.float64, np.random.default_rng(data.draw(
        st.integers(0, 2**32 - 1))))


def test_tensorflow_runs_the_same_cropped_identities(ctf, rng):
    # the via-conv2d identities keep only the windows on x with TensorFlow's ops too
    s, p = 3000, [[2999, 3000], [3001, 2998]]
    x, w = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 2, 2, 3))
    dy = rng.standard_normal(convlab.conv_geometry(x.shape, w.shape, s, p).output_shape)
    _, want_dx, want_dw = sparse_conv(x, w, dy, s, p)
    assert_close(ctf.grad_input_via_conv2d(x.shape, w, dy, s, p, device="cpu"), want_dx,
                 np.float64)
    assert_close(ctf.grad_filter_via_conv2d(x, w.shape, dy, s, p, device="cpu"), want_dw,
                 np.float64)


# --- empty shapes: zeros of TensorFlow's shape and dtype --------------------------------

EMPTY = [
    # what, input shape, filter shape, out_backprop shape, strides, padding
    ("zero batch", (0, 4, 4, 2), (3, 3, 2, 3), (0, 4, 4, 3), 1, "SAME"),
    ("zero out_channels", (1, 4, 4, 2), (3, 3, 2, 0), (1, 4, 4, 0), 1, "SAME"),
    ("zero height", (1, 0, 4, 2), (3, 3, 2, 3), (1, 0, 4, 3), 1, "SAME"),
    ("window longer than the padded input", (1, 2, 4, 2), (3, 3, 2, 3), (1, 0, 2, 3), 1,
     "VALID"),
    ("zero batch, stride 2", (0, 5, 3, 1), (2, 2, 1, 2), (0, 3, 2, 2), 2, "SAME"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("case", "xs", "ws", "dys", "s", "p"), EMPTY,
                         ids=[c[0] for c in EMPTY])
def test_empty_shapes_give_tensorflows_zeros(case, xs, ws, dys, s, p, dtype, tf):
    x, w, dy = np.ones(xs, dtype), np.ones(ws, dtype), np.ones(dys, dtype)
    try:
        d_x = convlab.grad_input_via_conv2d(xs, w, dy, s, p)
        d_w = convlab.grad_filter_via_conv2d(x, ws, dy, s, p)
    except ValueError as err:
        pytest.skip(f"validation still refuses zero sizes: {err}")
    with tf.device("/CPU:0"):
        tf_dx = tf.compat.v1.nn.conv2d_backprop_input(xs, w, dy, [1, s, s, 1], p).numpy()
    assert d_x.shape == tf_dx.shape and d_x.dtype == tf_dx.dtype
    assert not d_x.any() and not tf_dx.any()
    # TF's Conv2DBackpropFilter leaves its result uninitialised where no window fits
    # (zero height or width): the gradient of an empty sum is zero
    assert d_w.shape == ws and d_w.dtype == np.dtype(dtype) and not d_w.any()
