"""convlab.jax: JAX's own ops against TensorFlow, loops, numpy convlab and the adjoint.

JAX compiles a program for every convolution (about half a second for the seven
functions on one core), so the random configurations are small and the grids short.
"""

from __future__ import annotations

import itertools
import json
import math
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
from test_tf_oracle import tf_oracle  # TensorFlow in float64, NHWC, dilations worked around

pytestmark = pytest.mark.jax

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("conv2d", "conv2d_backprop_input", "conv2d_backprop_filter", "conv2d_transpose",
         "autodiff_dx", "autodiff_dw", "grad_input_via_conv2d", "grad_filter_via_conv2d")
QUANTITY = {"conv2d": "y", "conv2d_backprop_input": "d_x", "conv2d_transpose": "d_x",
            "autodiff_dx": "d_x", "grad_input_via_conv2d": "d_x",
            "conv2d_backprop_filter": "d_w", "autodiff_dw": "d_w",
            "grad_filter_via_conv2d": "d_w"}


@pytest.fixture(scope="session")
def tf(ctf):
    """TensorFlow itself, for the oracle (skipped like ``ctf`` when it is missing)."""
    import tensorflow

    return tensorflow


@pytest.fixture
def tf32_off(cjax):
    """convlab's precision policy, restored after the test."""
    cjax.set_tf32(False)
    yield cjax
    cjax.set_tf32(False)


def jax_results(cjax, cfg: Config, x: Any, w: Any, dy: Any, **kw: Any) -> dict[str, Any]:
    """All seven of convlab.jax's functions (autodiff's two results apart)."""
    a, xs, ws = cfg.args(), cfg.input_shape, cfg.filter_shape
    d_x, d_w = cjax.autodiff(x, w, dy, *a, **kw)
    return {
        "conv2d": cjax.conv2d(x, w, *a, **kw),
        "conv2d_backprop_input": cjax.conv2d_backprop_input(xs, w, dy, *a, **kw),
        "conv2d_backprop_filter": cjax.conv2d_backprop_filter(x, ws, dy, *a, **kw),
        "conv2d_transpose": cjax.conv2d_transpose(dy, w, xs, *a, **kw),
        "autodiff_dx": d_x,
        "autodiff_dw": d_w,
        "grad_input_via_conv2d": cjax.grad_input_via_conv2d(xs, w, dy, *a, **kw),
        "grad_filter_via_conv2d": cjax.grad_filter_via_conv2d(x, ws, dy, *a, **kw),
    }


def numpy_results(cfg: Config, x: Any, w: Any, dy: Any) -> dict[str, np.ndarray]:
    """``y``, ``d_x``, ``d_w`` from numpy convlab in float64 on the same (rounded) inputs."""
    x, w, dy = (np.asarray(a, dtype=np.float64) for a in (x, w, dy))
    a = cfg.args()
    return {
        "y": convlab.conv2d(x, w, *a),
        "d_x": convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *a),
        "d_w": convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *a),
    }


# --- 1. TensorFlow as the oracle, random configurations -----------------------------------

pads = st.tuples(st.integers(0, 3), st.integers(0, 3))


@st.composite
def configs(draw: st.DrawFn) -> Config:
    size = st.integers(1, 7)
    return Config(
        n=draw(st.integers(1, 2)), h=draw(size), w=draw(size),
        c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(1, 3)),
        kh=draw(st.integers(1, 3)), kw=draw(st.integers(1, 3)),
        strides=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        dilations=draw(st.tuples(st.integers(1, 3), st.integers(1, 3))),
        padding=draw(st.one_of(st.sampled_from(["VALID", "SAME"]), st.tuples(pads, pads))),
        data_format=draw(st.sampled_from(["NHWC", "NCHW"])),
    )


