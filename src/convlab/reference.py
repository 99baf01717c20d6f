"""The numpy reference: TensorFlow's four conv2d functions, loop-free.

Arguments and their order are TensorFlow's, so ``tf.nn`` / ``tf.compat.v1.nn`` can be
swapped for ``convlab``. Each function checks and resolves its arguments
(``convlab._checks``), views the arrays as NHWC, and computes the sums of
:mod:`convlab.definitions` with :mod:`convlab._engine`: the same windows and matrix
products, a tile of images or rows at a time, on every core, within a memory budget.

Shapes use NHWC names; with ``data_format="NCHW"`` the arrays are transposed on the
way in and out. Filters are always HWIO: ``[filter_height, filter_width, in_channels,
out_channels]``.

Empty arrays are computed as TensorFlow computes them: a batch, height, width or
out_channels of 0, or a filter longer than the padded input (0 output rows), give a
result of the right shape that is empty or zero (a sum over nothing). The engine never
sees them. Arrays of any byte order are read through a native copy, never changed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convlab import _checks, _engine, definitions
from convlab._engine import _compute

# the window view and the padding, where the chapters have always imported them from
from convlab.definitions import pad_hw as pad_hw
from convlab.definitions import windows as windows

__all__ = [
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "conv2d_loops",
    "conv2d_transpose",
]

Array = NDArray[np.floating[Any]]
IntOrInts = int | list[int] | tuple[int, ...]
Padding = str | list[list[int]] | tuple[tuple[int, int], ...]


def _array(value: ArrayLike, name: str) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as err:
        raise TypeError(
            f"{name} must be an array of floats, got {type(value).__name__}: {err}"
        ) from None
    if a.dtype.kind == "f" and not a.dtype.isnative:  # e.g. '>f4': BLAS wants native
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _zeros(conv: _checks.Conv, nhwc_shape: tuple[int, int, int, int]) -> Array:
    """A result with no terms in its sums, in ``conv``'s layout and dtype."""
    return np.zeros(_checks.from_nhwc(nhwc_shape, conv.data_format), dtype=conv.dtype)


def to_nhwc(a: Any, data_format: str) -> Any:
    """Return an NHWC view of an array laid out as ``data_format``."""
    return a.transpose(0, 2, 3, 1) if data_format == "NCHW" else a


def from_nhwc(a: Any, data_format: str) -> Any:
    """Return an NHWC array laid out as ``data_format``."""
    return a.transpose(0, 3, 1, 2) if data_format == "NCHW" else a


