"""Checkers for classroom exercises: run a student's function, say what is wrong with it.

Each ``check_<task>(fn)`` calls the student's ``fn`` on a fixed, ordered list of cases
(small single-channel ones first, then several channels, strides, TensorFlow's ``SAME``
with an odd total padding, and a batch of several images), compares every result with
convlab's numpy reference, and returns a :class:`CheckResult`. The result renders as
HTML in a notebook and as text elsewhere; it never raises, so a notebook with unfinished
exercises still runs top to bottom. ``result.raise_if_failed()`` turns a failure into an
``AssertionError`` (for reference solutions that a build must test).

Arrays are float64, NHWC (``[batch, height, width, channels]``); filters are HWIO
(``[height, width, in, out]``) except for ``conv2d_transpose``, whose filter is
``[height, width, out, in]`` as in TensorFlow. ``strides`` is passed as a tuple
``(s_h, s_w)`` and ``padding`` as ``"VALID"`` or ``"SAME"`` (TensorFlow's SAME: an odd
total padding puts the extra row or column after, at the bottom or right).

=============================  ==============================================================
checker                        the student's function
=============================  ==============================================================
``check_rot180``               ``fn(w)``: ``w`` turned 180 degrees in H and W with its channel
                               axes swapped, ``[kh, kw, out, in]``
``check_zero_insertion``       ``fn(dy, strides)``: ``s - 1`` zeros between the elements of
                               ``dy`` along H and W
``check_output_size``          ``fn(in_size, k, stride, dilation, padding)``: the output
                               length along one axis; ``padding`` is ``"VALID"``, ``"SAME"``
                               or ``(before, after)``
``check_conv2d_loops``         ``fn(x, w, strides, padding)``: ``tf.nn.conv2d``, with loops
``check_conv2d_im2col``        ``fn(x, w, strides, padding)``: the same, as im2col and a matmul
``check_grad_filter``          ``fn(x, filter_sizes, dy, strides, padding)``: ``d_w``
``check_grad_input``           ``fn(input_sizes, w, dy, strides, padding)``: ``d_x``
``check_conv2d_transpose``     ``fn(dy, w, output_shape, strides, padding)``, ``w`` as
                               ``[h, w, out, in]``
=============================  ==============================================================

How a diagnosis is made
-----------------------
The smallest failing case is the first one in the list that fails. A student's output
that matches the reference is correct; otherwise it is compared with the outputs of known
wrong variants of the task (computed here by private functions: the rotation forgotten,
the channel swap forgotten, the stride zeros not inserted, ...), never by reading the
student's code. A variant that matches the smallest failing case and at least half of
the cases the student gets wrong names the diagnosis (the one matching most cases wins).
A result of the wrong shape that no variant matches exactly, but whose shape is the one
a known mistake gives, gets that mistake's code. A function that raises on one case and
returns a known mistake's numbers on a later one (the rotated filter without the channel
swap fails loudly when the channel counts differ, silently when they are equal) gets the
mistake's code, with the exception shown.

Diagnosis codes (:data:`DIAGNOSES`):

``ok``
    every case agrees with the reference.
``not_implemented``
    the function raised ``NotImplementedError`` (the stub is still there).
``exception``
    the function raised another exception; the message shows it and the case.
``no_return``
    the function returned ``None``.
``wrong_shape``
    a result of the wrong shape that no known mistake explains.
``wrong_values``
    the right shape, wrong values, and no known mistake explains them.
``no_rotation``
    the filter's channel axes were swapped but it was not turned by 180 degrees.
``no_channel_swap``
    the filter was turned by 180 degrees but its in/out channel axes were not swapped.
``one_axis_flip``
    the filter was flipped along only one of H and W.
``spatial_transpose``
    the filter's H and W axes were transposed instead of turned by 180 degrees.
``flipped_kernel``
    the forward pass turned the filter by 180 degrees: a true convolution, not TF's
    cross-correlation.
``im2col_order``
    the im2col columns and the filter matrix flatten (kh, kw, c) in different orders.
``no_zero_insertion``
    ``s - 1`` zeros were not inserted between the elements of ``dy`` (the stride ignored).
``trailing_zeros``
    zeros were also added after the last element (``s * n`` long, not ``s * (n - 1) + 1``).
``zero_count``
    ``s`` zeros were inserted instead of ``s - 1``.
``strides_swapped``
    the height stride was used along the width and the other way round.
``padding_split``
    SAME's odd extra row or column went before (top/left) instead of after (bottom/right).
``no_padding``
    SAME (or explicit) padding was ignored: the input was used unpadded.
``unreached_rows``
    the rows of ``x`` that no window reached (``a = (i + pads - k) mod s``) got no place.
``batch_not_contracted``
    ``d_w`` did not sum over the batch: the single-image recipe (batch not moved into the
    contraction), only the first image, or the mean instead of the sum.
``stride_not_dilation``
    in ``d_w`` as a convolution, the forward stride was used as the stride instead of as
    the dilation.
``no_crop``
    ``d_w`` was not cropped to the filter size.
``transpose_filter_layout``
    ``conv2d_transpose``'s filter was read as ``[h, w, in, out]`` instead of
    ``[h, w, out, in]``; a ``conv2d_transpose`` computed as a conv2d whose filter was
    turned but not channel-swapped gives the same numbers, so gets this code too.
``no_dilation``
    the output size used the kernel size ``k`` instead of ``d * (k - 1) + 1``.
``dilation_convention``
    dilation counted from 0 (``d = 1`` read as one gap) or the extent taken as ``d * k``.
``rounding``
    floor and ceiling confused (VALID rounds down, SAME rounds up), or no rounding at all.

Examples
--------
>>> import numpy as np
>>> from convlab import exercises
>>> def rot180(w):
...     return w[::-1, ::-1]  # turned, but the channels are not swapped
>>> result = exercises.check_rot180(rot180)
>>> result.passed, result.diagnosis
(False, 'no_channel_swap')
>>> exercises.check_rot180(lambda w: np.transpose(w[::-1, ::-1], (0, 1, 3, 2))).diagnosis
'ok'
"""

