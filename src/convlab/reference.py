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

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from convlab import _checks, _parallel

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
# the windows as a matrix (im2col) hold KH*KW copies of the input. So the output is cut into
# tiles, shared among the cores (convlab._parallel): each thread copies a tile's windows into
# im2col rows (from its padded input rows, or tap by tap from x: _tile_im2col) and
# multiplies them, a part at a time. A part is up to 2 MiB, to stay in the core's cache, or
# the filter matrix's size when that is larger, because BLAS packs the whole filter matrix
# for every product. All threads' copies together stay within twice the largest array
# given or returned.
_TILE_BYTES = 2 << 20
_TILES_PER_THREAD = 2
_MIN_BLOCK, _MAX_BLOCK = 1 << 16, 1 << 40  # the limits of any budget (tests narrow them)


def _allowance(*nbytes: int, threads: int = 0) -> int:
    """Bytes of copies each of ``threads`` (default: all) may hold, for arrays of ``nbytes``."""
    return min(max(2 * max(nbytes) // (threads or _parallel.threads()), _MIN_BLOCK), _MAX_BLOCK)


def _blocks(count: int, unit: int, budget: int) -> list[slice]:
    """Cut ``range(count)`` into near-equal slices of at most ``budget`` bytes (>= 1 item)."""
    step = max(1, budget // max(unit, 1))
    parts = -(-count // step)
    cuts = [count * k // parts for k in range(parts + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(cuts)]


Tile = tuple[slice, slice]


def _cut(n_images: int, n_rows: int, rows: int) -> list[Tile]:
    """Cut an (image, row) grid into pieces of at most ``rows`` rows (>= 1).

    A piece is whole images when an image fits, else rows of one image, so that each
    piece of an NHWC array is contiguous.
    """
    if rows >= n_rows:
        return [(n, slice(0, n_rows)) for n in _blocks(n_images, n_rows, rows)]
    return [(slice(n, n + 1), part) for n in range(n_images) for part in _blocks(n_rows, 1, rows)]


def _tiles(conv: _checks.Conv, channels: int, allowance: int) -> list[Tile]:
    """Tiles of the output for the threads to share.

    ``_TILES_PER_THREAD`` or more per thread where the output has the rows (a core that
    the machine slows down then does fewer; fewer, larger tiles hand work between threads
    less often), each reading at most ``_TILE_BYTES`` of padded input with ``channels``
    channels, and leaving room in the allowance for one image's im2col part.
    """
    (kh, kw), n_images, n_rows = conv.filter_shape[:2], conv.output_shape[0], conv.h.out
    band_row = conv.strides[0] * conv.w.padded * channels * 4  # float32 bytes per output row
    image = conv.h.padded * conv.w.padded * channels * 4  # an image's padded rows
    part = min(_TILE_BYTES, n_rows * conv.w.out * kh * kw * channels * 4)  # its im2col part
    budget = min(_TILE_BYTES, allowance - part)
    wanted = -(-n_images * n_rows // (_TILES_PER_THREAD * _parallel.threads()))
    if wanted >= n_rows and budget >= image:  # whole images
        rows = n_rows * min(budget // image, wanted // n_rows)
    else:  # rows of one image
        rows = min(budget // band_row, wanted)
    return _cut(n_images, n_rows, max(rows, 1))


def _padded_rows(
    x: np.ndarray, conv: _checks.Conv, rows: slice, scratch: _parallel.Scratch
) -> np.ndarray:
    """The rows of the padded input that output rows ``rows`` read, in the compute dtype.

    Equal to ``pad_hw(x, conv.pads)[:, lo:hi]`` for the first and last padded rows the
    windows of ``rows`` touch, without padding (copying) the rest of ``x``.
    """
    (sh, _), (dh, _) = conv.strides, conv.dilations
    (top, _), (left, _) = conv.pads
    lo = sh * rows.start - top  # in the rows of x: negative inside the top padding
    hi = sh * (rows.stop - 1) + dh * (conv.filter_shape[0] - 1) + 1 - top
    a = min(max(lo, 0), conv.h.size)  # the rows of x inside, a:b (maybe none)
    b = max(min(hi, conv.h.size), a)
    if (a, b, conv.w.padded) == (lo, hi, conv.w.size):  # no padding in these rows
        return _compute(x[:, lo:hi])
    band = scratch.empty("band", (len(x), hi - lo, conv.w.padded, x.shape[3]),
                         _compute(x[:0]).dtype)
    inside = band[:, a - lo:b - lo]
    band[:, :a - lo] = inside[:, :, :left] = inside[:, :, left + conv.w.size:] = 0
    band[:, b - lo:] = 0
    inside[:, :, left:left + conv.w.size] = x[:, a:b]
    return band


def _im2col(cols: np.ndarray, scratch: _parallel.Scratch) -> np.ndarray:
    """Windows ``(N, OH, OW, KH, KW, C)`` as a matrix, one row per output position (a copy)."""
    matrix = scratch.empty("im2col", cols.shape, cols.dtype)
    np.copyto(matrix, cols)
    return matrix.reshape(-1, cols[0, 0, 0].size)


def _taps(x: np.ndarray, conv: _checks.Conv, rows: slice, scratch: _parallel.Scratch) -> np.ndarray:
    """The im2col rows of output rows ``rows`` of images ``x``, copied tap by tap from ``x``.

    Tap ``(a, b)`` of window ``(i, j)`` is ``x[s_h*i + d_h*a - top, s_w*j + d_w*b - left]``:
    for each tap, ``x`` shifted and subsampled where the windows reach inside it
    (``Axis.inside``), and zeros where they reach into the padding.
    """
    (kh, kw), c = conv.filter_shape[:2], x.shape[3]
    h, w = conv.h, conv.w
    n_rows = rows.stop - rows.start
    cols = scratch.empty("im2col", (len(x), n_rows, w.out, kh, kw, c),
                         _compute(x[:0]).dtype)
    inside_h = [[min(max(i, rows.start), rows.stop) - rows.start for i in h.inside(a)]
                for a in range(kh)]
    inside_w = [w.inside(b) for b in range(kw)]
    for a, b in np.ndindex(kh, kw):
        (i0, i1), (j0, j1) = inside_h[a], inside_w[b]
        tap = cols[:, :, :, a, b]
        if i0 > 0 or i1 < n_rows:  # rows whose tap is in the top or bottom padding
            tap[:, :i0] = tap[:, i1:] = 0
        if j0 > 0 or j1 < w.out:  # columns whose tap is in the left or right padding
            tap[:, i0:i1, :j0] = tap[:, i0:i1, j1:] = 0
        if i1 > i0 and j1 > j0:
            top = h.stride * (rows.start + i0) + h.dilation * a - h.pad_before
            left = w.stride * j0 + w.dilation * b - w.pad_before
            tap[:, i0:i1, j0:j1] = x[:, top:top + h.stride * (i1 - i0 - 1) + 1:h.stride,
                                     left:left + w.stride * (j1 - j0 - 1) + 1:w.stride]
    return cols.reshape(-1, kh * kw * c)


def _tile_im2col(
    x: np.ndarray, conv: _checks.Conv, tile: Tile, wanted: int, allowance: int,
    scratch: _parallel.Scratch,
) -> Iterator[tuple[Tile, np.ndarray]]:
    """A tile's im2col matrix, a part at a time: ``(part, matrix)``, ``part`` within the tile.

    A part takes about ``wanted`` bytes, and all copies at most ``allowance``.

    Two ways to the same matrix. Padding the tile's input rows first lets each window row
    be copied as one run of ``KW*C_in`` numbers (when the width dilation is 1), at the
    price of the padded copy, ``s_h*s_w / (KH*KW)`` of the im2col copy. Copying each tap
    straight from ``x`` copies runs of ``C_in`` numbers but nothing else: it is the way
    when the padded copy would be as large as the im2col copy (1x1 filters, strides as
    large as the filter).
    """
    n, rows = tile
    kh, kw, c_in, _ = conv.filter_shape
    row = conv.w.out * kh * kw * c_in * 4  # im2col bytes of one output row
    if conv.strides[0] * conv.strides[1] < kh * kw:
        xp = _padded_rows(x[n], conv, rows, scratch)
        cols = windows(xp, (kh, kw), conv.strides, conv.dilations)
        for m, r in _cut(len(cols), cols.shape[1], min(wanted, allowance - xp.nbytes) // row):
            yield (m, r), _im2col(cols[m, r], scratch)
    else:
        images = x[n]
        for m, r in _cut(len(images), rows.stop - rows.start, min(wanted, allowance) // row):
            part = range(rows.start, rows.stop)[r]
            yield (m, r), _taps(images[m], conv, slice(part.start, part.stop), scratch)


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
    w_matrix = w.reshape(-1, w.shape[3])  # rows in (a, b, c) order, as in the windows
    if w.shape[:2] == (1, 1) and conv.strides == (1, 1) and conv.pads == ((0, 0), (0, 0)):
        # the windows are the pixels: x is already the im2col matrix, one product does it
        np.matmul(_compute(x).reshape(-1, len(w_matrix)), w_matrix, out=y.reshape(-1, w.shape[3]))
    else:
        allowance = _allowance(x.nbytes, y.nbytes, w.nbytes)
        _parallel.run(lambda tile, scratch: _conv2d_tile(x, w, conv, y, tile, allowance, scratch),
                      _tiles(conv, w.shape[2], allowance))
    return from_nhwc(y, conv.data_format)


def _conv2d_tile(
    x: np.ndarray, w: np.ndarray, conv: _checks.Conv, y: np.ndarray, tile: Tile,
    allowance: int, scratch: _parallel.Scratch,
) -> None:
    """Write one tile of ``conv2d(x, w)`` into ``y``: windows of the padded rows times ``w``.

    A part of the tile's windows, copied to one row per output position, is a block of
    the im2col matrix; times ``w`` as a ``(KH*KW*C_in, C_out)`` matrix it gives those
    outputs, cast to ``y``'s dtype.
    """
    n, rows = tile
    w_matrix = w.reshape(-1, w.shape[3])
    out = y[n, rows]
    # BLAS packs the whole filter matrix for every product: parts as large amortise that
    wanted = max(_TILE_BYTES, w_matrix.nbytes)
    for (m, r), im2col in _tile_im2col(x, conv, tile, wanted, allowance, scratch):
        np.matmul(im2col, w_matrix, out=out[m, r].reshape(-1, w.shape[3]))


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
    n_batch, oh, ow, _ = dy.shape
    dx = np.empty(conv.input_shape, dtype=conv.dtype)
    image = (conv.h.padded * conv.w.padded + oh * ow) * w.shape[2] * w.itemsize  # dxp + a tap
    per_block = min(_allowance(dy.nbytes, w.nbytes, dx.nbytes) // image,
                    -(-n_batch // (4 * _parallel.threads())))  # four blocks or more a thread
    blocks = _blocks(n_batch, 1, max(per_block, 1))
    _parallel.run(lambda block, scratch: _backprop_input_block(conv, w, dy, dx, block, scratch),
                  blocks)
    return from_nhwc(dx, conv.data_format)


def _backprop_input_block(
    conv: _checks.Conv, w: np.ndarray, dy: np.ndarray, dx: np.ndarray, n: slice,
    scratch: _parallel.Scratch,
) -> None:
    """Write ``dx[n]``: scatter each tap's products into the padded images, then crop."""
    (sh, sw), (dh, dw) = conv.strides, conv.dilations
    _, oh, ow, c_out = dy.shape
    kh, kw, c_in, _ = w.shape
    (top, _), (left, _) = conv.pads
    dy_rows = _compute(dy[n]).reshape(-1, c_out)  # one row per output position
    images = len(dy_rows) // (oh * ow)
    dxp = scratch.empty("dxp", (images, conv.h.padded, conv.w.padded, c_in), w.dtype)
    dxp.fill(0)
    tap = scratch.empty("tap", (len(dy_rows), c_in), w.dtype)
    for a, b in np.ndindex(kh, kw):
        # tap (a, b) of window (i, j) sits on padded cell (s_h*i + d_h*a, s_w*j + d_w*b)
        rows = slice(dh * a, dh * a + sh * (oh - 1) + 1, sh)
        columns = slice(dw * b, dw * b + sw * (ow - 1) + 1, sw)
        np.matmul(dy_rows, w[a, b].T, out=tap)
        dxp[:, rows, columns, :] += tap.reshape(images, oh, ow, c_in)
    dx[n] = dxp[:, top:top + conv.h.size, left:left + conv.w.size, :]


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
    c_in, c_out = conv.filter_shape[2:]
    dtype = _compute(dy[:0]).dtype  # float16 sums in float32
    if conv.filter_shape[:2] == (1, 1) and conv.strides == (1, 1) and conv.pads == ((0, 0),) * 2:
        # the windows are the pixels (see conv2d): one product does it
        dw = _compute(x).reshape(-1, c_in).T @ _compute(dy).reshape(-1, c_out)
        return dw.reshape(conv.filter_shape).astype(conv.dtype, copy=False)
    # each thread sums its tiles into a dw of its own, with a buffer for the products: as
    # many threads as such pairs fit in the memory allowed (alone, its sum is the result)
    filter_bytes = math.prod(conv.filter_shape) * dtype.itemsize
    threads = min(_parallel.threads(), max(x.nbytes, dy.nbytes) // (2 * filter_bytes)) or 1
    copies = _allowance(x.nbytes, dy.nbytes, filter_bytes, threads=threads) \
        - filter_bytes * (2 if threads > 1 else 1)
    scratches = _parallel.run(
        lambda tile, scratch: _backprop_filter_tile(x, dy, conv, tile, copies, scratch),
        _tiles(conv, c_in, copies), most=threads)
    sums = [total for scratch in scratches for total in scratch.totals("dw")]
    dw = sums[0] if sums else np.zeros(conv.filter_shape, dtype)
    for other in sums[1:]:
        dw += other
    return dw.astype(conv.dtype, copy=False)


def _backprop_filter_tile(
    x: np.ndarray, dy: np.ndarray, conv: _checks.Conv, tile: Tile, budget: int,
    scratch: _parallel.Scratch,
) -> None:
    """Add one tile's share of ``dw`` to the thread's sum: its windows, transposed, times dy.

    ``budget``: the bytes the thread may spend on the tile's padded rows and im2col parts.
    """
    kh, kw, c_in, c_out = conv.filter_shape
    dw = scratch.total("dw", (kh, kw, c_in, c_out), _compute(dy[:0]).dtype)
    # numpy's matmul cannot add into its output: each part's product goes through a buffer
    product = scratch.empty("product", dw.shape, dw.dtype)
    n, rows = tile
    dy_n = dy[n, rows]
    # each product writes a whole dw: parts as large amortise that
    for (m, r), im2col in _tile_im2col(x, conv, tile, max(_TILE_BYTES, dw.nbytes), budget,
                                       scratch):
        dy_rows = _compute(dy_n[m, r]).reshape(-1, c_out)
        np.matmul(im2col.T, dy_rows, out=product.reshape(-1, c_out))
        dw += product


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
