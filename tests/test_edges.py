"""Edges: empty shapes, byte orders, argument forms and limits; no input is ever written.

TensorFlow is the oracle wherever it computes a case (on the CPU with its stock kernels,
in float64, NHWC; NCHW is compared through transposes, and dilated gradients through a
filter with the zero taps written out, as in tests/test_tf_oracle.py). Where it refuses,
convlab refuses with a ValueError naming the argument.

What TensorFlow 2.21 does at the edges, found by running it (the tables below run it
again):

* a batch, height, width or out_channels of 0 give an empty or zero result of the usual
  shape; so does a filter longer than the padded input by less than twice the stride
  (``(padded - k_eff + stride) / stride`` rounds towards zero to 0 rows). Longer by twice
  the stride or more, in_channels 0 and filters of height or width 0 are refused
  (``conv2d_backprop_input`` computes zeros for a 0-tap filter, which convlab refuses as
  the forward conv does).
* its CPU ``Conv2DBackpropFilter`` returns uninitialised memory when the input or
  ``out_backprop`` is empty but the batch and out_channels are not (and once crashed the
  process), so there the expected ``d_w`` is zeros, a sum over nothing, as with an empty
  batch.
* strides and dilations above ``2**31 - 1`` are refused (int32 attributes), and so are
  sizes: convlab's limit is the same for every size, stride, dilation and padding.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convlab
from _support import Config, assert_close, oracle_checked
from convlab import _checks, geometry

LIMIT = 2**31 - 1
HYPOTHESIS = {"deadline": None, "derandomize": True, "database": None,
              "suppress_health_check": [HealthCheck.too_slow]}


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


def nhwc_shape(shape: tuple[int, ...], data_format: str) -> list[int]:
    n, *rest = shape
    return [n, rest[1], rest[2], rest[0]] if data_format == "NCHW" else list(shape)


def tf_padding(cfg: Config) -> Any:
    if isinstance(cfg.padding, str):
        return cfg.padding.upper()
    return [[0, 0], *([int(v) for v in pair] for pair in cfg.padding), [0, 0]]


def dilate_filter(w: np.ndarray, dilations: tuple[int, int]) -> np.ndarray:
    (dh, dw), (kh, kw) = dilations, w.shape[:2]
    out = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1, *w.shape[2:]), dtype=w.dtype)
    out[::dh, ::dw] = w
    return out


def tf_forward_shape(tf, cfg: Config) -> tuple[int, ...] | None:
    """The shape of TF's conv2d output (in ``cfg``'s layout), or None where TF refuses."""
    xs = nhwc_shape(cfg.input_shape, cfg.data_format)
    try:
        with tf.device("/CPU:0"):
            y = tf.nn.conv2d(np.zeros(xs), np.zeros(cfg.filter_shape), [1, *cfg.strides, 1],
                             tf_padding(cfg), dilations=[1, *cfg.dilations, 1])
    except tf.errors.InvalidArgumentError:
        return None
    n, h, w, c = y.shape
    return (n, c, h, w) if cfg.data_format == "NCHW" else (n, h, w, c)


def tf_oracle(tf, cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray
              ) -> dict[str, np.ndarray]:
    """``y``, ``d_x`` (two ways) and ``d_w`` from TensorFlow, in ``cfg``'s layout."""
    fmt = cfg.data_format
    x64, dy64 = (to_nhwc(a.astype(np.float64), fmt) for a in (x, dy))
    w64 = w.astype(np.float64)
    wd = dilate_filter(w64, cfg.dilations)
    strides, padding = [1, *cfg.strides, 1], tf_padding(cfg)
    v1 = tf.compat.v1.nn
    with tf.device("/CPU:0"):
        y = tf.nn.conv2d(x64, w64, strides, padding, dilations=[1, *cfg.dilations, 1])
        d_x = v1.conv2d_backprop_input(list(x64.shape), wd, dy64, strides, padding)
        d_xt = tf.nn.conv2d_transpose(dy64, wd, list(x64.shape), strides, padding)
        if x64.size and dy64.size:
            d_w = v1.conv2d_backprop_filter(x64, list(wd.shape), dy64, strides, padding)
            d_w = d_w.numpy()[:: cfg.dilations[0], :: cfg.dilations[1]]
        else:  # TF's kernel leaves it uninitialised: the sum over nothing
            d_w = np.zeros(cfg.filter_shape)
    return {"y": from_nhwc(y.numpy(), fmt), "d_x": from_nhwc(d_x.numpy(), fmt),
            "d_x transpose": from_nhwc(d_xt.numpy(), fmt), "d_w": d_w}


