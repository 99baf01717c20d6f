"""Pictures that answer questions learners ask about the gradients of ``conv2d``.

* Why is the filter turned 180° in δx? :func:`draw_turn` computes one cell of δx twice:
  as the scatter (each δy cell whose window covers it, times the *unturned* ``w``) and as
  the gather (a window of ``δŷ`` padded, times ``w`` turned 180°): the same products.
* Where does dilation go? :func:`draw_turn` with ``dilations``: the filter's taps sit
  ``d`` apart in both pictures, the turned filter's too.
* Why are the channels swapped? :func:`draw_channel_swap` draws every 2-D slice of a
  filter and of ``w'``, the filter turned and with its channel axes swapped.
* How does a batch add into δw? See :func:`convlab.draw_gradients.draw_batch_filter_tap`.

Each function draws one channel's numbers on a matplotlib ``ax``, in the cell styles of
:data:`convlab.draw.CELL_STYLES`, and returns the numbers it wrote, so a chapter can check
them. Only numpy is imported at module level; ``import convlab`` does not import this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convlab import reference
from convlab._checks import conv_geometry
from convlab.draw import PALETTE, _outline, draw_cells
from convlab.draw_gradients import _factor, _sum_lines, stretched_and_padded
from convlab.via_conv2d import full_padding

__all__ = ["TurnTerms", "draw_channel_swap", "draw_turn"]

_DOT = "\N{MIDDLE DOT}"
_LINE = 0.62  # height of a line of text, in cells (10 pt text, 1.5 line spacing)


@dataclass(frozen=True)
class TurnTerms:
    """The numbers :func:`draw_turn` writes.

    Attributes
    ----------
    scatter : list of (i, j, a, b)
        The scatter's terms ``δy[i, j]·w[a, b]``, in the order written.
    gather : list of (r, c, a, b)
        The gather's non-zero terms: cell ``(r, c)`` of the padded ``δŷ`` times
        ``(w turned 180°)[a, b]``, in the order written.
    products : list of float
        The values of the scatter's terms; the gather's are the same, in the same order.
    dx : ndarray, shape (H, W)
        The δx drawn (convlab's ``conv2d_backprop_input``).
    total : float
        The written-out sum, which should equal ``dx[p, q]``.
    """

    scatter: list[tuple[int, int, int, int]]
    gather: list[tuple[int, int, int, int]]
    products: list[float]
    dx: np.ndarray
    total: float


def _dilate(w: np.ndarray, dilations: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The filter with its taps ``d`` apart, and each cell's kind (``"gap"`` between taps)."""
    (dh, dw), (kh, kw) = dilations, w.shape
    values = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    values[::dh, ::dw] = w
    kinds = np.full(values.shape, "gap", dtype=object)
    kinds[::dh, ::dw] = "filter"
    return values, kinds


def _filter_label(name: str, dilations: tuple[int, int]) -> str:
    if dilations == (1, 1):
        return name
    return f"{name},\ntaps {dilations[0]} apart" if dilations[0] == dilations[1] else name


def _tap(p: int, s: int, d: int, letter: str) -> str:
    """The tap that window ``letter`` puts on padded row ``p``: ``(p - s*letter) / d``."""
    index = letter if s == 1 else f"{s}{letter}"
    return f"{p}\N{MINUS SIGN}{index}" if d == 1 else f"({p}\N{MINUS SIGN}{index})/{d}"


def _corner(a: int, b: int, kh: int, kw: int) -> str:
    """`` (the top-left)`` and so on for a corner of a ``kh`` by ``kw`` window, else ``""``."""
    rows, cols = {0: "top", kh - 1: "bottom"}, {0: "left", kw - 1: "right"}
    if a in rows and b in cols and kh > 1 and kw > 1:
        return f", the {rows[a]}-{cols[b]},"
    return ""


def _block(ax: Any, x0: float, y0: float, lines: list[str], fontsize: float,
           color: str = "black") -> float:
    """Write ``lines`` with their top-left at ``(x0, y0)``; the y under them."""
    ax.text(x0, y0, "\n".join(lines), ha="left", va="top", fontsize=fontsize,
            linespacing=1.5, color=color)
    return y0 - _LINE * len(lines)


def draw_turn(
    ax: Any,
    dy: Any,
    w: Any,
    cell: tuple[int, int],
    *,
    in_size: tuple[int, int],
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    padding: Any = "VALID",
    fontsize: float = 10,
) -> TurnTerms:
    """Draw one cell of δx as the scatter (unturned w) and as the gather (w turned 180°).

    Top, the scatter: ``δx[p, q]`` collects ``δy[i, j]·w[a, b]`` from every window
    ``(i, j)`` whose tap ``(a, b)`` lay on it, ``s·i + d·a = p + p_t`` (and the same for
    the columns); those δy cells and taps are outlined. Bottom, the gather: the window of
    ``δŷ`` (δy stretched by the stride) padded, at ``(p, q)``, times ``w`` turned 180°;
    its non-zero products are the scatter's, in the same order. One pair is followed in
    blue: the tap nearest ``w[0, 0]`` sits at the top-left of its window in the scatter
    and at the bottom-right of the window in the gather. A filter of distinct values
    (1 to 9) shows the turn best.

    Parameters
    ----------
    ax : matplotlib Axes
    dy : array, shape (OH, OW)
        One channel of the output gradient.
    w : array, shape (KH, KW)
        One filter slice, unturned.
    cell : (p, q)
        The element of δx drawn.
    in_size : (H, W)
        The forward input's height and width.
    strides, dilations : (int, int)
        The forward convolution's; with a dilation both filters are drawn with their taps
        ``d`` apart.
    padding : str or ((top, bottom), (left, right))
        The forward convolution's, as :func:`convlab.conv2d` takes it.

    Returns
    -------
    TurnTerms
        The terms written and the δx drawn.
    """
    dy, w = np.asarray(dy, dtype=float), np.asarray(w, dtype=float)
    (sh, sw), (dh, dw), (kh, kw) = strides, dilations, w.shape
    shape = (1, *in_size, 1)
    conv = conv_geometry(shape, (kh, kw, 1, 1), strides, padding, "NHWC", dilations)
    (top, _), (left, _) = conv.pads
    dx = reference.conv2d_backprop_input(shape, w[:, :, None, None], dy[None, :, :, None],
                                         strides, padding, dilations=dilations)[0, :, :, 0]
    p, q = cell

    # the scatter: pairs (window, tap) that land on the padded input's (p + top, q + left)
    rows = [(i, a) for i in range(dy.shape[0]) for a in range(kh) if sh * i + dh * a == p + top]
    cols = [(j, b) for j in range(dy.shape[1]) for b in range(kw) if sw * j + dw * b == q + left]
    scatter = sorted((i, j, a, b) for i, a in rows for j, b in cols)
    products = [float(dy[i, j] * w[a, b]) for i, j, a, b in scatter]

    # the gather: one stride-1 window of the stretched, padded δy, times the turned filter
    grid, kinds = stretched_and_padded(dy, strides, full_padding(conv))
    turned = w[::-1, ::-1]
    window = grid[p: p + dh * (kh - 1) + 1: dh, q: q + dw * (kw - 1) + 1: dw]
    landed = kinds[p: p + dh * (kh - 1) + 1: dh, q: q + dw * (kw - 1) + 1: dw] == "output"
    gather = [(p + dh * a, q + dw * b, a, b) for a, b in zip(*np.nonzero(landed), strict=True)]
    gather_products = [float(grid[r, c] * turned[a, b]) for r, c, a, b in gather]

    gap, x_left = 2.0, -0.9
    focus = min(scatter, key=lambda t: (t[2], t[3])) if scatter else None

    # top: the scatter
    ax.text(x_left, 0, f"Scatter: δx[{p}, {q}] collects δy[i, j]{_DOT}w[a, b] from every "
            "window that covers it", ha="left", va="top", fontsize=fontsize + 1,
            fontweight="bold")
    y0 = -2.2
    wide, wide_kinds = _dilate(w, dilations)
    xw = dy.shape[1] + gap
    xdx = xw + wide.shape[1] + gap
    draw_cells(ax, dy, "output", origin=(0, y0), label="δy", index_labels=True, name="dy",
               fontsize=fontsize)
    draw_cells(ax, wide, wide_kinds, origin=(xw, y0), name="w", fontsize=fontsize,
               label=_filter_label("w (not turned)", dilations))
    draw_cells(ax, dx, "input", origin=(xdx, y0), label="δx", index_labels=True, name="dx",
               fontsize=fontsize)
    for term in scatter:
        i, j, a, b = term
        color = PALETTE["focus"] if term == focus else PALETTE["highlight"]
        _outline(ax, j, y0 - i, color=color)
        _outline(ax, xw + dw * b, y0 - dh * a, color=color)
    _outline(ax, xdx + q, y0 - p)
    y = y0 - max(dy.shape[0], wide.shape[0], dx.shape[0]) - 0.35
    named = [f"δy[{i}, {j}]{_DOT}w[{a}, {b}]" for i, j, a, b in scatter]
    lines = [f"δx[{p}, {q}] = \N{GREEK CAPITAL LETTER SIGMA} δy[i, j]{_DOT}"
             f"w[{_tap(p + top, sh, dh, 'i')}, {_tap(q + left, sw, dw, 'j')}] over the "
             "windows (i, j) that cover it"]
    lines += [f"δx[{p}, {q}] = " + " + ".join(named[k:k + 4]) if k == 0
              else "      + " + " + ".join(named[k:k + 4]) for k in range(0, len(named), 4)]
    pairs = [(dy[i, j], w[a, b]) for i, j, a, b in scatter]
    total = float(sum(products))
    y = _block(ax, x_left, y, lines + _sum_lines("      ", pairs, total), fontsize)

    # bottom: the gather
    y -= 1.0
    ax.text(x_left, y, "Gather: a window of δŷ padded, times w turned 180°",
            ha="left", va="top", fontsize=fontsize + 1, fontweight="bold")
    y0 = y - 2.2
    wide_t, wide_t_kinds = _dilate(turned, dilations)
    xt = grid.shape[1] + gap
    xp = xt + wide_t.shape[1] + gap
    draw_cells(ax, grid, kinds, origin=(0, y0), label="δŷ (δy stretched), padded",
               index_labels=True, name="dy_hat", fontsize=fontsize)
    draw_cells(ax, wide_t, wide_t_kinds, origin=(xt, y0),
               label=_filter_label("w turned 180°", dilations), name="w_turned",
               fontsize=fontsize)
    draw_cells(ax, window * turned, np.where(landed, "product", "faint"), origin=(xp, y0),
               label="window \N{MULTIPLICATION SIGN}\nturned w", name="products",
               fontsize=fontsize)
    for a in range(kh):
        for b in range(kw):
            _outline(ax, q + dw * b, y0 - p - dh * a)
    if focus is not None:
        fa, fb = kh - 1 - focus[2], kw - 1 - focus[3]
        for x0, r, c in ((0, p + dh * fa, q + dw * fb), (xt, dh * fa, dw * fb), (xp, fa, fb)):
            _outline(ax, x0 + c, y0 - r, color=PALETTE["focus"])
    y = y0 - max(grid.shape[0], wide_t.shape[0] + 0.6) - 0.35
    gather_pairs = [(grid[r, c], turned[a, b]) for r, c, a, b in gather]
    zeros = kh * kw - len(gather)
    left_out = f" ({zeros} zero products left out)" if zeros else ""
    lines = [f"δx[{p}, {q}] = \N{GREEK CAPITAL LETTER SIGMA} window \N{MULTIPLICATION SIGN} "
             f"turned w{left_out}"]
    y = _block(ax, x_left, y, lines + _sum_lines("      ", gather_pairs,
                                                   float(sum(gather_products))), fontsize)
    if focus is not None:
        i, j, a, b = focus
        y = _block(ax, x_left, y - 0.2, [
            f"w[{a}, {b}] = {_factor(w[a, b])} meets δy[{i}, {j}] = {_factor(dy[i, j])}: "
            f"in the scatter at cell ({a}, {b}){_corner(a, b, kh, kw)} of its window,",
            f"in the gather at cell ({kh - 1 - a}, {kw - 1 - b})"
            f"{_corner(kh - 1 - a, kw - 1 - b, kh, kw)} of the window, under the turned filter"],
            fontsize, color=PALETTE["focus"])
    right = max(xdx + dx.shape[1], xp + kw)
    ax.set_xlim(x_left, right + 0.5)
    ax.set_ylim(y - 0.3, 0.3)
    return TurnTerms(scatter=scatter, gather=gather, products=products, dx=dx, total=total)


def draw_channel_swap(ax: Any, w: Any, *, fontsize: float = 10) -> np.ndarray:
    """Draw a filter's 2-D slices and where each goes in ``w'``, turned and channel-swapped.

    Left, ``w[:, :, c, k]`` in row ``c`` (input channel) and column ``k`` (output
    channel). Right, ``w'[:, :, k, c] = w[::-1, ::-1, c, k]`` in row ``k`` and column
    ``c``, each labelled with the slice it came from: every slice is turned 180° and the
    slices off the diagonal (outlined) trade places. Under them, the sum that uses ``w'``.

    Parameters
    ----------
    ax : matplotlib Axes
    w : array, shape (KH, KW, C_in, C_out)
        A small filter; distinct values show the turn.

    Returns
    -------
    ndarray, shape (KH, KW, C_out, C_in)
        ``w'``, as written in the right-hand slices.
    """
    w = np.asarray(w, dtype=float)
    kh, kw, c_in, c_out = w.shape
    w_prime = np.transpose(w[::-1, ::-1], (0, 1, 3, 2))
    prime = "w\u2032"
    step_x, step_y = kw + 3.5, kh + 2.6
    middle = c_out * step_x - 1.0  # the arrow between the two blocks
    right = middle + 4.0
    top = -1.5
    ax.text(0, 0, "w: row c (input channel),\ncolumn k (output channel)", ha="left",
            va="top", fontsize=fontsize + 1)
    ax.text(right, 0, f"{prime}: turned 180°, channels\nswapped: row k, column c",
            ha="left", va="top", fontsize=fontsize + 1)
    for c in range(c_in):
        for k in range(c_out):
            left_at = (k * step_x, top - 1.2 - c * step_y)
            right_at = (right + c * step_x, top - 1.2 - k * step_y)
            draw_cells(ax, w[:, :, c, k], "filter", origin=left_at,
                       label=f"w[:, :, {c}, {k}]", name=f"w[:,:,{c},{k}]", fontsize=fontsize)
            draw_cells(ax, w_prime[:, :, k, c], "filter", origin=right_at,
                       label=f"{prime}[:, :, {k}, {c}]", name=f"w'[:,:,{k},{c}]",
                       fontsize=fontsize)
            ax.text(right_at[0] + kw / 2, right_at[1] - kh - 0.25,
                    f"= w[:, :, {c}, {k}] turned", ha="center", va="top", fontsize=fontsize)
            if c != k:
                for x0, y0 in (left_at, right_at):
                    _outline(ax, x0 - 0.12, y0 + 0.12, kw + 0.24, kh + 0.24,
                             color=PALETTE["highlight"], width=2.0)
    mid_y = top - 1.2 - (max(c_in, c_out) * step_y - 2.2) / 2
    ax.annotate("", xy=(right - 0.6, mid_y), xytext=(middle - 0.4, mid_y),
                arrowprops={"arrowstyle": "-|>,head_width=0.4,head_length=0.8", "lw": 2.0,
                            "color": PALETTE["highlight"]})
    ax.text((middle + right) / 2 - 0.5, mid_y + 0.4, "turn,\nswap", ha="center",
            va="bottom", fontsize=fontsize)
    bottom = top - 1.2 - max(c_in, c_out) * step_y + 1.4
    _block(ax, 0, bottom, [
        f"{prime}[a, b, k, c] = w[{kh - 1}\N{MINUS SIGN}a, {kw - 1}\N{MINUS SIGN}b, c, k], and "
        "for each input channel c:",
        "δx[n, :, :, c] = \N{GREEK CAPITAL LETTER SIGMA} over k of conv2d(δŷ padded[n, :, :, k], "
        f"{prime}[:, :, k, c]), stride 1"],
        fontsize)
    ax.set_xlim(-0.3, right + c_in * step_x - 2.9)
    ax.set_ylim(bottom - 2 * _LINE - 0.4, 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    return w_prime
