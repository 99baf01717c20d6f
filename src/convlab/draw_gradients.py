"""Pictures for the gradient chapters: δw as taps that gather, δx as a full correlation.

Every function draws on a matplotlib ``ax``. Cells are told apart by their *kind* as
well as by colour (:data:`convlab.draw.CELL_STYLES`, shared with the explorers): padding
zeros are striped, the zeros that zero insertion adds are dotted, cells no window
reaches are cross-hatched, so the pictures read in greyscale and under colour blindness.
Names follow the book: ``x̃`` the padded input, ``δŷ`` the output gradient ``δy``
stretched by the stride. Only numpy is imported at module level; matplotlib is imported
inside the functions, and ``import convlab`` does not import this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.draw import (
    CELL_STYLES,
    PALETTE,
    X_PADDED,
    _number,
    _outline,
    draw_cells,
    draw_legend,
)
from convlab.via_conv2d import insert_zeros, pad_or_crop

__all__ = [
    "CELL_STYLES",
    "draw_batch_filter_tap",
    "draw_cells",
    "draw_filter_taps",
    "draw_full_correlation",
    "draw_legend",
    "stretched_and_padded",
]

_DOT = "\N{MIDDLE DOT}"
_ROW_GAP = 1.9  # between the rows of a batch's images, in cells


def stretched_and_padded(
    dy: Any,
    strides: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Return one channel of ``dy`` zero-stretched (``δŷ``) and padded, and each cell's kind.

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


def _factor(value: float) -> str:
    """A factor of a written-out product: negative numbers in parentheses."""
    text = _number(value)
    return f"({text})" if value < 0 else text


def _sum_lines(head: str, factors: list[tuple[float, float]], total: float,
               per_line: int = 5, sep: str = " = ") -> list[str]:
    """``head = a·b + c·d + ... = total``, wrapped after every ``per_line`` products."""
    terms = [f"{_factor(a)}{_DOT}{_factor(b)}" for a, b in factors] or ["0"]
    chunks = [" + ".join(terms[k:k + per_line]) for k in range(0, len(terms), per_line)]
    lines = [f"{head}{sep}{chunks[0]}", *(f"    + {chunk}" for chunk in chunks[1:])]
    lines[-1] += f" = {_number(total)}"
    return lines


def _index(letter: str, stride: int, dilation: int, tap: int) -> str:
    """``s·i + d·a`` written for one axis, as ``2i + 1``."""
    scaled = letter if stride == 1 else f"{stride}{letter}"
    return f"{scaled} + {dilation * tap}" if tap else scaled


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
    fontsize: float = 10,
) -> None:
    """Draw δx as one stride-1 conv2d: ``δŷ`` padded, the turned filter, and δx.

    Parameters
    ----------
    ax : matplotlib Axes
    dy : array, shape (OH, OW)
        One channel of the output gradient.
    w : array, shape (KH, KW)
        The forward filter slice; it is drawn turned by 180 degrees.
    dx : array, shape (H, W)
        The input gradient the correlation produces.
    out_index : (p, q)
        The element of δx whose window is outlined: it reads the padded ``δŷ`` at
        ``(p + d_h*a, q + d_w*b)``.
    strides, dilations : (int, int)
        The forward convolution's.
    pads : ((top, bottom), (left, right))
        The full-correlation padding (negative crops).
    """
    values, kinds = stretched_and_padded(dy, strides, pads)
    turned = np.asarray(w)[::-1, ::-1]
    dx = np.asarray(dx)
    gap = 2.0
    wx0 = values.shape[1] + gap
    dx0 = wx0 + turned.shape[1] + gap
    draw_cells(ax, values, kinds, label="δŷ (δy stretched), padded", index_labels=True,
               fontsize=fontsize)
    draw_cells(ax, turned, "filter", origin=(wx0, 0.0), label="w turned 180°",
               fontsize=fontsize)
    draw_cells(ax, dx, "input", origin=(dx0, 0.0), label="δx", index_labels=True,
               fontsize=fontsize)
    p, q = out_index
    for a in range(turned.shape[0]):
        for b in range(turned.shape[1]):
            _outline(ax, q + dilations[1] * b, -(p + dilations[0] * a))
    _outline(ax, dx0 + q, -p)
    ax.set_xlim(-0.9, dx0 + dx.shape[1] + 0.5)
    ax.set_ylim(-max(values.shape[0], dx.shape[0]) - 0.3, 2.3)
    draw_legend(ax, [k for k in ("zero", "pad") if (kinds == k).any()], fontsize=fontsize)


def _input_kinds(x_shape: tuple[int, ...], dy_shape: tuple[int, ...], k_shape: tuple[int, ...],
                 strides: tuple[int, int], dilations: tuple[int, int],
                 pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The kind of each cell of ``x̃``: input, padding, or unreached (past the last window)."""
    kinds = np.pad(np.full(x_shape, "input", dtype=object), pads, constant_values="pad")
    # the last window ends at s*(O-1) + d*(K-1); input past it is never read
    for axis in (0, 1):
        reach = strides[axis] * (dy_shape[axis] - 1) + dilations[axis] * (k_shape[axis] - 1) + 1
        past = [slice(None), slice(None)]
        past[axis] = slice(reach, None)
        view = kinds[tuple(past)]
        view[view == "input"] = "unreached"
    return kinds