def conv2d(
    input: ArrayLike,
    filters: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute a 2-D convolution (a cross-correlation, as in every DL framework).

    Parameters
    ----------
    input : array, shape (N, H, W, C_in) (NCHW: (N, C_in, H, W))
        The input ``x``.
    filters : array, shape (KH, KW, C_in, C_out)
        The filter ``w`` (HWIO).
    strides, dilations : int or sequence of int
        One int, ``[h, w]``, or TF's 4-int form. Dilation 1 means contiguous taps.
    padding : str or sequence
        ``"VALID"``, ``"SAME"`` (TF's split: the odd extra row/column after), or
        explicit ``[[top, bottom], [left, right]]`` or TF's 4-pair form.
    data_format : {"NHWC", "NCHW"}

    Returns
    -------
    ndarray, shape (N, OH, OW, C_out)
        ``y[n,i,j,k] = sum_{a,b,c} xp[n, s_h*i + d_h*a, s_w*j + d_w*b, c] * w[a,b,c,k]``,
        in the input's dtype.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> w = np.ones((2, 2, 1, 1))
    >>> conv2d(x, w, strides=2, padding="VALID")[0, :, :, 0]
    array([[10., 18.],
           [42., 50.]])
    """
    x, w = _array(input, "input"), _array(filters, "filters")
    conv = _checks.forward(x.shape, x.dtype, w.shape, w.dtype, strides, padding, data_format,
                           dilations)
    if x.size == 0 or math.prod(conv.output_shape) == 0:  # windows of padding alone, or none
        return _zeros(conv, conv.output_shape)
    y = _engine.conv2d(conv, to_nhwc(x, conv.data_format), w)
    return from_nhwc(y, conv.data_format)


def conv2d_loops(
    input: ArrayLike,
    filters: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute ``conv2d`` straight from its definition, one output element at a time.

    Slow on purpose: this is the index formula written as loops, the definition that
    the fast :func:`conv2d` is tested against. Same arguments and result as ``conv2d``.
    """
    x, w = _array(input, "input"), _array(filters, "filters")
    conv = _checks.forward(x.shape, x.dtype, w.shape, w.dtype, strides, padding, data_format,
                           dilations)
    if x.size == 0 or math.prod(conv.output_shape) == 0:
        return _zeros(conv, conv.output_shape)
    x, w = to_nhwc(_compute(x), conv.data_format), _compute(w)
    y = definitions.conv2d_loops(conv, x, w)
    return from_nhwc(y.astype(conv.dtype), conv.data_format)


def conv2d_backprop_input(
    input_sizes: ArrayLike,
    filters: ArrayLike,
    out_backprop: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute the gradient of ``conv2d`` with respect to its input.

    This is the scatter (col2im) form that frameworks use: each output gradient is
    multiplied by the filter and added back into the window it came from. No rotation
    appears here; :func:`convlab.grad_input_via_conv2d` writes the same sum as a
    convolution with the rotated filter.

    Parameters
    ----------
    input_sizes : 4 ints
        Shape of ``x``, in ``data_format`` order. Needed because with strides several
        input sizes give the same output size.
    filters : array, shape (KH, KW, C_in, C_out)
    out_backprop : array, shape (N, OH, OW, C_out)
        The gradient ``dy`` of the loss with respect to ``conv2d``'s output.
    strides, padding, data_format, dilations
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape ``input_sizes``
        ``dx[n,h,v,c] = sum over (i,j,a,b) with s*i + d*a = h + pad, ... of
        dy[n,i,j,k] * w[a,b,c,k]``.
    """
    w, dy = _array(filters, "filters"), _array(out_backprop, "out_backprop")
    conv = _checks.backprop_input(input_sizes, w.shape, w.dtype, dy.shape, dy.dtype, strides,
                                  padding, data_format, dilations)
    if dy.size == 0 or math.prod(conv.input_shape) == 0:
        return _zeros(conv, conv.input_shape)
    dx = _engine.conv2d_backprop_input(conv, w, to_nhwc(dy, conv.data_format))
    return from_nhwc(dx, conv.data_format)


def conv2d_backprop_filter(
    input: ArrayLike,
    filter_sizes: ArrayLike,
    out_backprop: ArrayLike,
    strides: IntOrInts,
    padding: Padding,
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute the gradient of ``conv2d`` with respect to its filter.

    Every filter tap sees the same windows as the forward pass, weighted by the output
    gradient: a contraction over batch and output positions, summed block by block.

    Parameters
    ----------
    input : array, shape (N, H, W, C_in)
    filter_sizes : 4 ints
        ``[KH, KW, C_in, C_out]``.
    out_backprop : array, shape (N, OH, OW, C_out)
    strides, padding, data_format, dilations
        As in :func:`conv2d`.

    Returns
    -------
    ndarray, shape (KH, KW, C_in, C_out)
        ``dw[a,b,c,k] = sum_{n,i,j} xp[n, s_h*i + d_h*a, s_w*j + d_w*b, c] * dy[n,i,j,k]``.
    """
    x, dy = _array(input, "input"), _array(out_backprop, "out_backprop")
    conv = _checks.backprop_filter(x.shape, x.dtype, filter_sizes, dy.shape, dy.dtype, strides,
                                   padding, data_format, dilations)
    if x.size == 0 or dy.size == 0:
        # HWIO in every layout; TF 2.21's CPU kernel leaves this uninitialised
        return np.zeros(conv.filter_shape, dtype=conv.dtype)
    x, dy = to_nhwc(x, conv.data_format), to_nhwc(dy, conv.data_format)
    return _engine.conv2d_backprop_filter(conv, x, dy)


def conv2d_transpose(
    input: ArrayLike,
    filters: ArrayLike,
    output_shape: ArrayLike,
    strides: IntOrInts,
    padding: Padding = "SAME",
    data_format: str = "NHWC",
    dilations: IntOrInts | None = None,
) -> Array:
    """Compute a transposed convolution: ``conv2d_backprop_input`` under other names.

    ``conv2d_transpose(dy, w, x.shape, s, p)`` equals
    ``conv2d_backprop_input(x.shape, w, dy, s, p)``. As in TensorFlow, the filter is
    ``[height, width, output_channels, in_channels]``: the *output* of the transpose is
    the *input* of the forward conv, so this is the same array as ``conv2d``'s HWIO filter.

    Parameters
    ----------
    input : array, shape (N, H_in, W_in, in_channels)
        What is upsampled (the ``dy`` of the forward conv).
    filters : array, shape (KH, KW, output_channels, in_channels)
    output_shape : 4 ints
        Shape of the result, in ``data_format`` order.
    strides, padding, data_format, dilations
        As in :func:`conv2d`; ``padding`` defaults to ``"SAME"`` as in TensorFlow.

    Returns
    -------
    ndarray, shape ``output_shape``
    """
    dy, w = _array(input, "input"), _array(filters, "filters")
    names = {"sizes": "output_shape", "filters": "filters", "dy": "input",
             "layout": "[height, width, output_channels, in_channels]", "last_axis": "in_channels"}
    conv = _checks.backprop_input(output_shape, w.shape, w.dtype, dy.shape, dy.dtype, strides,
                                  padding, data_format, dilations, names=names)
    if dy.size == 0 or math.prod(conv.input_shape) == 0:
        return _zeros(conv, conv.input_shape)
    dx = _engine.conv2d_backprop_input(conv, w, to_nhwc(dy, conv.data_format))
    return from_nhwc(dx, conv.data_format)
