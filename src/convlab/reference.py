"""The numpy reference: TensorFlow's four conv2d functions, loop-free.

Each function follows the same path: check and resolve the arguments, pad, take a
strided window view (no copy), and contract it with one BLAS call. Arguments and their
order are TensorFlow's, so ``tf.nn`` / ``tf.compat.v1.nn`` can be swapped for
``convlab``.

Shapes use NHWC names; with ``data_format="NCHW"`` the arrays are transposed on the
way in and out. Filters are always HWIO: ``[filter_height, filter_width, in_channels,
out_channels]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from convlab import _checks

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
        return np.asarray(value)
    except (ValueError, TypeError) as err:
        raise TypeError(
            f"{name} must be an array of floats, got {type(value).__name__}: {err}"
        ) from None


def _compute(a: np.ndarray) -> np.ndarray:
    """Return ``a`` in the dtype the sums run in: float16 accumulates in float32, as TF does."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def to_nhwc(a: Any, data_format: str) -> Any:
    """Return an NHWC view of an array laid out as ``data_format``."""
    return a.transpose(0, 2, 3, 1) if data_format == "NCHW" else a


def from_nhwc(a: Any, data_format: str) -> Any:
    """Return an NHWC array laid out as ``data_format``."""
    return a.transpose(0, 3, 1, 2) if data_format == "NCHW" else a


def pad_hw(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """Pad the height and width axes of NHWC ``x`` with zeros."""
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def windows(
    xp: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    dilations: tuple[int, int],
) -> np.ndarray:
    """Return every window of padded NHWC ``xp`` as a view.

    Parameters
    ----------
    xp : ndarray, shape (N, Hp, Wp, C)
        The padded input.
    kernel, strides, dilations : (int, int)
        Filter taps, window step and tap step along height and width.

    Returns
    -------
    ndarray, shape (N, OH, OW, KH, KW, C)
        ``windows[n, i, j, a, b, c] == xp[n, s_h*i + d_h*a, s_w*j + d_w*b, c]``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    view = sliding_window_view(xp, span, axis=(1, 2))
    view = view[:, ::sh, ::sw, :, ::dh, ::dw]
    return view.transpose(0, 1, 2, 4, 5, 3)


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
    xp = pad_hw(to_nhwc(_compute(x), conv.data_format), conv.pads)
    y = _conv2d_padded(xp, _compute(w), conv.strides, conv.dilations)
    return from_nhwc(y.astype(conv.dtype, copy=False), conv.data_format)


def _conv2d_padded(
    xp: np.ndarray, w: np.ndarray, strides: tuple[int, int], dilations: tuple[int, int]
) -> np.ndarray:
    """VALID conv2d of padded NHWC ``xp`` with HWIO ``w``: the im2col matrix times ``w``."""
    cols = windows(xp, w.shape[:2], strides, dilations)
    return np.tensordot(cols, w, axes=3)


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
    xp = pad_hw(to_nhwc(_compute(x), conv.data_format), conv.pads)
    w = _compute(w)
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    n_batch, oh, ow, c_out = conv.output_shape
    kh, kw, c_in, _ = w.shape
    y = np.zeros(conv.output_shape, dtype=xp.dtype)
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                for k in range(c_out):
                    total = 0.0
                    for a in range(kh):
                        for b in range(kw):
                            for c in range(c_in):
                                total += xp[n, sh * i + dh * a, sw * j + dw * b, c] * w[a, b, c, k]
                    y[n, i, j, k] = total
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
    return _backprop_input(conv, _compute(w), to_nhwc(_compute(dy), conv.data_format))


def _backprop_input(conv: _checks.Conv, w: np.ndarray, dy: np.ndarray) -> Array:
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    n, oh, ow, _ = dy.shape
    kh, kw, c_in, _ = w.shape
    # cols[n,i,j,a,b,c]: what window (i, j) sends back to its tap (a, b)
    cols = np.tensordot(dy, w, axes=([3], [3]))
    dxp = np.zeros((n, conv.h.padded, conv.w.padded, c_in), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            rows = slice(dh * a, dh * a + sh * (oh - 1) + 1, sh)
            columns = slice(dw * b, dw * b + sw * (ow - 1) + 1, sw)
            dxp[:, rows, columns, :] += cols[:, :, :, a, b, :]
    (top, _), (left, _) = conv.pads
    dx = dxp[:, top:top + conv.h.size, left:left + conv.w.size, :]
    return from_nhwc(dx.astype(conv.dtype), conv.data_format)


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
    gradient: one contraction over batch and output positions.

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
    xp = pad_hw(to_nhwc(_compute(x), conv.data_format), conv.pads)
    cols = windows(xp, conv.filter_shape[:2], conv.strides, conv.dilations)
    dw = np.tensordot(cols, to_nhwc(_compute(dy), conv.data_format), axes=([0, 1, 2], [0, 1, 2]))
    return dw.astype(conv.dtype)


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
    return _backprop_input(conv, _compute(w), to_nhwc(_compute(dy), conv.data_format))