def numpy_methods(cfg: Config, x: Any, w: Any, dy: Any
                  ) -> list[tuple[str, str, Callable[[], Any]]]:
    """Every public numpy function, as ``(quantity, name, call)``."""
    a, xs, ws = cfg.args(), cfg.input_shape, cfg.filter_shape
    return [
        ("y", "conv2d", lambda: convlab.conv2d(x, w, *a)),
        ("y", "conv2d_loops", lambda: convlab.conv2d_loops(x, w, *a)),
        ("d_x", "conv2d_backprop_input", lambda: convlab.conv2d_backprop_input(xs, w, dy, *a)),
        ("d_x", "conv2d_transpose", lambda: convlab.conv2d_transpose(dy, w, xs, *a)),
        ("d_x", "grad_input_via_conv2d", lambda: convlab.grad_input_via_conv2d(xs, w, dy, *a)),
        ("d_w", "conv2d_backprop_filter",
         lambda: convlab.conv2d_backprop_filter(x, ws, dy, *a)),
        ("d_w", "grad_filter_via_conv2d",
         lambda: convlab.grad_filter_via_conv2d(x, ws, dy, *a)),
    ]


def check_against_tf(tf, cfg: Config, rng: np.random.Generator) -> None:
    """convlab computes what TF computes, and refuses (ValueError) what TF refuses."""
    shape = tf_forward_shape(tf, cfg)
    if shape is None:
        with pytest.raises(ValueError, match="does not fit"):
            convlab.conv_geometry(cfg.input_shape, cfg.filter_shape, *cfg.args())
        x, w = (rng.standard_normal(s) for s in (cfg.input_shape, cfg.filter_shape))
        with pytest.raises(ValueError, match="does not fit"):
            convlab.conv2d(x, w, *cfg.args())
        return
    conv = convlab.conv_geometry(cfg.input_shape, cfg.filter_shape, *cfg.args())
    assert _checks.from_nhwc(conv.output_shape, cfg.data_format) == shape
    x, w, dy = cfg.arrays(rng, np.float64)
    want = tf_oracle(tf, cfg, x, w, dy)
    np.testing.assert_array_equal(want["d_x"], want["d_x transpose"])
    for quantity, name, compute in numpy_methods(cfg, x, w, dy):
        assert_close(compute(), want[quantity], np.float64, what=f"{name} for {cfg}")
    oracle_checked()


# --- 1. empty shapes --------------------------------------------------------------------

def cfg(x: tuple[int, int, int, int], k: tuple[int, int, int, int], strides: int = 1,
        padding: Any = "VALID", dilations: int = 1, data_format: str = "NHWC") -> Config:
    """A Config from an NHWC input shape and an HWIO filter shape."""
    n, h, w, ci = x
    kh, kw, _, co = k
    return Config(n, h, w, ci, co, kh, kw, (strides, strides), (dilations, dilations),
                  padding, data_format)


