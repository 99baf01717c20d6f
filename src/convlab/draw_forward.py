"""Pictures for the forward-pass and transpose chapters, drawn on a matplotlib ``ax``.

Each function draws on the axes it is given and returns nothing. Cells are unit squares
with row 0 at the top; every small grid has its values written in, so no picture relies
on colour alone. The kinds of cells (padding striped, inserted zeros dotted) are those
of :data:`convlab.draw.CELL_STYLES`, shared with the gradient pictures and the
explorers. Names follow the book: ``x̃`` the padded input; ``conv2d_transpose`` maps
``u`` (shaped like ``y``) to ``v`` (shaped like ``x``), and ``ṽ`` is ``v`` before the
forward padding is cropped. Only numpy is imported at module level; matplotlib is
imported by the functions that draw.

This module is not imported by ``import convlab``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.draw import PALETTE, X_PADDED, _cell, _number, _outline, _rect, draw_cells

__all__ = [
    "draw_cells",
    "draw_coverage",
    "draw_matrix",
    "draw_scatter",
    "draw_window_products",
]


def _span(indices: Any) -> str:
    """A run of consecutive indices as first and last, joined by an en dash; others listed."""
    indices = [int(v) for v in indices]
    if len(indices) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        return f"{indices[0]}\N{EN DASH}{indices[-1]}"
    return ", ".join(str(v) for v in indices)


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
    kinds: Any = None,
    labels: tuple[str, str, str] = (f"x padded, {X_PADDED}", "filter w", "output y"),
    roles: tuple[str, str] = ("input", "output"),
    fontsize: float = 10,
) -> None:
    """Draw one step of a convolution: window, filter, the products, and the output cell.

    Left to right: the padded input (rows and columns numbered from 0) with the window of
    ``out_index`` outlined, the filter, the elementwise products of window and filter
    (their sum is written under them), and the output with the cell that sum lands in
    outlined.

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
        Cells of ``xp`` that padding added; drawn striped.
    kinds : array of str, shape (Hp, Wp), optional
        The kind of each cell of ``xp`` (:data:`convlab.draw.CELL_STYLES`), for an input
        with both padding and inserted zeros; overrides ``hatch``.
    labels : (str, str, str)
        Titles of the input, filter and output grids.
    roles : (str, str)
        The kinds of the input's ordinary cells and of the output's cells: ``("input",
        "output")`` for ``conv2d``, ``("output", "input")`` for a gradient or transpose
        whose input is shaped like ``y``.
    """
    xp, w, y = (np.asarray(v, dtype=float) for v in (xp, w, y))
    if kinds is None:
        plain = np.full(xp.shape, roles[0], dtype=object)
        kinds = plain if hatch is None else np.where(np.asarray(hatch, bool), "pad", plain)
    (sh, sw), (dh, dw) = strides, dilations
    i, j = out_index
    kh, kw = w.shape
    rows = sh * i + dh * np.arange(kh)
    cols = sw * j + dw * np.arange(kw)
    products = xp[np.ix_(rows, cols)] * w
    gap = 2.0
    fx = xp.shape[1] + gap
    px = fx + kw + gap
    yx = px + kw + gap
    draw_cells(ax, xp, kinds, label=labels[0], index_labels=True, fontsize=fontsize)
    draw_cells(ax, w, "filter", origin=(fx, 0.0), label=labels[1], fontsize=fontsize)
    draw_cells(ax, products, "product", origin=(px, 0.0),
               label="window \N{MULTIPLICATION SIGN} filter", fontsize=fontsize)
    draw_cells(ax, y, roles[1], origin=(yx, 0.0), label=labels[2], fontsize=fontsize)
    for r in rows:
        for c in cols:
            _outline(ax, c, -r)
    _outline(ax, px, 0, kw, kh)
    _outline(ax, yx + j, -i)
    for x_left, sign in ((fx - gap / 2, "\N{MULTIPLICATION SIGN}"), (px - gap / 2, "=")):
        ax.text(x_left, -kh / 2, sign, ha="center", va="center", fontsize=fontsize + 5)
    ax.text(px + kw / 2, -kh - 0.4, f"sum = {_number(products.sum())}", ha="center",
            va="top", fontsize=fontsize + 1)
    ax.annotate("", xy=(yx - 0.1, -i - 0.5), xytext=(px + kw + 0.1, -kh / 2),
                arrowprops={"arrowstyle": "->", "color": PALETTE["highlight"], "lw": 1.5})
    ax.text(0, -xp.shape[0] - 0.4, f"window ({i}, {j}) reads rows {_span(rows)}, "
            f"columns {_span(cols)}", ha="left", va="top", fontsize=fontsize)
    ax.set_xlim(-0.9, yx + y.shape[1] + 0.5)
    ax.set_ylim(-max(xp.shape[0], kh + 1.5) - 1.3, 2.9)


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
    fontsize: float = 8,
) -> None:
    """Draw a small matrix with its values written in.

    Parameters
    ----------
    ax : matplotlib Axes
    m : array, shape (R, C)
    hatch : bool array, shape (R, C), optional
        Entries to draw striped, as padding: zeros that padding added.
    color : str
        Fill of the non-zero entries.
    row_label, col_label : str
        What the rows and the columns index, written on the left and on top.
    row_names, col_names : list of str, optional
        A name for each row and each column.
    blank_zeros : bool
        Leave zero entries (other than striped ones) blank, so the non-zero pattern of a
        sparse matrix stands out.
    """
    m = np.asarray(m, dtype=float)
    mask = np.zeros(m.shape, bool) if hatch is None else np.asarray(hatch, bool)
    for r in range(m.shape[0]):
        for c in range(m.shape[1]):
            shown = m[r, c] != 0 or not blank_zeros
            if mask[r, c]:
                _cell(ax, c, -r, "pad", _number(m[r, c]), fontsize)
                continue
            if shown:
                _rect(ax, c, -r - 1, 1, 1, facecolor=color, edgecolor="none", alpha=0.5)
                ax.text(c + 0.5, -r - 0.5, _number(m[r, c]), ha="center", va="center",
                        fontsize=fontsize)
            _rect(ax, c, -r - 1, 1, 1, fill=False, linewidth=0.6 if shown else 0.4,
                  edgecolor=PALETTE["edge"] if shown else "#CCCCCC")
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
    u: Any,
    w: Any,
    out_index: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    out_size: tuple[int, int] | None = None,
    fontsize: float = 10,
) -> None:
    """Draw how one input cell of ``conv2d_transpose`` spreads into its output (scatter).

    Left: the transpose's input ``u`` (the forward ``δy``) with one cell outlined.
    Right: ``ṽ``, the transpose's output before the forward padding is cropped away
    (the striped rows and columns are that padding), with the ``KH x KW`` block that the
    outlined cell writes ``u[i, j] * w[a, b]`` into outlined and those products written
    in. Both grids number their rows and columns from 0.

    Parameters
    ----------
    ax : matplotlib Axes
    u : array, shape (OH, OW)
        One channel of the transpose's input.
    w : array, shape (KH, KW)
        One filter slice.
    out_index : (i, j)
        The input cell of the transpose whose contributions are drawn.
    strides : (int, int)
    pads : ((top, bottom), (left, right))
        The forward convolution's padding: cropped from ``ṽ`` to give ``v``.
    out_size : (H, W), optional
        The size of ``v``; defaults to the size of ``ṽ`` minus the pads.
    """
    u, w = np.asarray(u, dtype=float), np.asarray(w, dtype=float)
    (sh, sw) = strides
    (top, bottom), (left, right) = pads
    oh, ow = u.shape
    kh, kw = w.shape
    if out_size is None:
        hp, wp = sh * (oh - 1) + kh, sw * (ow - 1) + kw
    else:
        hp, wp = out_size[0] + top + bottom, out_size[1] + left + right
    i, j = out_index
    rows, cols = slice(sh * i, sh * i + kh), slice(sw * j, sw * j + kw)
    block = np.zeros((hp, wp))
    block[rows, cols] = u[i, j] * w
    kinds = np.full((hp, wp), "faint", dtype=object)
    kinds[rows, cols] = "product"
    kinds[:top] = kinds[hp - bottom:] = kinds[:, :left] = kinds[:, wp - right:] = "pad"
    draw_cells(ax, u, "output", label="u (input of\nthe transpose)", index_labels=True,
               fontsize=fontsize)
    _outline(ax, j, -i)
    x0 = ow + 4.0
    draw_cells(ax, block, kinds, origin=(x0, 0.0), show_values=False, index_labels=True,
               label="\u1e7d: v before the crop", fontsize=fontsize)
    for r in range(rows.start, rows.stop):
        for c in range(cols.start, cols.stop):
            style = {"color": "#555555", "bbox": {"boxstyle": "round,pad=0.1",
                     "facecolor": "white", "edgecolor": "none", "alpha": 0.85}
                     } if kinds[r, c] == "pad" else {}
            ax.text(x0 + c + 0.5, -r - 0.5, _number(block[r, c]), ha="center",
                    va="center", fontsize=fontsize, **style)
    _outline(ax, x0 + cols.start, -rows.start, kw, kh)
    ax.annotate("", xy=(x0 + cols.start, -rows.start - kh / 2), xytext=(ow + 0.1, -i - 0.5),
                arrowprops={"arrowstyle": "->", "color": PALETTE["highlight"], "lw": 1.5})
    ax.text(0, -max(hp, oh) - 0.4,
            f"u[{i}, {j}] = {_number(u[i, j])} times w, added into \u1e7d at rows "
            f"{rows.start}\N{EN DASH}{rows.stop - 1}, columns {cols.start}\N{EN DASH}"
            f"{cols.stop - 1}\nstriped: the forward padding, cropped off to give v",
            ha="left", va="top", fontsize=fontsize)
    ax.set_xlim(-0.9, x0 + wp + 0.5)
    ax.set_ylim(-max(hp, oh) - 2.4, 2.6)


def draw_coverage(
    ax: Any,
    counts: Any,
    *,
    label: str | None = None,
    fontsize: float = 10,
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
                fontsize=fontsize + 1)
    ax.set_xlim(-0.5, counts.shape[1] + 0.5)
    ax.set_ylim(-counts.shape[0] - 0.5, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
