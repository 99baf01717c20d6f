"""Pictures for the book: grids of numbers, windows and padding, drawn on a matplotlib ``ax``.

Every function takes the axes to draw on and returns nothing, so a chapter lays out
its own figure. Only numpy is imported here; matplotlib is imported by the functions
that need its patches. The colours are the Okabe-Ito palette, which stays distinct
under the common forms of colour blindness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convlab.geometry import resolve_axis

__all__ = [
    "PALETTE",
    "check_legible",
    "displayed_scale",
    "draw_axis_windows",
    "draw_grid",
    "draw_window",
]

#: Okabe-Ito colours by role.
PALETTE = {
    "input": "#56B4E9",  # sky blue
    "filter": "#E69F00",  # orange
    "output": "#009E73",  # bluish green
    "highlight": "#D55E00",  # vermillion
    "pad": "#F0F0F0",  # light grey: zeros that padding added
    "unreached": "#CC79A7",  # reddish purple
    "edge": "#333333",
}


def displayed_scale(fig: Any, column_px: float = 736.0, *, tight: bool = True) -> float:
    """How much the book shrinks ``fig``: 1, or less when it is wider than the column.

    The inline backend saves a figure with ``bbox_inches="tight"``, so with ``tight``
    (the default) the width is that of the drawn content plus ``savefig.pad_inches``
    on each side; without it, the width the figure was made with.

    Parameters
    ----------
    fig : matplotlib Figure
    column_px : float
        Width of the book's content column, in CSS pixels.
    tight : bool
        Measure the tight bounding box, as the saved picture has it.
    """
    import matplotlib as mpl

    width_in = fig.get_figwidth()
    if tight:
        renderer = fig.canvas.get_renderer()
        width_in = fig.get_tightbbox(renderer).width + 2 * mpl.rcParams["savefig.pad_inches"]
    return min(1.0, column_px / (width_in * fig.dpi))


def _drawn_texts(fig: Any) -> list[Any]:
    """Every Text of ``fig`` that drawing it shows: visible, not empty, not hidden ticks."""
    from matplotlib.text import Text

    fig.draw_without_rendering()  # tick labels get their strings when drawn
    hidden: set[int] = set()
    for ax in fig.axes:
        if not ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                hidden.update(id(t) for t in axis.findobj(Text))
    texts = []
    for text in fig.findobj(Text):
        shown = text.get_visible() and text.get_text().strip() and id(text) not in hidden
        if shown and (text.axes is None or text.axes.get_visible()):
            texts.append(text)
    return texts


def check_legible(
    fig: Any,
    column_px: float = 736.0,
    min_px: float = 9.0,
    *,
    tight: bool = True,
) -> float:
    """Raise if any text of ``fig`` shows smaller than ``min_px`` in the book; else its smallest.

    A text's displayed height is its font size in points times ``fig.dpi / 72`` times
    :func:`displayed_scale`: a figure wider than the column is shrunk to fit it.

    Parameters
    ----------
    fig : matplotlib Figure
    column_px : float
        Width of the book's content column, in CSS pixels.
    min_px : float
        The smallest displayed text height allowed, in CSS pixels.
    tight : bool
        Measure the figure as the inline backend saves it (see :func:`displayed_scale`).

    Returns
    -------
    float
        The smallest displayed text height, in pixels (``inf`` for a figure without text).

    Raises
    ------
    ValueError
        Naming the smallest text, when it is below ``min_px``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(4, 1), dpi=100)
    >>> _ = ax.text(0.5, 0.5, "twelve points", fontsize=12)
    >>> _ = ax.axis("off")
    >>> round(check_legible(fig), 1)
    16.7
    >>> plt.close(fig)
    """
    scale = displayed_scale(fig, column_px, tight=tight) * fig.dpi / 72
    sizes = [(text.get_fontsize() * scale, text.get_text()) for text in _drawn_texts(fig)]
    if not sizes:
        return float("inf")
    smallest, words = min(sizes, key=lambda size: size[0])
    if smallest < min_px:
        count = sum(size < min_px for size, _ in sizes)
        raise ValueError(
            f"{count} text(s) show smaller than {min_px:g} px in a {column_px:g} px column; "
            f"the smallest, {words!r}, shows {smallest:.1f} px tall"
        )
    return smallest


def _rect(ax: Any, x0: float, y0: float, w: float, h: float, **style: Any) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x0, y0), w, h, **style))


def _number(value: float) -> str:
    """Short text for a cell: integers without a point, others with two significant digits."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2g}"