from __future__ import annotations

import copy
import html
import numbers
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convlab import tolerance
from convlab.geometry import effective_kernel, output_size, same_padding
from convlab.reference import (
    conv2d,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    conv2d_transpose,
)
from convlab.via_conv2d import insert_zeros, rotate180, swap_in_out

__all__ = [
    "CHECKERS",
    "DIAGNOSES",
    "CheckResult",
    "check_conv2d_im2col",
    "check_conv2d_loops",
    "check_conv2d_transpose",
    "check_grad_filter",
    "check_grad_input",
    "check_output_size",
    "check_rot180",
    "check_zero_insertion",
]

DIAGNOSES: dict[str, str] = {
    "ok": "every case agrees with convlab's reference",
    "not_implemented": "not implemented yet (the function raises NotImplementedError)",
    "exception": "the function raised an exception",
    "no_return": "the function returned None",
    "wrong_shape": "the result has the wrong shape",
    "wrong_values": "the right shape, but wrong values",
    "no_rotation": "the filter was not turned by 180 degrees",
    "no_channel_swap": "the filter was turned, but its in/out channels were not swapped",
    "one_axis_flip": "the filter was flipped along only one of height and width",
    "spatial_transpose": "the filter's height and width were transposed, not turned by 180°",
    "flipped_kernel": "the filter was turned by 180 degrees: a convolution, not a correlation",
    "im2col_order": "im2col columns and filter rows flatten (kh, kw, c) in different orders",
    "no_zero_insertion": "the stride's zeros were not inserted into dy",
    "trailing_zeros": "zeros were added after the last element too",
    "zero_count": "s zeros were inserted instead of s - 1",
    "strides_swapped": "the height stride was used along the width, and the other way round",
    "padding_split": "SAME's odd extra row/column went before instead of after",
    "no_padding": "the padding was ignored",
    "unreached_rows": "the rows of x that no window reached were left out",
    "batch_not_contracted": "d_w does not sum over the batch",
    "stride_not_dilation": "the forward stride was used as d_w's stride, not as its dilation",
    "no_crop": "d_w was not cropped to the filter size",
    "transpose_filter_layout": "the filter was read as [h, w, in, out], not [h, w, out, in]",
    "no_dilation": "the dilation was ignored: k used instead of d*(k-1)+1",
    "dilation_convention": "the dilation was counted from 0, or the extent taken as d*k",
    "rounding": "floor and ceiling confused, or no rounding",
}

_HINTS: dict[str, str] = {
    "not_implemented": "replace the line `raise NotImplementedError` with your code, then run "
                       "the cell again.",
    "exception": "read the error and the case above; print the shapes of your arrays just "
                 "before the line that fails.",
    "no_return": "the function computes something but does not `return` it.",
    "wrong_shape": "compare the shape you return with the expected one, axis by axis "
                   "(NHWC for images, HWIO for filters).",
    "wrong_values": "the shape is right; check the index formula on the smallest case by "
                    "hand, one output element at a time.",
    "no_rotation": "d_x gathers dy through the filter read backwards: turn it by 180° in H "
                   "and W (w[::-1, ::-1]) as well as swapping the channel axes.",
    "no_channel_swap": "the rotated filter must map dy's channels (the forward conv's out) "
                       "to x's (its in): swap the last two axes, "
                       "np.transpose(w, (0, 1, 3, 2)). With one channel, or as many in as "
                       "out, forgetting it gives no error, only wrong numbers.",
    "one_axis_flip": "a 180° turn reverses both spatial axes: w[::-1, ::-1].",
    "spatial_transpose": "transposing H and W is not a 180° turn; reverse both axes "
                         "instead: w[::-1, ::-1].",
    "flipped_kernel": "tf.nn.conv2d is a cross-correlation: y[i, j] sums x[s*i + a, s*j + b] "
                      "* w[a, b] with the filter as it is, not turned.",
    "im2col_order": "flatten each window in the same (kh, kw, c_in) order as "
                    "w.reshape(-1, c_out); with one input channel the mistake does not show.",
    "no_zero_insertion": "with stride s, dy's neighbours are s rows apart in x: insert s - 1 "
                         "zeros between neighbouring rows and columns before the full "
                         "correlation.",
    "trailing_zeros": "zeros go only between elements: a length-n axis becomes s*(n-1) + 1 "
                      "long, not s*n.",
    "zero_count": "stride s leaves s - 1 zeros between two elements (stride 1 inserts none).",
    "strides_swapped": "strides is (s_h, s_w): s_h steps along the rows (axis 1), s_w along "
                       "the columns (axis 2).",
    "padding_split": "TensorFlow's SAME puts the odd extra row/column after: "
                     "before = total // 2, after = total - before.",
    "no_padding": "SAME pads the input with total = max((ceil(i/s) - 1)*s + k - i, 0) zeros "
                  "before any window is taken.",
    "unreached_rows": "with a stride, the last rows of the padded input may lie after the "
                      "last window: a = (i + pad_before + pad_after - k) mod s of them. They "
                      "get zero gradient: pad a more after, so d_x has exactly input_sizes "
                      "rows.",
    "batch_not_contracted": "every image contributes to d_w: sum over the batch. As one "
                            "conv2d, move the batch into the contracted axis: x as "
                            "[C_in, H, W, N] and dy as the filter [OH, OW, N, C_out].",
    "stride_not_dilation": "in d_w = conv2d(x, dy-as-filter), dy's taps are the forward "
                           "stride apart in x: use stride 1 and dilation s (the forward "
                           "stride and dilation trade places).",
    "no_crop": "keep only the first kh x kw taps: the rest of the correlation lies outside "
               "the filter.",
    "transpose_filter_layout": "conv2d_transpose's filter is [h, w, out, in] "
                               "(out = what conv2d_transpose returns): it is the same array "
                               "as the forward conv2d's HWIO filter. Do not swap its axes. "
                               "(Computed as a conv2d, the same numbers come from turning the "
                               "filter by 180° without swapping its channel axes.)",
    "no_dilation": "a filter of k taps with dilation d spans k_eff = d*(k - 1) + 1 positions; "
                   "use k_eff wherever k appears.",
    "dilation_convention": "dilation 1 means contiguous taps (TF, PyTorch, JAX): "
                           "k_eff = d*(k - 1) + 1.",
    "rounding": "VALID: floor((i - k_eff)/s) + 1 (an incomplete window is dropped); SAME: "
                "ceil(i/s). Use integer division: -(-i // s) is ceil.",
}