def _gathered(ax: Any, xp: np.ndarray, dy: np.ndarray, tap: tuple[int, int], origin_y: float,
              name: str, strides: tuple[int, int], dilations: tuple[int, int],
              fontsize: float) -> list[tuple[float, float]]:
    """Outline the cells of ``x̃`` that ``tap`` meets, each marked with its δy; the pairs.

    The value of each such cell (the text with gid ``name[r,c]``) moves up to make room.
    """
    a, b = tap
    values = {text.get_gid(): text for text in ax.texts if text.get_gid()}
    pairs = []
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            r, c = strides[0] * i + dilations[0] * a, strides[1] * j + dilations[1] * b
            _outline(ax, c, origin_y - r)
            values[f"{name}[{r},{c}]"].set_y(origin_y - r - 0.36)
            ax.text(c + 0.5, origin_y - r - 0.76, f"\N{MULTIPLICATION SIGN}"
                    f"{_number(dy[i, j])}", ha="center", va="center", fontsize=fontsize - 2,
                    color=PALETTE["highlight"], fontweight="bold")
            pairs.append((float(xp[r, c]), float(dy[i, j])))
    return pairs


def _tap_panels(
    ax: Any,
    xs: np.ndarray,
    dys: np.ndarray,
    dw: np.ndarray,
    tap: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
    fontsize: float,
) -> list[list[tuple[float, float]]]:
    """Draw ``x̃[n]`` and ``δy[n]`` for each image ``n``, one row each, and δw at the right."""
    padded = pads != ((0, 0), (0, 0))
    batch = len(xs) > 1
    xp = np.stack([np.pad(x, pads) for x in xs])
    kinds = _input_kinds(xs.shape[1:], dys.shape[1:], dw.shape, strides, dilations, pads)
    gap = 2.0
    y0x = xp.shape[2] + gap
    w0x = y0x + dys.shape[2] + gap
    row_height = xp.shape[1] + _ROW_GAP
    x_name = X_PADDED if padded else "x"
    pairs = []
    for n in range(len(xs)):
        top = -n * row_height
        suffix = f"[{n}]" if batch else ""
        label = f"{x_name}{suffix}" + (", x padded" if padded else "")
        draw_cells(ax, xp[n], kinds, origin=(0.0, top), label=label, index_labels=True,
                   name=f"x{suffix}", fontsize=fontsize)
        draw_cells(ax, dys[n], "output", origin=(y0x, top), label=f"δy{suffix}",
                   index_labels=True, name=f"dy{suffix}", fontsize=fontsize)
        pairs.append(_gathered(ax, xp[n], dys[n], tap, top, f"x{suffix}", strides, dilations,
                               fontsize))
    w_top = -(len(xs) - 1) * row_height / 2
    draw_cells(ax, dw, "filter", origin=(w0x, w_top), label="δw", index_labels=True,
               name="dw", fontsize=fontsize)
    _outline(ax, w0x + tap[1], w_top - tap[0])
    return pairs


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
    fontsize: float = 10,
) -> float:
    """Draw δw as taps that gather: the input cells one filter tap multiplied, and δy.

    Tap ``(a, b)`` of the filter met ``x̃[s_h*i + d_h*a, s_w*j + d_w*b]`` in window
    ``(i, j)``, so ``δw[a, b] = Σ_ij x̃[s_h*i + d_h*a, s_w*j + d_w*b] · δy[i, j]``. The
    gathered input cells are outlined and marked with the δy value they are multiplied
    by, the sum is written out under the grids, and input cells past the last window are
    cross-hatched.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (H, W)
        One channel of the (unpadded) input; with ``pads`` it is drawn as ``x̃``, rows and
        columns numbered from 0 at the padding's first cell.
    dy : array, shape (OH, OW)
        One channel of the output gradient.
    dw : array, shape (KH, KW)
        The filter gradient for that pair of channels (drawn, not computed here).
    tap : (a, b)
        The filter tap whose sum is drawn.
    strides, dilations, pads
        The forward convolution's; ``pads`` as ``((top, bottom), (left, right))``.

    Returns
    -------
    float
        The written-out sum, which should equal ``dw[a, b]``.
    """
    x, dy, dw = (np.asarray(v, dtype=float) for v in (x, dy, dw))
    pairs = _tap_panels(ax, x[None], dy[None], dw, tap, strides, dilations, pads, fontsize)[0]
    total = sum(p * q for p, q in pairs)
    a, b = tap
    x_name = X_PADDED if pads != ((0, 0), (0, 0)) else "x"
    named = [f"{x_name}[{strides[0] * i + dilations[0] * a}, {strides[1] * j + dilations[1] * b}]"
             f"{_DOT}δy[{i}, {j}]" for i, j in np.ndindex(dy.shape)]
    lines = [f"δw[{a}, {b}] = " + " + ".join(named[:4]) + (" + ..." if len(named) > 4 else "")]
    lines += _sum_lines("      ", pairs, total)
    bottom = -x.shape[0] - pads[0][0] - pads[0][1]
    ax.text(-0.9, bottom - 0.3, "\n".join(lines), ha="left", va="top", fontsize=fontsize,
            linespacing=1.5)
    _legend_under(ax, x[None], dy[None], dw, strides, dilations, pads, fontsize)
    ax.set_xlim(-0.9, _right_edge(x, dy, dw, pads) + 0.5)
    ax.set_ylim(bottom - len(lines) * 0.65 - 0.3, 2.4)
    return total


