"""Both gradients of conv2d, computed by conv2d itself.

conv2d is linear in ``x`` and in ``w``, so each gradient is the adjoint of a
linear map, and each adjoint is again a convolution once the arrays are
rearranged:

* ``dw`` correlates the padded input with ``dy`` used as the filter. The batch
  is the axis both sum over, so it moves into the channel ("in") position of
  both, and the forward stride and dilation trade places.
* ``dx`` is the full correlation of ``dy``, zero-stretched by the stride, with
  the filter turned 180 degrees and its in/out channels swapped.

The code below is written once over a handful of array operations
(:class:`Ops`), so the same lines run on numpy's conv2d and on TensorFlow's.

Memory: each identity makes an array of its own, ``G`` bytes, besides those
given and returned (the largest, ``L``): for ``dx`` the zero-stretched ``dy``
padded to the full correlation, for ``dw`` the padded input. Only the
windows that overlap ``x`` enter it (:func:`convlab._memory.windows_on_x`:
the others lie wholly in the padding and give nothing), so its size follows
the data and the filter's span ``K_eff``, not the strides or the padding: at
most ``N (H + K_eff - 1) (W + K_eff - 1) C_out`` numbers for ``dx`` and
``N (H + 2 K_eff - 2) (W + 2 K_eff - 2) C_in`` for ``dw``. The numpy
functions' extra memory stays within ``max(2 max(L, G), 8 MiB) + 2 G + 2 L``
(the engine's bound with ``G`` counted, and the copies the identity makes),
and where ``G`` cannot fit in the memory available they raise a
:class:`MemoryError` saying so.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from convlab import _checks, _memory, reference
from convlab._memory import windows_on_x
from convlab.reference import Array, IntOrInts, Padding

__all__ = [
    "grad_filter_via_conv2d",
    "grad_input_via_conv2d",
    "insert_zeros",
    "rotate180",
    "swap_in_out",
]


class Ops(Protocol):
    """The array operations the identities need, on a backend (NHWC, HWIO)."""

    def conv2d(
        self,
        x: Any,
        w: Any,
        strides: tuple[int, int],
        dilations: tuple[int, int],
    ) -> Any:
        """VALID convolution of NHWC ``x`` with HWIO ``w``."""

    def pad(self, a: Any, pads: list[tuple[int, int]]) -> Any:
        """Zero-pad every axis of ``a`` by ``(before, after)`` amounts >= 0."""

    def transpose(self, a: Any, perm: tuple[int, ...]) -> Any:
        """Permute the axes of ``a``."""

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        """Reshape ``a``."""


class NumpyOps:
    """:class:`Ops` on numpy arrays, with the reference ``conv2d``."""

    def conv2d(
        self,
        x: Any,
        w: Any,
        strides: tuple[int, int],
        dilations: tuple[int, int],
    ) -> Any:
        return reference.conv2d(x, w, strides, "VALID", dilations=dilations)

    def pad(self, a: Any, pads: list[tuple[int, int]]) -> Any:
        return np.pad(a, pads)

    def transpose(self, a: Any, perm: tuple[int, ...]) -> Any:
        # a copy in the new order, as tf.transpose makes: the windows of a
        # transposed view
        # would gather single elements scattered through memory
        return np.ascontiguousarray(np.transpose(a, perm))

    def reshape(self, a: Any, shape: tuple[int, ...]) -> Any:
        return np.reshape(a, shape)


NUMPY = NumpyOps()


def rotate180(w: Any) -> Any:
    """Turn a ``[KH, KW, ...]`` filter by 180 degrees in height and width."""
    return w[::-1, ::-1]


def swap_in_out(w: Any, ops: Ops = NUMPY) -> Any:
    """Swap an HWIO filter's channels: ``[KH, KW, I, O] -> [KH, KW, O, I]``."""
    return ops.transpose(w, (0, 1, 3, 2))


def insert_zeros(dy: Any, strides: tuple[int, int], ops: Ops = NUMPY) -> Any:
    """Insert ``s - 1`` zeros between neighbouring rows and columns of ``dy``.

    Parameters
    ----------
    dy : array, shape (N, OH, OW, C)
    strides : (int, int)

    Returns
    -------
    array, shape (N, s_h*(OH-1) + 1, s_w*(OW-1) + 1, C)
        ``out[n, s_h*i, s_w*j, c] == dy[n, i, j, c]``, zeros elsewhere.
    """
    for axis, s in ((1, strides[0]), (2, strides[1])):
        shape = tuple(int(v) for v in dy.shape)
        if s == 1 or shape[axis] < 2:  # no neighbours: nothing between
            continue
        # give every element s - 1 zeros after it, flatten, drop the zeros
        # after the last
        spread = ops.reshape(dy, (*shape[: axis + 1], 1, *shape[axis + 1 :]))
        pads = [(0, 0)] * 5
        pads[axis + 1] = (0, s - 1)
        spread = ops.pad(spread, pads)
        long = (*shape[:axis], shape[axis] * s, *shape[axis + 1 :])
        keep = [slice(None)] * 4
        keep[axis] = slice(0, s * (shape[axis] - 1) + 1)
        dy = ops.reshape(spread, long)[tuple(keep)]
    return dy


