"""Pictures for the book: grids of numbers, windows and padding, drawn on a matplotlib ``ax``.

Every function takes the axes to draw on, so a chapter lays out its own figure, and
:func:`check_legible` tells a chapter whether its figure's text is large enough in the
book. Only numpy is imported here; matplotlib is imported by the functions that need it.

One visual vocabulary serves every picture and the explorers (``explorer.css``): the
colours are the Okabe-Ito palette, which stays distinct under the common forms of colour
blindness, and each kind of cell also has its own pattern (:data:`CELL_STYLES`): padding
zeros are striped with a dashed edge, zeros inserted for a stride are dotted, cells that
no window reaches are cross-hatched. Labels follow the book's notation: ``x``, ``w``,
``y``; ``x̃`` the padded input; ``δx``, ``δw``, ``δy`` the gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from convlab.geometry import resolve_axis

__all__ = [
    "CELL_STYLES",
    "PALETTE",
    "X_PADDED",
    "check_legible",
    "displayed_scale",
    "draw_axis_windows",
    "draw_cells",
    "draw_grid",
    "draw_legend",
    "draw_window",
]

#: Okabe-Ito colours by role.
PALETTE = {
    "input": "#56B4E9",  # sky blue
    "filter": "#E69F00",  # orange
    "output": "#009E73",  # bluish green
    "highlight": "#D55E00",  # vermillion
    "focus": "#0072B2",  # blue: the one pair a picture follows
    "pad": "#E4E4E4",  # light grey: zeros that padding added
    "unreached": "#CC79A7",  # reddish purple
    "edge": "#333333",
}

#: How each kind of cell is drawn. The fills are about the explorers' (``.cvx-c.r-data``)
#: and the patterned kinds are their ``r-pad`` (stripes, dashed edge, italic), ``r-zero``
#: (dots, dotted edge) and ``r-unreached``, with the same legend text.
CELL_STYLES: dict[str, dict[str, Any]] = {
    "input": {"facecolor": PALETTE["input"], "alpha": 0.3},
    "output": {"facecolor": PALETTE["output"], "alpha": 0.3},
    "filter": {"facecolor": PALETTE["filter"], "alpha": 0.3},
    "product": {"facecolor": PALETTE["highlight"], "alpha": 0.3},
    "faint": {"facecolor": PALETTE["input"], "alpha": 0.12},
    "pad": {"facecolor": "#F4F4F4", "hatch": "\\\\", "hatchcolor": "#B4B4B4",
            "linestyle": "--", "text": "#555555", "fontstyle": "italic",
            "label": "padding (zero added)"},
    "zero": {"facecolor": "white", "hatch": "..", "linestyle": ":", "text": "#555555",
             "label": "inserted zero (stride)"},
    "unreached": {"facecolor": "#F2D3E5", "hatch": "xx", "edgecolor": PALETTE["unreached"],
                  "text": "#6B2150", "label": "unreached: no window covers it"},
    "gap": {"facecolor": "white", "linestyle": ":", "edgecolor": "#999999", "blank": True,
            "label": "gap between dilated taps"},
}

#: The padded input's symbol, x with a combining tilde (Unicode has no precomposed one).
X_PADDED = "x\u0303"

_HATCH_EDGE = "#8A8A8A"
_INDEX_TEXT = "#555555"


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
    """A cell's text: integers without a point, others with two significant digits."""
    value = float(value)
    text = str(int(value)) if value.is_integer() else f"{value:.2g}"
    return text.replace("-", "\N{MINUS SIGN}")


def _cell(ax: Any, x0: float, y0: float, kind: str, text: str | None, fontsize: float,
          gid: str | None = None) -> None:
    """One unit cell of the kind ``kind``, its top-left corner at ``(x0, y0)``."""
    style = CELL_STYLES[kind]
    hatch = style.get("hatch")
    _rect(ax, x0, y0 - 1, 1, 1, facecolor=style["facecolor"], alpha=style.get("alpha", 1.0),
          edgecolor="none")
    if hatch:
        _rect(ax, x0, y0 - 1, 1, 1, fill=False, hatch=hatch,
              edgecolor=style.get("hatchcolor", _HATCH_EDGE), linewidth=0)
    _rect(ax, x0, y0 - 1, 1, 1, fill=False, edgecolor=style.get("edgecolor", PALETTE["edge"]),
          linewidth=0.7, linestyle=style.get("linestyle", "-"))
    if text is not None and not style.get("blank"):
        box = {"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none",
               "alpha": 0.85} if hatch else None
        ax.text(x0 + 0.5, y0 - 0.5, text, ha="center", va="center", fontsize=fontsize,
                color=style.get("text", "black"), fontstyle=style.get("fontstyle", "normal"),
                bbox=box, gid=gid)


