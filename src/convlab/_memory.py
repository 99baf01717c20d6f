"""Memory bounded by the data: the windows that matter, and what the machine has.

Strides and padding are numbers, not data: a 1x1 input padded by 20000 with
stride 20000 has a padded input of 40001 x 40001 cells, and a 3x3 input with
stride 10**9 a zero-stretched ``dy`` of 10**9 columns, yet every array given or
returned holds a handful of numbers. Two things keep memory with the data:

* :func:`on_x`: only the windows whose span overlaps ``x`` matter to the
  gradients. The others lie wholly in the padding: they read only zeros
  (``dw``) and scatter only into the padding (``dx``). So the gradients keep
  those windows' rows and columns of ``dy``, and a padded input that runs from
  the first of them to the end of the last (or of ``x``). Its padding is then
  less than ``K_eff`` a side, and negative (a crop of ``x``) where the first
  window kept starts inside ``x``: the rows of ``x`` before it are no window's.
* :func:`require`: a request larger than the memory this process may still
  take fails at once with a :class:`MemoryError` naming the sizes, rather
  than starting and meeting the operating system's out-of-memory killer.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from convlab._checks import Conv
from convlab.geometry import Axis

# below this, a request is not checked: reading /proc costs more than it saves
_CHECK_FROM = 64 << 20


@dataclass(frozen=True)
class _Span(Axis):
    """An axis whose padding may be negative: a crop of ``x`` (see :func:`on_x`).

    Its amounts are derived from a checked axis, so they are not checked
    again (a checked :class:`Axis` refuses negative padding).
    """

    def __post_init__(self) -> None:
        pass


def _with(axis: Axis, **changes: int) -> Axis:
    """``axis`` with ``changes``; ``axis`` itself where they change nothing."""
    if all(getattr(axis, name) == value for name, value in changes.items()):
        return axis
    values = {f.name: getattr(axis, f.name) for f in fields(Axis)}
    return _Span(**{**values, **changes})


def _kept(axis: Axis) -> tuple[int, int]:
    """The windows ``first, stop`` whose span overlaps ``x`` on this axis.

    Window ``i`` spans padded rows ``s*i`` to ``s*i + K_eff - 1``, and ``x``
    rows ``p_before`` to ``p_before + size - 1``. Empty: ``first == stop``.
    """
    first = max((axis.pad_before - axis.k_eff) // axis.stride + 1, 0)
    stop = min((axis.pad_before + axis.size - 1) // axis.stride + 1, axis.out)
    return first, max(first, stop)


def _cropped(axis: Axis, first: int, stop: int) -> Axis:
    """The axis of windows ``first`` to ``stop - 1`` alone.

    The padded input starts where window ``first`` does and ends where window
    ``stop - 1`` or ``x`` does, whichever is later.
    """
    start = axis.stride * first
    end = max(axis.stride * (stop - 1) + axis.k_eff,
              axis.pad_before + axis.size)
    return _with(axis, pad_before=axis.pad_before - start,
                 pad_after=end - axis.pad_before - axis.size)


def on_x(conv: Conv) -> tuple[Conv, slice, slice] | None:
    """The geometry of the windows that overlap ``x``, and their rows and columns.

    Returns
    -------
    (Conv, slice, slice) or None
        ``conv`` with only those windows, and the output rows and columns they
        are (a crop of ``dy``); ``conv`` itself where every window overlaps
        ``x`` and no padding lies beyond both ``x`` and the last window. None
        where no window overlaps ``x``: both gradients are zero.
    """
    (i0, i1), (j0, j1) = _kept(conv.h), _kept(conv.w)
    if i1 == i0 or j1 == j0:
        return None
    h, w = _cropped(conv.h, i0, i1), _cropped(conv.w, j0, j1)
    if h is not conv.h or w is not conv.w:
        conv = replace(conv, h=h, w=w)
    return conv, slice(i0, i1), slice(j0, j1)


def _zero_window(conv: Conv) -> Conv:
    """One window on the first row and column of ``x``, at stride 1."""
    h, w = (_with(ax, stride=1, pad_before=0, pad_after=ax.k_eff - ax.size)
            for ax in (conv.h, conv.w))
    return replace(conv, h=h, w=w)


def geometry_on_x(conv: Conv) -> Conv:
    """The geometry :func:`windows_on_x` gives ``conv``."""
    if conv.h.out < 1 or conv.w.out < 1:
        return conv
    kept = on_x(conv)
    return _zero_window(conv) if kept is None else kept[0]


def windows_on_x(conv: Conv, dy: Any, ops: Any) -> tuple[Conv, Any]:
    """Keep the windows that overlap ``x``, and their part of NHWC ``dy``.

    The others lie wholly in the padding and give neither gradient anything
    (:func:`on_x`). Where none overlaps ``x``, one window of zeros on the
    first row and column of ``x``, at stride 1, stands for them: the
    identities then give zeros with arrays the size of ``x`` padded by the
    filter's span. ``ops``: the backend (:class:`convlab.via_conv2d.Ops`).
    """
    if conv.h.out < 1 or conv.w.out < 1:  # nothing to crop
        return conv, dy
    kept = on_x(conv)
    if kept is not None:
        cropped, rows, columns = kept
        if (rows, columns) == (slice(0, conv.h.out), slice(0, conv.w.out)):
            return cropped, dy
        return cropped, dy[:, rows, columns]
    zeros = ops.pad(dy[:, :0, :0], [(0, 0), (0, 1), (0, 1), (0, 0)])
    return _zero_window(conv), zeros


def _meminfo() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            found = re.search(r"^MemAvailable:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) << 10 if found else None


def _address_space_left() -> int | None:
    """What ``RLIMIT_AS`` still allows this process, or None without a limit."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[0])
        return max(limit - pages * os.sysconf("SC_PAGE_SIZE"), 0)
    except (ImportError, OSError, ValueError):
        return None


def available() -> int | None:
    """Bytes this process may still take, or None where that cannot be told.

    The least of the kernel's estimate of the memory available without
    swapping (``MemAvailable``; else the free physical pages) and what the
    process's address-space limit still allows.
    """
    found = _meminfo()
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            found = None
    left = _address_space_left()
    known = [v for v in (found, left) if v is not None]
    return min(known) if known else None


def size(nbytes: int) -> str:
    """``nbytes`` for a reader: ``'3.2 GiB'``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):.1f} {unit}"
    return f"{nbytes} bytes"


def nbytes(shape: tuple[int, ...], dtype: Any) -> int:
    """The bytes of an array of ``shape`` and ``dtype``."""
    return math.prod(shape) * np.dtype(dtype).itemsize


def require(needed: int, what: str, hint: str = "use smaller arrays") -> None:
    """Fail fast where ``needed`` bytes are more than this process may take.

    ``what`` says what needs them, e.g. ``"the result, shape (...) float32"``;
    ``hint``, what to do instead.

    Raises
    ------
    MemoryError
        Naming ``what``, the bytes it needs and those available.
    """
    if needed < _CHECK_FROM:
        return
    left = available()
    if left is not None and needed > left:
        raise MemoryError(
            f"{what} needs {size(needed)}, but this machine has only "
            f"{size(left)} available; {hint}")
