"""The numpy reference on its own: definitions, hand-worked cases, adjoints, finite differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import convlab
from _support import Config, assert_close, ids
from convlab import geometry, tolerance
from convlab.via_conv2d import insert_zeros, rotate180, swap_in_out

GRID = [
    Config(n, h, w, ci, co, kh, kw, s, d, p, fmt)
    for (n, ci, co), (h, w), (kh, kw), s, d, p, fmt in itertools.product(
        [(1, 1, 1), (2, 3, 2), (3, 2, 4)],
        [(7, 6), (5, 9)],
        [(1, 1), (2, 3), (3, 3), (4, 2)],
        [(1, 1), (2, 2), (3, 2)],
        [(1, 1), (2, 1)],
        ["VALID", "SAME", ((2, 0), (1, 3))],
        ["NHWC", "NCHW"],
    )
]
GRID = [c for c in GRID if c.fits()]
SMALL = GRID[::7]




def gradients(cfg: Config, x, w, dy):
    args = cfg.args()
    return (
        convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args),
        convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args),
    )


@pytest.mark.parametrize("cfg", SMALL, ids=ids)
def test_fast_conv2d_equals_the_loop_definition(cfg, rng):
    x, w, _ = cfg.arrays(rng, np.float64)
    got = convlab.conv2d(x, w, *cfg.args())
    want = convlab.conv2d_loops(x, w, *cfg.args())
    assert got.shape == cfg.output_shape
    assert_close(got, want, np.float64)


@pytest.mark.parametrize("cfg", GRID, ids=ids)
def test_adjoint_identity_in_float64(cfg, rng):
    # conv2d is bilinear, so <conv2d(x, w), dy> = <x, d_x> = <w, d_w> exactly
    x, w, dy = cfg.arrays(rng, np.float64)
    y = convlab.conv2d(x, w, *cfg.args())
    for d_x, d_w in [
        gradients(cfg, x, w, dy),
        (convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *cfg.args()),
         convlab.grad_filter_via_conv2d(x, cfg.filter_shape, dy, *cfg.args())),
    ]:
        inner = np.vdot(y, dy)
        scale = np.abs(y).sum() * np.abs(dy).max()
        assert abs(np.vdot(x, d_x) - inner) <= tolerance.ADJOINT_RTOL * scale
        assert abs(np.vdot(w, d_w) - inner) <= tolerance.ADJOINT_RTOL * scale


@pytest.mark.parametrize("cfg", GRID, ids=ids)
def test_every_numpy_method_agrees(cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float32)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    d_x, d_w = gradients(cfg, x64, w64, dy64)
    # a single-channel d_w can be a long sum that nearly cancels: measure the float32
    # error against the sum of the terms' magnitudes, not against what is left
    size_x, size_w = gradients(cfg, abs(x64), abs(w64), abs(dy64))
    args = cfg.args()
    assert_close(convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *args), d_x, scale=size_x)
    assert_close(convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args), d_x, scale=size_x)
    assert_close(convlab.conv2d_transpose(dy, w, cfg.input_shape, *args), d_x, scale=size_x)
    assert_close(convlab.grad_filter_via_conv2d(x, cfg.filter_shape, dy, *args), d_w,
                 scale=size_w)
    assert_close(convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args), d_w,
                 scale=size_w)


@pytest.mark.parametrize(
    "cfg",
    [
        Config(1, 4, 5, 1, 1, 2, 2, (1, 1), (1, 1), "VALID"),
        Config(2, 5, 4, 2, 3, 3, 2, (2, 1), (1, 1), "SAME"),
        Config(1, 6, 6, 2, 1, 2, 2, (2, 2), (2, 1), ((1, 0), (0, 2))),
        Config(2, 3, 5, 1, 2, 2, 3, (1, 2), (1, 1), "SAME", "NCHW"),
    ],
    ids=ids,
)
def test_gradients_match_central_differences(cfg, rng):
    x, w, dy = cfg.arrays(rng, np.float64)
    d_x, d_w = gradients(cfg, x, w, dy)

    def loss(x_, w_):
        return np.vdot(convlab.conv2d(x_, w_, *cfg.args()), dy)

    h = 1e-6
    for array, grad, wrt_x in ((x, d_x, True), (w, d_w, False)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            up, down = array.copy(), array.copy()
            up[index] += h
            down[index] -= h
            pair = ((up, w), (down, w)) if wrt_x else ((x, up), (x, down))
            numeric[index] = (loss(*pair[0]) - loss(*pair[1])) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


# Worked by hand: x = 1..16 (4 x 4), 2 x 2 filter [[1, 2], [3, 4]], stride 2, VALID.
X = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)
W = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)


def test_hand_worked_forward():
    # top-left window [[1, 2], [5, 6]]: 1*1 + 2*2 + 5*3 + 6*4 = 44
    y = convlab.conv2d(X, W, strides=2, padding="VALID")
    np.testing.assert_array_equal(y[0, :, :, 0], [[44.0, 64.0], [124.0, 144.0]])


def test_hand_worked_input_gradient_with_stride():
    # each d_out cell scatters w * d_out into its own 2 x 2 window; windows do not overlap
    dy = np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(1, 2, 2, 1)
    d_x = convlab.conv2d_backprop_input((1, 4, 4, 1), W, dy, strides=2, padding="VALID")
    np.testing.assert_array_equal(
        d_x[0, :, :, 0],
        [[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 2, 4], [0, 0, 6, 8]],
    )


def test_hand_worked_filter_gradient():
    # d_w[a, b] = sum_ij x[2i + a, 2j + b] * dy[i, j] with dy all ones
    dy = np.ones((1, 2, 2, 1))
    d_w = convlab.conv2d_backprop_filter(X, (2, 2, 1, 1), dy, strides=2, padding="VALID")
    np.testing.assert_array_equal(d_w[:, :, 0, 0], [[1 + 3 + 9 + 11, 2 + 4 + 10 + 12],
                                                    [5 + 7 + 13 + 15, 6 + 8 + 14 + 16]])


def test_hand_worked_same_padding_goes_after():
    # 1 x 4 input, 1 x 2 filter [1, 10], SAME stride 1: one zero on the right, none on the left
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)
    w = np.array([1.0, 10.0]).reshape(1, 2, 1, 1)
    y = convlab.conv2d(x, w, strides=1, padding="SAME")
    np.testing.assert_array_equal(y.ravel(), [21.0, 32.0, 43.0, 4.0])


def test_hand_worked_dilation():
    # dilation 2: taps two apart, [x0 + 10*x2, x1 + 10*x3]
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1)
    w = np.array([1.0, 10.0]).reshape(1, 2, 1, 1)
    y = convlab.conv2d(x, w, strides=1, padding="VALID", dilations=2)
    np.testing.assert_array_equal(y.ravel(), [31.0, 42.0])


def test_named_steps():
    dy = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    stretched = insert_zeros(dy, (2, 3))
    assert stretched.shape == (1, 3, 7, 1)
    np.testing.assert_array_equal(
        stretched[0, :, :, 0],
        [[1, 0, 0, 2, 0, 0, 3], [0, 0, 0, 0, 0, 0, 0], [4, 0, 0, 5, 0, 0, 6]],
    )
    w = np.arange(12.0).reshape(2, 3, 1, 2)
    turned = swap_in_out(rotate180(w))
    assert turned.shape == (2, 3, 2, 1)
    assert turned[0, 0, 1, 0] == w[1, 2, 0, 1]


def test_single_channel_rotation_formula_is_wrong_with_several_channels(rng):
    # rotating the filter without swapping in/out channels: right for 1 channel only
    cfg = Config(1, 6, 6, 3, 3, 3, 3, (1, 1), (1, 1), "VALID")
    _, w, dy = cfg.arrays(rng, np.float64)
    d_x = convlab.conv2d_backprop_input(cfg.input_shape, w, dy, 1, "VALID")
    padded = np.pad(dy, ((0, 0), (2, 2), (2, 2), (0, 0)))
    naive = convlab.conv2d(padded, rotate180(w), 1, "VALID")
    right = convlab.conv2d(padded, swap_in_out(rotate180(w)), 1, "VALID")
    np.testing.assert_allclose(right, d_x, rtol=1e-12)
    assert naive.shape == d_x.shape
    assert np.max(np.abs(naive - d_x)) > 0.1 * np.max(np.abs(d_x))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_results_keep_the_input_dtype(dtype, rng):
    cfg = Config(2, 6, 5, 2, 3, 3, 3, (2, 2), (1, 1), "SAME")
    x, w, dy = cfg.arrays(rng, dtype)
    args = cfg.args()
    outs = [
        convlab.conv2d(x, w, *args),
        convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args),
        convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args),
        convlab.conv2d_transpose(dy, w, cfg.input_shape, *args),
        convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *args),
        convlab.grad_filter_via_conv2d(x, cfg.filter_shape, dy, *args),
    ]
    assert [o.dtype for o in outs] == [np.dtype(dtype)] * len(outs)
    d_x, d_w = gradients(cfg, *(a.astype(np.float64) for a in (x, w, dy)))
    assert_close(outs[1], d_x, dtype)
    assert_close(outs[2], d_w, dtype)


def test_accepts_lists_and_every_stride_form(rng):
    x = rng.standard_normal((1, 5, 5, 2))
    w = rng.standard_normal((3, 3, 2, 1))
    want = convlab.conv2d(x, w, (2, 2), "VALID")
    for strides in (2, [2], [2, 2], [1, 2, 2, 1]):
        np.testing.assert_array_equal(convlab.conv2d(x.tolist(), w, strides, "VALID"), want)
    nchw = convlab.conv2d(x.transpose(0, 3, 1, 2), w, [1, 1, 2, 2], "VALID", "NCHW")
    np.testing.assert_array_equal(nchw, want.transpose(0, 3, 1, 2))
    four_pair = convlab.conv2d(x, w, 1, [[0, 0], [1, 0], [0, 2], [0, 0]])
    np.testing.assert_array_equal(four_pair, convlab.conv2d(x, w, 1, [[1, 0], [0, 2]]))


def test_output_sizes_follow_the_formulas():
    for size, k, s, d in itertools.product(range(1, 12), range(1, 5), range(1, 4), range(1, 3)):
        k_eff = d * (k - 1) + 1
        assert geometry.output_size(size, k, s, "SAME", d) == -(-size // s)
        before, after = geometry.same_padding(size, k, s, d)
        assert after - before in (0, 1)  # the odd extra goes after
        if size >= k_eff:
            assert geometry.output_size(size, k, s, "VALID", d) == (size - k_eff) // s + 1
        elif k_eff - size < 2 * s:  # TensorFlow's rule: no window fits, an empty output
            assert geometry.output_size(size, k, s, "VALID", d) == 0
        else:
            with pytest.raises(ValueError, match="padded input"):
                geometry.output_size(size, k, s, "VALID", d)


def test_several_input_sizes_share_one_output_size():
    assert geometry.valid_input_sizes(4, 3, 2, "SAME") == [7, 8]
    assert geometry.valid_input_sizes(4, 3, 2, "VALID") == [9, 10]
    assert geometry.valid_input_sizes(3, 2, 3, (1, 0), dilation=2) == [8, 9, 10]
    for out in geometry.valid_input_sizes(3, 3, 3, "VALID"):
        assert geometry.output_size(out, 3, 3, "VALID") == 3
    # conv2d_backprop_input gives a different d_x for each of them
    w = np.ones((3, 3, 1, 1))
    dy = np.ones((1, 4, 4, 1))
    d7 = convlab.conv2d_backprop_input((1, 7, 7, 1), w, dy, 2, "SAME")
    d8 = convlab.conv2d_backprop_input((1, 8, 8, 1), w, dy, 2, "SAME")
    assert d7.shape == (1, 7, 7, 1) and d8.shape == (1, 8, 8, 1)