def _outline(ax: Any, x0: float, y0: float, w: float = 1, h: float = 1, *,
             color: str = PALETTE["highlight"], width: float = 2.4) -> None:
    """An outline just inside the ``w`` by ``h`` block whose top-left corner is ``(x0, y0)``."""
    _rect(ax, x0 + 0.06, y0 - h + 0.06, w - 0.12, h - 0.12, fill=False, edgecolor=color,
          linewidth=width)


def draw_cells(
    ax: Any,
    values: Any,
    kinds: str | Any = "input",
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    label: str | None = None,
    show_values: bool = True,
    index_labels: bool = False,
    name: str | None = None,
    fontsize: float = 10,
) -> None:
    """Draw a 2-D array as cells, row 0 at the top, each cell styled by its kind.

    Parameters
    ----------
    ax : matplotlib Axes
    values : array, shape (H, W)
    kinds : str or array of str, shape (H, W)
        Keys of :data:`CELL_STYLES`; one string styles every cell alike.
    origin : (x, y)
        Data coordinates of the grid's top-left corner; a cell is 1 by 1.
    label : str, optional
        Written above the grid.
    show_values : bool
        Write each value in its cell.
    index_labels : bool
        Number the rows on the left and the columns on top, from 0.
    name : str, optional
        Each value's text gets the gid ``f"{name}[{r},{c}]"``, so a test can read it back.
    """
    values = np.asarray(values)
    kinds = np.broadcast_to(np.asarray(kinds), values.shape)
    x0, y0 = origin
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            text = _number(values[r, c]) if show_values else None
            gid = f"{name}[{r},{c}]" if name else None
            _cell(ax, x0 + c, y0 - r, str(kinds[r, c]), text, fontsize, gid)
    top = y0 + 0.15
    if index_labels:
        for r in range(values.shape[0]):
            ax.text(x0 - 0.12, y0 - r - 0.5, str(r), ha="right", va="center",
                    fontsize=fontsize - 1, color=_INDEX_TEXT)
        for c in range(values.shape[1]):
            ax.text(x0 + c + 0.5, y0 + 0.08, str(c), ha="center", va="bottom",
                    fontsize=fontsize - 1, color=_INDEX_TEXT)
        top += 0.55
    if label:
        ax.text(x0 + values.shape[1] / 2, top, label, ha="center", va="bottom",
                fontsize=fontsize + 1)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_legend(ax: Any, kinds: Sequence[str], *, fontsize: float = 10, **legend: Any) -> None:
    """Add a legend that names each patterned kind of cell in ``kinds``, pattern included.

    Extra keyword arguments go to ``ax.legend`` (the default sits under the axes).
    """
    from matplotlib.patches import Patch

    handles = []
    for kind in kinds:
        style = CELL_STYLES[kind]
        handles.append(Patch(facecolor=style["facecolor"], hatch=style.get("hatch"),
                             edgecolor=style.get("edgecolor", style.get("hatchcolor",
                                                                        _HATCH_EDGE)),
                             linestyle=style.get("linestyle", "-"), label=style["label"]))
    options = {"loc": "upper center", "ncol": min(len(handles), 3), "frameon": False,
               "fontsize": fontsize, "bbox_to_anchor": (0.5, 0.0), "handlelength": 1.6,
               "handleheight": 1.2, "columnspacing": 1.2}
    options.update(legend)
    ax.legend(handles=handles, **options)