EMPTY = {  # where TF computes an empty or zero result
    "batch-0": cfg((0, 4, 4, 2), (3, 3, 2, 3)),
    "batch-0-same-stride-2": cfg((0, 5, 5, 2), (3, 3, 2, 3), 2, "SAME"),
    "height-0-same": cfg((1, 0, 4, 2), (3, 3, 2, 3), 1, "SAME"),
    "height-0-same-1x1-stride-2": cfg((1, 0, 4, 2), (1, 1, 2, 3), 2, "SAME"),
    "width-0-same": cfg((1, 4, 0, 2), (3, 3, 2, 3), 1, "SAME"),
    "height-0-padded-to-1-row": cfg((1, 0, 4, 2), (3, 3, 2, 3), 1, ((2, 1), (0, 0))),
    "height-0-padded-to-4-rows": cfg((1, 0, 4, 2), (3, 3, 2, 3), 1, ((3, 3), (0, 0))),
    "height-0-width-0-padded": cfg((2, 0, 0, 1), (2, 2, 1, 2), 1, ((1, 1), (1, 0))),
    "out-channels-0": cfg((1, 4, 4, 2), (3, 3, 2, 0)),
    "batch-0-out-channels-0": cfg((0, 4, 4, 2), (3, 3, 2, 0)),
    "filter-1-longer": cfg((1, 2, 2, 2), (3, 3, 2, 3)),
    "filter-3-longer-stride-2": cfg((1, 2, 2, 2), (5, 5, 2, 3), 2),
    "dilated-filter-longer": cfg((2, 3, 3, 2), (2, 2, 2, 3), 1, "VALID", 3),
    "one-axis-empty": cfg((2, 1, 5, 2), (3, 3, 2, 3), 2),
    "height-0-1x1-valid": cfg((1, 0, 3, 2), (1, 1, 2, 2)),
}
REFUSED = {  # where TF refuses: the filter longer than the padded input by 2 strides or more
    "height-0-valid": cfg((1, 0, 4, 2), (3, 3, 2, 3)),
    "filter-2-longer": cfg((1, 3, 3, 2), (5, 5, 2, 3)),
    "filter-2-longer-than-padded": cfg((1, 2, 2, 2), (5, 5, 2, 3), 1, ((1, 0), (1, 0))),
    "filter-4-longer-stride-2": cfg((1, 2, 2, 2), (6, 6, 2, 3), 2),
    "dilation-too-large": cfg((1, 5, 5, 2), (3, 3, 2, 3), 1, "VALID", 3),
}


def in_both_layouts(cases: dict[str, Config]) -> list[Any]:
    out = []
    for (name, c), fmt in itertools.product(cases.items(), ("NHWC", "NCHW")):
        c = Config(c.n, c.h, c.w, c.c_in, c.c_out, c.kh, c.kw, c.strides, c.dilations,
                   c.padding, fmt)
        out.append(pytest.param(c, id=f"{name}-{fmt}"))
    return out


@pytest.mark.tf
@pytest.mark.parametrize("config", in_both_layouts(EMPTY))
def test_empty_shapes_give_what_tensorflow_gives(tf, config, rng):
    assert tf_forward_shape(tf, config) is not None, "TF refuses this case"
    check_against_tf(tf, config, rng)


@pytest.mark.tf
@pytest.mark.parametrize("config", in_both_layouts(REFUSED))
def test_what_tensorflow_refuses_is_refused(tf, config, rng):
    assert tf_forward_shape(tf, config) is None, "TF computes this case"
    check_against_tf(tf, config, rng)
    x, w, dy = (np.ones(s) for s in (config.input_shape, config.filter_shape, (1, 1, 1, 1)))
    for _, name, compute in numpy_methods(config, x, w, dy):
        with pytest.raises(ValueError, match="does not fit") as info:
            compute()
        assert "twice the stride" in str(info.value), name


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_empty_results_keep_the_dtype(dtype):
    c = EMPTY["filter-3-longer-stride-2"]
    x, w = np.ones(c.input_shape, dtype), np.ones(c.filter_shape, dtype)
    dy = np.ones((1, 0, 0, 3), dtype)
    for _, name, compute in numpy_methods(c, x, w, dy):
        got = compute()
        assert got.dtype == dtype, name
        assert not np.any(got), name