_SRC = str(Path(__file__).resolve().parent)


# --- the result --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CheckResult:
    """What a checker found.

    Attributes
    ----------
    task : str
        The checker's name, e.g. ``"check_grad_input"``.
    passed : bool
        Every case agrees with the reference.
    diagnosis : str
        One of the codes in :data:`DIAGNOSES`.
    message : str
        The smallest failing case, expected against got (small arrays printed), and a
        hint; or, when passed, what was checked.
    case : int or None
        1-based number of the smallest failing case (None when passed).
    cases : int
        Number of cases in the check.
    """

    task: str
    passed: bool
    diagnosis: str
    message: str
    case: int | None = None
    cases: int = 0
    details: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def headline(self) -> str:
        """One line: the task, passed or not, and the diagnosis."""
        if self.passed:
            return f"{self.task}: passed ({self.cases} of {self.cases} cases)"
        if self.diagnosis == "not_implemented":
            return f"{self.task}: not implemented yet"
        return f"{self.task}: failed [{self.diagnosis}] {DIAGNOSES[self.diagnosis]}"

    def __str__(self) -> str:
        return f"{self.headline}\n{self.message}"

    __repr__ = __str__  # what a console shows: the whole report

    def _repr_html_(self) -> str:
        if self.passed:
            colour, mark = "#2e7d32", "&#10004;"
        elif self.diagnosis == "not_implemented":
            colour, mark = "#757575", "&#8230;"
        else:
            colour, mark = "#c62828", "&#10008;"
        return (
            f'<div class="convlab-check convlab-check-{html.escape(self.diagnosis)}" '
            f'style="border-left: 4px solid {colour}; padding: 0.3em 0.8em; '
            f'margin: 0.4em 0;">'
            f'<div style="color: {colour}; font-weight: bold;">{mark} '
            f"{html.escape(self.headline)}</div>"
            f'<pre style="white-space: pre-wrap; margin: 0.3em 0 0 0; background: none; '
            f'border: none; padding: 0;">{html.escape(self.message)}</pre></div>'
        )

    def raise_if_failed(self) -> CheckResult:
        """Return ``self`` if passed; raise ``AssertionError`` with the text otherwise."""
        if not self.passed:
            raise AssertionError(str(self))
        return self


# --- showing arrays ----------------------------------------------------------------------


def _fmt_array(a: np.ndarray) -> str:
    if a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.abs(a).max() < 1e9:
        a = a.astype(np.int64)
    return np.array2string(a, precision=4, suppress_small=True, max_line_width=88)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def _slice(a: np.ndarray, layout: str, p: int, q: int) -> tuple[str, np.ndarray]:
    """The H x W slice at positions ``p``, ``q`` of the two non-spatial axes."""
    if layout == "hwio":
        return f"[:, :, {p}, {q}]", a[:, :, p, q]
    return f"[{p}, :, :, {q}]", a[p, :, :, q]


def _show(name: str, value: Any, layout: str = "",
          focus: tuple[int, ...] | None = None) -> str:
    """Print ``value`` for a message: 4-D arrays as H x W slices, only a few of them.

    ``focus`` (an index into the array) picks the one slice to show.
    """
    if isinstance(value, str | numbers.Number | tuple) or value is None:
        return f"{name} = {value!r}"
    a = np.asarray(value)
    if a.ndim != 4 or layout not in ("nhwc", "hwio"):
        if a.size <= 64:
            return f"{name} (shape {a.shape}) =\n{_indent(_fmt_array(a))}"
        return f"{name}: shape {a.shape} (too large to print)"
    outer = (0, 3) if layout == "nhwc" else (2, 3)
    pairs = list(np.ndindex(a.shape[outer[0]], a.shape[outer[1]]))
    if focus is not None:
        pairs = [(focus[outer[0]], focus[outer[1]])]
    if a.shape[1 if layout == "nhwc" else 0] * a.shape[2 if layout == "nhwc" else 1] > 100:
        return f"{name}: shape {a.shape} (too large to print)"
    shown = pairs if len(pairs) <= 4 else pairs[:1]
    lines = []
    for p, q in shown:
        where, part = _slice(a, layout, p, q)
        lines.append(f"{name}{where} =\n{_indent(_fmt_array(part))}")
    if len(pairs) > 1 or focus is not None:
        note = ("the slice with the largest difference" if focus is not None else
                f"{len(shown)} of {len(pairs)} slices" if len(shown) < len(pairs) else
                f"all {len(pairs)} slices")
        lines.insert(0, f"{name}: shape {a.shape}; {note}:")
        return "\n".join([lines[0], *(_indent(x, "  ") for x in lines[1:])])
    return lines[0]


