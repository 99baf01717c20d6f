"""Share the reference's independent pieces of work among the cores.

A convolution in numpy is many copy-then-multiply steps: copy a tile of windows into
im2col rows, multiply them by the filter matrix. numpy copies on one core, while BLAS
spreads each product over all of them, so with BLAS left alone every copy leaves the
other cores idle, and each product reads a tile that another core's cache holds. Here
each core takes its own share of the tiles and runs BLAS single-threaded on them: the
copies run side by side, and each tile stays in the cache of the core that uses it.

The number of shares is the number of threads BLAS itself would use (so
``OPENBLAS_NUM_THREADS=1`` and the like make convlab serial too), or
``CONVLAB_NUM_THREADS`` when set. Without ``threadpoolctl``, which is what can make BLAS
single-threaded for a while, the work runs serially.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_controller: Any = None
_inside = threading.local()


def _blas() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, or None without it."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController().select(user_api="blas")
    return _controller or None


def setting() -> int | None:
    """``CONVLAB_NUM_THREADS``, checked, or None when it is not set."""
    value = os.environ.get("CONVLAB_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        wanted = int(value)
    except ValueError:
        wanted = 0
    if wanted < 1:
        raise ValueError(f"CONVLAB_NUM_THREADS must be a positive integer, got {value!r}")
    return wanted


def threads() -> int:
    """How many shares the work is cut into (1: serial)."""
    if getattr(_inside, "worker", False):
        return 1  # already one share of a parallel run
    wanted = setting()
    if wanted is not None:
        return wanted if _blas() else 1
    blas = _blas()
    if not blas:
        return 1
    return max(1, min(max(lib.num_threads for lib in blas.lib_controllers), _cores()))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Scratch:
    """Memory that one thread reuses from item to item and call to call, a buffer per name.

    A fresh array of a few hundred KiB comes from the operating system page by page, and
    the page faults cost more than the copy that fills it; so each thread keeps its
    buffers up to ``KEEP`` bytes each between calls (:func:`release` drops them).
    ``total`` arrays (sums) belong to one call.
    """

    KEEP = 1 << 22

    def __init__(self, buffers: dict[str, np.ndarray] | None = None) -> None:
        self._buffers: dict[str, np.ndarray] = {} if buffers is None else buffers
        self._totals: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` in the buffer ``name``."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = self._buffers[name] = _aligned(nbytes)
        return buffer[:nbytes].view(dtype).reshape(shape)

    def total(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        """An array of zeros the first time in a call, the same array (with its sums) after."""
        if name not in self._totals:
            self._totals[name] = np.zeros(shape, dtype)
        return self._totals[name]

    def totals(self, name: str) -> list[np.ndarray]:
        """The array ``total(name)`` returned, if it was asked for."""
        return [self._totals[name]] if name in self._totals else []

    def _end(self, keep: int) -> None:
        for name in [k for k, b in self._buffers.items() if b.nbytes > keep]:
            del self._buffers[name]


def _aligned(nbytes: int, alignment: int = 64) -> np.ndarray:
    """``nbytes`` bytes starting on a cache line (numpy promises 16 bytes): rows of
    vectors then never straddle two lines, which slows both the copies and BLAS."""
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes]


_kept: list[dict[str, np.ndarray]] = []  # every thread's buffers, for release()


def _own_scratch() -> Scratch:
    """A :class:`Scratch` on this thread's buffers, with sums of its own."""
    buffers = getattr(_inside, "buffers", None)
    if buffers is None:
        buffers = _inside.buffers = {}
        with _lock:
            _kept.append(buffers)
    return Scratch(buffers)


def release() -> None:
    """Drop the memory every thread keeps between calls."""
    with _lock:
        for buffers in _kept:
            buffers.clear()


def run(
    work: Callable[[T, Scratch], object], items: Sequence[T], most: int | None = None
) -> list[Scratch]:
    """Call ``work(item, scratch)`` for every item, on all threads, BLAS single-threaded.

    Each thread takes the next item as soon as it is done with one, so a core that the
    machine slows down does fewer, and has a :class:`Scratch` of its own. ``work`` must
    only write where no other item writes (or into its scratch). At most ``most``
    threads; alone, a thread leaves BLAS its threads. Returns the threads' scratches.
    """
    count = min(len(items), most or len(items))
    if count > 1:
        count = min(count, threads())
    if count <= 1:
        # inside a share, the thread's own scratch is in use: a fresh one
        scratch = Scratch() if getattr(_inside, "worker", False) else _own_scratch()
        try:
            for item in items:
                work(item, scratch)
        finally:
            scratch._end(Scratch.KEEP)
        return [scratch]
    with _lock:
        global _pool
        if _pool is None or _pool._max_workers < count - 1:
            _pool = ThreadPoolExecutor(count - 1, thread_name_prefix="convlab")
        pool = _pool
    queue = iter(items)
    taking = threading.Lock()

    scratches: list[Scratch] = []

    def worker() -> None:
        _inside.worker = True
        scratch = _own_scratch()
        with taking:
            scratches.append(scratch)
        try:
            while True:
                with taking:
                    item = next(queue, _DONE)
                if item is _DONE:
                    return
                work(item, scratch)  # type: ignore[arg-type]
        finally:
            scratch._end(Scratch.KEEP)
            _inside.worker = False

    with _single_threaded_blas():
        # the calling thread works too: it starts at once, while the others wake up
        helpers = [pool.submit(worker) for _ in range(count - 1)]
        try:
            worker()
        finally:
            for done in helpers:
                done.result()
    return scratches


_DONE = object()


_limited = 0
_limiter: Any = None


def _forget_threads() -> None:
    """In a forked child: the parent's worker threads do not exist there."""
    global _pool, _limited, _limiter, _lock, _kept
    _pool, _limited, _limiter, _lock, _kept = None, 0, None, threading.Lock(), []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread until the last parallel run (of any caller thread) ends."""
    global _limited, _limiter
    blas = _blas()
    if not blas:
        yield
        return
    with _lock:
        if _limited == 0:
            _limiter = blas.limit(limits=1)
        _limited += 1
    try:
        yield
    finally:
        with _lock:
            _limited -= 1
            if _limited == 0:
                _limiter.restore_original_limits()
                _limiter = None
