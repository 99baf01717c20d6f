"""Pictures for the gradient chapters: d_w as taps that gather, d_x as a full correlation.

Every function draws one channel on a matplotlib ``ax`` and returns nothing. Cells are
told apart by their *kind* as well as by colour: padding zeros are dotted, the zeros
that zero insertion adds are striped, cells no window reaches are cross-hatched, so the
pictures read in greyscale and under colour blindness (the colours are Okabe-Ito, from
:data:`convlab.draw.PALETTE`). Only numpy is imported at module level; matplotlib is
imported inside the functions, and ``import convlab`` does not import this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.draw import PALETTE
from convlab.via_conv2d import insert_zeros, pad_or_crop

__all__ = [
    "CELL_STYLES",
    "draw_cells",
    "draw_filter_taps",
    "draw_full_correlation",
    "draw_legend",
    "stretched_and_padded",
]

#: How each kind of cell is drawn: fill colour, hatch pattern and legend text.
CELL_STYLES: dict[str, dict[str, Any]] = {
    "input": {"facecolor": PALETTE["input"], "hatch": None, "label": "input x"},
    "output": {"facecolor": PALETTE["output"], "hatch": None, "label": "δy (output gradient)"},
    "filter": {"facecolor": PALETTE["filter"], "hatch": None, "label": "filter"},
    "pad": {"facecolor": PALETTE["pad"], "hatch": "...", "label": "padding zero"},
    "zero": {"facecolor": "white", "hatch": "///", "label": "inserted zero (stride)"},
    "unreached": {"facecolor": "#E8C4DA", "hatch": "xx",
                  "label": "no window reaches it"},
}

_HATCH_EDGE = "#8A8A8A"


def _cell(ax: Any, x0: float, y0: float, kind: str, text: str | None, fontsize: float) -> None:
    """One unit cell whose top-left corner is ``(x0, y0)``."""
    from matplotlib.patches import Rectangle

    style = CELL_STYLES[kind]
    hatched = style["hatch"] is not None
    ax.add_patch(Rectangle((x0, y0 - 1), 1, 1, facecolor=style["facecolor"],
                           alpha=1.0 if hatched else 0.55, edgecolor="none"))
    if hatched:
        ax.add_patch(Rectangle((x0, y0 - 1), 1, 1, fill=False, hatch=style["hatch"],
                               edgecolor=_HATCH_EDGE, linewidth=0))
    ax.add_patch(Rectangle((x0, y0 - 1), 1, 1, fill=False, edgecolor=PALETTE["edge"],
                           linewidth=0.6))
    if text is not None:
        box = {"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none",
               "alpha": 0.85} if hatched else None
        ax.text(x0 + 0.5, y0 - 0.5, text, ha="center", va="center", fontsize=fontsize,
                color="#555555" if hatched else "black", bbox=box)


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"


def _outline(ax: Any, x0: float, y0: float, color: str = PALETTE["highlight"],
             width: float = 2.2) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x0 + 0.06, y0 - 0.94), 0.88, 0.88, fill=False, edgecolor=color,
                           linewidth=width))


def draw_cells(
    ax: Any,
    values: Any,
    kinds: str | Any = "input",
    *,
    origin: tuple[float, float] = (0.0, 0.0),
    label: str | None = None,
    show_values: bool = True,
    fontsize: float = 8,
) -> None:
    """Draw a 2-D array as cells, row 0 at the top, each cell styled by its kind.

    Parameters
    ----------
    ax : matplotlib Axes
    values : array, shape (H, W)
    kinds : str or array of str, shape (H, W)
        Keys of :data:`CELL_STYLES`; one string styles every cell alike.
    origin : (x, y)
        Data coordinates of the grid's top-left corner.
    label : str, optional
        Written above the grid.
    show_values : bool
        Write each value in its cell (for small grids).
    """
    values = np.asarray(values)
    kinds = np.broadcast_to(np.asarray(kinds), values.shape)
    x0, y0 = origin
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            text = _number(values[r, c]) if show_values else None
            _cell(ax, x0 + c, y0 - r, str(kinds[r, c]), text, fontsize)
    if label:
        ax.text(x0 + values.shape[1] / 2, y0 + 0.3, label, ha="center", va="bottom",
                fontsize=fontsize + 1)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_legend(ax: Any, kinds: list[str], *, fontsize: float = 8, **legend: Any) -> None:
    """Add a legend that names each kind of cell in ``kinds``, hatching included."""
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=CELL_STYLES[k]["facecolor"], hatch=CELL_STYLES[k]["hatch"],
              edgecolor=_HATCH_EDGE if CELL_STYLES[k]["hatch"] else PALETTE["edge"],
              alpha=1.0 if CELL_STYLES[k]["hatch"] else 0.55, label=CELL_STYLES[k]["label"])
        for k in kinds
    ]
    options = {"loc": "lower center", "ncol": min(len(handles), 3), "frameon": False,
               "fontsize": fontsize, "bbox_to_anchor": (0.5, -0.02)}
    options.update(legend)
    ax.legend(handles=handles, **options)


def stretched_and_padded(
    dy: Any,
    strides: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Return one channel of ``dy`` zero-stretched and padded, and the kind of each cell.

    Parameters
    ----------
    dy : array, shape (OH, OW)
    strides : (int, int)
        ``s - 1`` zeros go between neighbouring elements.
    pads : ((top, bottom), (left, right))
        Zeros around the stretched array; a negative amount crops, as in the identity.

    Returns
    -------
    values : ndarray, shape (P_h, P_w)
    kinds : ndarray of str, shape (P_h, P_w)
        ``"output"`` where an element of ``dy`` landed, ``"zero"`` for inserted zeros,
        ``"pad"`` for padding.
    """
    dy = np.asarray(dy, dtype=float)[None, :, :, None]
    values = pad_or_crop(insert_zeros(dy, strides), pads)[0, :, :, 0]
    # code each cell -2 (value) or -1 (inserted zero); padding then adds 0s, so +2 gives
    # 0 = value, 1 = inserted zero, 2 = padding
    landed = insert_zeros(np.ones_like(dy), strides)
    codes = pad_or_crop(np.where(landed == 1.0, -2.0, -1.0), pads)[0, :, :, 0] + 2
    kinds = np.array(["output", "zero", "pad"])[codes.astype(int)]
    return values, kinds