# --- cases and tasks ---------------------------------------------------------------------


@dataclass
class _Case:
    label: str                    # the case in one line: shapes, strides, padding
    args: tuple[Any, ...]         # positional arguments of the student's function
    shown: list[tuple[str, Any, str]]  # (name, value, layout) of the inputs to print
    expected: Any


@dataclass
class _Task:
    name: str
    signature: str
    make_cases: Callable[[], list[_Case]]
    variants: list[tuple[str, Callable[..., Any]]]  # (code, wrong function) by priority
    layout: str = "nhwc"          # how to print the result
    scalar: bool = False          # the result is one int (output_size)


def _ints(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Small integers as float64: exact sums, readable when printed."""
    return rng.integers(-4, 5, size=shape).astype(np.float64)


def _counting(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)


# (x shape, w shape HWIO, strides, padding): small first, then channels, SAME, batch
_CONV_CASES: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, int], str]] = [
    ((1, 3, 3, 1), (2, 2, 1, 1), (1, 1), "VALID"),
    ((1, 5, 5, 1), (3, 3, 1, 1), (2, 2), "VALID"),
    ((1, 6, 6, 1), (3, 3, 1, 1), (2, 2), "VALID"),  # the last row is reached by no window
    ((1, 4, 4, 2), (3, 3, 2, 2), (1, 1), "VALID"),  # as many channels in as out
    ((1, 5, 4, 2), (2, 3, 2, 3), (1, 1), "VALID"),  # 2 in, 3 out, a 2 x 3 filter
    ((1, 6, 6, 1), (3, 3, 1, 1), (2, 2), "SAME"),   # total padding 1: (0, 1)
    ((1, 5, 5, 2), (2, 2, 2, 2), (1, 1), "SAME"),   # even filter: (0, 1)
    ((1, 7, 8, 2), (3, 3, 2, 3), (2, 3), "SAME"),   # different strides; W pads (0, 1)
    ((2, 5, 5, 2), (3, 3, 2, 2), (1, 1), "VALID"),  # 2 images, 2 channels in
    ((3, 6, 7, 2), (3, 2, 2, 4), (2, 2), "SAME"),   # 3 images, everything at once
]


def _conv_inputs(seed: int) -> list[tuple[np.ndarray, np.ndarray, tuple[int, int], str,
                                          np.ndarray]]:
    """``(x, w, strides, padding, dy)`` for each of the shared conv cases."""
    rng = np.random.default_rng(seed)
    out = []
    for index, (xs, ws, s, p) in enumerate(_CONV_CASES):
        if index == 0:
            x, w = _counting(xs), _counting(ws)
        else:
            x, w = _ints(rng, xs), _ints(rng, ws)
        y_shape = conv2d(x, w, s, p).shape
        dy = _counting(y_shape) if index == 0 else _ints(rng, y_shape)
        out.append((x, w, s, p, dy))
    return out


def _label(**parts: Any) -> str:
    return ", ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}"
                     for k, v in parts.items())


# --- the known mistakes, computed -----------------------------------------------------------


def _pads(size: int, k: int, s: int, padding: Any, before: bool = False) -> tuple[int, int]:
    """(before, after) padding along one axis; ``before=True`` puts SAME's extra row first."""
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        b, a = same_padding(size, k, s)
        return (a, b) if before else (b, a)
    return (int(padding[0]), int(padding[1]))


def _pad_or_crop(a: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    (t, b), (left, r) = pads
    a = np.pad(a, ((0, 0), (max(t, 0), max(b, 0)), (max(left, 0), max(r, 0)), (0, 0)))
    h, w = a.shape[1:3]
    return a[:, max(-t, 0):h - max(-b, 0), max(-left, 0):w - max(-r, 0)]


def _forward(x: np.ndarray, w: np.ndarray, strides: tuple[int, int], padding: str, *,
             before: bool = False, flip: bool = False, pad: bool = True,
             swap_strides: bool = False) -> np.ndarray:
    s = (strides[1], strides[0]) if swap_strides else strides
    pads = [_pads(x.shape[i + 1], w.shape[i], s[i], padding if pad else "VALID", before)
            for i in (0, 1)]
    return conv2d(x, w[::-1, ::-1] if flip else w, s, [list(p) for p in pads])


def _im2col_cols_cab(x: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                     padding: str) -> np.ndarray:
    """Windows flattened (c, a, b), filter rows (a, b, c)."""
    kh, kw, c_in, c_out = w.shape
    w_eff = w.reshape(c_in, kh, kw, c_out).transpose(1, 2, 0, 3)
    return conv2d(x, w_eff, strides, padding)


def _im2col_rows_cab(x: np.ndarray, w: np.ndarray, strides: tuple[int, int],
                     padding: str) -> np.ndarray:
    """Windows flattened (a, b, c), filter rows (c, a, b)."""
    kh, kw, c_in, c_out = w.shape
    w_eff = w.transpose(2, 0, 1, 3).reshape(kh, kw, c_in, c_out)
    return conv2d(x, w_eff, strides, padding)


def _stretch(dy: np.ndarray, strides: tuple[int, int], *, extra: int = 0,
             trailing: bool = False) -> np.ndarray:
    """Insert ``s - 1 + extra`` zeros between elements (and after the last if trailing)."""
    sh, sw = strides[0] + extra, strides[1] + extra
    n, oh, ow, c = dy.shape
    h = sh * oh if trailing else sh * (oh - 1) + 1
    w = sw * ow if trailing else sw * (ow - 1) + 1
    out = np.zeros((n, h, w, c))
    out[:, ::sh, ::sw] = dy
    return out


def _grad_input(input_sizes: Sequence[int], w: np.ndarray, dy: np.ndarray,
                strides: tuple[int, int], padding: str, *, rotate: bool = True,
                swap: bool = True, zeros: bool = True, before: bool = False,
                unreached: bool = True) -> np.ndarray:
    """``d_x`` as one stride-1 conv2d, with one step optionally done wrong."""
    sizes = (int(input_sizes[1]), int(input_sizes[2]))
    if zeros:
        dy = _stretch(dy, strides)
    pads = []
    for i in (0, 1):
        k, s = w.shape[i], strides[i]
        b, a = _pads(sizes[i], k, s, padding, before)
        rest = (sizes[i] + b + a - k) % s if unreached else 0
        pads.append((k - 1 - b, k - 1 - a + rest))
    kernel = w[::-1, ::-1] if rotate else w
    if swap:
        kernel = kernel.transpose(0, 1, 3, 2)
    return conv2d(_pad_or_crop(dy, pads), kernel, 1, "VALID")


def _grad_filter(x: np.ndarray, filter_sizes: Sequence[int], dy: np.ndarray,
                 strides: tuple[int, int], padding: str, *, before: bool = False,
                 pad: bool = True, contract_batch: bool = True, trade: bool = True,
                 crop: bool = True) -> np.ndarray:
    """``d_w`` as one conv2d of ``x`` with ``dy`` as the filter, one step optionally wrong."""
    kh, kw = int(filter_sizes[0]), int(filter_sizes[1])
    pads = [_pads(x.shape[i + 1], (kh, kw)[i], strides[i], padding if pad else "VALID", before)
            for i in (0, 1)]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    xc = xp.transpose(3, 1, 2, 0) if contract_batch else xp  # the single-image recipe: not
    f = dy.transpose(1, 2, 0, 3)
    if trade:
        r = conv2d(xc, f, 1, "VALID", dilations=strides)
    else:
        r = conv2d(xc, f, strides, "VALID")
    if crop:
        r = r[:, :kh, :kw]
    return r.transpose(1, 2, 0, 3)


def _swap_args(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A ``grad_input``-style variant called with ``conv2d_transpose``'s arguments."""
    def variant(dy: Any, w: Any, output_shape: Any, strides: Any, padding: Any) -> np.ndarray:
        return fn(output_shape, w, dy, strides, padding)
    return variant


# --- running a check ---------------------------------------------------------------------


def _as_result(value: Any, scalar: bool) -> Any:
    if scalar:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return value
        if isinstance(value, np.ndarray) and value.shape == ():
            return value.item()
        raise TypeError(f"expected one int, got {type(value).__name__}: {value!r}")
    return np.asarray(value, dtype=np.float64)


def _agrees(got: Any, ref: Any, scalar: bool) -> bool:
    if got is None or ref is None:
        return False
    if scalar:
        return bool(got == ref)
    if np.shape(got) != np.shape(ref):
        return False
    _, rel = tolerance.errors(got, ref)
    return bool(np.isfinite(rel)) and rel <= tolerance.rtol("float64")


def _shape(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(np.shape(value))


def _where(exc: BaseException) -> str:
    """The last line of the student's own code in the traceback, if any."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    mine = [f for f in frames
            if not f.filename.startswith(_SRC) and "site-packages" not in f.filename]
    if not mine:
        return ""
    f = mine[-1]
    line = f" :  {f.line.strip()}" if f.line else ""
    return f"\n  raised at line {f.lineno} of {f.name}(){line}"


def _run(task: _Task, fn: Callable[..., Any]) -> CheckResult:
    cases = task.make_cases()
    total = len(cases)
    got: list[Any] = []
    first: int | None = None
    first_error: BaseException | None = None
    conversion_error: str | None = None
    for index, case in enumerate(cases):
        try:
            value = fn(*copy.deepcopy(case.args))
        except NotImplementedError as err:
            return _not_implemented(task, cases, index, err)
        except Exception as err:
            got.append(None)
            if first is None:
                first, first_error = index, err
            continue
        if value is None:
            got.append(None)
            if first is None:
                first = index
            continue
        try:
            value = _as_result(value, task.scalar)
        except (TypeError, ValueError) as err:
            got.append(None)
            if first is None:
                first, conversion_error = index, str(err)
            continue
        got.append(value)
        if first is None and not _agrees(value, case.expected, task.scalar):
            first = index
    if first is None:
        return CheckResult(task.name, True, "ok", _passed_message(cases), None, total)

    case = cases[first]
    head = _case_head(task, cases, first)
    if first_error is not None:
        text = f"{type(first_error).__name__}: {first_error}{_where(first_error)}"
        msg = "\n".join(x for x in (head, f"your function raised\n  {text}", _inputs(case)) if x)
        # a mistake that fails loudly on some shapes is often silent on others
        later = [i for i in range(first + 1, total)
                 if got[i] is not None and not _agrees(got[i], cases[i].expected, task.scalar)]
        code = _diagnose(task, cases, got, later[0]) if later else "exception"
        if code in ("wrong_shape", "wrong_values", "exception"):
            msg += f"\nhint: {_HINTS['exception']}"
            return CheckResult(task.name, False, "exception", msg, first + 1, total,
                               {"error": first_error})
        msg += (f"\ncase {later[0] + 1} runs, but returns exactly what this known mistake "
                f"gives: {DIAGNOSES[code]} ({cases[later[0]].label}).\nhint: {_HINTS[code]}")
        return CheckResult(task.name, False, code, msg, first + 1, total,
                           {"error": first_error})
    if got[first] is None:
        if conversion_error is not None:
            msg = "\n".join(x for x in (
            head, f"the result could not be read as {'one int' if task.scalar else 'an array'}:"
            f" {conversion_error}", _inputs(case), f"hint: {_HINTS['wrong_shape']}") if x)
            return CheckResult(task.name, False, "wrong_shape", msg, first + 1, total)
        msg = f"{head}\nyour function returned None.\nhint: {_HINTS['no_return']}"
        return CheckResult(task.name, False, "no_return", msg, first + 1, total)

    code = _diagnose(task, cases, got, first)
    msg = _mismatch_message(task, case, head, got[first], code)
    return CheckResult(task.name, False, code, msg, first + 1, total)


def _variant_output(fn: Callable[..., Any], case: _Case, scalar: bool) -> Any:
    try:
        value = fn(*copy.deepcopy(case.args))
        return None if value is None else _as_result(value, scalar)
    except Exception:  # the mistake cannot even be made on this case
        return None


def _diagnose(task: _Task, cases: list[_Case], got: list[Any], first: int) -> str:
    """Name the known mistake whose outputs match the student's, or a generic code."""
    best: tuple[int, int] | None = None
    best_code = ""
    for order, (code, fn) in enumerate(task.variants):
        if not _agrees(got[first], _variant_output(fn, cases[first], task.scalar), task.scalar):
            continue
        outs = [_variant_output(fn, c, task.scalar) if got[i] is not None else None
                for i, c in enumerate(cases)]
        score = sum(_agrees(got[i], outs[i], task.scalar)
                    for i in range(len(cases)) if got[i] is not None)
        # the mistake must explain most of the cases the student gets wrong, not just one
        wrong = [i for i in range(len(cases)) if got[i] is not None and outs[i] is not None
                 and not _agrees(got[i], cases[i].expected, task.scalar)]
        if 2 * sum(_agrees(got[i], outs[i], task.scalar) for i in wrong) < len(wrong):
            continue
        if best is None or (score, -order) > best:
            best, best_code = (score, -order), code
    if best is not None:
        return best_code
    expected = cases[first].expected
    if task.scalar or _shape(got[first]) == _shape(expected):
        return "wrong_values"
    for code, fn in task.variants:  # a wrong shape that a known mistake gives
        shape = _shape(_variant_output(fn, cases[first], task.scalar))
        if shape is not None and shape != _shape(expected) and shape == _shape(got[first]):
            return code
    return "wrong_shape"


def _case_head(task: _Task, cases: list[_Case], index: int) -> str:
    passed = ("" if index == 0 else
              " (case 1 passes)" if index == 1 else f" (cases 1 to {index} pass)")
    return (f"{task.signature}\n"
            f"smallest failing case: {index + 1} of {len(cases)}{passed}: {cases[index].label}")


def _inputs(case: _Case) -> str:
    if not case.shown:
        return ""
    return "inputs:\n" + "\n".join(_indent(_show(n, v, lay)) for n, v, lay in case.shown)


def _mismatch_message(task: _Task, case: _Case, head: str, got: Any, code: str) -> str:
    lines = [head, _inputs(case)] if case.shown else [head]
    if task.scalar:
        lines.append(f"expected {case.expected}, got {got!r}")
    else:
        if np.shape(got) == np.shape(case.expected):
            diff = np.abs(got - case.expected)
            where = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
            lines.append(_show("expected", case.expected, task.layout, where))
            lines.append(_show("got", got, task.layout, where))
            lines.append(f"largest difference: {_fmt_array(np.array(diff[where]))} at index "
                         f"{where} (expected {_fmt_array(np.array(case.expected[where]))}, "
                         f"got {_fmt_array(np.array(got[where]))})")
        else:
            lines.append(_show("expected", case.expected, task.layout))
            lines.append(_show("got", got, task.layout))
            lines.append(f"expected shape {np.shape(case.expected)}, got {np.shape(got)}")
    if code not in ("wrong_shape", "wrong_values"):
        lines.append(f"diagnosis: your result is what this known mistake gives: "
                     f"{DIAGNOSES[code]}.")
    lines.append(f"hint: {_HINTS[code]}")
    return "\n".join(lines)


def _not_implemented(task: _Task, cases: list[_Case], index: int,
                     err: NotImplementedError) -> CheckResult:
    if index == 0:
        msg = f"{task.signature}\nnot implemented yet: {_HINTS['not_implemented']}"
    else:
        msg = (f"{_case_head(task, cases, index)}\nyour function raised NotImplementedError"
               f"{': ' + str(err) if str(err) else ''}: this case is not handled yet.")
    return CheckResult(task.name, False, "not_implemented", msg, index + 1, len(cases))


def _passed_message(cases: list[_Case]) -> str:
    labels = "\n".join(f"  {i + 1}. {c.label}" for i, c in enumerate(cases))
    return f"all {len(cases)} cases agree with convlab's reference:\n{labels}"


# --- the tasks -------------------------------------------------------------------------------


def _rot180_cases() -> list[_Case]:
    rng = np.random.default_rng(180)
    shapes = [(2, 2, 1, 1), (3, 3, 1, 1), (2, 3, 1, 1), (3, 3, 2, 2), (2, 3, 2, 3), (3, 3, 3, 4)]
    cases = []
    for i, shape in enumerate(shapes):
        w = _counting(shape) if i < 3 else _ints(rng, shape)
        cases.append(_Case(_label(w=shape), (w,), [("w", w, "hwio")],
                           swap_in_out(rotate180(w))))
    return cases


_ROT180 = _Task(
    "check_rot180", "fn(w): w (HWIO) turned 180° in H and W, channels swapped: [kh, kw, out, in]",
    _rot180_cases,
    [
        ("no_rotation", lambda w: w.transpose(0, 1, 3, 2)),
        ("no_channel_swap", lambda w: w[::-1, ::-1]),
        ("one_axis_flip", lambda w: w[::-1].transpose(0, 1, 3, 2)),
        ("one_axis_flip", lambda w: w[:, ::-1].transpose(0, 1, 3, 2)),
        ("one_axis_flip", lambda w: w[::-1]),
        ("one_axis_flip", lambda w: w[:, ::-1]),
        ("spatial_transpose", lambda w: w.transpose(1, 0, 3, 2)),
        ("spatial_transpose", lambda w: w.transpose(1, 0, 2, 3)),
    ],
    layout="hwio",
)


def _zeros_cases() -> list[_Case]:
    rng = np.random.default_rng(0)
    specs = [((1, 3, 3, 1), (2, 2)), ((1, 2, 3, 1), (3, 3)), ((1, 3, 2, 1), (1, 2)),
             ((1, 3, 4, 1), (2, 3)), ((2, 3, 3, 2), (2, 2)), ((2, 2, 2, 3), (1, 1))]
    cases = []
    for i, (shape, s) in enumerate(specs):
        dy = _counting(shape) if i < 4 else _ints(rng, shape)
        cases.append(_Case(_label(dy=shape, strides=s), (dy, s), [("dy", dy, "nhwc")],
                           insert_zeros(dy, s)))
    return cases


_ZEROS = _Task(
    "check_zero_insertion",
    "fn(dy, strides): s - 1 zeros between the elements of dy (NHWC) along H and W",
    _zeros_cases,
    [
        ("no_zero_insertion", lambda dy, s: dy),
        ("trailing_zeros", lambda dy, s: _stretch(dy, s, trailing=True)),
        ("zero_count", lambda dy, s: _stretch(dy, s, extra=1)),
        ("zero_count", lambda dy, s: _stretch(dy, s, extra=-1) if min(s) > 1 else None),
        ("strides_swapped", lambda dy, s: _stretch(dy, (s[1], s[0]))),
    ],
)


def _size_cases() -> list[_Case]:
    specs: list[tuple[int, int, int, int, Any]] = [
        (5, 3, 1, 1, "VALID"), (7, 3, 2, 1, "VALID"), (8, 3, 2, 1, "VALID"),
        (7, 3, 2, 1, "SAME"), (8, 3, 2, 1, "SAME"), (9, 3, 1, 2, "VALID"),
        (10, 3, 3, 2, "SAME"), (10, 3, 2, 1, (1, 2)), (6, 2, 2, 3, (0, 1)),
    ]
    cases = []
    for i, k, s, d, p in specs:
        cases.append(_Case(_label(in_size=i, k=k, stride=s, dilation=d, padding=p),
                           (i, k, s, d, p), [], output_size(i, k, s, p, d)))
    return cases


def _size_formula(i: int, k_eff: int, s: int, padding: Any, valid_ceil: bool = False,
                  same_floor: bool = False, exact: bool = False) -> float:
    if padding == "SAME":
        return i // s if same_floor else -(-i // s)
    b, a = (0, 0) if padding == "VALID" else padding
    span = i + b + a - k_eff
    if exact:
        return span / s + 1
    return (-(-span // s) if valid_ceil else span // s) + 1


_SIZE = _Task(
    "check_output_size",
    "fn(in_size, k, stride, dilation, padding): output length along one axis",
    _size_cases,
    [
        ("no_dilation", lambda i, k, s, d, p: _size_formula(i, k, s, p)),
        ("dilation_convention",
         lambda i, k, s, d, p: _size_formula(i, (d + 1) * (k - 1) + 1, s, p)),
        ("dilation_convention", lambda i, k, s, d, p: _size_formula(i, d * k, s, p)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         valid_ceil=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         same_floor=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         valid_ceil=True, same_floor=True)),
        ("rounding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s, p,
                                                         exact=True)),
        ("no_padding", lambda i, k, s, d, p: _size_formula(i, effective_kernel(k, d), s,
                                                           "VALID")),
    ],
    scalar=True,
)


def _conv_forward_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, _ in _conv_inputs(2):
        cases.append(_Case(_label(x=x.shape, w=w.shape, strides=s, padding=p), (x, w, s, p),
                           [("x", x, "nhwc"), ("w", w, "hwio")], conv2d(x, w, s, p)))
    return cases


_FORWARD_VARIANTS: list[tuple[str, Callable[..., Any]]] = [
    ("flipped_kernel", lambda x, w, s, p: _forward(x, w, s, p, flip=True)),
    ("padding_split", lambda x, w, s, p: _forward(x, w, s, p, before=True)),
    ("no_padding", lambda x, w, s, p: _forward(x, w, s, p, pad=False)),
    ("strides_swapped", lambda x, w, s, p: _forward(x, w, s, p, swap_strides=True)),
    ("im2col_order", _im2col_cols_cab),
    ("im2col_order", _im2col_rows_cab),
]

_LOOPS = _Task(
    "check_conv2d_loops",
    "fn(x, w, strides, padding): tf.nn.conv2d (NHWC, HWIO) with loops",
    _conv_forward_cases, _FORWARD_VARIANTS,
)

_IM2COL = _Task(
    "check_conv2d_im2col",
    "fn(x, w, strides, padding): tf.nn.conv2d (NHWC, HWIO) as im2col and one matmul",
    _conv_forward_cases, _FORWARD_VARIANTS,
)


def _grad_filter_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(3):
        label = _label(x=x.shape, filter_sizes=w.shape, dy=dy.shape, strides=s, padding=p)
        cases.append(_Case(label, (x, w.shape, dy, s, p), [("x", x, "nhwc"), ("dy", dy, "nhwc")],
                           conv2d_backprop_filter(x, w.shape, dy, s, p)))
    return cases


_GRAD_FILTER = _Task(
    "check_grad_filter",
    "fn(x, filter_sizes, dy, strides, padding): d_w, the gradient of conv2d(x, w) for w",
    _grad_filter_cases,
    [
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, contract_batch=False)),
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x[:1], fs, dy[:1], s, p)),
        ("batch_not_contracted",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p) / len(x)),
        ("padding_split", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, before=True)),
        ("no_padding", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, pad=False)),
        ("stride_not_dilation",
         lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, trade=False)),
        ("no_crop", lambda x, fs, dy, s, p: _grad_filter(x, fs, dy, s, p, crop=False)),
    ],
    layout="hwio",
)


