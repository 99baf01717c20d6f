"""The book's pictures: legible at the book's column width, and their numbers are convlab's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

import convlab
from convlab.draw import check_legible, draw_axis_windows, draw_window
from convlab.draw_forward import draw_coverage, draw_matrix, draw_scatter, draw_window_products
from convlab.draw_gradients import (
    draw_batch_filter_tap,
    draw_filter_taps,
    draw_full_correlation,
    stretched_and_padded,
)
from convlab.draw_questions import draw_channel_swap, draw_turn
from convlab.via_conv2d import full_padding, rotate180, swap_in_out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _written(ax, prefix: str) -> dict[tuple[int, int], float]:
    """The numbers written in the grid drawn with ``name=prefix``, by (row, column)."""
    cells = {}
    for text in ax.texts:
        gid = text.get_gid() or ""
        if gid.startswith(prefix + "[") and gid.count("[") == prefix.count("[") + 1:
            r, c = gid[len(prefix) + 1:-1].split(",")
            cells[int(r), int(c)] = float(text.get_text().replace("\N{MINUS SIGN}", "-"))
    return cells


def _as_array(cells: dict[tuple[int, int], float]) -> np.ndarray:
    rows, cols = max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1
    return np.array([[cells[r, c] for c in range(cols)] for r in range(rows)])


def _ints(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-3, 4, size=shape).astype(float)


# the chapters' figures at their call sites (figure sizes as the chapters make them)

def _fig_window():
    x = (np.arange(25) % 7 - 3).reshape(5, 5).astype(float)
    w = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
    y = convlab.conv2d(x[None, :, :, None], w[:, :, None, None], 2, "SAME")[0, :, :, 0]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    draw_window(ax, x, w, y, (1, 2), strides=(2, 2), pads=((1, 1), (1, 1)))
    return fig


def _fig_forward_steps():
    xp = np.pad(np.arange(25.0).reshape(5, 5) % 4, 1)
    w = np.array([[1, 0, -1], [2, 1, 0], [0, -1, 1]], dtype=float)
    y = convlab.conv2d(xp[None, :, :, None], w[:, :, None, None], 2, "VALID")[0, :, :, 0]
    fig, axes = plt.subplots(3, 1, figsize=(9.4, 10.5))
    for ax, ij in zip(axes, [(0, 0), (1, 1), (2, 1)], strict=True):
        draw_window_products(ax, xp, w, y, ij, strides=(2, 2), hatch=xp == 0)
    fig.tight_layout()
    return fig


def _fig_im2col():
    m = np.arange(81.0).reshape(9, 9) % 5
    fig, ax = plt.subplots(figsize=(5, 5))
    draw_matrix(ax, m, hatch=m == 0, fontsize=8, blank_zeros=False,
                row_names=[f"({i},{j})" for i, j in np.ndindex(3, 3)],
                col_names=[f"({a},{b})" for a, b in np.ndindex(3, 3)])
    return fig


def _fig_axes():
    fig, axes = plt.subplots(4, 1, figsize=(6.5, 10.5))
    cases = [(7, 3, 2, "SAME", 1), (8, 3, 2, "SAME", 1), (8, 3, 2, "VALID", 1),
             (8, 3, 1, "VALID", 2)]
    for ax, case in zip(axes, cases, strict=True):
        draw_axis_windows(ax, *case, fontsize=9)
    fig.tight_layout()
    return fig


def _fig_dw_taps():
    x = (np.arange(36) % 5 - 2).reshape(6, 6).astype(float)
    dy = np.array([[1.0, -1.0], [2.0, 1.0]])
    dw = convlab.conv2d_backprop_filter(x[None, :, :, None], (3, 3, 1, 1), dy[None, :, :, None],
                                        2, "VALID")[:, :, 0, 0]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    draw_filter_taps(ax, x, dy, dw, (1, 2), strides=(2, 2))
    return fig


def _fig_dx_gather():
    w = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [2.0, 0.0, 1.0]])
    fig, axes = plt.subplots(2, 1, figsize=(9, 9.6))
    for ax, padding in zip(axes, ["VALID", "SAME"], strict=True):
        conv = convlab.conv_geometry((1, 6, 6, 1), (3, 3, 1, 1), 2, padding, "NHWC", 1)
        dy = np.ones(conv.output_shape[1:3])
        dx = convlab.conv2d_backprop_input((1, 6, 6, 1), w[:, :, None, None],
                                           dy[None, :, :, None], 2, padding)[0, :, :, 0]
        draw_full_correlation(ax, dy, w, dx, (1, 2), strides=(2, 2), pads=full_padding(conv))
        ax.set_title(padding, fontsize=10)
    fig.tight_layout()
    return fig


def _fig_conv_matrix():
    m = np.zeros((9, 25))
    m[np.arange(9), np.arange(9) * 2] = 5
    fig, ax = plt.subplots(figsize=(8.6, 3.7))  # the size the report proposes
    draw_matrix(ax, m, fontsize=8, row_label="y (i, j) = u,\ninput of the transpose",
                col_label="x (p, q) = v, output of the transpose",
                row_names=[f"({i},{j})" for i, j in np.ndindex(3, 3)],
                col_names=[f"({p},{q})" for p, q in np.ndindex(5, 5)])
    return fig


def _fig_scatter():
    u = np.array([[1, 2, 0], [3, 1, 2], [0, 1, 1]], dtype=float)
    w = np.array([[1, 0, 2], [1, 1, 0], [0, 2, 1]], dtype=float)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    draw_scatter(ax, u, w, (0, 1), strides=(2, 2), pads=((1, 1), (1, 1)), out_size=(5, 5))
    return fig


def _fig_gather():
    u = np.array([[1, 2, 0], [3, 1, 2], [0, 1, 1]], dtype=float)
    grid, kinds = stretched_and_padded(u, (2, 2), ((1, 1), (1, 1)))
    w = np.arange(9.0).reshape(3, 3)
    v = convlab.conv2d(grid[None, :, :, None], w[:, :, None, None], 1, "VALID")[0, :, :, 0]
    fig, ax = plt.subplots(figsize=(10, 4))
    draw_window_products(ax, grid, w, v, (1, 2), kinds=kinds, roles=("output", "input"),
                         labels=("u stretched, padded", "w turned 180°", "v"))
    return fig


def _fig_coverage():
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    draw_coverage(axes[0], np.arange(81).reshape(9, 9) % 3,
                  label="output of conv2d_transpose: k = 3, s = 2")
    draw_coverage(axes[1], np.arange(100).reshape(10, 10) % 5,
                  label="output of conv2d_transpose: k = 4, s = 2")
    fig.tight_layout()
    return fig


@pytest.mark.parametrize("make", [
    _fig_window, _fig_forward_steps, _fig_im2col, _fig_axes, _fig_dw_taps, _fig_dx_gather,
    _fig_conv_matrix, _fig_scatter, _fig_gather, _fig_coverage,
], ids=lambda f: f.__name__[5:])
def test_chapter_figures_are_legible(make):
    assert check_legible(make()) >= 9.0


def test_the_im2col_call_of_the_conv_matrix_is_too_small_at_its_old_size():
    fig, ax = plt.subplots(figsize=(11, 4.6))
    draw_matrix(ax, np.eye(9, 25), fontsize=7, col_names=[str(c) for c in range(25)])
    with pytest.raises(ValueError, match="smaller than 9 px"):
        check_legible(fig)


# the numbers the pictures write

def test_filter_taps_write_the_gathered_sum(rng):
    x, dy = _ints(rng, 7, 7), _ints(rng, 3, 3)
    pads = ((1, 0), (0, 1))
    dw = convlab.conv2d_backprop_filter(x[None, :, :, None], (3, 3, 1, 1), dy[None, :, :, None],
                                        2, [[1, 0], [0, 1]])[:, :, 0, 0]
    fig, ax = plt.subplots(figsize=(9, 5))
    total = draw_filter_taps(ax, x, dy, dw, (2, 1), strides=(2, 2), pads=pads)
    assert total == dw[2, 1]
    np.testing.assert_array_equal(_as_array(_written(ax, "dw")), dw)
    np.testing.assert_array_equal(_as_array(_written(ax, "x")), np.pad(x, pads))
    assert check_legible(fig) >= 9.0


@pytest.mark.parametrize("strides, dilations, padding, in_size, cell", [
    ((2, 2), (1, 1), "VALID", (5, 5), (2, 2)),
    ((2, 2), (1, 1), "SAME", (6, 6), (3, 2)),
    ((1, 1), (2, 2), "VALID", (6, 6), (2, 3)),
    ((2, 2), (2, 2), "VALID", (5, 5), (2, 2)),
    ((2, 1), (1, 2), [[1, 0], [0, 1]], (6, 5), (1, 2)),
])
def test_turn_scatter_and_gather_write_the_same_products(rng, strides, dilations, padding,
                                                         in_size, cell):
    w = np.arange(1.0, 10.0).reshape(3, 3)
    out = convlab.conv_geometry((1, *in_size, 1), (3, 3, 1, 1), strides, padding, "NHWC",
                                dilations).output_shape
    dy = _ints(rng, out[1], out[2])
    fig, ax = plt.subplots(figsize=(7.36, 9.0))
    terms = draw_turn(ax, dy, w, cell, in_size=in_size, strides=strides, dilations=dilations,
                      padding=padding)
    dx = convlab.conv2d_backprop_input((1, *in_size, 1), w[:, :, None, None],
                                       dy[None, :, :, None], strides, padding,
                                       dilations=dilations)[0, :, :, 0]
    assert terms.total == dx[cell]
    (top, _), (left, _) = full_padding(convlab.conv_geometry(
        (1, *in_size, 1), (3, 3, 1, 1), strides, padding, "NHWC", dilations))
    assert len(terms.scatter) == len(terms.gather)
    for (i, j, a, b), (r, c, ta, tb) in zip(terms.scatter, terms.gather, strict=True):
        assert (ta, tb) == (2 - a, 2 - b)  # the same tap, turned
        assert (r - top, c - left) == (strides[0] * i, strides[1] * j)  # where δy[i, j] sits
    np.testing.assert_array_equal(_as_array(_written(ax, "dx")), dx)
    products = _as_array(_written(ax, "products"))
    assert products.sum() == dx[cell]
    assert sorted(products[products != 0]) == sorted(p for p in terms.products if p != 0)
    assert check_legible(fig) >= 9.0


def test_channel_swap_writes_w_prime(rng):
    w = _ints(rng, 3, 3, 2, 2)
    fig, ax = plt.subplots(figsize=(7.0, 4.4), layout="constrained")
    w_prime = draw_channel_swap(ax, w)
    expected = swap_in_out(rotate180(w))
    np.testing.assert_array_equal(w_prime, expected)
    for k, c in np.ndindex(2, 2):
        written = _as_array(_written(ax, f"w'[:,:,{k},{c}]"))
        np.testing.assert_array_equal(written, expected[:, :, k, c])
        np.testing.assert_array_equal(written, w[::-1, ::-1, c, k])
        np.testing.assert_array_equal(_as_array(_written(ax, f"w[:,:,{c},{k}]")), w[:, :, c, k])
    assert check_legible(fig) >= 9.0


def test_batch_filter_tap_sums_over_the_images(rng):
    x, dy = _ints(rng, 2, 5, 5), _ints(rng, 2, 2, 2)
    dw = convlab.conv2d_backprop_filter(x[..., None], (3, 3, 1, 1), dy[..., None], 2,
                                        "VALID")[:, :, 0, 0]
    fig, ax = plt.subplots(figsize=(7.2, 7.6))
    parts = draw_batch_filter_tap(ax, x, dy, dw, (1, 2), strides=(2, 2))
    for n in range(2):
        alone = convlab.conv2d_backprop_filter(x[n, None, :, :, None], (3, 3, 1, 1),
                                               dy[n, None, :, :, None], 2, "VALID")
        assert parts[n] == alone[1, 2, 0, 0]
        np.testing.assert_array_equal(_as_array(_written(ax, f"x[{n}]")), x[n])
        np.testing.assert_array_equal(_as_array(_written(ax, f"dy[{n}]")), dy[n])
    assert sum(parts) == dw[1, 2]
    np.testing.assert_array_equal(_as_array(_written(ax, "dw")), dw)
    assert check_legible(fig) >= 9.0
