"""Bad arguments: every one gets a clear ValueError or TypeError naming the argument.

Each case in the table below is run on every function it applies to, in numpy (convlab)
and in TensorFlow (convlab.tf). The TensorFlow functions must raise the same convlab
error before TensorFlow computes anything: the ``tf_unreached`` fixture makes reaching
TensorFlow an assertion failure.

Functions name the same three roles differently, so the expected messages are written
with placeholders: ``{x}`` is the input (``input``, or ``input_sizes`` /
``output_shape`` where only its shape is passed), ``{w}`` the filters (``filters`` or
``filter_sizes``), ``{dy}`` the output gradient (``out_backprop``, or ``input`` for
``conv2d_transpose``).
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

import numpy as np
import pytest

import convlab

NAMES: dict[str, dict[str, str]] = {
    "conv2d": {"x": "input", "w": "filters", "dy": ""},
    "conv2d_loops": {"x": "input", "w": "filters", "dy": ""},
    "autodiff": {"x": "input", "w": "filters", "dy": "out_backprop"},
    "conv2d_backprop_input": {"x": "input_sizes", "w": "filters", "dy": "out_backprop"},
    "grad_input_via_conv2d": {"x": "input_sizes", "w": "filters", "dy": "out_backprop"},
    "conv2d_transpose": {"x": "output_shape", "w": "filters", "dy": "input"},
    "conv2d_backprop_filter": {"x": "input", "w": "filter_sizes", "dy": "out_backprop"},
    "grad_filter_via_conv2d": {"x": "input", "w": "filter_sizes", "dy": "out_backprop"},
}
NUMPY_ONLY = {"conv2d_loops"}
TF_ONLY = {"autodiff"}

FORWARD = ("conv2d", "conv2d_loops", "autodiff")  # take input and filters as arrays
D_X = ("conv2d_backprop_input", "grad_input_via_conv2d", "conv2d_transpose")  # x as sizes
D_W = ("conv2d_backprop_filter", "grad_filter_via_conv2d")  # w as sizes
ALL = FORWARD + D_X + D_W
HAS_DY = ("autodiff", *D_X, *D_W)
X_ARRAY = (*FORWARD, *D_W)
W_ARRAY = (*FORWARD, *D_X)

# A valid call: 5 x 5 input, 3 x 3 filter, 2 -> 3 channels, stride 1, VALID -> 3 x 3 output.
BASE: dict[str, Any] = {
    "x": (1, 5, 5, 2), "w": (3, 3, 2, 3), "dy": (1, 3, 3, 3),
    "strides": 1, "padding": "VALID", "data_format": "NHWC", "dilations": None,
}
NCHW = {"data_format": "NCHW", "x": (1, 2, 5, 5), "dy": (1, 3, 3, 3)}
SAME_STRIDE_2 = {"strides": 2, "padding": "SAME"}  # 7 or 8 rows give 4 output rows


def arguments(changes: dict[str, Any]) -> dict[str, Any]:
    """BASE with ``changes``; shapes become float32 arrays, sizes default to their shapes."""
    a = {**BASE, **changes}
    for role in ("x", "w", "dy"):
        if isinstance(a[role], tuple):
            a[role] = np.ones(a[role], dtype=np.float32)
    a.setdefault("x_sizes", getattr(a["x"], "shape", None))
    a.setdefault("w_sizes", getattr(a["w"], "shape", None))
    return a


def positional(fn: str, a: dict[str, Any]) -> tuple[Any, ...]:
    """The positional arguments of ``fn`` for the roles in ``a``."""
    rest = (a["strides"], a["padding"], a["data_format"], a["dilations"])
    if fn in ("conv2d", "conv2d_loops"):
        return (a["x"], a["w"], *rest)
    if fn == "autodiff":
        return (a["x"], a["w"], a["dy"], *rest)
    if fn == "conv2d_transpose":
        return (a["dy"], a["w"], a["x_sizes"], *rest)
    if fn in D_X:
        return (a["x_sizes"], a["w"], a["dy"], *rest)
    return (a["x"], a["w_sizes"], a["dy"], *rest)


def call(lib: Any, fn: str, a: dict[str, Any], **kwargs: Any) -> Any:
    """Call ``lib.fn`` (lib is convlab or convlab.tf) with the roles in ``a``."""
    return getattr(lib, fn)(*positional(fn, a), **kwargs)


def as_dtype(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return np.ones(shape, dtype=np.float32).astype(dtype)


def bad(id: str, fns: tuple[str, ...], error: type[Exception], match: str,
        **changes: Any) -> Any:
    return pytest.param(changes, fns, error, match, id=id)


STRIDES = r"must be a positive int, 2 ints \[height, width\], or 4 ints with 1"
PADDING = r"^padding must be 'VALID', 'SAME', explicit \[\[top, bottom\], \[left, right\]\]"
FLOATS = "must hold float16, float32 or float64 values"

CASES = [
    # --- rank
    bad("input-3d", ALL, ValueError, "^{x} must be 4-D", x=(5, 5, 2)),
    bad("input-5d", ALL, ValueError, "^{x} must be 4-D", x=(1, 5, 5, 2, 1)),
    bad("filters-3d", ALL, ValueError, "^{w} must be 4-D", w=(3, 3, 2)),
    bad("filters-5d", ALL, ValueError, "^{w} must be 4-D", w=(3, 3, 2, 3, 1)),
    bad("out_backprop-3d", HAS_DY, ValueError, "^{dy} must be 4-D", dy=(3, 3, 3)),
    bad("out_backprop-5d", HAS_DY, ValueError, "^{dy} must be 4-D", dy=(1, 3, 3, 3, 1)),
    # --- channels, batch and spatial size that do not fit together
    bad("input-channels-vs-filters", ALL, ValueError,
        "^{x} has 4 channels but {w} expects 2 .*in_channels", x=(1, 5, 5, 4)),
    bad("out_backprop-channels-vs-filters", HAS_DY, ValueError,
        r"^{dy} has 4 channels but {w} has 3 (out|in)_channels \(its last axis\)",
        dy=(1, 3, 3, 4)),
    bad("out_backprop-batch", HAS_DY, ValueError,
        "^{dy} has batch 2 but {x}( with filter_sizes)? has batch 1", dy=(2, 3, 3, 3)),
    bad("out_backprop-spatial", ("autodiff", *D_W), ValueError,
        "^{dy} has height x width 4 x 4, but {x} .* gives 5 x 5",
        x=(1, 9, 9, 2), dy=(1, 4, 4, 3), **SAME_STRIDE_2),
    # --- input_sizes / output_shape inconsistent with out_backprop
    bad("input_sizes-batch", D_X, ValueError, "^{dy} has batch 1 but {x} has batch 2",
        x_sizes=(2, 5, 5, 2)),
    bad("input_sizes-channels", D_X, ValueError, "^{x} has 3 channels but filters expects 2",
        x_sizes=(1, 5, 5, 3)),
    bad("input_sizes-spatial-lists-valid-sizes", D_X, ValueError,
        "^{dy} has height x width 4 x 4, but {x} .* gives 5 x 5; "
        "input heights that give 4: 7, 8; input widths that give 4: 7, 8",
        x_sizes=(1, 9, 9, 2), dy=(1, 4, 4, 3), **SAME_STRIDE_2),
    bad("input_sizes-3-ints", D_X, ValueError, "^{x} must be 4-D", x_sizes=(1, 5, 5)),
    bad("input_sizes-zero-height-valid", D_X, ValueError,
        "^{w} does not fit {x}: the filter spans 3 .*padded input is only 0 long",
        x_sizes=(1, 0, 5, 2)),
    bad("input_sizes-negative", D_X, ValueError,
        "^{x} must have every dimension from 0 to 2147483647", x_sizes=(1, -5, 5, 2)),
    bad("input_sizes-2pow31", D_X, ValueError,
        "^{x} must have every dimension from 0 to 2147483647", x_sizes=(1, 2**31, 5, 2)),
    bad("input_sizes-float", D_X, TypeError, "^{x} must be 4 non-negative ints",
        x_sizes=(1, 5, 5, 2.0)),
    bad("input_sizes-bool", D_X, TypeError, "^{x} must be 4 non-negative ints",
        x_sizes=(True, 5, 5, 2)),
    bad("input_sizes-0d-float-array", D_X, TypeError, "^{x} must be 4 non-negative ints",
        x_sizes=[1, 5, 5, np.array(2.5)]),
    bad("input_sizes-string", D_X, TypeError, "^{x} must be 4 non-negative ints",
        x_sizes="1552"),
    bad("input_sizes-nested", D_X, TypeError, "^{x} must be 4 non-negative ints",
        x_sizes=[[1, 5], [5, 2]]),
    # --- filter_sizes inconsistent with input / out_backprop
    bad("filter_sizes-in-channels", D_W, ValueError,
        "^input has 2 channels but filter_sizes expects 3", w_sizes=(3, 3, 3, 3)),
    bad("filter_sizes-out-channels", D_W, ValueError,
        r"^out_backprop has 3 channels but filter_sizes has 4 out_channels \(its last axis\)",
        w_sizes=(3, 3, 2, 4)),
    bad("filter_sizes-spatial", D_W, ValueError,
        "^out_backprop has height x width 3 x 3, but input with filter_sizes .* gives 4 x 4",
        w_sizes=(2, 2, 2, 3)),
    bad("filter_sizes-3-ints", D_W, ValueError, "^filter_sizes must be 4-D", w_sizes=(3, 3, 2)),
    bad("filter_sizes-zero-height", D_W, ValueError,
        "^filter_sizes must have a height and width of at least 1", w_sizes=(0, 3, 2, 3)),
    bad("filter_sizes-zero-out-channels", D_W, ValueError,
        r"^out_backprop has 3 channels but filter_sizes has 0 out_channels \(its last axis\)",
        w_sizes=(3, 3, 2, 0)),
    bad("filter_sizes-float", D_W, TypeError, "^filter_sizes must be 4 non-negative ints",
        w_sizes=(3, 3, 2, 3.0)),
    bad("filter_sizes-0d-float-array", D_W, TypeError,
        "^filter_sizes must be 4 non-negative ints", w_sizes=[3, 3, 2, np.array(3.5)]),
    # --- strides and dilations
    *[
        bad(f"{name}-{label}", ALL, error, f"^{name} {STRIDES}{extra}", **{name: value})
        for name in ("strides", "dilations")
        for label, value, error, extra in [
            ("zero", 0, ValueError, ".*every entry must be at least 1"),
            ("negative", -1, ValueError, ".*every entry must be at least 1"),
            ("pair-with-zero", (1, 0), ValueError, ".*every entry must be at least 1"),
            ("float", 1.5, TypeError, ""),
            ("float-in-pair", [1.5, 1], TypeError, ""),
            ("string", "1", TypeError, ""),
            ("bool", True, TypeError, ""),
            ("3-ints", (1, 1, 1), ValueError, ".*got 3 values"),
            ("empty", [], ValueError, ".*got 0 values"),
            ("nested", [[1, 1]], ValueError, ""),
            ("ragged-nested", [[1], [1, 1]], ValueError, ""),
            ("nhwc-batch-not-1", [2, 1, 1, 1], ValueError,
             r".*\[1, h, w, 1\] for NHWC.*batch and channel entries must be 1"),
            ("nhwc-channel-not-1", [1, 1, 1, 2], ValueError,
             ".*batch and channel entries must be 1"),
            ("2pow31", 2**31, ValueError, r".*every entry must be at most 2147483647 \(2\*\*31"),
            ("2pow63", 2**63, ValueError, ".*every entry must be at most 2147483647"),
            ("uint64-max", np.uint64(2**64 - 1), ValueError,
             ".*every entry must be at most 2147483647"),
            ("2pow40-in-4-ints", [1, 2**40, 1, 1], ValueError,
             ".*every entry must be at most 2147483647"),
        ]
    ],
    bad("strides-none", ALL, TypeError, f"^strides {STRIDES}", strides=None),
    *[
        bad(f"{name}-nchw-spatial-at-1-2", ALL, ValueError,
            rf"^{name} {STRIDES}.*\[1, 1, h, w\] for NCHW.*batch and channel entries must be 1",
            **NCHW, **{name: [1, 2, 2, 1]})
        for name in ("strides", "dilations")
    ],
    # --- padding
    bad("padding-FULL", ALL, ValueError, PADDING + ".*got 'FULL'", padding="FULL"),
    bad("padding-EXPLICIT", ALL, ValueError, PADDING + ".*got 'EXPLICIT'", padding="EXPLICIT"),
    bad("padding-negative", ALL, ValueError, PADDING + ".*padding cannot be negative",
        padding=[[-1, 0], [0, 0]]),
    bad("padding-3-pairs", ALL, ValueError, PADDING, padding=[[1, 1], [1, 1], [1, 1]]),
    bad("padding-1-pair", ALL, ValueError, PADDING, padding=[[1, 1]]),
    bad("padding-pair-of-3", ALL, ValueError, PADDING, padding=[[1, 1, 1], [1, 1]]),
    bad("padding-flat-ints", ALL, ValueError, PADDING, padding=[1, 1, 1, 1]),
    bad("padding-floats", ALL, TypeError, PADDING, padding=[[1.0, 0], [0, 0]]),
    bad("padding-int", ALL, TypeError, PADDING, padding=5),
    bad("padding-2pow31", ALL, ValueError, PADDING + ".*padding cannot exceed 2147483647",
        padding=[[2**31, 0], [0, 0]]),
    bad("padding-2pow64", ALL, ValueError, PADDING + ".*padding cannot exceed 2147483647",
        padding=[[0, 0], [0, 2**64]]),
    bad("padding-none", ALL, TypeError, PADDING, padding=None),
    bad("padding-4-pairs-batch", ALL, ValueError,
        PADDING + ".*batch and channel padding must be 0",
        padding=[[1, 0], [0, 0], [0, 0], [0, 0]]),
    bad("padding-4-pairs-channel", ALL, ValueError,
        PADDING + ".*batch and channel padding must be 0",
        padding=[[0, 0], [0, 0], [0, 0], [0, 1]]),
    bad("padding-4-pairs-nhwc-form-in-nchw", ALL, ValueError,
        PADDING + r".*\[\[0, 0\], \[0, 0\], \[top, bottom\], \[left, right\]\] for "
        "NCHW.*batch and channel padding must be 0",
        padding=[[0, 0], [1, 1], [1, 1], [0, 0]], **NCHW),
    # --- data_format
    *[
        bad(f"data_format-{value}", ALL, ValueError,
            "^data_format must be 'NHWC' or 'NCHW', got", data_format=value)
        for value in ("HWC", "NHCW", "", None)
    ],
    # --- dtypes: only float16/32/64, the same for every array
    *[
        bad(f"{role}-{np.dtype(dtype).name}", fns, TypeError, f"^{{{role}}} {FLOATS}",
            **{role: as_dtype(BASE[role], dtype)})
        for role, fns in (("x", X_ARRAY), ("w", W_ARRAY), ("dy", HAS_DY))
        for dtype in (np.int32, np.uint8, bool, np.complex64, str, object)
    ],
    bad("input-ragged-list", X_ARRAY, TypeError, "^input must be an array of floats",
        x=[[1.0], [1.0, 2.0]]),
    bad("input-float64-filters-float32", FORWARD, TypeError,
        "^input and filters must have the same dtype, got float64 and float32",
        x=as_dtype(BASE["x"], np.float64)),
    bad("input-float16-filters-float32", FORWARD, TypeError,
        "^input and filters must have the same dtype, got float16 and float32",
        x=as_dtype(BASE["x"], np.float16)),
    bad("input-float64-out_backprop-float32", D_W, TypeError,
        "^input and out_backprop must have the same dtype", x=as_dtype(BASE["x"], np.float64)),
    bad("out_backprop-float64-input-float32", ("autodiff",), TypeError,
        "^input and out_backprop must have the same dtype", dy=as_dtype(BASE["dy"], np.float64)),
    bad("out_backprop-float64-filters-float32", D_X, TypeError,
        "^{dy} and filters must have the same dtype", dy=as_dtype(BASE["dy"], np.float64)),
    # --- a window larger than the padded input
    bad("filter-larger-than-input", ALL, ValueError,
        "^{w} does not fit {x}: the filter spans 5 .*padded input is only 3 long",
        x=(1, 3, 3, 2), w=(5, 5, 2, 3), dy=(1, 1, 1, 3)),
    bad("filter-larger-than-padded-input", ALL, ValueError,
        "^{w} does not fit {x}: the filter spans 5 .*padded input is only 3 long",
        x=(1, 2, 2, 2), w=(5, 5, 2, 3), dy=(1, 1, 1, 3), padding=[[1, 0], [1, 0]]),
    bad("filter-larger-by-twice-the-stride", ALL, ValueError,
        r"^{w} does not fit {x}: the filter spans 9 .*padded input is only 5 long.*"
        r"twice the stride \(2\) or more",
        w=(9, 9, 2, 3), strides=2),
    bad("dilation-too-large", ALL, ValueError,
        r"^{w} does not fit {x}: the filter spans 7 \(kernel 3, dilation 3\)", dilations=3),
    # --- zero-size dimensions that TensorFlow refuses (tests/test_edges.py: those it computes)
    bad("input-zero-channels", ALL, ValueError,
        r"^{x} has 0 channels \(and {w} 0 in_channels\); TensorFlow needs at least 1",
        x=(1, 5, 5, 0), w=(3, 3, 0, 3)),
    bad("filters-zero-height", W_ARRAY, ValueError,
        r"^{w} must have a height and width of at least 1 \(filters are", w=(0, 3, 2, 3)),
    bad("filters-zero-width", W_ARRAY, ValueError,
        "^{w} must have a height and width of at least 1", w=(3, 0, 2, 3)),
    bad("input-zero-height-valid", FORWARD, ValueError,
        "^{w} does not fit {x}: the filter spans 3 .*padded input is only 0 long",
        x=(1, 0, 5, 2)),
    bad("out_backprop-zero-width", HAS_DY, ValueError,
        "^{dy} has height x width 3 x 0, but {x}", dy=(1, 3, 0, 3)),
]


def _expand(cases: list[Any]) -> list[Any]:
    """One param per case x backend x function the case applies to."""
    out = []
    for case in cases:
        changes, fns, error, match = case.values
        for backend in ("numpy", "tf"):
            for fn in fns:
                if fn in (TF_ONLY if backend == "numpy" else NUMPY_ONLY):
                    continue
                expected = match.format(**NAMES[fn])
                out.append(pytest.param(backend, fn, changes, error, expected,
                                        id=f"{case.id}-{backend}-{fn}"))
    return out


@pytest.fixture
def tf_unreached(ctf, monkeypatch):
    """Fail the test if a convlab.tf function gets as far as running TensorFlow."""
    def reached(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("TensorFlow was reached: convlab's checks let the argument through")
    monkeypatch.setattr(ctf, "_on", reached)
    return ctf


@pytest.mark.parametrize(("backend", "fn", "changes", "error", "match"), _expand(CASES))
def test_bad_argument_gets_a_clear_error(backend, fn, changes, error, match, request):
    lib = convlab if backend == "numpy" else request.getfixturevalue("tf_unreached")
    with pytest.raises(error, match=match) as info:
        call(lib, fn, arguments(changes))
    assert type(info.value) is error  # exactly the documented type, not a look-alike


def test_the_base_call_is_valid(ctf):
    # the table changes one thing at a time, so the unchanged call must succeed everywhere
    a = arguments({})
    for fn in NAMES:
        for lib in (convlab, ctf):
            if fn in (NUMPY_ONLY if lib is ctf else TF_ONLY):
                continue
            call(lib, fn, a)


@pytest.mark.parametrize("fmt", ["nhwc", "Nhwc", "nchw"])
@pytest.mark.parametrize("fn", sorted(set(NAMES) - TF_ONLY))
def test_data_format_is_case_insensitive_in_numpy(fn, fmt):
    changes = NCHW if fmt.upper() == "NCHW" else {}
    lower = call(convlab, fn, arguments({**changes, "data_format": fmt}))
    upper = call(convlab, fn, arguments({**changes, "data_format": fmt.upper()}))
    np.testing.assert_array_equal(lower, upper)


def test_data_format_is_case_insensitive_in_tf(ctf):
    a = arguments({"data_format": "nhwc"})
    np.testing.assert_array_equal(call(ctf, "conv2d", a), call(convlab, "conv2d", a))
    b = arguments({**NCHW, "data_format": "nchw"})  # via conv2d runs NCHW on CPU too
    got = call(ctf, "grad_input_via_conv2d", b)
    np.testing.assert_allclose(got, call(convlab, "grad_input_via_conv2d", b), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, bool, np.complex64])
def test_tf_tensors_of_the_wrong_dtype_are_rejected(tf_unreached, dtype):
    import tensorflow as tf

    x = tf.constant(np.ones((1, 5, 5, 2)).astype(dtype))
    with pytest.raises(TypeError, match=f"^input {FLOATS}"):
        tf_unreached.conv2d(x, np.ones((3, 3, 2, 3), np.float32), 1, "VALID")


# --- devices

TF_FNS = sorted(set(NAMES) - NUMPY_ONLY)


@pytest.mark.parametrize("fn", TF_FNS)
def test_gpu_without_a_gpu_raises_device_unavailable(ctf, fn):
    if ctf.gpu_available():
        pytest.skip("TensorFlow sees a GPU here")
    with pytest.raises(ctf.DeviceUnavailableError, match="no GPU"):
        call(ctf, fn, arguments({}), device="gpu")


@pytest.mark.parametrize("device", ["tpu", "xpu", "", None, "GPU:0"])
@pytest.mark.parametrize("fn", TF_FNS)
def test_unknown_device_is_a_value_error(ctf, fn, device):
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu' or 'gpu', got"):
        call(ctf, fn, arguments({}), device=device)


# --- what stock TensorFlow cannot compute on a CPU

needs_stock_cpu_kernels = pytest.mark.skipif(
    os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0",
    reason="TensorFlow's CPU refusals are those of its stock kernels (TF_ENABLE_ONEDNN_OPTS=0)",
)

DILATED = {"dilations": 2, "dy": (1, 1, 1, 3)}  # the 3 x 3 filter spans 5 rows: 1 x 1 output


@needs_stock_cpu_kernels
@pytest.mark.parametrize(("fn", "instead"), [
    ("conv2d_backprop_input", ["grad_input_via_conv2d"]),
    ("conv2d_transpose", ["grad_input_via_conv2d"]),
    ("conv2d_backprop_filter", ["grad_filter_via_conv2d"]),
    ("autodiff", ["grad_input_via_conv2d", "grad_filter_via_conv2d"]),
])
def test_tf_refusal_of_dilations_on_cpu_names_the_via_conv2d_method(ctf, fn, instead):
    a = arguments(DILATED)
    with pytest.raises(ctf.TensorFlowUnsupportedError) as info:
        call(ctf, fn, a, device="cpu")
    err = info.value
    message = str(err)
    for name in instead:
        assert f"convlab.tf.{name}" in message
    assert "dilation" in message and "CPU" in message
    assert "{{function_node" not in message and "[Op:" not in message
    assert err.__cause__ is None
    assert err.__suppress_context__ is True  # TensorFlow's own traceback is not chained
    assert isinstance(err, NotImplementedError)


@needs_stock_cpu_kernels
def test_the_via_conv2d_methods_named_in_the_refusal_work_there(ctf):
    a = arguments(DILATED)
    rest = (a["strides"], a["padding"], a["data_format"], a["dilations"])
    d_x = ctf.grad_input_via_conv2d(a["x_sizes"], a["w"], a["dy"], *rest, device="cpu")
    d_w = ctf.grad_filter_via_conv2d(a["x"], a["w_sizes"], a["dy"], *rest, device="cpu")
    np.testing.assert_allclose(
        d_x, convlab.conv2d_backprop_input(a["x_sizes"], a["w"], a["dy"], *rest), rtol=1e-5)
    np.testing.assert_allclose(
        d_w, convlab.conv2d_backprop_filter(a["x"], a["w_sizes"], a["dy"], *rest), rtol=1e-5)


@needs_stock_cpu_kernels
def test_tf_conv2d_in_nchw_on_cpu_is_unsupported(ctf):
    a = arguments(NCHW)
    with pytest.raises(ctf.TensorFlowUnsupportedError, match=r"conv2d .*on CPU.*NHWC") as info:
        ctf.conv2d(a["x"], a["w"], 1, "VALID", "NCHW", device="cpu")
    assert "{{function_node" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__ is True


# --- verify()

@pytest.mark.parametrize(("kwargs", "error", "match"), [
    pytest.param({"device": "xpu"}, ValueError, "^device must be", id="device-xpu"),
    pytest.param({"device": None}, ValueError, "^device must be", id="device-none"),
    pytest.param({"dtype": "int32"}, TypeError,
                 "^dtype must be .float16., .float32. or .float64., got int32", id="dtype-int32"),
    pytest.param({"dtype": "complex64"}, TypeError, "^dtype must be .float16.",
                 id="dtype-complex64"),
    pytest.param({"repeat": 0}, ValueError, "^repeat must be a positive int", id="repeat-0"),
    pytest.param({"repeat": 2.0}, TypeError, "^repeat must be a positive int", id="repeat-float"),
    pytest.param({"repeat": True}, TypeError, "^repeat must be a positive int", id="repeat-bool"),
    pytest.param({"repeat": "3"}, TypeError, "^repeat must be a positive int",
                 id="repeat-string"),
    pytest.param({"seed": -1}, ValueError, "^seed must be a non-negative int", id="seed-negative"),
    pytest.param({"seed": 1.5}, TypeError, "^seed must be a non-negative int", id="seed-float"),
    pytest.param({"seed": "0"}, TypeError, "^seed must be a non-negative int", id="seed-string"),
    pytest.param({"seed": [1, 2]}, TypeError, "^seed must be a non-negative int", id="seed-list"),
    pytest.param({"input_shape": "abc"}, TypeError, "^input_shape must be 4 positive ints",
                 id="input_shape-string"),
    pytest.param({"input_shape": "1551"}, TypeError, "^input_shape must be 4 positive ints",
                 id="input_shape-digits"),
    pytest.param({"input_shape": (1, 5.5, 5, 3)}, TypeError,
                 "^input_shape must be 4 positive ints", id="input_shape-fraction"),
    pytest.param({"input_shape": (1, 5.0, 5, 3)}, TypeError,
                 "^input_shape must be 4 positive ints", id="input_shape-whole-float"),
    pytest.param({"input_shape": (True, 5, 5, 3)}, TypeError,
                 "^input_shape must be 4 positive ints", id="input_shape-bool"),
    pytest.param({"input_shape": (1, 5, 5)}, ValueError, "^input_shape must be 4-D",
                 id="input_shape-3-ints"),
    pytest.param({"input_shape": (0, 5, 5, 3)}, ValueError,
                 "^input_shape must have every dimension from 1 to 2147483647",
                 id="input_shape-zero"),
    pytest.param({"filter_shape": (3, 3, 3, -1)}, ValueError,
                 "^filter_shape must have every dimension from 1", id="filter_shape-negative"),
    pytest.param({"filter_shape": (3, 3, 3, 4.5)}, TypeError,
                 "^filter_shape must be 4 positive ints", id="filter_shape-fraction"),
    pytest.param({"filter_shape": (3, 3, 2, 4)}, ValueError,
                 "^input_shape has 3 channels but filter_shape expects 2", id="channels"),
    pytest.param({"input_shape": (1, 2, 2, 3), "padding": "VALID"}, ValueError,
                 r"^with filter_shape \(3, 3, 3, 4\), input_shape \(1, 2, 2, 3\) gives an empty "
                 "output", id="empty-output"),
    pytest.param({"data_format": "NHCW"}, ValueError, "^data_format must be", id="data_format"),
    pytest.param({"strides": 0}, ValueError, "^strides must be a positive int", id="strides-0"),
    pytest.param({"padding": "FULL"}, ValueError, "^padding must be", id="padding-FULL"),
])
def test_verify_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        convlab.verify(**{"repeat": 1, **kwargs})


def test_every_case_id_is_unique():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert all(re.fullmatch(r"[\w.-]+", i) for i in ids), ids


@pytest.mark.parametrize("name", ["bfloat16", "float128x", "complex"])
def test_a_dtype_name_numpy_cannot_read_is_refused_in_convlab_words(name: str) -> None:
    with pytest.raises(TypeError, match=r"dtype must be 'float16', 'float32' or 'float64'"):
        convlab.verify((1, 3, 3, 1), (2, 2, 1, 1), 1, "VALID", dtype=name)


def test_every_backend_raises_one_device_error_with_its_own_reason(ctf, ctorch, cjax):
    """One class to catch, whichever framework was asked for a GPU it doesn't see."""
    from convlab import _checks

    for module, who in ((ctf, "TensorFlow"), (ctorch, "PyTorch"), (cjax, "JAX")):
        assert module.DeviceUnavailableError is _checks.DeviceUnavailableError
        assert module.resolve_device("CPU") == "cpu"
        with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu' or 'gpu', got 'tpu'"):
            module.resolve_device("tpu")
        if not module.gpu_available():
            with pytest.raises(_checks.DeviceUnavailableError, match=f"{who} sees no GPU"):
                module.resolve_device("gpu")
            assert module.resolve_device("auto") == "cpu"
    verify_module = importlib.import_module("convlab.verify")  # convlab.verify: the function
    assert verify_module.DeviceUnavailableError is _checks.DeviceUnavailableError