def _grad_input_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(4):
        label = _label(input_sizes=x.shape, w=w.shape, dy=dy.shape, strides=s, padding=p)
        cases.append(_Case(label, (x.shape, w, dy, s, p), [("w", w, "hwio"), ("dy", dy, "nhwc")],
                           conv2d_backprop_input(x.shape, w, dy, s, p)))
    return cases


_GRAD_INPUT_VARIANTS: list[tuple[str, Callable[..., Any]]] = [
    ("no_rotation", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, rotate=False)),
    ("no_channel_swap", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, swap=False)),
    ("no_zero_insertion", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, zeros=False)),
    ("padding_split", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, before=True)),
    ("unreached_rows", lambda i, w, dy, s, p: _grad_input(i, w, dy, s, p, unreached=False)),
]

_GRAD_INPUT = _Task(
    "check_grad_input",
    "fn(input_sizes, w, dy, strides, padding): d_x, the gradient of conv2d(x, w) for x",
    _grad_input_cases, _GRAD_INPUT_VARIANTS,
)


def _transpose_cases() -> list[_Case]:
    cases = []
    for x, w, s, p, dy in _conv_inputs(5):
        label = _label(dy=dy.shape, w=w.shape, output_shape=x.shape, strides=s, padding=p)
        cases.append(_Case(label, (dy, w, x.shape, s, p), [("dy", dy, "nhwc"), ("w", w, "hwio")],
                           conv2d_transpose(dy, w, x.shape, s, p)))
    return cases