def draw_grid(
    ax: Any,
    a: Any,
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    kind: str = "input",
    label: str | None = None,
    values: bool = True,
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    index_labels: bool = False,
    fontsize: float = 10,
) -> None:
    """Draw a 2-D array as a grid of cells, row 0 at the top, with each value written in.

    Parameters
    ----------
    ax : matplotlib Axes
    a : array, shape (H, W)
        The values; ``pads`` rows and columns of zeros are drawn around it, striped.
    origin : (x, y)
        Data coordinates of the top-left corner of the (padded) grid.
    kind : str
        The :data:`CELL_STYLES` kind of the cells of ``a``.
    label : str, optional
        Written above the grid.
    values : bool
        Write each value in its cell (keep it for small grids).
    pads : ((top, bottom), (left, right))
        Zero padding to draw around ``a``.
    index_labels : bool
        Number the rows and columns of the padded grid, from 0.
    """
    a = np.asarray(a)
    kinds = np.pad(np.full(a.shape, kind, dtype=object), pads, constant_values="pad")
    draw_cells(ax, np.pad(a, pads), kinds, origin=origin, label=label, show_values=values,
               index_labels=index_labels, fontsize=fontsize)


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
    fontsize: float = 10,
) -> None:
    """Draw input, filter and output side by side, with the window of one output outlined.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (H, W)
        One channel of the input (unpadded); with ``pads`` it is drawn as ``x̃``.
    w : array, shape (KH, KW)
        One filter slice.
    y : array, shape (OH, OW)
        The output of the convolution of ``x`` with ``w``.
    out_index : (i, j)
        The output element whose window is outlined: the taps it reads are
        ``x̃[s_h*i + d_h*a, s_w*j + d_w*b]``.
    strides, dilations, pads
        The convolution's, per spatial axis; ``pads`` as ``((top, bottom), (left, right))``.
    """
    x, w, y = (np.asarray(v) for v in (x, w, y))
    (top, bottom), (left, right) = pads
    padded = top + bottom + left + right > 0
    xp_cols = x.shape[1] + left + right
    gap = 1.5
    wx0 = xp_cols + gap
    yx0 = wx0 + w.shape[1] + gap
    draw_grid(ax, x, pads=pads, label=f"x padded, {X_PADDED}" if padded else "input x",
              fontsize=fontsize)
    draw_grid(ax, w, origin=(wx0, 0.0), kind="filter", label="filter w", fontsize=fontsize)
    draw_grid(ax, y, origin=(yx0, 0.0), kind="output", label="output y", fontsize=fontsize)
    i, j = out_index
    for a in range(w.shape[0]):
        for b in range(w.shape[1]):
            r, c = strides[0] * i + dilations[0] * a, strides[1] * j + dilations[1] * b
            _outline(ax, c, -r)
    _outline(ax, yx0 + j, -i)
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
    fontsize: float = 10,
) -> None:
    """Draw one spatial axis: the input cells, the padding, and every window below them.

    Row ``x`` is the padded axis: striped cells are padding, blue cells are the input,
    numbered from 0 at its first cell; cross-hatched input cells lie after the last
    window (they get no gradient). Below it, row ``y[o]`` has a bar over the taps that
    output ``o``'s window reads.

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
        kind = "input" if is_input else "pad"
        if is_input and p >= last_read:
            kind = "unreached"
        _cell(ax, p, 1, kind, str(p - axis.pad_before) if is_input else None, fontsize)
    ax.text(-0.4, 0.5, "x", ha="right", va="center", fontsize=fontsize + 1)
    for o in range(axis.out):
        row = -1.1 - 0.9 * o
        start = o * stride
        taps = [start + dilation * t for t in range(kernel)]
        ax.plot([taps[0] + 0.5, taps[-1] + 0.5], [row + 0.35] * 2, color=PALETTE["output"],
                linewidth=1.2)
        for t in taps:
            _rect(ax, t + 0.15, row + 0.1, 0.7, 0.5, facecolor=PALETTE["output"],
                  edgecolor="none", alpha=0.9)
        ax.text(-0.4, row + 0.35, f"y[{o}]", ha="right", va="center", fontsize=fontsize)
    ax.text(axis.padded / 2, 1.25,
            f"size {size}, kernel {kernel}, stride {stride}, dilation {dilation}, "
            f"padding {axis.pad_before}+{axis.pad_after} \N{RIGHTWARDS ARROW} "
            f"{axis.out} outputs", ha="center", va="bottom", fontsize=fontsize)
    ax.set_xlim(-3.0, max(axis.padded, 1) + 0.5)
    ax.set_ylim(-1.3 - 0.9 * axis.out, 2.2)
    ax.set_aspect("equal")
    ax.axis("off")