def pad_or_crop(
    a: Any, pads: tuple[tuple[int, int], tuple[int, int]], ops: Ops = NUMPY
) -> Any:
    """Pad the H and W axes of NHWC ``a``; a negative amount crops instead.

    Padding comes first: a crop on one side may reach into the padding of the
    other
    (when every window lies in the forward padding).
    """
    (top, bottom), (left, right) = pads
    a = ops.pad(
        a,
        [
            (0, 0),
            (max(top, 0), max(bottom, 0)),
            (max(left, 0), max(right, 0)),
            (0, 0),
        ],
    )
    h, w = int(a.shape[1]), int(a.shape[2])
    return a[
        :,
        max(-top, 0) : h - max(-bottom, 0),
        max(-left, 0) : w - max(-right, 0),
    ]


def full_padding(
    conv: _checks.Conv,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The padding that turns the stretched ``dy`` into the gather's input.

    Before: ``K_eff - 1 - p_t``. After: ``K_eff - 1 - p_b`` plus the rows at
    the far edge of the padded input that no window reached (``r``, which get
    zero gradient). Likewise for the columns.
    """
    return tuple(  # type: ignore[return-value]
        (
            ax.k_eff - 1 - ax.pad_before,
            ax.k_eff - 1 - ax.pad_after + ax.unreached,
        )
        for ax in (conv.h, conv.w)
    )


def grad_input(conv: _checks.Conv, w: Any, dy: Any, ops: Ops) -> Any:
    """``dx`` of NHWC ``dy`` as one stride-1 conv2d, step by step."""
    conv, dy = windows_on_x(conv, dy, ops)
    stretched = insert_zeros(dy, conv.strides, ops)
    padded = pad_or_crop(stretched, full_padding(conv), ops)
    kernel = swap_in_out(rotate180(w), ops)
    return ops.conv2d(padded, kernel, strides=(1, 1), dilations=conv.dilations)


def grad_filter(conv: _checks.Conv, x: Any, dy: Any, ops: Ops) -> Any:
    """``dw`` of NHWC ``x`` and ``dy`` as one conv2d, step by step."""
    conv, dy = windows_on_x(conv, dy, ops)
    xp = pad_or_crop(x, conv.pads, ops)
    x_chwn = ops.transpose(
        xp, (3, 1, 2, 0)
    )  # batch -> the contracted "in" axis
    dy_hwio = ops.transpose(
        dy, (1, 2, 0, 3)
    )  # [OH, OW, N, C_out]: dy is the filter
    dw = ops.conv2d(
        x_chwn, dy_hwio, strides=conv.dilations, dilations=conv.strides
    )
    kh, kw = conv.filter_shape[:2]
    return ops.transpose(
        dw[:, :kh, :kw, :], (1, 2, 0, 3)
    )  # [C_in, KH, KW, C_out] -> HWIO


def grad_input_via_conv2d(
    input_sizes: ArrayLike,
    filters: ArrayLike,
    out_backprop: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute ``conv2d_backprop_input`` with ``conv2d`` alone.

    Steps: keep the elements of ``out_backprop`` whose windows overlap the
    input (the others lie wholly in the padding); insert ``s - 1`` zeros
    between them; pad to the full correlation (crop where the forward padding
    exceeds the kernel); turn the filter 180 degrees and swap its in/out
    channels; conv2d with stride 1 and the forward dilation, VALID. Zero-size
    arrays give zeros, as in TensorFlow.

    Parameters and result as :func:`convlab.conv2d_backprop_input`.
    """
    w, dy = (
        reference._array(filters, "filters"),
        reference._array(out_backprop, "out_backprop"),
    )
    conv = _checks.backprop_input(
        input_sizes,
        w.shape,
        w.dtype,
        dy.shape,
        dy.dtype,
        strides,
        padding,
        data_format,
        dilations,
    )
    shape = _checks.from_nhwc(conv.input_shape, conv.data_format)
    if 0 in (*shape, w.size, dy.size):  # no sum to do: zeros, as in TF
        return np.zeros(shape, conv.dtype)
    _require_input_identity(conv)
    dy_nhwc = reference.to_nhwc(reference._compute(dy), conv.data_format)
    dx = grad_input(conv, reference._compute(w), dy_nhwc, NUMPY)
    return reference.from_nhwc(dx.astype(conv.dtype), conv.data_format)


def grad_filter_via_conv2d(
    input: ArrayLike,
    filter_sizes: ArrayLike,
    out_backprop: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute ``conv2d_backprop_filter`` with ``conv2d`` alone.

    Steps: keep the elements of ``out_backprop`` whose windows overlap the
    input; pad ``input`` as the forward pass does, from the first of those
    windows to the end of the last; view it as ``[C_in, H, W, N]`` and
    ``out_backprop`` as a ``[OH, OW, N, C_out]`` filter, so the batch is
    summed over; conv2d with stride = forward dilation and dilation = forward
    stride, VALID; crop to the kernel size and view the result as HWIO.
    Zero-size arrays give zeros, as in TensorFlow.

    Parameters and result as :func:`convlab.conv2d_backprop_filter`.
    """
    x, dy = (
        reference._array(input, "input"),
        reference._array(out_backprop, "out_backprop"),
    )
    conv = _checks.backprop_filter(
        x.shape,
        x.dtype,
        filter_sizes,
        dy.shape,
        dy.dtype,
        strides,
        padding,
        data_format,
        dilations,
    )
    if 0 in (*conv.filter_shape, x.size, dy.size):  # zeros, as in TF
        return np.zeros(conv.filter_shape, conv.dtype)
    _require_filter_identity(conv)
    x_nhwc = reference.to_nhwc(reference._compute(x), conv.data_format)
    dy_nhwc = reference.to_nhwc(reference._compute(dy), conv.data_format)
    return grad_filter(conv, x_nhwc, dy_nhwc, NUMPY).astype(conv.dtype)


def _compute_bytes(conv: _checks.Conv) -> int:
    """Bytes of a number as the identities compute it (float16 in float32)."""
    return max(conv.dtype.itemsize, 4)


def _require_input_identity(conv: _checks.Conv) -> None:
    """Fail fast where the d_x identity's arrays cannot fit in memory.

    It holds the zero-stretched ``dy``, ``s*(O - 1) + 1`` rows (``s*O``
    while they are being stretched), and the gather input ``x'``: with only
    the windows on ``x`` (:func:`convlab._memory.on_x`), ``x'`` has
    ``H + K_eff - 1`` rows whatever the stride and padding.
    """
    crop = _memory.geometry_on_x(conv)
    n, h, w, c_in = conv.input_shape
    c_out = conv.filter_shape[3]
    gather = (n, h + crop.h.k_eff - 1, w + crop.w.k_eff - 1, c_out)
    rows, columns = ((ax.stride * (ax.out - 1) + 1, ax.stride * ax.out)
                     if ax.out > 1 else (1, 1) for ax in (crop.h, crop.w))
    stretched = n * rows[0] * columns[0] * c_out
    stretching = n * rows[0] * columns[1] * c_out
    needed = (math.prod(gather) + stretched + stretching
              + 2 * n * h * w * c_in) * _compute_bytes(conv)
    _memory.require(
        needed,
        f"grad_input_via_conv2d's out_backprop, zero-stretched "
        f"(stride - 1 zeros between neighbours) and padded to the full "
        f"correlation (shape {gather}: H + K_eff - 1 rows, W + K_eff - 1 "
        f"columns, the filter spanning K_eff = {_spans(crop)})",
        "conv2d_backprop_input computes the same gradient without it")


def _require_filter_identity(conv: _checks.Conv) -> None:
    """Fail fast where the d_w identity's arrays cannot fit in memory.

    It holds the padded input twice (as it is and as ``[C_in, H, W, N]``):
    with only the windows on ``x``, at most ``H + 2*(K_eff - 1)`` rows.
    """
    crop = _memory.geometry_on_x(conv)
    n, _, _, c_in = conv.input_shape
    padded = (n, crop.h.padded, crop.w.padded, c_in)
    _memory.require(
        2 * math.prod(padded) * _compute_bytes(conv),
        f"grad_filter_via_conv2d's padded input (shape {padded}, twice: "
        f"from the first window on x to the end of the last, the filter "
        f"spanning K_eff = {_spans(crop)})",
        "conv2d_backprop_filter computes the same gradient without it")


def _spans(conv: _checks.Conv) -> str:
    """The filter's span, ``'5 x 3'`` (with the dilations, if any)."""
    spans = f"{conv.h.k_eff} x {conv.w.k_eff}"
    if conv.dilations == (1, 1):
        return spans
    return f"{spans} at dilations {conv.dilations[0]} x {conv.dilations[1]}"
