"""The reference's engine: conv2d and its gradients in tiles, on every core.

It computes the sums of :mod:`convlab.definitions` (the tests hold the two
equal) on arrays already checked and laid out NHWC, with the resolved geometry
``conv``: :func:`conv2d`, :func:`conv2d_backprop_input` and
:func:`conv2d_backprop_filter`. float16 sums run in float32, as in TensorFlow;
results have ``conv.dtype``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator

import numpy as np

from convlab import _checks, _memory, _parallel
from convlab.definitions import windows

# Memory and speed. The window view costs nothing, but BLAS wants contiguous
# matrices, and the windows as a matrix (im2col) hold KH*KW copies of the
# input. So the output is cut into tiles (_tiles), which threads may share
# (convlab._parallel): each copies a tile's windows into im2col rows (from its
# padded input rows, or tap by tap from x: _tile_im2col; at height stride 1,
# a filter row at a time: _tap_row_strips) and multiplies them, a part at a
# time. A part is up to 2 MiB, to stay in the core's cache, or the
# filter matrix's size when that is larger, because BLAS packs the whole
# filter matrix for every product.
#
# _plan decides, in one place, how many threads share a call and how much
# each may copy:
# - Memory: all copies together stay within twice the largest array given or
#   returned, or _FLOOR, whichever is larger. Without the floor, a small
#   layer is cut into one-row tiles, and the ~0.1 ms of Python each tile and
#   part costs outweighs its arithmetic many times over.
# - Threads: handing work to another thread costs about 0.1 ms, and a thread
#   alone still has BLAS's threads for its products. So one thread joins per
#   _THREAD_MACS multiply-adds, up to _parallel.threads(): measured on 2
#   cores, two threads saved 5-40% on calls of 2**28 multiply-adds and more,
#   and below that were as likely to lose time as to save it.
#
# Strides, padding and dilations are numbers, not data, and no copy grows
# with them: d_x keeps only the windows that overlap x and adds only into x
# (convlab._memory.on_x), and a window's padded rows that would not fit in
# the allowance are never copied (_tile_im2col takes the taps instead). A
# result larger than the memory available fails at once (_require_result).
_TILE_BYTES = 2 << 20
_TILES_PER_THREAD = 2
_FLOOR = 8 << 20
_THREAD_MACS = 1 << 27
# the limits of any thread's budget (tests narrow them)
_MIN_BLOCK, _MAX_BLOCK = 1 << 16, 1 << 40

Tile = tuple[slice, slice]


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a call is shared: ``threads``, each with ``allowance`` bytes.

    ``allowance``: the bytes of copies each thread may hold.
    """

    threads: int
    allowance: int