_TRANSPOSE = _Task(
    "check_conv2d_transpose",
    "fn(dy, w, output_shape, strides, padding): tf.nn.conv2d_transpose, w as [h, w, out, in]",
    _transpose_cases,
    [
        ("transpose_filter_layout",
         lambda dy, w, o, s, p: conv2d_transpose(dy, w.transpose(0, 1, 3, 2), o, s, p)),
        # rotating without the channel swap gives the same numbers as the layout mix-up
        *[(code, _swap_args(fn)) for code, fn in _GRAD_INPUT_VARIANTS
          if code != "no_channel_swap"],
    ],
)


def check_rot180(fn: Callable[[np.ndarray], Any]) -> CheckResult:
    """Check ``fn(w)``: the HWIO filter ``w`` turned 180° in H and W, channels swapped.

    The result is ``[kh, kw, out, in]``: the kernel of ``d_x`` as a convolution.
    """
    return _run(_ROT180, fn)


def check_zero_insertion(fn: Callable[[np.ndarray, tuple[int, int]], Any]) -> CheckResult:
    """Check ``fn(dy, strides)``: ``s - 1`` zeros between the elements of NHWC ``dy``.

    ``strides`` is ``(s_h, s_w)``; the result is ``(N, s_h*(OH-1)+1, s_w*(OW-1)+1, C)``.
    """
    return _run(_ZEROS, fn)


