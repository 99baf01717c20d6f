"""The numpy reference: TensorFlow's four conv2d functions, loop-free.

Each function follows the same path: check and resolve the arguments, pad, take a
strided window view (no copy), and contract it with a BLAS matrix product, a block of
images or rows at a time. Arguments and their order are TensorFlow's, so ``tf.nn`` /
``tf.compat.v1.nn`` can be swapped for ``convlab``.

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


# Memory and speed. The window view costs nothing, but BLAS wants contiguous matrices, and
# the windows as a matrix (im2col) hold KH*KW copies of the input. So each function works on
# a block of images, and of output rows, at a time: the copies of a block stay within a
# budget the size of the largest array it is given or returns (256 KiB to 4 MiB), and its
# extra memory within about twice that, whatever the kernel. The blocks are large enough
# to keep BLAS near its peak.
_MIN_BLOCK, _MAX_BLOCK = 1 << 18, 1 << 22


def _budget(*nbytes: int) -> int:
    """Bytes one block's copies may take, for arrays of ``nbytes`` bytes."""
    return min(max(*nbytes, _MIN_BLOCK), _MAX_BLOCK)


def _blocks(count: int, unit: int, budget: int) -> list[slice]:
    """Cut ``range(count)`` into slices of ``budget`` bytes at ``unit`` bytes each (>= 1)."""
    step = max(1, budget // max(unit, 1))
    return [slice(start, min(start + step, count)) for start in range(0, count, step)]


def _image_bytes(conv: _checks.Conv, itemsize: int) -> int:
    """Bytes of one padded input image or of its im2col rows, whichever is larger."""
    kh, kw, c_in, _ = conv.filter_shape
    return max(conv.h.padded * conv.w.padded, conv.h.out * conv.w.out * kh * kw) * c_in * itemsize


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
    """Pad the height and width axes of NHWC ``x`` with zeros (``x`` itself if no padding)."""
    if pads == ((0, 0), (0, 0)):
        return x
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
    x, w = to_nhwc(x, conv.data_format), _compute(w)
    y = np.empty(conv.output_shape, dtype=conv.dtype)
    # every BLAS call packs the whole filter matrix: blocks of twice its size amortise that
    budget = _budget(x.nbytes, y.nbytes, 2 * w.nbytes)
    for n in _blocks(len(x), _image_bytes(conv, w.itemsize), budget):
        xp = pad_hw(_compute(x[n]), conv.pads)
        _conv2d_padded(xp, w, conv.strides, conv.dilations, out=y[n], budget=budget)
    return from_nhwc(y, conv.data_format)


def _conv2d_padded(
    xp: np.ndarray,
    w: np.ndarray,
    strides: tuple[int, int],
    dilations: tuple[int, int],
    out: np.ndarray | None = None,
    budget: int = _MAX_BLOCK,
) -> np.ndarray:
    """VALID conv2d of padded NHWC ``xp`` with HWIO ``w``: windows times filter, by blocks.

    Each block of windows, reshaped to one row per output position, is a block of the
    im2col matrix (reshaping copies it); times ``w`` as a ``(KH*KW*C_in, C_out)`` matrix it
    gives those outputs. The result goes into ``out`` when given, cast to its dtype.
    """
    cols = windows(xp, w.shape[:2], strides, dilations)
    c_out = w.shape[3]
    y = np.empty((*cols.shape[:3], c_out), np.result_type(xp, w)) if out is None else out
    w_matrix = w.reshape(-1, c_out)  # rows in (a, b, c) order, as in the windows
    row = cols[0, 0].size * cols.itemsize  # im2col bytes of one output row of one image
    # a block is whole images or rows of one image, so y[n, i] is contiguous: a view
    for n in _blocks(len(cols), row * cols.shape[1], budget):
        for i in _blocks(cols.shape[1], row * len(cols[n]), budget):
            np.matmul(cols[n, i].reshape(-1, len(w_matrix)), w_matrix,
                      out=y[n, i].reshape(-1, c_out))
    return y


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
    return _backprop_input(conv, _compute(w), to_nhwc(dy, conv.data_format))


def _backprop_input(conv: _checks.Conv, w: np.ndarray, dy: np.ndarray) -> Array:
    """Scatter ``dy`` times each filter tap into the padded input; crop the padding."""
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    n_batch, oh, ow, c_out = dy.shape
    kh, kw, c_in, _ = w.shape
    (top, _), (left, _) = conv.pads
    dx = np.empty(conv.input_shape, dtype=conv.dtype)
    image = (conv.h.padded * conv.w.padded + oh * ow) * c_in * w.itemsize  # dxp + one tap
    blocks = _blocks(n_batch, image, _budget(dy.nbytes, w.nbytes, dx.nbytes))
    padded = np.empty((len(dy[blocks[0]]), conv.h.padded, conv.w.padded, c_in), dtype=w.dtype)
    for n in blocks:
        dy_n = _compute(dy[n])
        dy_rows = dy_n.reshape(-1, c_out)  # one row per output position
        dxp = padded[:len(dy_n)]
        dxp.fill(0)
        for a, b in np.ndindex(kh, kw):
            # tap (a, b) of window (i, j) sits on padded cell (s_h*i + d_h*a, s_w*j + d_w*b)
            rows = slice(dh * a, dh * a + sh * (oh - 1) + 1, sh)
            columns = slice(dw * b, dw * b + sw * (ow - 1) + 1, sw)
            dxp[:, rows, columns, :] += (dy_rows @ w[a, b].T).reshape(len(dy_n), oh, ow, c_in)
        dx[n] = dxp[:, top:top + conv.h.size, left:left + conv.w.size, :]
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
    x, dy = to_nhwc(x, conv.data_format), to_nhwc(dy, conv.data_format)
    kh, kw, c_in, c_out = conv.filter_shape
    # rows (a, b, c) as in the windows; float16 sums in float32
    dw = np.zeros((kh * kw * c_in, c_out), dtype=_compute(dy[:0]).dtype)
    budget = _budget(x.nbytes, dy.nbytes, dw.nbytes)
    for n in _blocks(len(x), _image_bytes(conv, dw.itemsize), budget):
        xp = pad_hw(_compute(x[n]), conv.pads)
        cols, dy_n = windows(xp, (kh, kw), conv.strides, conv.dilations), _compute(dy[n])
        row = cols[0, 0].size * cols.itemsize  # im2col bytes of one output row of one image
        for i in _blocks(cols.shape[1], row * len(cols), budget):
            # a block of the im2col matrix, transposed, times the same rows of dy (numpy's
            # matmul cannot add into its output, so each block's product is a temporary)
            dw += cols[:, i].reshape(-1, len(dw)).T @ dy_n[:, i].reshape(-1, c_out)
    return dw.reshape(conv.filter_shape).astype(conv.dtype, copy=False)


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
    return _backprop_input(conv, _compute(w), to_nhwc(dy, conv.data_format))