@pytest.mark.tf
@pytest.mark.parametrize(("what", "x", "k", "dy"), [
    ("in_channels-0", (1, 4, 4, 0), (3, 3, 0, 3), (1, 2, 2, 3)),
    ("in_channels-0-batch-0", (0, 4, 4, 0), (3, 3, 0, 3), (0, 2, 2, 3)),
])
def test_zero_in_channels_are_refused_as_in_tensorflow(tf, what, x, k, dy):
    xa, wa, dya = np.ones(x), np.ones(k), np.ones(dy)
    v1 = tf.compat.v1.nn
    with tf.device("/CPU:0"):
        for op in (lambda: tf.nn.conv2d(xa, wa, 1, "VALID"),
                   lambda: v1.conv2d_backprop_input(list(x), wa, dya, [1, 1, 1, 1], "VALID"),
                   lambda: v1.conv2d_backprop_filter(xa, list(k), dya, [1, 1, 1, 1], "VALID")):
            with pytest.raises(tf.errors.InvalidArgumentError):
                op()
    for _, _name, compute in numpy_methods(cfg(x, k), xa, wa, dya):
        with pytest.raises(ValueError, match=r"^\w+ has 0 channels .*needs at least 1"):
            compute()


@pytest.mark.parametrize("k", [(0, 3, 2, 3), (3, 0, 2, 3)])
def test_filters_without_taps_are_refused(k):
    # TF's forward refuses them; its backprop ops return zeros, the gradient of nothing
    x, w, dy = np.ones((1, 4, 4, 2)), np.ones(k), np.ones((1, 4, 4, 3))
    for _, _name, compute in numpy_methods(cfg((1, 4, 4, 2), k, 1, "SAME"), x, w, dy):
        with pytest.raises(ValueError, match="must have a height and width of at least 1"):
            compute()


def test_conv_geometry_and_conv_accept_empty_shapes():
    conv = convlab.conv_geometry((0, 2, 0, 3), (3, 3, 3, 0), 2, "VALID")
    assert conv.output_shape == (0, 0, 0, 0)
    assert (conv.h.out, conv.h.unreached, conv.h.inside(0)) == (0, 2, (0, 0))
    assert (conv.w.out, conv.w.unreached) == (0, 0)
    nchw = convlab.conv_geometry(np.array([0, 3, 0, 5]), [1, 1, 3, 4], 1, "same", "nchw")
    assert nchw.output_shape == (0, 0, 5, 4) and nchw.data_format == "NCHW"


# random edge shapes: zeros in every dimension TF allows, filters a little too long
@st.composite
def edge_configs(draw: st.DrawFn, data_format: str) -> Config:
    small = st.integers(0, 6)
    pairs = st.tuples(st.integers(0, 3), st.integers(0, 3))
    return Config(
        n=draw(st.integers(0, 2)), h=draw(small), w=draw(small),
        c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(0, 3)),
        kh=draw(st.integers(1, 4)), kw=draw(st.integers(1, 4)),
        strides=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        dilations=draw(st.tuples(st.integers(1, 2), st.integers(1, 2))),
        padding=draw(st.one_of(st.sampled_from(["VALID", "SAME", "same", "Valid"]),
                               st.tuples(pairs, pairs))),
        data_format=data_format,
    )


@pytest.mark.tf
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@settings(max_examples=120, **HYPOTHESIS)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_random_edge_shapes_match_tensorflow(tf, data_format, data, seed):
    config = data.draw(edge_configs(data_format), label="config")
    check_against_tf(tf, config, np.random.default_rng(seed))


# --- 2. byte order ----------------------------------------------------------------------

SWAPPED = ["<f2", "<f4", "<f8"] if np.little_endian else [">f2", ">f4", ">f8"]
SWAPPED = [np.dtype(t).newbyteorder("S") for t in SWAPPED]  # the non-native orders

BYTE_CASES = [
    cfg((2, 5, 6, 3), (3, 2, 3, 4), 2, "SAME"),
    cfg((1, 7, 5, 2), (2, 3, 2, 3), 1, ((1, 2), (0, 1)), 2, "NCHW"),
    cfg((0, 4, 4, 2), (3, 3, 2, 3)),
]