def _legend_under(ax: Any, xs: np.ndarray, dys: np.ndarray, dw: np.ndarray,
                  strides: tuple[int, int], dilations: tuple[int, int],
                  pads: tuple[tuple[int, int], tuple[int, int]], fontsize: float) -> None:
    """Name the patterned cells of ``x̃`` in a legend under the δy and δw grids."""
    kinds = _input_kinds(xs.shape[1:], dys.shape[1:], dw.shape, strides, dilations, pads)
    present = [k for k in ("pad", "unreached") if (kinds == k).any()]
    if not present:
        return
    rows = xs.shape[1] + pads[0][0] + pads[0][1]
    w_bottom = -(len(xs) - 1) * (rows + _ROW_GAP) / 2 - dw.shape[0]
    top = min(-dys.shape[1], w_bottom) - 0.5
    left = xs.shape[2] + pads[1][0] + pads[1][1] + 2.0 - 0.3
    draw_legend(ax, present, fontsize=fontsize, loc="upper left", ncol=1,
                bbox_to_anchor=(left, top), bbox_transform=ax.transData, borderaxespad=0)


def _right_edge(x: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                pads: tuple[tuple[int, int], tuple[int, int]]) -> float:
    """The right edge of :func:`_tap_panels`' grids, in data coordinates."""
    return x.shape[-1] + pads[1][0] + pads[1][1] + 2.0 + dy.shape[-1] + 2.0 + dw.shape[1]


def draw_batch_filter_tap(
    ax: Any,
    x: Any,
    dy: Any,
    dw: Any,
    tap: tuple[int, int],
    *,
    strides: tuple[int, int] = (1, 1),
    dilations: tuple[int, int] = (1, 1),
    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
    fontsize: float = 10,
) -> list[float]:
    """Draw one tap of δw for a batch: each image's gathered products, then their sum.

    ``δw[a, b] = Σ_n Σ_ij x̃[n, s_h*i + d_h*a, s_w*j + d_w*b] · δy[n, i, j]``: every image
    of the batch adds its own gather to the same tap. Each image ``n`` gets a row (its
    ``x̃[n]`` with the gathered cells outlined and marked with their δy value, and its
    ``δy[n]``); δw is drawn once, with the tap outlined, and the sums are written out
    under the grids, one line per image.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array, shape (N, H, W)
        One channel of each (unpadded) input image.
    dy : array, shape (N, OH, OW)
        One channel of each image's output gradient.
    dw : array, shape (KH, KW)
        The filter gradient for that pair of channels, summed over the batch (drawn, not
        computed here).
    tap : (a, b)
        The filter tap whose sum is drawn.
    strides, dilations, pads
        The forward convolution's; ``pads`` as ``((top, bottom), (left, right))``.

    Returns
    -------
    list of float
        Each image's part of the tap; their sum should equal ``dw[a, b]``.
    """
    x, dy, dw = (np.asarray(v, dtype=float) for v in (x, dy, dw))
    pairs = _tap_panels(ax, x, dy, dw, tap, strides, dilations, pads, fontsize)
    parts = [sum(p * q for p, q in image) for image in pairs]
    a, b = tap
    x_name = X_PADDED if pads != ((0, 0), (0, 0)) else "x"
    rows, cols = _index("i", strides[0], dilations[0], a), _index("j", strides[1], dilations[1], b)
    lines = [f"δw[{a}, {b}] = \N{GREEK CAPITAL LETTER SIGMA} over n, i, j of "
             f"{x_name}[n, {rows}, {cols}]{_DOT}δy[n, i, j]"]
    for n, image in enumerate(pairs):
        lines += _sum_lines(f"image n = {n}:", image, parts[n], sep="  ")
    lines.append(f"δw[{a}, {b}] = " + " + ".join(_factor(p) for p in parts)
                 + f" = {_number(sum(parts))}")
    rows = x.shape[1] + pads[0][0] + pads[0][1]
    bottom = -(len(x) - 1) * (rows + _ROW_GAP) - rows
    ax.text(-0.9, bottom - 0.3, "\n".join(lines), ha="left", va="top", fontsize=fontsize,
            linespacing=1.5)
    _legend_under(ax, x, dy, dw, strides, dilations, pads, fontsize)
    ax.set_xlim(-0.9, _right_edge(x, dy, dw, pads) + 0.5)
    ax.set_ylim(bottom - len(lines) * 0.65 - 0.3, 2.4)
    return parts