def in_one_program(cjax, cfg: Config, x: Any, w: Any, dy: Any) -> dict[str, np.ndarray]:
    """:func:`jax_results` traced into one ``jax.jit`` program, float64 in float64.

    JAX compiles each of convlab.jax's functions for every new convolution, and XLA's
    compile, not the computation, is what takes the time here. Compiling the seven as
    one program takes about half of it, and without LLVM's optimisations (options of
    this one program only: no global state changes) half again, which is what lets
    this file check 100 random configurations against TensorFlow in its time. The
    functions called one by one, as a user calls them, are checked on the grids below.
    """
    import jax

    fast_compile = {"xla_backend_optimization_level": 0,
                    "xla_llvm_disable_expensive_passes": True}
    with jax.enable_x64(True):
        out = jax.jit(lambda x, w, dy: jax_results(cjax, cfg, x, w, dy, device="cpu"),
                      compiler_options=fast_compile)(x, w, dy)
        return {name: np.asarray(v) for name, v in out.items()}


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(cfg=configs(), seed=st.integers(0, 2**32 - 1))
def test_random_configs_match_tensorflow(cjax, tf, cfg, seed):
    assume(cfg.fits())
    x, w, dy = cfg.arrays(np.random.default_rng(seed), np.float64)
    want = tf_oracle(tf, cfg, x, w, dy)
    for name, got in in_one_program(cjax, cfg, x, w, dy).items():
        assert_close(got, want[QUANTITY[name]], np.float64, what=f"jax.{name} for {cfg}")
    oracle_checked()


def test_random_configs_cover_the_cases_the_issue_names():
    seen: list[Config] = []

    @settings(max_examples=100, derandomize=True, database=None)
    @given(cfg=configs())
    def draw(cfg: Config) -> None:
        if cfg.fits():
            seen.append(cfg)

    draw()

    def odd_same(c: Config) -> bool:
        return c.padding == "SAME" and any(
            sum(convlab.same_padding(size, k, s, d)) % 2
            for size, k, s, d in zip((c.h, c.w), (c.kh, c.kw), c.strides, c.dilations,
                                     strict=True))

    assert len(seen) >= 60
    assert {s for c in seen for s in c.strides} == {1, 2, 3}
    assert {d for c in seen for d in c.dilations} == {1, 2, 3}
    assert any(odd_same(c) for c in seen)
    assert any(not isinstance(c.padding, str) and c.padding[0][0] != c.padding[0][1]
               for c in seen)
    assert any(c.data_format == "NCHW" for c in seen)
    assert any(c.n > 1 and c.c_in > 1 and c.c_out > 1 for c in seen)


# --- 2. an independent loop oracle, and numpy convlab ---------------------------------------