def _plan(macs: int, *nbytes: int, most: int | None = None) -> Plan:
    """The threads and memory of a call of ``macs`` multiply-adds.

    ``nbytes``: the sizes of the arrays given and returned; ``most``: a limit
    on the threads (memory each thread needs for itself).
    """
    threads = max(min(macs // _THREAD_MACS, most or macs), 1)
    if threads > 1:
        threads = min(threads, _parallel.threads())
    else:  # checked all the same (asking BLAS its threads takes a while)
        _parallel.setting()
    total = max(2 * max(nbytes), _FLOOR)
    return Plan(threads, min(max(total // threads, _MIN_BLOCK), _MAX_BLOCK))


def _compute(a: np.ndarray) -> np.ndarray:
    """``a`` in the dtype the sums run in: float16 in float32, as in TF."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _itemsize(conv: _checks.Conv) -> int:
    """Bytes of a number as the sums run: float16 in float32."""
    return max(np.dtype(conv.dtype).itemsize, 4)


def _blocks(count: int, unit: int, budget: int) -> list[slice]:
    """Cut ``range(count)`` into near-equal slices of at most ``budget`` bytes.

    An item takes ``unit`` bytes; a slice has at least one.
    """
    step = max(1, budget // max(unit, 1))
    parts = -(-count // step)
    cuts = [count * k // parts for k in range(parts + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(cuts)]


def _cut(n_images: int, n_rows: int, rows: int) -> list[Tile]:
    """Cut an (image, row) grid into pieces of at most ``rows`` rows (>= 1).

    A piece is whole images when an image fits, else rows of one image, so
    that each piece of an NHWC array is contiguous.
    """
    if rows >= n_rows:
        images = _blocks(n_images, n_rows, rows)
        return [(n, slice(0, n_rows)) for n in images]
    return [(slice(n, n + 1), part)
            for n in range(n_images) for part in _blocks(n_rows, 1, rows)]


def _tiles(conv: _checks.Conv, channels: int, plan: Plan) -> list[Tile]:
    """Tiles of the output for ``plan.threads`` threads to share.

    Shared, ``_TILES_PER_THREAD`` or more per thread where the output has the
    rows (a core that the machine slows down then does fewer; fewer, larger
    tiles hand work between threads less often); alone, as few as the budget
    allows. Each tile reads at most ``_TILE_BYTES`` of
    padded input with ``channels`` channels, and leaving room in the allowance
    for one image's im2col part (``plan.allowance``).
    """
    kh, kw = conv.filter_shape[:2]
    n_images, n_rows = conv.output_shape[0], conv.h.out
    # bytes of the padded input an output row reads, of a padded image, and
    # of an image's im2col part, as the sums run
    item = _itemsize(conv)
    band_row = conv.strides[0] * conv.w.padded * channels * item
    image = conv.h.padded * conv.w.padded * channels * item
    part = min(_TILE_BYTES, n_rows * conv.w.out * kh * kw * channels * item)
    budget = min(_TILE_BYTES, plan.allowance - part)
    shares = _TILES_PER_THREAD * plan.threads if plan.threads > 1 else 1
    wanted = -(-n_images * n_rows // shares)
    if wanted >= n_rows and budget >= image:  # whole images
        rows = n_rows * min(budget // image, wanted // n_rows)
    else:  # rows of one image
        rows = min(budget // band_row, wanted)
    return _cut(n_images, n_rows, max(rows, 1))


def _padded_rows(
    x: np.ndarray, conv: _checks.Conv, rows: slice, scratch: _parallel.Scratch
) -> np.ndarray:
    """The padded input rows that output rows ``rows`` read, as ``_compute``.

    Equal to ``pad_hw(x, conv.pads)[:, lo:hi]`` for the first and last padded
    rows the windows of ``rows`` touch, without padding (copying) the rest of
    ``x``.
    """
    (sh, _), (dh, _) = conv.strides, conv.dilations
    (top, _), (left, _) = conv.pads
    # in the rows of x: negative inside the top padding
    lo = sh * rows.start - top
    hi = sh * (rows.stop - 1) + dh * (conv.filter_shape[0] - 1) + 1 - top
    a = min(max(lo, 0), conv.h.size)  # the rows of x inside, a:b (maybe none)
    b = max(min(hi, conv.h.size), a)
    if (a, b, conv.w.padded) == (lo, hi, conv.w.size):  # no padding here
        return _compute(x[:, lo:hi])
    shape = (len(x), hi - lo, conv.w.padded, x.shape[3])
    band = scratch.empty("band", shape, _compute(x[:0]).dtype)
    inside = band[:, a - lo:b - lo]
    right = left + conv.w.size
    band[:, :a - lo] = inside[:, :, :left] = inside[:, :, right:] = 0
    band[:, b - lo:] = 0
    inside[:, :, left:right] = x[:, a:b]
    return band


def _im2col(cols: np.ndarray, scratch: _parallel.Scratch) -> np.ndarray:
    """Windows ``(N, OH, OW, KH, KW, C)`` as a matrix, a copy.

    One row per output position.
    """
    matrix = scratch.empty("im2col", cols.shape, cols.dtype)
    np.copyto(matrix, cols)
    return matrix.reshape(-1, cols[0, 0, 0].size)


def _taps(
    x: np.ndarray, conv: _checks.Conv, rows: slice, scratch: _parallel.Scratch
) -> np.ndarray:
    """The im2col rows of output rows ``rows`` of images ``x``, tap by tap.

    Tap ``(a, b)`` of window ``(i, j)`` is
    ``x[s_h*i + d_h*a - top, s_w*j + d_w*b - left]``: for each tap, ``x``
    shifted and subsampled where the windows reach inside it
    (``Axis.inside``), and zeros where they reach into the padding.
    """
    (kh, kw), c = conv.filter_shape[:2], x.shape[3]
    h, w = conv.h, conv.w
    n_rows = rows.stop - rows.start
    cols = scratch.empty("im2col", (len(x), n_rows, w.out, kh, kw, c),
                         _compute(x[:0]).dtype)
    inside_h = [[min(max(i, rows.start), rows.stop) - rows.start
                 for i in h.inside(a)] for a in range(kh)]
    inside_w = [w.inside(b) for b in range(kw)]
    for a, b in np.ndindex(kh, kw):
        (i0, i1), (j0, j1) = inside_h[a], inside_w[b]
        tap = cols[:, :, :, a, b]
        if i0 > 0 or i1 < n_rows:  # rows with it in the top/bottom padding
            tap[:, :i0] = tap[:, i1:] = 0
        if j0 > 0 or j1 < w.out:  # columns with it in the left/right padding
            tap[:, i0:i1, :j0] = tap[:, i0:i1, j1:] = 0
        if i1 > i0 and j1 > j0:
            top = h.stride * (rows.start + i0) + h.dilation * a - h.pad_before
            left = w.stride * j0 + w.dilation * b - w.pad_before
            bottom = top + h.stride * (i1 - i0 - 1) + 1
            right = left + w.stride * (j1 - j0 - 1) + 1
            tap[:, i0:i1, j0:j1] = x[:, top:bottom:h.stride,
                                     left:right:w.stride]
    return cols.reshape(-1, kh * kw * c)


def _tile_im2col(
    x: np.ndarray, conv: _checks.Conv, tile: Tile, wanted: int,
    allowance: int, scratch: _parallel.Scratch,
) -> Iterator[tuple[Tile, np.ndarray]]:
    """A tile's im2col matrix, a part at a time: ``(part, matrix)``.

    ``part`` is within the tile. A part takes about ``wanted`` bytes, and all
    copies at most ``allowance``.

    Two ways to the same matrix. Padding the tile's input rows first lets each
    window row be copied as one run of ``KW*C_in`` numbers (when the width
    dilation is 1), at the price of the padded copy, ``s_h*s_w / (KH*KW)`` of
    the im2col copy. Copying each tap straight from ``x`` copies runs of
    ``C_in`` numbers but nothing else: it is the way when the padded copy would
    be as large as the im2col copy (1x1 filters, strides as large as the
    filter), or where it would take more than half the allowance (a dilated
    window spanning mostly padding: the rows between its taps).
    """
    n, rows = tile
    kh, kw, c_in, _ = conv.filter_shape
    item = _itemsize(conv)
    row = conv.w.out * kh * kw * c_in * item  # im2col bytes of an output row
    band = _band_bytes(conv, tile, len(x[n]))
    if conv.strides[0] * conv.strides[1] < kh * kw and 2 * band <= allowance:
        xp = _padded_rows(x[n], conv, rows, scratch)
        cols = windows(xp, (kh, kw), conv.strides, conv.dilations)
        part_rows = min(wanted, allowance - xp.nbytes) // row
        for m, r in _cut(len(cols), cols.shape[1], part_rows):
            yield (m, r), _im2col(cols[m, r], scratch)
    else:
        images = x[n]
        part_rows = min(wanted, allowance) // row
        for m, r in _cut(len(images), rows.stop - rows.start, part_rows):
            part = range(rows.start, rows.stop)[r]
            yield (m, r), _taps(images[m], conv, slice(part.start, part.stop),
                                scratch)


def _require_result(
    shape: tuple[int, ...], dtype: np.dtype, layout: str
) -> None:
    """Fail fast where the result alone is more than the memory available."""
    _memory.require(_memory.nbytes(shape, dtype),
                    f"the result, {layout} shape {shape} "
                    f"{np.dtype(dtype).name},")


def _macs(conv: _checks.Conv) -> int:
    """Multiply-adds of y, d_x or d_w: one per output, tap and channel."""
    return math.prod(conv.output_shape) * math.prod(conv.filter_shape[:3])


def conv2d(conv: _checks.Conv, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y`` of NHWC ``x`` and HWIO ``w``, tile by tile."""
    _require_result(conv.output_shape, conv.dtype, "NHWC")
    w = _compute(w)
    y = np.empty(conv.output_shape, dtype=conv.dtype)
    # rows in (a, b, c) order, as in the windows
    w_matrix = w.reshape(-1, w.shape[3])
    one_by_one = w.shape[:2] == (1, 1) and conv.strides == (1, 1)
    if one_by_one and conv.pads == ((0, 0), (0, 0)):
        # the windows are the pixels: x is already the im2col matrix
        np.matmul(_compute(x).reshape(-1, len(w_matrix)), w_matrix,
                  out=y.reshape(-1, w.shape[3]))
    else:
        plan = _plan(_macs(conv), x.nbytes, y.nbytes, w.nbytes)
        _parallel.run(
            lambda tile, scratch: _conv2d_tile(
                x, w, conv, y, tile, plan.allowance, scratch),
            _tiles(conv, w.shape[2], plan), most=plan.threads)
    return y


def _conv2d_tile(
    x: np.ndarray, w: np.ndarray, conv: _checks.Conv, y: np.ndarray,
    tile: Tile, allowance: int, scratch: _parallel.Scratch,
) -> None:
    """Write one tile of ``conv2d(x, w)`` into ``y``.

    A part of the tile's windows, copied to one row per output position, is a
    block of the im2col matrix; times ``w`` as a ``(KH*KW*C_in, C_out)``
    matrix it gives those outputs, cast to ``y``'s dtype.
    """
    n, rows = tile
    w_matrix = w.reshape(-1, w.shape[3])
    out = y[n, rows]
    # BLAS packs the whole filter matrix for every product: parts as large
    # amortise that
    wanted = max(_TILE_BYTES, w_matrix.nbytes)
    if _by_tap_rows(conv, tile, allowance):
        _conv2d_tap_rows(x, w, conv, out, tile, wanted, allowance, scratch)
        return
    for (m, r), im2col in _tile_im2col(x, conv, tile, wanted, allowance,
                                       scratch):
        np.matmul(im2col, w_matrix, out=out[m, r].reshape(-1, w.shape[3]))


def _band_bytes(conv: _checks.Conv, tile: Tile, images: int) -> int:
    """Bytes of the padded input rows that ``tile``'s windows read."""
    rows = tile[1]
    return (images * conv.w.padded * conv.filter_shape[2] * _itemsize(conv)
            * (conv.strides[0] * (rows.stop - rows.start - 1) + conv.h.k_eff))


def _by_tap_rows(conv: _checks.Conv, tile: Tile, allowance: int) -> bool:
    """Whether ``_conv2d_tap_rows`` computes the tile: at height stride 1,
    with more than one tap row and channels enough to fill a cache line,
    where the padded rows fit in half the allowance."""
    kh, _, c_in, _ = conv.filter_shape
    images = tile[0].stop - tile[0].start
    return (conv.strides[0] == 1 and kh > 1
            and c_in * _itemsize(conv) >= 64
            and 2 * _band_bytes(conv, tile, images) <= allowance)


def _tap_row_strips(
    x: np.ndarray, conv: _checks.Conv, tile: Tile, wanted: int,
    allowance: int, per_row: int, scratch: _parallel.Scratch,
) -> Iterator[tuple[Tile, np.ndarray, list[int]]]:
    """A tile's windows a filter row at a time: ``(part, strips, starts)``.

    At height stride 1 the windows of filter row ``a`` are the windows of
    row 0 moved down ``d_h*a`` rows. So copy each padded row's windows
    along the width once (``KW`` copies of the input, not ``KH*KW``):
    ``strips``, ``(images, rows, KW*C_in)``, a row per (padded row, output
    column). In an image's strips the rows filter row ``a`` reads start
    ``starts[a] = d_h*a*OW`` rows on, and are a matrix as they lie.
    ``per_row``: the bytes the caller spends on an output row besides.
    """
    n, rows = tile
    kh, kw, c_in, _ = conv.filter_shape
    ow, reach = conv.w.out, conv.dilations[0] * (kh - 1)
    xp = _padded_rows(x[n], conv, rows, scratch)
    strips = windows(xp, (1, kw), (1, conv.strides[1]),
                     (1, conv.dilations[1]))[:, :, :, 0]
    strip_row = ow * kw * c_in * xp.itemsize  # of a padded row
    budget = min(wanted, allowance - xp.nbytes) - reach * strip_row
    part_rows = max(budget // (strip_row + per_row), 1)
    starts = [conv.dilations[0] * a * ow for a in range(kh)]
    for m, r in _cut(len(xp), rows.stop - rows.start, part_rows):
        span = strips[m, r.start:r.stop + reach]
        part = scratch.empty("im2col", span.shape, xp.dtype)
        np.copyto(part, span)
        yield (m, r), part.reshape(len(part), -1, kw * c_in), starts


def _conv2d_tap_rows(
    x: np.ndarray, w: np.ndarray, conv: _checks.Conv, out: np.ndarray,
    tile: Tile, wanted: int, allowance: int, scratch: _parallel.Scratch,
) -> None:
    """Write ``out``, one tile of ``y``, a filter row at a time: the sum
    over ``a`` of filter row ``a``'s windows (:func:`_tap_row_strips`)
    times ``w[a]`` as a ``(KW*C_in, C_out)`` matrix (numpy's matmul takes
    the part's images as a stack)."""
    kh, kw, c_in, c_out = w.shape
    w_rows = w.reshape(kh, kw * c_in, c_out)
    dtype = _compute(x[:0]).dtype
    direct = out.dtype == dtype  # else sums in dtype, then cast
    per_row = conv.w.out * c_out * dtype.itemsize * (1 if direct else 2)
    for (m, r), strips, starts in _tap_row_strips(
            x, conv, tile, wanted, allowance, per_row, scratch):
        target = out[m, r].reshape(len(strips), -1, c_out)
        count = target.shape[1]  # output positions an image
        sums = target if direct else scratch.empty(
            "sums", target.shape, dtype)
        np.matmul(strips[:, :count], w_rows[0], out=sums)
        product = scratch.empty("product", sums.shape, dtype)
        for a in range(1, kh):
            np.matmul(strips[:, starts[a]:starts[a] + count], w_rows[a],
                      out=product)
            sums += product
        if not direct:
            target[...] = sums


def conv2d_backprop_input(
    conv: _checks.Conv, w: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """``dx`` of HWIO ``w`` and NHWC ``dy``, one of three ways.

    At stride 1, the gather: the forward engine on ``dy`` and the turned
    filter (:func:`_gather_geometry`), unless ``C_in`` is small (below). Else
    blocks of images, scattered. Tap by tap (:func:`_backprop_input_taps`),
    each of the KH*KW products reads all of ``dy`` and writes ``C_in``
    numbers a row, which the adds then move. When a row of ``C_in`` numbers
    is shorter than a cache line (64 bytes), the products are thin and the
    adds move short runs; so instead one product gives every tap's share at
    once, channels first, and the adds run along output rows
    (:func:`_backprop_input_col2im`). Measured on 2 cores, that takes 0.2-0.8
    times as long below 16 float32 channels, and 1.1-3 times at 16 and over;
    the gather, 0.5-1.0 times as long as the taps on most stride-1 layers
    (up to 1.2 on a few).

    Either scatter keeps only the windows that overlap ``x``
    (:func:`convlab._memory.on_x`) and adds only the shares that land inside
    ``x``: the padded gradient, of any size, is never made.
    """
    _require_result(conv.input_shape, conv.dtype, "NHWC")
    w = _compute(w)
    kh, kw, c_in, _ = w.shape
    few_channels = kh * kw > 1 and c_in * w.itemsize < 64
    gather = None if few_channels else _gather_geometry(conv, dy.dtype)
    if gather is not None:
        turned = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
        return conv2d(gather, dy, turned)
    dx = np.empty(conv.input_shape, dtype=conv.dtype)
    kept = _memory.on_x(conv)
    if kept is None:  # every window lies in the padding
        dx.fill(0)
        return dx
    conv, rows, columns = kept
    dy = dy[:, rows, columns]
    n_batch, oh, ow, _ = dy.shape
    plan = _plan(_macs(conv), dy.nbytes, w.nbytes, dx.nbytes)
    image = math.prod(conv.input_shape[1:]) * w.itemsize  # its sums
    if few_channels:
        block, row = _backprop_input_col2im, ow * kh * kw * c_in * w.itemsize
    else:  # one tap's products
        block, row = _backprop_input_taps, ow * c_in * w.itemsize
    # an image's sums and its output rows' products. Shared, four blocks or
    # more a thread, so a core the machine slows down takes fewer; alone, as
    # few as memory allows: products of more rows run faster in BLAS (10-30%
    # less time measured on 2-16 images, 2 cores)
    shares = 4 * plan.threads if plan.threads > 1 else 1
    per_block = min(plan.allowance // (image + oh * row),
                    -(-n_batch // shares))
    blocks = _blocks(n_batch, 1, max(per_block, 1))
    _parallel.run(
        lambda n, scratch: block(
            conv, w, dy, dx, n, plan.allowance - image * (n.stop - n.start),
            scratch),
        blocks, most=plan.threads)
    return dx


def _gather_geometry(
    conv: _checks.Conv, dtype: np.dtype
) -> _checks.Conv | None:
    """At stride 1, ``dx`` as a forward conv2d of ``dy``: its geometry.

    ``dx`` is then ``dy`` padded by ``K_eff - 1 - p`` on each side, gathered
    by the filter turned 180 degrees with its channels swapped (the chapter
    on the input gradient): no zeros to insert, and the forward engine does
    it. None at larger strides, or where the forward padding exceeds
    ``K_eff - 1`` (the gather would crop ``dy``).
    """
    if conv.strides != (1, 1):
        return None
    pads = [(ax.k_eff - 1 - ax.pad_before, ax.k_eff - 1 - ax.pad_after)
            for ax in (conv.h, conv.w)]
    if min(min(p) for p in pads) < 0:
        return None
    # dy's axes, padded so: built from conv's, which are checked already
    h, w = (dataclasses.replace(ax, size=ax.out, pad_before=p[0],
                                pad_after=p[1])
            for ax, p in zip((conv.h, conv.w), pads, strict=True))
    kh, kw, c_in, c_out = conv.filter_shape
    return _checks.Conv(conv.output_shape, (kh, kw, c_out, c_in), h, w,
                        "NHWC", np.dtype(dtype))


Inside = tuple[list[tuple[int, int]], list[tuple[int, int]]]


def _inside(conv: _checks.Conv) -> Inside:
    """Each tap row's and tap column's windows on ``x``: ``Axis.inside``."""
    kh, kw = conv.filter_shape[:2]
    return ([conv.h.inside(a) for a in range(kh)],
            [conv.w.inside(b) for b in range(kw)])


def _tap_cells(
    conv: _checks.Conv, tap: tuple[int, int], rows: slice, inside: Inside
) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Where tap ``(a, b)`` of output rows ``rows`` lands inside ``x``.

    Tap ``(a, b)`` of window ``(i, j)`` is on padded cell
    ``(s_h*i + d_h*a, s_w*j + d_w*b)``, which is ``x``'s cell
    ``(s_h*i + d_h*a - p_t, s_w*j + d_w*b - p_l)`` for the windows of
    ``inside`` (:func:`_inside`). Returns the windows ``(rows, columns)``,
    rows counted from ``rows.start``, and the cells of ``x`` they land on
    (strided slices); None where none lands inside.
    """
    a, b = tap
    (i0, i1), (j0, j1) = inside[0][a], inside[1][b]
    i0, i1 = max(i0, rows.start), min(i1, rows.stop)
    if i1 <= i0 or j1 <= j0:
        return None
    cells = []
    for ax, tap_, first, stop in ((conv.h, a, i0, i1), (conv.w, b, j0, j1)):
        start = ax.stride * first + ax.dilation * tap_ - ax.pad_before
        cells.append(slice(start, start + ax.stride * (stop - first - 1) + 1,
                           ax.stride))
    windows = (slice(i0 - rows.start, i1 - rows.start), slice(j0, j1))
    return windows, (cells[0], cells[1])


def _sums(dx: np.ndarray, n: slice, dtype: np.dtype,
          scratch: _parallel.Scratch) -> np.ndarray:
    """Zeros to add ``dx[n]`` into: ``dx[n]`` itself where it has ``dtype``."""
    sums = dx[n] if dx.dtype == dtype else scratch.empty(
        "sums", dx[n].shape, dtype)
    sums.fill(0)
    return sums


def _backprop_input_taps(
    conv: _checks.Conv, w: np.ndarray, dy: np.ndarray, dx: np.ndarray,
    n: slice, budget: int, scratch: _parallel.Scratch,
) -> None:
    """Write ``dx[n]``: add each tap's products where the tap lands in ``x``.

    A tap's products of all of ``dy[n]`` at once, one product, where they
    fit in ``budget`` bytes (as they do unless the windows reach far into the
    padding); else of the windows whose tap lands in ``x`` alone, copied out
    of ``dy`` first (no more of them than ``x`` has cells).
    """
    _, oh, ow, c_out = dy.shape
    kh, kw, c_in, _ = w.shape
    dy_n = dy[n]
    images = len(dy_n)
    sums = _sums(dx, n, w.dtype, scratch)
    inside = _inside(conv)
    whole = images * oh * ow * c_in * w.itemsize <= budget
    if whole:  # one row per output position
        dy_rows = _compute(dy_n).reshape(-1, c_out)
        tap = scratch.empty("tap", (len(dy_rows), c_in), w.dtype)
    for a, b in np.ndindex(kh, kw):
        found = _tap_cells(conv, (a, b), slice(0, oh), inside)
        if found is None:
            continue
        (i, j), (p, q) = found
        if whole:
            np.matmul(dy_rows, w[a, b].T, out=tap)
            products = tap.reshape(images, oh, ow, c_in)[:, i, j]
        else:
            shape = (images, i.stop - i.start, j.stop - j.start)
            part = scratch.empty("dy", (*shape, c_out), w.dtype)
            np.copyto(part, dy_n[:, i, j])
            products = scratch.empty("tap", (*shape, c_in), w.dtype)
            np.matmul(part.reshape(-1, c_out), w[a, b].T,
                      out=products.reshape(-1, c_in))
        sums[:, p, q] += products
    if sums.dtype != dx.dtype:
        dx[n] = sums


def _backprop_input_col2im(
    conv: _checks.Conv, w: np.ndarray, dy: np.ndarray, dx: np.ndarray,
    n: slice, budget: int, scratch: _parallel.Scratch,
) -> None:
    """Write ``dx[n]``: each window's share, ``w`` times ``dy``, added back.

    The shares of a part of the output rows are one product, the filter
    matrix times ``dy``'s rows: channels first, ``(KH, KW, C_in, N, OH,
    OW)``, so that each tap's share adds into the images' sums, also
    channels first, along output rows, where the tap lands in ``x``. Then
    turn to NHWC. A part takes at most ``budget`` bytes.
    """
    _, oh, ow, c_out = dy.shape
    kh, kw, c_in, _ = w.shape
    w_matrix = w.reshape(-1, c_out)  # rows in (a, b, c) order
    dy_n = dy[n]
    h, width = conv.input_shape[1:3]
    sums = scratch.empty("sums", (c_in, len(dy_n), h, width), w.dtype)
    sums.fill(0)
    row = ow * len(w_matrix) * w.itemsize  # the shares of one output row
    part_rows = max(budget // row, 1)
    inside = _inside(conv)
    for m, r in _cut(len(dy_n), oh, part_rows):
        dy_rows = _compute(dy_n[m, r]).reshape(-1, c_out)
        shares = scratch.empty("shares", (len(w_matrix), len(dy_rows)),
                               w.dtype)
        np.matmul(w_matrix, dy_rows.T, out=shares)
        shares = shares.reshape(kh, kw, c_in, -1, r.stop - r.start, ow)
        for a, b in np.ndindex(kh, kw):
            found = _tap_cells(conv, (a, b), r, inside)
            if found is not None:
                (i, j), (p, q) = found
                sums[:, m, p, q] += shares[a, b, :, :, i, j]
    dx[n] = sums.transpose(1, 2, 3, 0)


def conv2d_backprop_filter(
    conv: _checks.Conv, x: np.ndarray, dy: np.ndarray
) -> np.ndarray:
    """``dw`` of NHWC ``x`` and ``dy``: each thread sums its tiles' shares."""
    _require_result(conv.filter_shape, _compute(dy[:0]).dtype, "HWIO")
    c_in, c_out = conv.filter_shape[2:]
    dtype = _compute(dy[:0]).dtype  # float16 sums in float32
    one_by_one = conv.filter_shape[:2] == (1, 1) and conv.strides == (1, 1)
    if one_by_one and conv.pads == ((0, 0), (0, 0)):
        # the windows are the pixels (see conv2d): one product does it
        x_rows = _compute(x).reshape(-1, c_in)
        dw = x_rows.T @ _compute(dy).reshape(-1, c_out)
        return dw.reshape(conv.filter_shape).astype(conv.dtype, copy=False)
    # each thread sums its tiles into a dw of its own, with a buffer for the
    # products: no more threads than such pairs fit in half the memory
    # allowed (alone, its sum is the result)
    filter_bytes = math.prod(conv.filter_shape) * dtype.itemsize
    sizes = (x.nbytes, dy.nbytes, filter_bytes)
    pairs = max(2 * max(sizes), _FLOOR) // (4 * filter_bytes)
    plan = _plan(_macs(conv), *sizes, most=max(pairs, 1))
    copies = plan.allowance - filter_bytes * (2 if plan.threads > 1 else 1)
    scratches = _parallel.run(
        lambda tile, scratch: _backprop_filter_tile(
            x, dy, conv, tile, copies, scratch),
        _tiles(conv, c_in, Plan(plan.threads, copies)), most=plan.threads)
    sums = [total for scratch in scratches for total in scratch.totals("dw")]
    dw = sums[0] if sums else np.zeros(conv.filter_shape, dtype)
    for other in sums[1:]:
        dw += other
    return dw.astype(conv.dtype, copy=False)


def _backprop_filter_tile(
    x: np.ndarray, dy: np.ndarray, conv: _checks.Conv, tile: Tile,
    budget: int, scratch: _parallel.Scratch,
) -> None:
    """Add one tile's share of ``dw`` to the thread's sum.

    The share is the tile's windows, transposed, times ``dy``: all of them
    (im2col rows), or where ``y`` goes a filter row at a time
    (:func:`_by_tap_rows`), each filter row's windows for its row of
    ``dw``. ``budget``: the bytes the thread may spend on the tile's padded
    rows and copies.
    """
    kh, kw, c_in, c_out = conv.filter_shape
    first = not scratch.totals("dw")  # the thread's first tile of the call
    dw = scratch.total("dw", (kh, kw, c_in, c_out), _compute(dy[:0]).dtype)
    # numpy's matmul cannot add into its output: each part's product after
    # the thread's first goes through a buffer
    product = scratch.empty("product", dw.shape, dw.dtype)
    n, rows = tile
    dy_n = dy[n, rows]
    # each product writes a whole dw: parts as large amortise that
    wanted = max(_TILE_BYTES, dw.nbytes)
    if _by_tap_rows(conv, tile, budget):
        dw_rows = dw.reshape(kh, kw * c_in, c_out)
        products = product.reshape(dw_rows.shape)
        for (m, r), strips, starts in _tap_row_strips(
                x, conv, tile, wanted, budget,
                conv.w.out * c_out * dw.itemsize, scratch):
            images, span, _ = strips.shape
            count = (r.stop - r.start) * conv.w.out
            # one product a filter row for all the part's images: the rows
            # between one image's windows and the next's meet zeros of dy
            dy_part = _compute(dy_n[m, r]).reshape(images, count, c_out)
            if images > 1:
                spaced = scratch.empty("dy", (images, span, c_out), dw.dtype)
                spaced[:, :count] = dy_part
                spaced[:, count:] = 0
                dy_part = spaced
            length = (images - 1) * span + count
            flat = strips.reshape(-1, kw * c_in)
            dy_flat = dy_part.reshape(-1, c_out)[:length]
            for a, start in enumerate(starts):
                out = dw_rows[a] if first else products[a]
                np.matmul(flat[start:start + length].T, dy_flat, out=out)
                if not first:
                    dw_rows[a] += out
            first = False
        return
    for (m, r), im2col in _tile_im2col(x, conv, tile, wanted, budget,
                                       scratch):
        dy_rows = _compute(dy_n[m, r]).reshape(-1, c_out)
        out = dw if first else product
        np.matmul(im2col.T, dy_rows, out=out.reshape(-1, c_out))
        if not first:
            dw += product
        first = False