def check_output_size(fn: Callable[[int, int, int, int, Any], Any]) -> CheckResult:
    """Check ``fn(in_size, k, stride, dilation, padding)``: one axis's output length.

    ``padding`` is ``"VALID"``, ``"SAME"`` (TensorFlow's) or ``(before, after)``.
    """
    return _run(_SIZE, fn)


def check_conv2d_loops(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, w, strides, padding)``: ``tf.nn.conv2d`` written with loops.

    ``x`` NHWC, ``w`` HWIO, ``strides`` ``(s_h, s_w)``, ``padding`` ``"VALID"``/``"SAME"``.
    """
    return _run(_LOOPS, fn)


def check_conv2d_im2col(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, w, strides, padding)``: ``tf.nn.conv2d`` as im2col and a matmul.

    Arguments as in :func:`check_conv2d_loops`.
    """
    return _run(_IM2COL, fn)


def check_grad_filter(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(x, filter_sizes, dy, strides, padding)``: ``conv2d_backprop_filter``.

    ``filter_sizes`` is the HWIO shape ``(kh, kw, in, out)``; the result has that shape.
    """
    return _run(_GRAD_FILTER, fn)


def check_grad_input(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(input_sizes, w, dy, strides, padding)``: ``conv2d_backprop_input``.

    ``input_sizes`` is the NHWC shape of ``x``; the result has that shape.
    """
    return _run(_GRAD_INPUT, fn)


def check_conv2d_transpose(fn: Callable[..., Any]) -> CheckResult:
    """Check ``fn(dy, w, output_shape, strides, padding)``: ``tf.nn.conv2d_transpose``.

    ``w`` is ``[h, w, out, in]`` as in TensorFlow (the forward conv2d's HWIO filter);
    the result has shape ``output_shape``.
    """
    return _run(_TRANSPOSE, fn)


CHECKERS: dict[str, Callable[[Callable[..., Any]], CheckResult]] = {
    "rot180": check_rot180,
    "zero_insertion": check_zero_insertion,
    "output_size": check_output_size,
    "conv2d_loops": check_conv2d_loops,
    "conv2d_im2col": check_conv2d_im2col,
    "grad_filter": check_grad_filter,
    "grad_input": check_grad_input,
    "conv2d_transpose": check_conv2d_transpose,
}