def draw_grid(
    ax: Any,
    a: Any,
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    color: str = PALETTE["input"],
    label: str | None = None,
    values: bool = True,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    fontsize: float = 9,
) -> None:
    """Draw a 2-D array as a grid of cells, row 0 at the top, with each value written in.

    Parameters
    ----------
    ax : matplotlib Axes
    a : array, shape (H, W)
        The values; ``pads`` rows and columns of zeros are drawn around it in grey.
    origin : (x, y)
        Data coordinates of the top-left corner of the (padded) grid.
    color : str
        Fill of the cells of ``a``.
    label : str, optional
        Written above the grid.
    values : bool
        Write each value in its cell (keep it for small grids).
    pads : ((top, bottom), (left, right))
        Zero padding to draw around ``a``.
    """
    a = np.asarray(a)
    (top, bottom), (left, right) = pads
    rows, cols = a.shape[0] + top + bottom, a.shape[1] + left + right
    x0, y0 = origin
    for r in range(rows):
        for c in range(cols):
            inside = top <= r < top + a.shape[0] and left <= c < left + a.shape[1]
            value = a[r - top, c - left] if inside else 0
            _rect(ax, x0 + c, y0 - r - 1, 1, 1, facecolor=color if inside else PALETTE["pad"],
                  edgecolor=PALETTE["edge"], linewidth=0.6, alpha=0.55 if inside else 1.0)
            if values:
                ax.text(x0 + c + 0.5, y0 - r - 0.5, _number(value), ha="center", va="center",
                        fontsize=fontsize, color="black" if inside else "#777777")
    if label:
        ax.text(x0 + cols / 2, y0 + 0.35, label, ha="center", va="bottom", fontsize=fontsize + 1)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_window(
    ax: Any,
    x: Any,
    w: Any,
    y: Any,
    out_index: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    fontsize: float = 9,
) -> None:
    """Draw input, filter and output side by side, with the window of one output outlined.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (H, W)
        One channel of the input (unpadded).
    w : array, shape (KH, KW)
        One filter slice.
    y : array, shape (OH, OW)
        The output of the convolution of ``x`` with ``w``.
    out_index : (i, j)
        The output element whose window is outlined: the taps it reads are
        ``xp[s_h*i + d_h*a, s_w*j + d_w*b]``.
    strides, dilations, pads
        The convolution's, per spatial axis; ``pads`` as ``((top, bottom), (left, right))``.
    """
    x, w, y = (np.asarray(v) for v in (x, w, y))
    (top, bottom), (left, right) = pads
    xp_cols = x.shape[1] + left + right
    gap = 1.5
    wx0 = xp_cols + gap
    yx0 = wx0 + w.shape[1] + gap
    draw_grid(ax, x, pads=pads, label="input x (padding grey)", fontsize=fontsize)
    draw_grid(ax, w, origin=(wx0, 0.0), color=PALETTE["filter"], label="filter w",
              fontsize=fontsize)
    draw_grid(ax, y, origin=(yx0, 0.0), color=PALETTE["output"], label="output y",
              fontsize=fontsize)
    i, j = out_index
    style = {"fill": False, "edgecolor": PALETTE["highlight"], "linewidth": 2.2}
    for a in range(w.shape[0]):
        for b in range(w.shape[1]):
            r, c = strides[0] * i + dilations[0] * a, strides[1] * j + dilations[1] * b
            _rect(ax, c, -r - 1, 1, 1, **style)
    _rect(ax, yx0 + j, -i - 1, 1, 1, **style)
    ax.set_xlim(-0.5, yx0 + y.shape[1] + 0.5)
    ax.set_ylim(-(x.shape[0] + top + bottom) - 0.5, 1.5)


def draw_axis_windows(
    ax: Any,
    size: int,
    kernel: int,
    stride: int = 1,
    padding: str | Sequence[int] = "VALID",
    dilation: int = 1,
    *,
    fontsize: float = 9,
) -> None:
    """Draw one spatial axis: the input cells, the padding, and every window below them.

    Row 0 shows the padded axis: grey cells are padding (before, after), blue cells are
    the input, numbered from 0; purple input cells are those after the last window
    (they get no gradient). Below it each output position ``o`` gets a bar over the
    taps its window reads.

    Parameters
    ----------
    ax : matplotlib Axes
    size, kernel, stride, padding, dilation
        As in :func:`convlab.geometry.resolve_axis`: ``padding`` is ``"VALID"``,
        ``"SAME"`` or ``(before, after)``.
    """
    pad = padding if isinstance(padding, str) else (int(padding[0]), int(padding[1]))
    axis = resolve_axis(size, kernel, stride, pad, dilation)
    last_read = (axis.out - 1) * stride + axis.k_eff  # padded cells reached by some window
    for p in range(axis.padded):
        is_input = axis.pad_before <= p < axis.pad_before + size
        color = PALETTE["input"] if is_input else PALETTE["pad"]
        if is_input and p >= last_read:
            color = PALETTE["unreached"]
        _rect(ax, p, 0, 1, 1, facecolor=color, edgecolor=PALETTE["edge"], linewidth=0.6,
              alpha=0.6 if is_input else 1.0)
        text = str(p - axis.pad_before) if is_input else "0"
        ax.text(p + 0.5, 0.5, text, ha="center", va="center", fontsize=fontsize,
                color="black" if is_input else "#777777")
    ax.text(-0.4, 0.5, "input", ha="right", va="center", fontsize=fontsize)
    for o in range(axis.out):
        row = -1.1 - 0.9 * o
        start = o * stride
        taps = [start + dilation * t for t in range(kernel)]
        ax.plot([taps[0] + 0.5, taps[-1] + 0.5], [row + 0.35] * 2, color=PALETTE["output"],
                linewidth=1.2)
        for t in taps:
            _rect(ax, t + 0.15, row + 0.1, 0.7, 0.5, facecolor=PALETTE["output"],
                  edgecolor="none", alpha=0.9)
        ax.text(-0.4, row + 0.35, f"out {o}", ha="right", va="center", fontsize=fontsize)
    ax.text(axis.padded / 2, 1.25,
            f"size {size}, kernel {kernel}, stride {stride}, dilation {dilation}, "
            f"padding {axis.pad_before}+{axis.pad_after} -> {axis.out} outputs",
            ha="center", va="bottom", fontsize=fontsize)
    ax.set_xlim(-3.0, max(axis.padded, 1) + 0.5)
    ax.set_ylim(-1.3 - 0.9 * axis.out, 2.2)
    ax.set_aspect("equal")
    ax.axis("off")