def draw_full_correlation(
    ax: Any,
    dy: Any,
    w: Any,
    dx: Any,
    out_index: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    fontsize: float = 8,
) -> None:
    """Draw d_x as one stride-1 conv2d: stretched, padded ``dy``, turned filter, result.

    Parameters
    ----------
    ax : matplotlib Axes
    dy : array, shape (OH, OW)
        One channel of the output gradient.
    w : array, shape (KH, KW)
        The forward filter slice; it is drawn turned by 180 degrees.
    dx : array, shape (H, W)
        The input gradient the correlation produces.
    out_index : (h, v)
        The element of ``dx`` whose window is outlined: it reads the stretched, padded
        ``dy`` at ``(h + d_h*a, v + d_w*b)``.
    strides, dilations : (int, int)
        The forward convolution's.
    pads : ((top, bottom), (left, right))
        The full-correlation padding (negative crops).
    """
    values, kinds = stretched_and_padded(dy, strides, pads)
    turned = np.asarray(w)[::-1, ::-1]
    dx = np.asarray(dx)
    gap = 1.6
    wx0 = values.shape[1] + gap
    dx0 = wx0 + turned.shape[1] + gap
    draw_cells(ax, values, kinds, label="δy, stretched and padded", fontsize=fontsize)
    draw_cells(ax, turned, "filter", origin=(wx0, 0.0), label="w turned 180°",
               fontsize=fontsize)
    draw_cells(ax, dx, "input", origin=(dx0, 0.0), label="δx (result)", fontsize=fontsize)
    h, v = out_index
    for a in range(turned.shape[0]):
        for b in range(turned.shape[1]):
            _outline(ax, v + dilations[1] * b, -(h + dilations[0] * a))
    _outline(ax, dx0 + v, -h)
    ax.set_xlim(-0.5, dx0 + dx.shape[1] + 0.5)
    rows = max(values.shape[0], dx.shape[0])
    ax.set_ylim(-rows - 2.4, 1.6)
    present = [k for k in ("output", "zero", "pad") if (kinds == k).any()]
    draw_legend(ax, [*present, "filter", "input"], fontsize=fontsize)


