"""Pictures for the forward-pass and transpose chapters, drawn on a matplotlib ``ax``.

Each function draws on the axes it is given and returns nothing. Cells are unit squares
with row 0 at the top; every small grid has its values written in, so no picture relies
on colour alone. Zeros that padding (or zero insertion) added are hatched. Colours are
the Okabe-Ito palette of :mod:`convlab.draw`. Only numpy is imported at module level;
matplotlib is imported by the functions that draw.

This module is not imported by ``import convlab``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.draw import PALETTE

__all__ = [
    "draw_cells",
    "draw_coverage",
    "draw_matrix",
    "draw_scatter",
    "draw_window_products",
]

_HATCH = "////"
_PAD_TEXT = "#666666"


def _rect(ax: Any, x0: float, y0: float, w: float, h: float, **style: Any) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x0, y0), w, h, **style))


def _text(value: float) -> str:
    """Integers without a decimal point, everything else with two significant digits."""
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer():
        return str(int(value))
    return f"{value:.2g}"


def _cell(ax: Any, col: float, row: float, *, color: str, hatched: bool,
          alpha: float = 0.55) -> None:
    """One cell whose top-left corner is at (``col``, ``-row``)."""
    if hatched:
        _rect(ax, col, -row - 1, 1, 1, facecolor=PALETTE["pad"], edgecolor="none")
        _rect(ax, col, -row - 1, 1, 1, fill=False, hatch=_HATCH, edgecolor="#AAAAAA",
              linewidth=0)
    else:
        _rect(ax, col, -row - 1, 1, 1, facecolor=color, edgecolor="none", alpha=alpha)
    _rect(ax, col, -row - 1, 1, 1, fill=False, edgecolor=PALETTE["edge"], linewidth=0.6)


def _outline(ax: Any, col: float, row: float, w: float = 1, h: float = 1,
             color: str = PALETTE["highlight"], width: float = 2.4) -> None:
    _rect(ax, col, -row - h, w, h, fill=False, edgecolor=color, linewidth=width)


def draw_cells(
    ax: Any,
    a: Any,
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    color: str = PALETTE["input"],
    hatch: Any = None,
    label: str | None = None,
    values: bool = True,
    fontsize: float = 9,
    index_labels: bool = False,
) -> None:
    """Draw a 2-D array as a grid of cells, row 0 at the top, values written in.

    Parameters
    ----------
    ax : matplotlib Axes
    a : array, shape (H, W)
    origin : (x, y)
        Data coordinates of the grid's top-left corner.
    color : str
        Fill of ordinary cells.
    hatch : bool array, shape (H, W), optional
        Cells to draw hatched and grey: zeros that padding or zero insertion added.
    label : str, optional
        Written above the grid.
    values : bool
        Write each value in its cell.
    index_labels : bool
        Number the rows on the left and the columns on top.
    """
    a = np.asarray(a)
    mask = np.zeros(a.shape, bool) if hatch is None else np.asarray(hatch, bool)
    x0, y0 = origin
    for r in range(a.shape[0]):
        for c in range(a.shape[1]):
            _cell(ax, x0 + c, r - y0, color=color, hatched=bool(mask[r, c]))
            if values:
                ax.text(x0 + c + 0.5, y0 - r - 0.5, _text(a[r, c]), ha="center",
                        va="center", fontsize=fontsize,
                        color=_PAD_TEXT if mask[r, c] else "black")
    top = y0 + 0.15
    if index_labels:
        for r in range(a.shape[0]):
            ax.text(x0 - 0.2, y0 - r - 0.5, str(r), ha="right", va="center",
                    fontsize=fontsize - 2, color=_PAD_TEXT)
        for c in range(a.shape[1]):
            ax.text(x0 + c + 0.5, y0 + 0.1, str(c), ha="center", va="bottom",
                    fontsize=fontsize - 2, color=_PAD_TEXT)
        top += 0.5
    if label:
        ax.text(x0 + a.shape[1] / 2, top, label, ha="center", va="bottom",
                fontsize=fontsize + 1)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_window_products(
    ax: Any,
    xp: Any,
    w: Any,
    y: Any,
    out_index: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    hatch: Any = None,
    labels: tuple[str, str, str] = ("padded input", "filter w", "output y"),
    fontsize: float = 9,
) -> None:
    """Draw one step of a convolution: window, filter, the products, and the output cell.

    Left to right: the padded input with the window of ``out_index`` outlined, the
    filter, the elementwise products of window and filter (their sum is written under
    them), and the output with the cell that sum lands in outlined.

    Parameters
    ----------
    ax : matplotlib Axes
    xp : array, shape (Hp, Wp)
        One channel of the padded input.
    w : array, shape (KH, KW)
        One filter slice.
    y : array, shape (OH, OW)
        The convolution's output (drawn, not computed here).
    out_index : (i, j)
        The output cell; its window reads ``xp[s_h*i + d_h*a, s_w*j + d_w*b]``.
    strides, dilations : (int, int)
    hatch : bool array, shape (Hp, Wp), optional
        Cells of ``xp`` that padding (or zero insertion) added; drawn hatched.
    labels : (str, str, str)
        Titles of the input, filter and output grids.
    """
    xp, w, y = (np.asarray(v, dtype=float) for v in (xp, w, y))
    (sh, sw), (dh, dw) = strides, dilations
    i, j = out_index
    kh, kw = w.shape
    rows = sh * i + dh * np.arange(kh)
    cols = sw * j + dw * np.arange(kw)
    patch = xp[np.ix_(rows, cols)]
    products = patch * w
    gap = 2.0
    fx = xp.shape[1] + gap
    px = fx + kw + gap
    yx = px + kw + gap
    draw_cells(ax, xp, hatch=hatch, label=labels[0], fontsize=fontsize)
    draw_cells(ax, w, origin=(fx, 0.0), color=PALETTE["filter"], label=labels[1],
               fontsize=fontsize)
    draw_cells(ax, products, origin=(px, 0.0), color=PALETTE["highlight"],
               label="window \N{MULTIPLICATION SIGN} filter", fontsize=fontsize)
    draw_cells(ax, y, origin=(yx, 0.0), color=PALETTE["output"], label=labels[2],
               fontsize=fontsize)
    for r in rows:
        for c in cols:
            _outline(ax, c, r)
    _outline(ax, px, 0, kw, kh)
    _outline(ax, yx + j, i)
    for x_left, sign in ((fx - gap / 2, "\N{MULTIPLICATION SIGN}"), (px - gap / 2, "=")):
        ax.text(x_left, -kh / 2, sign, ha="center", va="center", fontsize=fontsize + 5)
    ax.text(px + kw / 2, -kh - 0.4, f"sum = {_text(products.sum())}", ha="center",
            va="top", fontsize=fontsize + 1)
    ax.annotate("", xy=(yx - 0.1, -i - 0.5), xytext=(px + kw + 0.1, -kh / 2),
                arrowprops={"arrowstyle": "->", "color": PALETTE["highlight"], "lw": 1.5})
    ax.text(0, -xp.shape[0] - 0.4, f"window ({i}, {j}): rows {rows.tolist()}, "
            f"columns {cols.tolist()} of the padded input", ha="left", va="top",
            fontsize=fontsize)
    ax.set_xlim(-0.5, yx + y.shape[1] + 0.5)
    ax.set_ylim(-max(xp.shape[0], kh + 1.5) - 1.2, 2.4)


def draw_matrix(
    ax: Any,
    m: Any,
    *,
    hatch: Any = None,
    color: str = PALETTE["filter"],
    row_label: str = "rows",
    col_label: str = "columns",
    row_names: list[str] | None = None,
    col_names: list[str] | None = None,
    blank_zeros: bool = True,
    fontsize: float = 7,
) -> None:
    """Draw a small matrix with its values written in.

    Parameters
    ----------
    ax : matplotlib Axes
    m : array, shape (R, C)
    hatch : bool array, shape (R, C), optional
        Entries to draw hatched (zeros that padding added).
    color : str
        Fill of the non-zero entries.
    row_label, col_label : str
        What the rows and the columns index, written on the left and on top.
    row_names, col_names : list of str, optional
        A name for each row and each column.
    blank_zeros : bool
        Leave zero entries (other than hatched ones) blank, so the non-zero pattern of a
        sparse matrix stands out.
    """
    m = np.asarray(m, dtype=float)
    mask = np.zeros(m.shape, bool) if hatch is None else np.asarray(hatch, bool)
    for r in range(m.shape[0]):
        for c in range(m.shape[1]):
            nonzero = m[r, c] != 0 or not blank_zeros
            if mask[r, c]:
                _cell(ax, c, r, color=color, hatched=True)
            elif nonzero:
                _cell(ax, c, r, color=color, hatched=False)
            else:
                _rect(ax, c, -r - 1, 1, 1, fill=False, edgecolor="#CCCCCC", linewidth=0.4)
            if nonzero or mask[r, c]:
                ax.text(c + 0.5, -r - 0.5, _text(m[r, c]), ha="center", va="center",
                        fontsize=fontsize, color=_PAD_TEXT if mask[r, c] else "black")
    _rect(ax, 0, -m.shape[0], m.shape[1], m.shape[0], fill=False,
          edgecolor=PALETTE["edge"], linewidth=1.0)
    for r, name in enumerate(row_names or []):
        ax.text(-0.2, -r - 0.5, name, ha="right", va="center", fontsize=fontsize)
    for c, name in enumerate(col_names or []):
        ax.text(c + 0.5, 0.15, name, ha="center", va="bottom", fontsize=fontsize,
                rotation=90)
    name_room = 1.6 if col_names else 0.3
    ax.text(m.shape[1] / 2, name_room, col_label, ha="center", va="bottom",
            fontsize=fontsize + 2)
    ax.text(-2.6 if row_names else -0.6, -m.shape[0] / 2, row_label, ha="right",
            va="center", fontsize=fontsize + 2, rotation=90)
    ax.set_xlim(-4.0, m.shape[1] + 0.5)
    ax.set_ylim(-m.shape[0] - 0.5, name_room + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_scatter(
    ax: Any,
    dy: Any,
    w: Any,
    out_index: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    out_size: tuple[int, int] | None = None,
    fontsize: float = 9,
) -> None:
    """Draw how one input cell of ``conv2d_transpose`` spreads into its output (scatter).

    Left: the transpose's input ``dy`` with one cell outlined. Right: the transpose's
    output, drawn before the forward padding is cropped away (hatched rows and columns
    are that padding), with the ``KH x KW`` block that the outlined cell writes
    ``dy[i, j] * w[a, b]`` into outlined and those products written in.

    Parameters
    ----------
    ax : matplotlib Axes
    dy : array, shape (OH, OW)
        One channel of the transpose's input.
    w : array, shape (KH, KW)
        One filter slice.
    out_index : (i, j)
        The input cell of the transpose whose contributions are drawn.
    strides : (int, int)
    pads : ((top, bottom), (left, right))
        The forward convolution's padding: cropped from the transpose's output.
    out_size : (H, W), optional
        The cropped output size; defaults to the padded size minus the pads.
    """
    dy, w = np.asarray(dy, dtype=float), np.asarray(w, dtype=float)
    (sh, sw) = strides
    (top, bottom), (left, right) = pads
    oh, ow = dy.shape
    kh, kw = w.shape
    if out_size is None:
        hp, wp = sh * (oh - 1) + kh, sw * (ow - 1) + kw
    else:
        hp, wp = out_size[0] + top + bottom, out_size[1] + left + right
    i, j = out_index
    block = np.zeros((hp, wp))
    block[sh * i: sh * i + kh, sw * j: sw * j + kw] = dy[i, j] * w
    cropped = np.ones((hp, wp), bool)
    cropped[top: hp - bottom, left: wp - right] = False
    draw_cells(ax, dy, color=PALETTE["output"],
               label="input of the\ntranspose (= δy)", fontsize=fontsize)
    _outline(ax, j, i)
    x0 = ow + 4.0
    written = np.zeros((hp, wp), bool)
    written[sh * i: sh * i + kh, sw * j: sw * j + kw] = True
    for r in range(hp):
        for c in range(wp):
            color = PALETTE["highlight"] if written[r, c] else PALETTE["input"]
            _cell(ax, x0 + c, r, color=color, hatched=bool(cropped[r, c]),
                  alpha=0.55 if written[r, c] else 0.15)
            if written[r, c]:
                ax.text(x0 + c + 0.5, -r - 0.5, _text(block[r, c]), ha="center",
                        va="center", fontsize=fontsize,
                        color=_PAD_TEXT if cropped[r, c] else "black")
    _outline(ax, x0 + sw * j, sh * i, kw, kh)
    ax.text(x0 + wp / 2, 0.15, "output of the transpose (= δx),\nbefore the crop",
            ha="center", va="bottom", fontsize=fontsize + 1)
    ax.annotate("", xy=(x0 + sw * j, -sh * i - kh / 2), xytext=(ow + 0.1, -i - 0.5),
                arrowprops={"arrowstyle": "->", "color": PALETTE["highlight"], "lw": 1.5})
    ax.text(0, -hp - 0.4, f"δy[{i}, {j}] = {_text(dy[i, j])} times w, added at rows "
            f"{sh * i}..{sh * i + kh - 1}, columns {sw * j}..{sw * j + kw - 1}\n"
            "hatched: the forward padding, cropped off at the end", ha="left", va="top",
            fontsize=fontsize)
    ax.set_xlim(-0.5, x0 + wp + 0.5)
    ax.set_ylim(-max(hp, oh) - 2.2, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_coverage(
    ax: Any,
    counts: Any,
    *,
    label: str | None = None,
    fontsize: float = 8,
) -> None:
    """Draw a map of counts (how many filter taps land on each cell), numbers written in.

    The fill darkens with the count, in one hue, and the count is written in each cell,
    so the map reads the same without colour.

    Parameters
    ----------
    ax : matplotlib Axes
    counts : int array, shape (H, W)
    label : str, optional
        Written above the map.
    """
    counts = np.asarray(counts)
    top = max(int(counts.max()), 1)
    for r in range(counts.shape[0]):
        for c in range(counts.shape[1]):
            value = int(counts[r, c])
            _rect(ax, c, -r - 1, 1, 1, facecolor=PALETTE["input"], edgecolor="none",
                  alpha=0.1 + 0.9 * value / top)
            _rect(ax, c, -r - 1, 1, 1, fill=False, edgecolor=PALETTE["edge"],
                  linewidth=0.5)
            ax.text(c + 0.5, -r - 0.5, str(value), ha="center", va="center",
                    fontsize=fontsize, color="white" if value / top > 0.7 else "black")
    if label:
        ax.text(counts.shape[1] / 2, 0.3, label, ha="center", va="bottom",
                fontsize=fontsize + 2)
    ax.set_xlim(-0.5, counts.shape[1] + 0.5)
    ax.set_ylim(-counts.shape[0] - 0.5, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