def explicit_pads(cfg: Config) -> list[tuple[int, int]]:
    """TF's padding per axis, worked out here from its definition (extra row at the end)."""
    if not isinstance(cfg.padding, str):
        return [tuple(p) for p in cfg.padding]
    pads = []
    for size, k, s, d in zip((cfg.h, cfg.w), (cfg.kh, cfg.kw), cfg.strides, cfg.dilations,
                             strict=True):
        if cfg.padding == "VALID":
            pads.append((0, 0))
            continue
        total = max((math.ceil(size / s) - 1) * s + d * (k - 1) + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def loops(cfg: Config, x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> dict[str, np.ndarray]:
    """``y``, ``d_x``, ``d_w`` by visiting every output position and filter tap (float64)."""
    to = (0, 2, 3, 1) if cfg.data_format == "NCHW" else (0, 1, 2, 3)
    back = (0, 3, 1, 2) if cfg.data_format == "NCHW" else (0, 1, 2, 3)
    x, dy = (np.transpose(np.asarray(a, np.float64), to) for a in (x, dy))
    w = np.asarray(w, np.float64)
    (pt, pb), (pl, pr) = explicit_pads(cfg)
    (sh, sw), (dh, dw) = cfg.strides, cfg.dilations
    xp = np.pad(x, [(0, 0), (pt, pb), (pl, pr), (0, 0)])
    oh, ow = dy.shape[1:3]
    y = np.zeros(dy.shape)
    d_xp, d_w = np.zeros(xp.shape), np.zeros(w.shape)
    for i, j, a, b in itertools.product(range(oh), range(ow), range(cfg.kh), range(cfg.kw)):
        r, c = i * sh + a * dh, j * sw + b * dw
        y[:, i, j] += xp[:, r, c] @ w[a, b]
        d_xp[:, r, c] += dy[:, i, j] @ w[a, b].T
        d_w[a, b] += xp[:, r, c].T @ dy[:, i, j]
    d_x = d_xp[:, pt:pt + cfg.h, pl:pl + cfg.w]
    return {"y": np.transpose(y, back), "d_x": np.transpose(d_x, back), "d_w": d_w}


SMALL_GRID = [
    Config(2, 7, 6, 3, 2, 3, 2, (2, 1), (1, 1), "SAME"),
    Config(1, 8, 5, 2, 3, 2, 3, (3, 2), (2, 1), ((0, 2), (1, 0)), "NCHW"),
    Config(2, 5, 7, 1, 2, 3, 3, (1, 1), (2, 2), "VALID"),
    Config(1, 9, 6, 2, 2, 3, 2, (2, 3), (1, 2), "SAME", "NCHW"),
    # every window of the first row in the padding: cropping padding in conv_transpose
    Config(1, 1, 4, 1, 2, 1, 2, (3, 1), (1, 1), ((2, 0), (0, 1))),
]


@pytest.mark.parametrize("cfg", SMALL_GRID, ids=ids)
def test_matches_loops_and_numpy_convlab(cjax, cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float32)
    want = loops(cfg, x, w, dy)
    assert_close(want["y"], convlab.conv2d(x.astype(np.float64), w.astype(np.float64),
                                           *cfg.args()), np.float64, what="loops vs numpy")
    mine = numpy_results(cfg, x, w, dy)
    for name, got in jax_results(cjax, cfg, x, w, dy, device="cpu").items():
        q = QUANTITY[name]
        assert_close(got, want[q], np.float32, what=f"jax.{name} vs loops")
        assert_close(got, mine[q], np.float32, what=f"jax.{name} vs numpy convlab")


def test_loop_oracle_can_fail():
    cfg = SMALL_GRID[0]
    x, w, dy = cfg.arrays(np.random.default_rng(1), np.float64)
    want = loops(cfg, x, w, dy)
    swapped = loops(cfg, x, w[::-1, ::-1], dy)
    with pytest.raises(AssertionError):
        assert_close(swapped["y"], want["y"], np.float64)


# --- 3. float64 is float64, and the adjoint identity --------------------------------------

# each new convolution is compiled anew: the tests below share configurations (and dtypes)
ADJOINT = [
    Config(2, 9, 8, 3, 4, 3, 3, (2, 2), (1, 1), "SAME"),
    SMALL_GRID[3],
]


@pytest.mark.parametrize("cfg", ADJOINT, ids=ids)
def test_adjoint_identity_in_float64(cjax, cfg, rng):
    import jax

    x, w, dy = cfg.arrays(rng, np.float64)
    was = jax.config.jax_enable_x64
    r = {name: np.asarray(v) for name, v in jax_results(cjax, cfg, x, w, dy, device="cpu").items()}
    assert all(v.dtype == np.float64 for v in r.values())
    assert jax.config.jax_enable_x64 == was, "convlab.jax must not switch x64 on globally"
    lhs = np.vdot(r["conv2d"], dy)
    scale = abs(np.vdot(np.abs(np.asarray(cjax.conv2d(np.abs(x), np.abs(w), *cfg.args()))),
                        np.abs(dy)))
    for name in NAMES[1:]:
        other = x if QUANTITY[name] == "d_x" else w
        gap = abs(np.vdot(other, r[name]) - lhs) / scale
        assert gap <= tolerance.ADJOINT_RTOL, f"{name}: adjoint gap {gap:.2e}"


def test_float64_is_computed_in_float64(cjax, rng):
    cfg = ADJOINT[0]
    x, w, dy = cfg.arrays(rng, np.float64)
    want = loops(cfg, x, w, dy)
    eps32 = float(np.finfo(np.float32).eps)
    for name, got in jax_results(cjax, cfg, x, w, dy, device="cpu").items():
        _, rel = tolerance.errors(got, want[QUANTITY[name]])
        assert np.asarray(got).dtype == np.float64
        assert rel < 1e-6 * eps32, f"{name}: relative error {rel:.1e}, not float64's"
    # the same inputs in float32 miss by about float32's eps: the check above can fail
    got32 = cjax.conv2d(x.astype(np.float32), w.astype(np.float32), *cfg.args())
    assert tolerance.errors(got32, want["y"])[1] > 1e-3 * eps32


# --- 4. dtypes, empty shapes, JAX's own arrays ----------------------------------------------

@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtypes_are_preserved_and_close(cjax, dtype, rng):
    cfg = SMALL_GRID[3]
    dt = np.dtype(cjax.BFLOAT16) if dtype == "bfloat16" else np.dtype(dtype)
    x, w, dy = cfg.arrays(rng, dt)
    want = numpy_results(cfg, x, w, dy)
    for name, got in jax_results(cjax, cfg, x, w, dy, device="cpu").items():
        got = np.asarray(got)
        ref = want[QUANTITY[name]]
        assert got.dtype == dt, f"{name}: {got.dtype}"
        assert got.shape == ref.shape
        rel = tolerance.errors(got, ref)[1]
        limit = tolerance.rtol(dtype)
        assert rel <= limit, f"{name} in {dtype}: relative error {rel:.1e} > {limit:.0e}"


EMPTY = [
    Config(0, 5, 5, 2, 3, 3, 3, (1, 1), (1, 1), "SAME"),              # no batch
    Config(2, 5, 5, 2, 0, 3, 3, (2, 2), (1, 1), "VALID"),             # no out_channels
    Config(1, 0, 4, 2, 2, 1, 2, (1, 1), (1, 1), ((1, 1), (0, 0))),    # height 0, padded
    Config(1, 2, 5, 1, 2, 3, 2, (1, 1), (1, 1), "VALID", "NCHW"),     # no window fits
]


@pytest.mark.parametrize("cfg", EMPTY, ids=ids)
def test_empty_shapes_give_numpy_convlab_zeros(cjax, cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float32)
    a, xs, ws = cfg.args(), cfg.input_shape, cfg.filter_shape
    want = {
        "conv2d": convlab.conv2d(x, w, *a),
        "conv2d_backprop_input": convlab.conv2d_backprop_input(xs, w, dy, *a),
        "conv2d_backprop_filter": convlab.conv2d_backprop_filter(x, ws, dy, *a),
        "conv2d_transpose": convlab.conv2d_transpose(dy, w, xs, *a),
        "grad_input_via_conv2d": convlab.grad_input_via_conv2d(xs, w, dy, *a),
        "grad_filter_via_conv2d": convlab.grad_filter_via_conv2d(x, ws, dy, *a),
    }
    want["autodiff_dx"], want["autodiff_dw"] = np.zeros_like(x), np.zeros_like(w)
    for name, got in jax_results(cjax, cfg, x, w, dy, device="cpu").items():
        got = np.asarray(got)
        assert got.shape == want[name].shape, name
        assert got.dtype == np.float32, name
        np.testing.assert_array_equal(got, want[name], err_msg=name)


def test_jax_arrays_and_jax_sizes_are_accepted(cjax, rng):
    import jax
    import jax.numpy as jnp

    cfg = SMALL_GRID[0]
    x, w, dy = cfg.arrays(rng, np.float32)
    want = numpy_results(cfg, x, w, dy)
    jx, jw, jdy = (jnp.asarray(v) for v in (x, w, dy))
    a = cfg.args()
    got = {
        "y": cjax.conv2d(jx, jw, *a),
        "d_x": cjax.conv2d_backprop_input(jnp.array(cfg.input_shape), jw, jdy, *a),
        "d_w": cjax.grad_filter_via_conv2d(jx, np.array(cfg.filter_shape), jdy, *a),
    }
    for q, v in got.items():
        assert isinstance(v, jax.Array)
        assert v.devices() == {jax.devices("cpu")[0]}
        assert_close(v, want[q], np.float32, what=q)
        assert_close(cjax.as_numpy(v), want[q], np.float32, what=q)


# --- 5. bad input: convlab's errors, never JAX's ---------------------------------------------

X = np.zeros((1, 5, 5, 2), np.float32)
W = np.zeros((3, 3, 2, 4), np.float32)
DY = np.zeros((1, 5, 5, 4), np.float32)


def _bad_cases() -> list[tuple[str, str, tuple[Any, ...], dict[str, Any], type, str]]:
    return [
        ("3-D input", "conv2d", (X[0], W, 1, "SAME"), {}, ValueError, "input must be 4-D"),
        ("int filters", "conv2d", (X, W.astype(np.int32), 1, "SAME"), {}, TypeError,
         "filters must hold float16, bfloat16"),
        ("mixed dtypes", "conv2d", (X, W.astype(np.float64), 1, "SAME"), {}, TypeError,
         "same dtype"),
        ("bfloat16 with float32", "bfloat16", (), {}, TypeError, "same dtype, got bfloat16"),
        ("channels", "conv2d", (X, W[:, :, :1], 1, "SAME"), {}, ValueError, "in_channels"),
        ("stride 0", "conv2d", (X, W, 0, "SAME"), {}, ValueError, "strides"),
        ("4-form strides", "conv2d", (X, W, [2, 1, 1, 1], "SAME"), {}, ValueError,
         "batch and channel entries must be 1"),
        ("padding FULL", "conv2d", (X, W, 1, "FULL"), {}, ValueError, "padding must be"),
        ("negative padding", "conv2d", (X, W, 1, [[-1, 0], [0, 0]]), {}, ValueError,
         "cannot be negative"),
        ("batch padding", "conv2d", (X, W, 1, [[1, 0], [0, 0], [0, 0], [0, 0]]), {},
         ValueError, "batch and channel padding"),
        ("data_format", "conv2d", (X, W, 1, "SAME", "NCWH"), {}, ValueError, "data_format"),
        ("dilation 0", "conv2d", (X, W, 1, "SAME", "NHWC", 0), {}, ValueError, "dilations"),
        ("3 input_sizes", "conv2d_backprop_input", ([1, 5, 5], W, DY, 1, "SAME"), {},
         ValueError, "input_sizes must be 4-D"),
        ("float input_sizes", "conv2d_backprop_input", ("jnp-float", W, DY, 1, "SAME"), {},
         TypeError, "input_sizes must be 4"),
        ("out_backprop size", "conv2d_backprop_filter",
         (X, [3, 3, 2, 4], DY[:, :4], 1, "SAME"), {}, ValueError, "out_backprop has height"),
        ("filter_sizes channels", "conv2d_backprop_filter",
         (X, [3, 3, 2, 3], DY, 1, "SAME"), {}, ValueError, "filter_sizes has 3"),
        ("transpose in_channels", "conv2d_transpose",
         (DY[..., :3], W, [1, 5, 5, 2], 1, "SAME"), {}, ValueError, "in_channels"),
        ("empty filter", "autodiff", (X, W[:0], DY, 1, "SAME"), {}, ValueError,
         "height and width of at least 1"),
        ("out_backprop batch", "grad_input_via_conv2d",
         ([1, 5, 5, 2], W, np.concatenate([DY, DY]), 1, "SAME"), {}, ValueError,
         "out_backprop has batch 2"),
        ("device tpu", "conv2d", (X, W, 1, "SAME"), {"device": "tpu"}, ValueError,
         "device must be"),
        ("string input", "grad_filter_via_conv2d", ("abc", [3, 3, 2, 4], DY, 1, "SAME"), {},
         TypeError, "input must hold"),
    ]


BAD = _bad_cases()


@pytest.mark.parametrize(("what", "fn", "args", "kw", "kind", "match"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_input_gets_convlab_errors(cjax, what, fn, args, kw, kind, match):
    import jax.numpy as jnp

    if fn == "bfloat16":
        fn, args = "conv2d", (X.astype(cjax.BFLOAT16), W, 1, "SAME")
    args = tuple(jnp.asarray([1.0, 5.0, 5.0, 2.0]) if isinstance(a, str) and a == "jnp-float"
                 else a for a in args)
    with pytest.raises(kind, match=match) as info:
        getattr(cjax, fn)(*args, **kw)
    assert type(info.value) is kind
    assert "jax" not in type(info.value).__module__


def test_there_are_enough_bad_inputs():
    assert len(BAD) >= 15


def test_sizes_traced_by_jit_get_convlab_errors(cjax):
    import jax
    import jax.numpy as jnp

    with pytest.raises(TypeError, match="input_sizes must be known when JAX traces"):
        jax.jit(lambda s: cjax.conv2d_backprop_input(s, W, DY, 1, "SAME"))(
            jnp.array([1, 5, 5, 2]))
    # concrete sizes inside jit are fine
    got = jax.jit(lambda w, dy: cjax.conv2d_backprop_input([1, 5, 5, 2], w, dy, 1, "SAME"))(
        W, DY)
    assert got.shape == (1, 5, 5, 2)


# --- 6. device and precision --------------------------------------------------------------


def test_gpu_without_one_raises_a_clear_error(cjax):
    if cjax.gpu_available():
        pytest.skip("JAX sees a GPU here")
    assert cjax.resolve_device("auto") == "cpu"
    with pytest.raises(cjax.DeviceUnavailableError, match="JAX sees no GPU"):
        cjax.conv2d(X, W, 1, "SAME", device="gpu")
    with pytest.raises(cjax.DeviceUnavailableError):
        cjax.grad_filter_via_conv2d(X, [3, 3, 2, 4], DY, 1, "SAME", device="GPU")


def test_gpu_results_match_the_cpu(cjax, tf32_off, rng):
    if not cjax.gpu_available():
        pytest.skip("JAX sees no GPU")
    import jax

    cfg = SMALL_GRID[1]
    x, w, dy = cfg.arrays(rng, np.float32)
    want = numpy_results(cfg, x, w, dy)
    on_cpu = jax.device_put(x, jax.devices("cpu")[0])  # moved to the GPU
    for name, got in jax_results(cjax, cfg, on_cpu, w, dy, device="gpu").items():
        assert got.devices() == {jax.devices("gpu")[0]}
        assert_close(cjax.as_numpy(got), want[QUANTITY[name]], np.float32, device="gpu",
                     what=name)


MOVED = """
import json, jax, numpy as np
import convlab.jax as cj
one, two = jax.devices("cpu")[:2]
x = jax.device_put(np.ones((1, 4, 4, 1), np.float32), two)
w = np.ones((2, 2, 1, 1), np.float32)
y = cj.conv2d(x, w, 1, "VALID", device="cpu")
print(json.dumps({"x": str(x.devices()), "y": str(y.devices()), "want": str({one}),
                  "sum": float(np.asarray(y).sum())}))
"""


def test_arrays_on_another_device_are_moved(cjax):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", MOVED], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["x"] != seen["want"] and seen["y"] == seen["want"]
    assert seen["sum"] == 36.0  # 3 x 3 windows of 4 ones


def test_set_tf32_switches_the_precision_of_every_convolution(cjax, tf32_off):
    import jax

    cfg = SMALL_GRID[0]
    x, w, dy = cfg.arrays(np.random.default_rng(0), np.float32)

    def programs() -> list[str]:
        return [str(jax.make_jaxpr(lambda x, w, dy, name=name: jax_results(
            cjax, cfg, x, w, dy, device="cpu")[name])(x, w, dy)) for name in NAMES]

    assert not cjax.tf32_enabled()
    for text in programs():
        assert "conv_general_dilated" in text
        assert "Precision.HIGHEST" in text and "precision=None" not in text
    cjax.set_tf32(True)
    assert cjax.tf32_enabled()
    for text in programs():
        assert "precision=None" in text and "HIGHEST" not in text


# --- 7. imports --------------------------------------------------------------------------

PROBE = """
import json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # importing it raises ImportError
import convlab
before = sorted(m for m in ("jax", "tensorflow", "torch") if sys.modules.get(m))
import convlab.jax as cj
import numpy as np
y = cj.conv2d(np.ones((1, 4, 4, 1), np.float32), np.ones((2, 2, 1, 1), np.float32), 1, "SAME")
after = sorted(m for m in ("jax", "tensorflow", "torch") if sys.modules.get(m))
print(json.dumps({{"before": before, "after": after, "sum": float(np.asarray(y).sum())}}))
"""


@pytest.mark.parametrize("blocked", [(), ("tensorflow", "torch", "threadpoolctl")],
                         ids=["as-installed", "numpy-and-jax-only"])
def test_imports(cjax, blocked):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(blocked=list(blocked))],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == []
    assert seen["after"] == ["jax"]
    assert seen["sum"] == 49.0  # 7 x 7 taps inside: SAME pads 1 at the end