def draw_filter_taps(
    ax: Any,
    x: Any,
    dy: Any,
    dw: Any,
    tap: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    fontsize: float = 8,
) -> None:
    """Draw d_w as taps that gather: the input cells one filter tap multiplied, and ``dy``.

    Tap ``(a, b)`` of the filter met ``xp[s_h*i + d_h*a, s_w*j + d_w*b]`` in window
    ``(i, j)``, so ``dw[a, b] = sum_ij xp[s_h*i + d_h*a, s_w*j + d_w*b] * dy[i, j]``. The
    gathered input cells are outlined and marked with the ``(i, j)`` of the ``dy`` they
    are multiplied by; rows and columns past the last window are cross-hatched.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (H, W)
        One channel of the (unpadded) input.
    dy : array, shape (OH, OW)
        One channel of the output gradient.
    dw : array, shape (KH, KW)
        The filter gradient for that pair of channels.
    tap : (a, b)
        The filter tap whose sum is drawn.
    strides, dilations, pads
        The forward convolution's; ``pads`` as ``((top, bottom), (left, right))``.
    """
    x, dy, dw = (np.asarray(v, dtype=float) for v in (x, dy, dw))
    (top, _), (left, _) = pads
    xp = np.pad(x, pads)
    kinds = np.full(xp.shape, "pad", dtype=object)
    kinds[top:top + x.shape[0], left:left + x.shape[1]] = "input"
    # the last window ends at s*(O-1) + d*(K-1); input past it is never read
    reach = [strides[k] * (dy.shape[k] - 1) + dilations[k] * (dw.shape[k] - 1) + 1
             for k in (0, 1)]
    for r in range(xp.shape[0]):
        for c in range(xp.shape[1]):
            if kinds[r, c] == "input" and (r >= reach[0] or c >= reach[1]):
                kinds[r, c] = "unreached"
    gap = 1.6
    y0x = xp.shape[1] + gap
    w0x = y0x + dy.shape[1] + gap
    padded = xp.shape != x.shape
    draw_cells(ax, xp, kinds, label="input x, padded" if padded else "input x",
               fontsize=fontsize)
    draw_cells(ax, dy, "output", origin=(y0x, 0.0), label="δy", fontsize=fontsize)
    draw_cells(ax, dw, "filter", origin=(w0x, 0.0), label="δw", fontsize=fontsize)
    a, b = tap
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            r, c = strides[0] * i + dilations[0] * a, strides[1] * j + dilations[1] * b
            _outline(ax, c, -r)
            ax.text(c + 0.5, -r - 0.86, f"δy{i},{j}", ha="center", va="bottom",
                    fontsize=fontsize - 2.5, color=PALETTE["highlight"])
            _outline(ax, y0x + j, -i, color=PALETTE["highlight"], width=1.2)
    _outline(ax, w0x + b, -a)
    ax.set_xlim(-0.5, w0x + dw.shape[1] + 0.5)
    ax.set_ylim(-xp.shape[0] - 2.4, 1.6)
    present = [k for k in ("input", "pad", "unreached") if (kinds == k).any()]
    draw_legend(ax, [*present, "output", "filter"], fontsize=fontsize)
