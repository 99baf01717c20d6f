"""convlab.torch: TensorFlow as the oracle, loops, the adjoint identity, edges and errors.

Every function of convlab.torch is computed by PyTorch's own ops; here each is held to
TensorFlow in float64 (the oracle of test_tf_oracle, which works around TF's CPU kernels
refusing NCHW and dilated gradients), to a few-line loop definition, and to the exact
adjoint identity.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convlab
from _support import Config, assert_close, ids, oracle_checked
from convlab import tolerance
from test_tf_oracle import tf_oracle

pytestmark = pytest.mark.torch

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture(scope="module")
def tf(ctf):
    """TensorFlow itself, for the oracle (skipped like ``ctf`` when it is missing)."""
    import tensorflow

    return tensorflow


def results(ct, cfg: Config, x: Any, w: Any, dy: Any, device: str = "cpu",
            args: tuple[Any, ...] | None = None) -> list[tuple[str, str, Any]]:
    """``(quantity, name, result)`` for every function of convlab.torch (``args``:
    strides, padding, data_format, dilations, if not ``cfg``'s)."""
    a, xs, ws, cpu = args or cfg.args(), cfg.input_shape, cfg.filter_shape, {"device": device}
    d_x, d_w = ct.autodiff(x, w, dy, *a, **cpu)
    return [
        ("y", "conv2d", ct.conv2d(x, w, *a, **cpu)),
        ("d_x", "conv2d_backprop_input", ct.conv2d_backprop_input(xs, w, dy, *a, **cpu)),
        ("d_x", "conv2d_transpose", ct.conv2d_transpose(dy, w, xs, *a, **cpu)),
        ("d_x", "autodiff", d_x),
        ("d_x", "grad_input_via_conv2d", ct.grad_input_via_conv2d(xs, w, dy, *a, **cpu)),
        ("d_w", "conv2d_backprop_filter", ct.conv2d_backprop_filter(x, ws, dy, *a, **cpu)),
        ("d_w", "autodiff", d_w),
        ("d_w", "grad_filter_via_conv2d", ct.grad_filter_via_conv2d(x, ws, dy, *a, **cpu)),
    ]


def check_against_tf(ct, tf, cfg: Config, dtype: Any, rng: np.random.Generator) -> None:
    x, w, dy = cfg.arrays(rng, dtype)
    want = tf_oracle(tf, cfg, x, w, dy)
    for quantity, name, got in results(ct, cfg, x, w, dy):
        assert isinstance(got, ct.torch.Tensor) and got.is_contiguous(), name
        assert_close(got, want[quantity], dtype,
                     what=f"torch.{name} ({quantity}) for {cfg}, {np.dtype(dtype).name}")
    oracle_checked()


# --- 1. TensorFlow as the oracle: random configurations ---------------------------------

pads = st.tuples(st.integers(0, 3), st.integers(0, 3))


@st.composite
def configs(draw: st.DrawFn) -> Config:
    size = st.integers(1, 10)
    return Config(
        n=draw(st.integers(1, 3)), h=draw(size), w=draw(size),
        c_in=draw(st.integers(1, 4)), c_out=draw(st.integers(1, 4)),
        kh=draw(st.integers(1, 4)), kw=draw(st.integers(1, 4)),
        strides=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        dilations=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        padding=draw(st.one_of(st.sampled_from(["VALID", "SAME"]), st.tuples(pads, pads))),
        data_format=draw(st.sampled_from(["NHWC", "NCHW"])),
    )


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(cfg=configs(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_random_configs_match_tensorflow(ctorch, tf, cfg, dtype, seed):
    assume(cfg.fits())
    check_against_tf(ctorch, tf, cfg, dtype, np.random.default_rng(seed))


# the cases the issue names, whatever hypothesis draws
NAMED = [
    Config(2, 7, 8, 3, 2, 2, 4, (2, 3), (1, 1), "SAME"),  # odd SAME totals, extra at the end
    Config(1, 10, 9, 2, 3, 3, 3, (3, 3), (1, 1), "SAME"),
    Config(3, 9, 8, 2, 4, 3, 2, (2, 1), (1, 1), ((0, 3), (2, 1))),  # asymmetric explicit
    Config(2, 10, 11, 3, 2, 2, 3, (1, 2), (3, 2), "SAME", "NCHW"),  # dilation 3, NCHW
    Config(2, 9, 7, 4, 3, 3, 2, (3, 2), (2, 3), ((3, 0), (1, 2)), "NCHW"),
    Config(1, 1, 4, 1, 2, 1, 2, (3, 1), (1, 1), ((2, 0), (0, 1))),  # every window in padding
    Config(2, 6, 5, 2, 2, 4, 3, (2, 2), (1, 1), "VALID"),  # rows no window reaches
]


def test_named_configs_cover_the_cases():
    def odd_same(c: Config) -> bool:
        return c.padding == "SAME" and any(
            sum(convlab.same_padding(i, k, s, d)) % 2
            for i, k, s, d in zip((c.h, c.w), (c.kh, c.kw), c.strides, c.dilations,
                                  strict=True))

    assert any(odd_same(c) for c in NAMED)
    assert any(3 in c.strides for c in NAMED) and any(3 in c.dilations for c in NAMED)
    assert any(not isinstance(c.padding, str) and c.padding[0][0] != c.padding[0][1]
               for c in NAMED)
    assert any(c.data_format == "NCHW" for c in NAMED)
    assert any(c.n > 1 and c.c_in > 1 and c.c_out > 1 and c.c_in != c.c_out for c in NAMED)
    assert all(c.fits() for c in NAMED)


@pytest.mark.parametrize("cfg", NAMED, ids=ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_named_configs_match_tensorflow(ctorch, tf, cfg, dtype, rng):
    check_against_tf(ctorch, tf, cfg, dtype, rng)


# --- 2. an independent oracle: loops ----------------------------------------------------


def loops(cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray):
    """``y``, ``d_x``, ``d_w`` by the definition, in NHWC, padding by index checks."""
    if cfg.data_format == "NCHW":
        x, dy = x.transpose(0, 2, 3, 1), dy.transpose(0, 2, 3, 1)
    (sh, sw), (dh, dw_), (kh, kw) = cfg.strides, cfg.dilations, (cfg.kh, cfg.kw)
    top, left = (convlab.conv_geometry(x.shape, w.shape, cfg.strides, cfg.padding,
                                       dilations=cfg.dilations).pads[i][0] for i in (0, 1))
    n, oh, ow, _ = dy.shape
    y, d_x, d_w = np.zeros(dy.shape), np.zeros(x.shape), np.zeros(w.shape)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for c in range(kw):
                        r, s = sh * i + dh * a - top, sw * j + dw_ * c - left
                        if 0 <= r < x.shape[1] and 0 <= s < x.shape[2]:
                            y[b, i, j] += x[b, r, s] @ w[a, c]
                            d_x[b, r, s] += w[a, c] @ dy[b, i, j]
                            d_w[a, c] += np.outer(x[b, r, s], dy[b, i, j])
    if cfg.data_format == "NCHW":
        y, d_x = y.transpose(0, 3, 1, 2), d_x.transpose(0, 3, 1, 2)
    return {"y": y, "d_x": d_x, "d_w": d_w}


SMALL = [
    Config(1, 5, 4, 1, 1, 2, 3, (1, 1), (1, 1), "SAME"),
    Config(2, 5, 6, 2, 3, 3, 2, (2, 2), (1, 1), "SAME"),
    Config(2, 6, 5, 3, 2, 2, 2, (3, 1), (2, 1), ((1, 2), (0, 1)), "NCHW"),
    Config(1, 7, 5, 2, 2, 3, 1, (1, 2), (2, 3), "VALID"),
    Config(2, 4, 4, 2, 1, 2, 2, (2, 3), (1, 2), ((3, 0), (2, 2))),
]


@pytest.mark.parametrize("cfg", SMALL, ids=ids)
def test_loops_agree_with_torch_and_numpy(ctorch, cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float64)
    want = loops(cfg, x, w, dy)
    a, xs, ws = cfg.args(), cfg.input_shape, cfg.filter_shape
    numpy = [
        ("y", "numpy conv2d", convlab.conv2d(x, w, *a)),
        ("d_x", "numpy conv2d_backprop_input", convlab.conv2d_backprop_input(xs, w, dy, *a)),
        ("d_w", "numpy conv2d_backprop_filter",
         convlab.conv2d_backprop_filter(x, ws, dy, *a)),
    ]
    for quantity, name, got in [*numpy, *results(ctorch, cfg, x, w, dy)]:
        assert_close(got, want[quantity], np.float64, what=f"{name} vs loops for {cfg}")


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "inference tensors"])
def test_every_function_works_where_the_caller_turned_autograd_off(ctorch, mode, rng):
    import torch

    cfg = SMALL[2]
    x, w, dy = cfg.arrays(rng, np.float64)
    want = loops(cfg, x, w, dy)
    off = torch.inference_mode() if mode != "no_grad" else torch.no_grad()
    with off:
        tensors = [torch.from_numpy(a).clone() for a in (x, w, dy)]
        got = results(ctorch, cfg, *tensors) if mode != "inference tensors" else None
    if got is None:  # tensors made in inference mode, used outside it
        got = results(ctorch, cfg, *tensors)
    for quantity, name, value in got:
        assert_close(value, want[quantity], np.float64, what=f"{name} under {mode}")


# --- 3. the adjoint identity, float64 ---------------------------------------------------


@pytest.mark.parametrize("cfg", NAMED + SMALL, ids=ids)
def test_adjoint_identity_in_float64(ctorch, cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float64)
    got = results(ctorch, cfg, x, w, dy)
    y = np.asarray(got[0][2])
    inner = np.vdot(y, dy)
    scale = np.abs(y).sum() * np.abs(dy).max()
    for quantity, name, value in got[1:]:
        other = np.vdot(x if quantity == "d_x" else w, np.asarray(value))
        assert abs(other - inner) <= tolerance.ADJOINT_RTOL * scale, name


# --- 4. dtypes, tensors, empty shapes ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_kept_and_float16_is_accurate(ctorch, dtype, rng):
    cfg = Config(2, 8, 7, 3, 2, 3, 3, (2, 2), (2, 1), "SAME", "NCHW")
    x, w, dy = cfg.arrays(rng, dtype)
    want = loops(cfg, *(a.astype(np.float64) for a in (x, w, dy)))
    for quantity, name, got in results(ctorch, cfg, x, w, dy):
        assert got.dtype == getattr(ctorch.torch, np.dtype(dtype).name), name
        assert_close(got, want[quantity], dtype, what=name)


def test_tensors_in_tensors_out(ctorch, rng):
    torch = ctorch.torch
    cfg = Config(2, 6, 7, 2, 3, 3, 2, (2, 1), (1, 2), ((0, 2), (1, 0)))
    x, w, dy = cfg.arrays(rng, np.float64)
    # a tensor that requires grad, a non-contiguous numpy view, a read-only array
    xt = torch.from_numpy(x).requires_grad_(True)
    w_view = np.asfortranarray(w)
    dy_ro = dy.copy()
    dy_ro.flags.writeable = False
    sizes = torch.tensor(cfg.input_shape)
    want = loops(cfg, x, w, dy)
    a = cfg.args()
    assert_close(ctorch.conv2d(xt, w_view, *a), want["y"], np.float64)
    assert_close(ctorch.conv2d_backprop_input(sizes, w_view, dy_ro, *a), want["d_x"],
                 np.float64)
    assert_close(ctorch.conv2d_backprop_filter(xt, torch.Size(cfg.filter_shape), dy_ro, *a),
                 want["d_w"], np.float64)
    d_x, d_w = ctorch.autodiff(xt, w_view, dy_ro, *a)
    assert_close(d_x, want["d_x"], np.float64)
    assert not xt.grad_fn and xt.grad is None  # the caller's tensor is left alone
    assert_close(ctorch.as_numpy(d_w), want["d_w"], np.float64)


def test_tensorflow_argument_forms_give_the_same(ctorch, rng):
    cfg = Config(2, 7, 6, 2, 3, 3, 2, (2, 1), (1, 2), ((1, 2), (0, 1)), "NCHW")
    x, w, dy = cfg.arrays(rng, np.float64)
    four = ([1, 1, 2, 1], [[0, 0], [0, 0], [1, 2], [0, 1]], "nchw", np.array([1, 1, 1, 2]))
    for (_, name, a), (_, _, b) in zip(results(ctorch, cfg, x, w, dy),
                                       results(ctorch, cfg, x, w, dy, args=four),
                                       strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b)), name


EMPTY = [
    # (input shape NHWC, filter shape, strides, padding)
    ((0, 5, 5, 2), (3, 3, 2, 2), 1, "SAME"),  # batch 0
    ((1, 0, 5, 2), (3, 3, 2, 2), 1, [[2, 2], [1, 1]]),  # height 0, padding gives rows
    ((2, 5, 5, 2), (3, 3, 2, 0), 2, "VALID"),  # out_channels 0
    ((1, 2, 2, 2), (3, 3, 2, 1), 1, "VALID"),  # no window fits
    ((1, 5, 0, 2), (1, 1, 2, 3), 2, "SAME"),  # width 0
]


@pytest.mark.parametrize(("xs", "ws", "strides", "padding"), EMPTY)
def test_empty_shapes_as_convlab(ctorch, xs, ws, strides, padding):
    x, w = np.ones(xs, np.float32), np.ones(ws, np.float32)
    args = (strides, padding)
    y = convlab.conv2d(x, w, *args)
    dy = np.ones(y.shape, np.float32)
    pairs = [
        (ctorch.conv2d(x, w, *args), y),
        (ctorch.conv2d_backprop_input(xs, w, dy, *args),
         convlab.conv2d_backprop_input(xs, w, dy, *args)),
        (ctorch.conv2d_transpose(dy, w, xs, *args), convlab.conv2d_transpose(dy, w, xs, *args)),
        (ctorch.grad_input_via_conv2d(xs, w, dy, *args),
         convlab.grad_input_via_conv2d(xs, w, dy, *args)),
        (ctorch.conv2d_backprop_filter(x, ws, dy, *args),
         convlab.conv2d_backprop_filter(x, ws, dy, *args)),
        (ctorch.grad_filter_via_conv2d(x, ws, dy, *args),
         convlab.grad_filter_via_conv2d(x, ws, dy, *args)),
        *zip(ctorch.autodiff(x, w, dy, *args),
             (np.zeros(xs, np.float32), convlab.conv2d_backprop_filter(x, ws, dy, *args)),
             strict=True),
    ]
    for got, want in pairs:
        got = np.asarray(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got, want)


# --- 5. bad input: convlab's errors, never PyTorch's ------------------------------------

X = np.ones((1, 5, 5, 2), np.float32)
W = np.ones((3, 3, 2, 4), np.float32)
DY = np.ones((1, 5, 5, 4), np.float32)


def bad_cases(ct) -> list[tuple[str, Any, type, str]]:
    torch = ct.torch
    return [
        ("rank", lambda: ct.conv2d(X[0], W, 1, "SAME"), ValueError, "input must be 4-D"),
        ("channels", lambda: ct.conv2d(X, W[:, :, :1], 1, "SAME"), ValueError, "in_channels"),
        ("padding", lambda: ct.conv2d(X, W, 1, "FULL"), ValueError, "padding must be"),
        ("pairs", lambda: ct.conv2d(X, W, 1, [[1, 2, 3]]), ValueError, "padding must be"),
        ("negative pad", lambda: ct.conv2d(X, W, 1, [[-1, 0], [0, 0]]), ValueError,
         "padding cannot be negative"),
        ("stride", lambda: ct.conv2d(X, W, -1, "SAME"), ValueError, "strides must be"),
        ("dilation", lambda: ct.conv2d(X, W, 1, "SAME", dilations=[1, 0]), ValueError,
         "dilations must be"),
        ("format", lambda: ct.conv2d(X, W, 1, "SAME", data_format="NCWH"), ValueError,
         "data_format must be"),
        ("mixed", lambda: ct.conv2d(X, W.astype(np.float64), 1, "SAME"), TypeError,
         "input and filters must have the same dtype"),
        ("mixed tensors", lambda: ct.autodiff(torch.ones(1, 5, 5, 2), W, DY.astype(np.float16),
                                              1, "SAME"), TypeError, "out_backprop"),
        ("int", lambda: ct.conv2d(X.astype(int), W, 1, "SAME"), TypeError, "input must hold"),
        ("bfloat16", lambda: ct.conv2d(torch.ones(1, 5, 5, 2, dtype=torch.bfloat16), W, 1,
                                       "SAME"), TypeError, "input must hold"),
        ("output_shape", lambda: ct.conv2d_transpose(DY[:, :3, :3], W, (1, 9, 9, 2), 1,
                                                     "SAME"), ValueError, "output_shape"),
        ("input_sizes", lambda: ct.conv2d_backprop_input(torch.tensor([1, 5, 5]), W, DY, 1,
                                                         "SAME"), ValueError, "input_sizes"),
        ("float sizes", lambda: ct.conv2d_backprop_input([1.0, 5, 5, 2], W, DY, 1, "SAME"),
         TypeError, "input_sizes"),
        ("filter_sizes", lambda: ct.conv2d_backprop_filter(X, (3, 3, 2), DY, 1, "SAME"),
         ValueError, "filter_sizes"),
        ("dy shape", lambda: ct.conv2d_backprop_filter(X, W.shape, DY[:, :4], 1, "SAME"),
         ValueError, "out_backprop has height x width 4 x 5"),
        ("too long", lambda: ct.conv2d(X, np.ones((7, 3, 2, 4), np.float32), 1, "VALID",
                                       dilations=[2, 1]), ValueError, "filters does not fit"),
        ("a row too long", lambda: ct.conv2d(X, np.ones((6, 3, 2, 4), np.float32), 1,
                                             "VALID"), None, ""),
        ("empty filter", lambda: ct.conv2d(X, np.ones((0, 3, 2, 4), np.float32), 1, "SAME"),
         ValueError, "filters must have a height and width of at least 1"),
        ("strings", lambda: ct.conv2d("abc", W, 1, "SAME"), TypeError, "input must hold"),
        ("device", lambda: ct.conv2d(X, W, 1, "SAME", device="tpu"), ValueError,
         "device must be"),
    ]


def test_bad_input_gets_convlab_errors(ctorch):
    cases = bad_cases(ctorch)
    assert len(cases) >= 15
    for name, call, kind, words in cases:
        if kind is None:  # accepted: a filter longer than the input gives 0 rows, as in TF
            assert tuple(call().shape) == (1, 0, 3, 4), name
            continue
        with pytest.raises(kind) as err:
            call()
        assert not isinstance(err.value, RuntimeError), name
        assert words in str(err.value), f"{name}: {err.value}"


# --- 6. devices, TF32, imports ----------------------------------------------------------


def test_gpu_without_one_is_a_clear_error(ctorch):
    if ctorch.gpu_available():
        pytest.skip("PyTorch sees a GPU here")
    assert ctorch.resolve_device("auto") == "cpu"
    assert ctorch.resolve_device("CPU") == "cpu"
    with pytest.raises(ctorch.DeviceUnavailableError, match=r"torch\.cuda\.is_available"):
        ctorch.conv2d(X, W, 1, "SAME", device="gpu")
    with pytest.raises(ctorch.DeviceUnavailableError):
        ctorch.resolve_device("gpu")
    assert issubclass(ctorch.DeviceUnavailableError, RuntimeError)


def test_set_tf32_sets_the_flags_as_documented(ctorch):
    backends = ctorch.torch.backends
    before = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32,
              dict(ctorch._tf32))
    try:
        assert not ctorch.tf32_enabled()  # convlab's default: float32 means float32
        ctorch.set_tf32(True)
        assert ctorch.tf32_enabled()
        assert backends.cudnn.allow_tf32 and backends.cuda.matmul.allow_tf32
        ctorch.set_tf32(False)
        assert not ctorch.tf32_enabled()
        assert not backends.cudnn.allow_tf32 and not backends.cuda.matmul.allow_tf32
    finally:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = before[:2]
        ctorch._tf32.update(before[2])