def swapped(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` in ``dtype``'s byte order: the same values, other bytes."""
    out = a.astype(dtype)
    assert not out.dtype.isnative
    return out


@pytest.mark.parametrize("dtype", SWAPPED, ids=str)
@pytest.mark.parametrize("config", BYTE_CASES, ids=["same", "nchw-explicit", "empty"])
def test_any_byte_order_gives_the_native_result(dtype, config, rng):
    native = [a.astype(dtype.newbyteorder("=")) for a in config.arrays(rng, np.float64)]
    other = [swapped(a, dtype) for a in native]
    before = [a.tobytes() for a in other]
    for (_, name, want), (_, _, got) in zip(numpy_methods(config, *native),
                                            numpy_methods(config, *other), strict=True):
        result, expected = got(), want()
        assert result.dtype == expected.dtype and result.dtype.isnative, name
        np.testing.assert_array_equal(result, expected, err_msg=name)
    assert [a.tobytes() for a in other] == before  # converted with a copy
    assert all(a.dtype == dtype for a in other)


@pytest.mark.parametrize("dtype", [*SWAPPED, np.dtype("float16"), np.dtype("float64")],
                         ids=str)
def test_float_dtypes_of_any_byte_order_are_accepted(dtype):
    assert _checks.float_dtype("input", dtype) == dtype.newbyteorder("=")
    assert _checks.float_dtype("dtype", dtype.str).isnative


REFUSED_DTYPES = ["i1", "<i4", ">i4", ">u8", "?", "<c8", ">c16", "U3", "O", "V8",
                  "M8[s]", "m8[s]", np.dtype([("a", "<f4")]), np.dtype((">f4", (2,))),
                  *([np.longdouble] if np.dtype(np.longdouble).itemsize > 8 else [])]


@pytest.mark.parametrize("dtype", REFUSED_DTYPES, ids=str)
def test_no_dtype_error_contradicts_itself(dtype):
    with pytest.raises(TypeError) as info:
        _checks.float_dtype("input", dtype)
    shown = str(info.value).split("got dtype ", 1)[1].split(";")[0]
    assert shown not in ("float16", "float32", "float64"), str(info.value)


@pytest.mark.tf
def test_convlab_tf_takes_byte_swapped_arrays(ctf, rng):
    x = rng.standard_normal((1, 5, 5, 2)).astype(SWAPPED[1])
    w = rng.standard_normal((3, 3, 2, 3)).astype(SWAPPED[1])
    got = ctf.as_numpy(ctf.conv2d(x, w, 1, "SAME", device="cpu"))
    want = convlab.conv2d(x.astype(np.float32), w.astype(np.float32), 1, "SAME")
    assert_close(got, want, np.float32)


# --- 8. nothing writes into its inputs ----------------------------------------------------


def frozen(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


@st.composite
def small_configs(draw: st.DrawFn) -> Config:
    c = draw(edge_configs(draw(st.sampled_from(["NHWC", "NCHW"]))))
    return c


@settings(max_examples=60, **HYPOTHESIS)
@given(config=small_configs(), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.dtype("float32"), np.dtype("float64"), *SWAPPED]))
def test_no_function_writes_into_its_inputs(config, seed, dtype):
    try:
        convlab.conv_geometry(config.input_shape, config.filter_shape, *config.args())
    except ValueError:
        return  # refused before anything is read
    arrays = [a.astype(dtype) for a in config.arrays(np.random.default_rng(seed))]
    copies = [a.copy() for a in arrays]
    readonly = [frozen(a) for a in arrays]
    for (_, name, compute), (_, _, again) in zip(numpy_methods(config, *readonly),
                                                 numpy_methods(config, *arrays), strict=True):
        np.testing.assert_array_equal(compute(), again(), err_msg=name)
    for a, b in zip(arrays + readonly, copies + copies, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_sizes_given_as_arrays_are_not_written():
    sizes = np.array([1, 5, 5, 2])
    sizes.setflags(write=False)
    got = convlab.conv2d_backprop_input(sizes, np.ones((3, 3, 2, 1)), np.ones((1, 3, 3, 1)),
                                        1, "VALID")
    assert got.shape == (1, 5, 5, 2) and list(sizes) == [1, 5, 5, 2]


# --- 3. the size helpers check their arguments as the conv functions do ----------------

HELPERS: dict[str, Callable[..., Any]] = {
    "output_size": geometry.output_size,
    "resolve_axis": geometry.resolve_axis,
    "same_padding": lambda size, kernel, stride=1, padding=None, dilation=1:
        geometry.same_padding(size, kernel, stride, dilation),
    "valid_input_sizes": geometry.valid_input_sizes,
    "input_size_span": geometry.input_size_span,
    "effective_kernel": lambda size, kernel, stride=1, padding=None, dilation=1:
        geometry.effective_kernel(kernel, dilation),
}
FIRST = {"valid_input_sizes": "out", "input_size_span": "out"}  # else "size"
HAS = {  # the arguments each helper reads
    "same_padding": ("size", "kernel", "stride", "dilation"),
    "effective_kernel": ("kernel", "dilation"),
}
GOOD = {"size": 9, "kernel": 3, "stride": 2, "padding": "VALID", "dilation": 1}


def call_helper(name: str, **changes: Any) -> Any:
    a = {**GOOD, **changes}
    return HELPERS[name](a["size"], a["kernel"], a["stride"], a["padding"], a["dilation"])


def arg_name(helper: str, arg: str) -> str:
    return FIRST.get(helper, "size") if arg == "size" else arg


def reads(helper: str, arg: str) -> bool:
    return arg in HAS.get(helper, ("size", "kernel", "stride", "padding", "dilation"))


BAD_INTS = [
    # (argument, value, error, why)
    *[(arg, v, TypeError, "not an int") for arg in ("size", "kernel", "stride", "dilation")
      for v in (2.0, 5.5, "3", None, True, np.float64(3.0), [3], np.array([3]))],
    *[(arg, v, ValueError, "out of range") for arg in ("kernel", "stride", "dilation")
      for v in (0, -1)],
    ("size", -1, ValueError, "negative"),
    *[(arg, v, ValueError, "above the limit")
      for arg in ("size", "kernel", "stride", "dilation")
      for v in (LIMIT + 1, 2**63, 2**64, np.uint64(2**64 - 1))],
]


@pytest.mark.parametrize(("helper", "arg", "value", "error", "why"), [
    pytest.param(helper, *case, id=f"{helper}-{case[0]}-{case[1]!r}")
    for helper in sorted(HELPERS) for case in BAD_INTS if reads(helper, case[0])
])
def test_helpers_refuse_bad_ints_naming_them(helper, arg, value, error, why):
    name = arg_name(helper, arg)
    least = "non-negative" if name in ("size", "out") else "positive"
    with pytest.raises(error, match=rf"^{name} must be a {least} int at most 2147483647") as info:
        call_helper(helper, **{arg: value})
    assert type(info.value) is error, why


BAD_PADDINGS = [
    ("FULL", ValueError), ("EXPLICIT", ValueError), ("", ValueError), ("same ", ValueError),
    (None, TypeError), (1, TypeError), (1.0, TypeError), (b"SAME", ValueError),
    ((1,), ValueError), ((1, 1, 1), ValueError), (((1, 1), (1, 1)), ValueError),
    ((1, [2]), ValueError), ((1.0, 0), TypeError), (("1", "0"), TypeError),
    ((True, 0), TypeError), ((-1, 0), ValueError), ((0, LIMIT + 1), ValueError),
    ((2**64, 0), ValueError), (np.array([[1, 1]]), ValueError),
]


@pytest.mark.parametrize("helper", ["output_size", "resolve_axis", "valid_input_sizes",
                                    "input_size_span"])
@pytest.mark.parametrize(("padding", "error"), BAD_PADDINGS,
                         ids=[repr(p) for p, _ in BAD_PADDINGS])
def test_helpers_refuse_bad_padding_naming_it(helper, padding, error):
    with pytest.raises(error, match=r"^padding must be 'VALID', 'SAME' or explicit") as info:
        call_helper(helper, padding=padding)
    assert type(info.value) is error


def test_lowercase_same_means_same():
    assert geometry.output_size(10, 3, 2, "same") == geometry.output_size(10, 3, 2, "SAME") == 5
    assert geometry.output_size(10, 3, 2, "valid") == 4
    assert geometry.valid_input_sizes(4, 3, 2, "Same") == [7, 8]
    assert geometry.resolve_axis(8, 3, 2, "sAmE").pad_after == 1


INT_FORMS = [np.int8(2), np.int64(2), np.uint16(2), np.array(2), np.array(2, dtype=np.uint8)]
PAD_FORMS = [(1, 2), [1, 2], np.array([1, 2]), (np.int32(1), np.uint8(2)), [np.array(1), 2]]


@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_helpers_take_numpy_integers_and_any_pair(helper):
    want = call_helper(helper, padding=(1, 2))
    for arg, form in itertools.product(("size", "kernel", "stride", "dilation"), INT_FORMS):
        plain = call_helper(helper, padding=(1, 2), **{arg: 2})
        assert call_helper(helper, padding=(1, 2), **{arg: form}) == plain, (arg, form)
    for pads in PAD_FORMS:
        assert call_helper(helper, padding=pads) == want, pads


def test_axis_checks_its_fields():
    axis = geometry.Axis(np.int64(5), 3, np.uint8(2), 1, 0, np.int16(1))
    assert axis == geometry.Axis(5, 3, 2, 1, 0, 1) and type(axis.size) is int
    with pytest.raises(ValueError, match=r"^stride must be a positive int"):
        geometry.Axis(5, 3, 0, 1, 0, 0)
    with pytest.raises(TypeError, match=r"^pad_after must be a non-negative int"):
        geometry.Axis(5, 3, 1, 1, 0, 0.5)


def test_the_limit_is_computed_and_one_more_is_refused():
    # TF computes strides and dilations of 2**31 - 1 and refuses 2**31 (int32 attributes)
    assert geometry.output_size(LIMIT, 1, LIMIT) == 1
    assert geometry.output_size(4, 3, 1, "SAME", LIMIT) == 4
    assert geometry.same_padding(4, 3, 1, LIMIT) == (LIMIT, LIMIT)  # k_eff = 2**32 - 1
    assert geometry.same_padding(4, 5, 1, LIMIT) == (2 * LIMIT, 2 * LIMIT)  # TF computes it
    assert geometry.output_size(1, 1, LIMIT, (LIMIT, LIMIT)) == 3
    assert convlab.conv_geometry((1, LIMIT, 1, 1), (1, 1, 1, 1), LIMIT, "VALID").h.out == 1
    for stride in (LIMIT + 1, 2**63, np.uint64(2**64 - 1)):
        with pytest.raises(ValueError, match=r"^strides must be .*at most 2147483647"):
            convlab.conv_geometry((1, 5, 5, 1), (1, 1, 1, 1), stride, "VALID")
        with pytest.raises(ValueError, match=r"^dilations must be .*at most 2147483647"):
            convlab.conv2d(np.ones((1, 5, 5, 1)), np.ones((1, 1, 1, 1)), 1, "SAME", "NHWC",
                           [1, stride, 1, 1])


@pytest.mark.tf
def test_the_numpy_functions_compute_at_the_limit_as_tensorflow_does(tf, rng):
    x, w = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((3, 3, 2, 3))
    with tf.device("/CPU:0"):
        for s, d, padding in [(LIMIT, 1, "VALID"), (LIMIT, 1, "SAME"), (1, LIMIT, "SAME")]:
            want = tf.nn.conv2d(x, w, s, padding, dilations=d).numpy()
            assert_close(convlab.conv2d(x, w, s, padding, dilations=d), want, np.float64)
            with pytest.raises(tf.errors.InvalidArgumentError, match="out of range for an int32"):
                tf.nn.conv2d(x, w, s + (s == LIMIT), padding, dilations=d + (d == LIMIT))
        dy = rng.standard_normal((1, 1, 1, 3))
        want = tf.compat.v1.nn.conv2d_backprop_input([1, 4, 4, 2], w, dy, [1, LIMIT, LIMIT, 1],
                                                     "VALID").numpy()
        assert_close(convlab.conv2d_backprop_input((1, 4, 4, 2), w, dy, LIMIT, "VALID"), want,
                     np.float64)
        want = tf.compat.v1.nn.conv2d_backprop_filter(x, [3, 3, 2, 3], dy, [1, LIMIT, LIMIT, 1],
                                                      "VALID").numpy()
        assert_close(convlab.conv2d_backprop_filter(x, (3, 3, 2, 3), dy, LIMIT, "VALID"), want,
                     np.float64)


def test_valid_input_sizes_at_a_huge_stride_says_so_fast():
    with pytest.raises(ValueError, match=r"^1073741824 input lengths give 1 .*stride 1073741824"):
        geometry.valid_input_sizes(1, 3, 2**30)
    assert geometry.input_size_span(1, 3, 2**30) == (3, 2**30 + 3)
    # 5 outputs at that stride need more than 2**31 - 1 rows, which no input has
    assert geometry.input_size_span(5, 3, 2**30) == (LIMIT + 1, LIMIT + 1)
    assert geometry.valid_input_sizes(5, 3, 2**30) == []
    assert len(geometry.valid_input_sizes(2, 3, 2**20)) == 2**20


# TF's rule, written out: (padded - k_eff + stride) / stride, rounded towards zero, and
# refused when negative
def tf_rule(size: int, kernel: int, stride: int, padding: Any, dilation: int) -> int | None:
    k_eff = dilation * (kernel - 1) + 1
    if isinstance(padding, str) and padding.upper() == "SAME":
        return -(-size // stride)
    padded = size + (0 if isinstance(padding, str) else sum(padding))
    out = int((padded - k_eff + stride) / stride)
    return None if out < 0 else out


axis_paddings = st.one_of(st.sampled_from(["VALID", "SAME", "valid", "same"]),
                          st.tuples(st.integers(0, 4), st.integers(0, 4)))


@settings(max_examples=150, **HYPOTHESIS)
@given(size=st.integers(0, 14), kernel=st.integers(1, 5), stride=st.integers(1, 4),
       padding=axis_paddings, dilation=st.integers(1, 3))
def test_output_size_follows_tensorflows_rule(size, kernel, stride, padding, dilation):
    want = tf_rule(size, kernel, stride, padding, dilation)
    if want is None:
        with pytest.raises(ValueError, match="twice the stride"):
            geometry.output_size(size, kernel, stride, padding, dilation)
        return
    assert geometry.output_size(size, kernel, stride, padding, dilation) == want
    axis = geometry.resolve_axis(size, kernel, stride, padding, dilation)
    assert axis.out == want and 0 <= axis.unreached <= axis.padded
    if want:  # the last window ends inside, and the rows after it are unreached
        assert (want - 1) * stride + axis.k_eff + axis.unreached == axis.padded
    # every size that gives `want` is listed, and no other (a search below the span's end)
    found = geometry.valid_input_sizes(want, kernel, stride, padding, dilation)
    assert size in found
    top = max(found) + 2 * stride + 1
    assert found == [s for s in range(top)
                     if tf_rule(s, kernel, stride, padding, dilation) == want]


@pytest.mark.tf
@settings(max_examples=120, **HYPOTHESIS)
@given(size=st.integers(0, 12), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=axis_paddings, dilation=st.integers(1, 3))
def test_output_size_equals_tensorflows(tf, size, kernel, stride, padding, dilation):
    c = Config(1, size, 1, 1, 1, kernel, 1, (stride, 1), (dilation, 1),
               padding if isinstance(padding, str) else (padding, (0, 0)))
    shape = tf_forward_shape(tf, c)
    if shape is None:
        with pytest.raises(ValueError, match=r"does not fit|twice the stride"):
            geometry.output_size(size, kernel, stride, padding, dilation)
    else:
        assert geometry.output_size(size, kernel, stride, padding, dilation) == shape[1]


# --- verify() -----------------------------------------------------------------------------


@pytest.mark.tf
def test_verify_takes_numpy_integers(ctf):
    report = convlab.verify(np.array([1, 5, 5, 2]), (np.int64(3), 3, 2, np.uint8(3)),
                            strides=np.int32(2), repeat=np.int64(1), seed=np.uint8(3),
                            dtype=SWAPPED[1], device="cpu")
    assert report.ok and report.config["input_shape"] == (1, 5, 5, 2)
    assert report.config["seed"] == 3 and type(report.config["seed"]) is int
    assert report.config["dtype"] == "float32"