def test_imports_stay_apart(ctorch):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = ("import sys, convlab; assert 'torch' not in sys.modules; "
            "import convlab.torch; "
            "assert not {'tensorflow', 'jax'} & set(sys.modules), 'imported'")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_works_without_tensorflow_jax_or_threadpoolctl(ctorch):
    # as on a GPU machine with PyTorch but no TensorFlow: None in sys.modules makes an
    # import of that name fail as if it were not installed
    code = (
        "import sys\n"
        "for name in ('tensorflow', 'jax', 'threadpoolctl'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, convlab.torch as ct\n"
        "x, w = np.ones((1, 5, 4, 2)), np.ones((3, 2, 2, 3))\n"
        "y = ct.conv2d(x, w, 2, 'SAME')\n"
        "dx = ct.grad_input_via_conv2d(x.shape, w, y, 2, 'SAME')\n"
        "dw = ct.grad_filter_via_conv2d(x, w.shape, y, 2, 'SAME')\n"
        "print(float(np.vdot(x, dx)), float(np.vdot(w, dw)), float((y * y).sum()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    a, b, c = (float(v) for v in done.stdout.split())
    assert a == pytest.approx(c) and b == pytest.approx(c)


def test_gpu_matches_the_loops_with_tf32_off(ctorch, rng):
    torch = ctorch.torch
    if not ctorch.gpu_available():
        pytest.skip("PyTorch sees no GPU")
    cfg = NAMED[3]
    for dtype in (np.float16, np.float32, np.float64):
        x, w, dy = cfg.arrays(rng, dtype)
        want = loops(cfg, *(a.astype(np.float64) for a in (x, w, dy)))
        x = torch.from_numpy(x)  # a CPU tensor, moved to the GPU
        for quantity, name, got in results(ctorch, cfg, x, w, dy, device="gpu"):
            assert got.device.type == "cuda", name
            assert_close(ctorch.as_numpy(got), want[quantity], dtype, device="gpu",
                         what=f"{name} on the GPU, {np.dtype(dtype).name}")
    assert not ctorch.tf32_enabled()
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
