"""Sharing the reference's tiles among threads: results, BLAS threads, settings."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import convlab
from _support import Config, assert_close
from convlab import _engine, _parallel


def _blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_run_does_every_item_once_and_returns_the_scratches(threads, monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", threads)
    seen: list[int] = []
    lock = threading.Lock()

    def work(item: int, scratch: _parallel.Scratch) -> None:
        scratch.total("count", (), np.int64)[...] += 1
        with lock:
            seen.append(item)

    scratches = _parallel.run(work, list(range(23)))
    assert sorted(seen) == list(range(23))
    assert 1 <= len(scratches) <= int(threads)
    assert sum(int(t) for s in scratches for t in s.totals("count")) == 23


def test_blas_gets_its_threads_back(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    before = _blas_threads()
    inside: list[list[int]] = []
    _parallel.run(lambda item, scratch: inside.append(_blas_threads()), [0, 1, 2, 3])
    assert all(seen == [1] * len(before) for seen in inside)
    assert _blas_threads() == before


def test_an_error_in_a_share_reaches_the_caller_and_blas_is_restored(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    before = _blas_threads()

    def work(item: int, scratch: _parallel.Scratch) -> None:
        if item == 5:
            raise RuntimeError("item 5")

    with pytest.raises(RuntimeError, match="item 5"):
        _parallel.run(work, list(range(8)))
    assert _blas_threads() == before


def test_runs_inside_a_share_are_serial(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    inner: list[int] = []
    _parallel.run(lambda item, scratch: inner.append(_parallel.threads()), [0, 1])
    assert inner == [1, 1]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_count_is_named(value, monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", value)
    with pytest.raises(ValueError, match="CONVLAB_NUM_THREADS must be a positive integer"):
        convlab.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), 1, "VALID")


def test_scratch_reuses_its_memory():
    scratch = _parallel.Scratch()
    a = scratch.empty("x", (4, 5), np.float32)
    b = scratch.empty("x", (2, 3), np.float64)
    assert b.shape == (2, 3) and b.dtype == np.float64
    assert np.shares_memory(a, b)
    c = scratch.empty("x", (100,), np.float64)  # larger: a new buffer
    assert c.shape == (100,) and not np.shares_memory(a, c)


# Small tiles (every row a tile of its own) with 1 and 3 threads give the same numbers.
CONFIGS = [
    Config(3, 9, 8, 3, 4, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(2, 10, 7, 2, 3, 3, 2, (1, 2), (2, 1), ((2, 1), (0, 3))),
    Config(1, 12, 5, 4, 2, 2, 2, (2, 1), (1, 1), "VALID", "NCHW"),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["s2-same", "dilated-explicit", "nchw-batch1"])
def test_threads_do_not_change_the_result(cfg, rng, monkeypatch):
    x, w, dy = cfg.arrays(rng, np.float64)
    args = cfg.args()
    monkeypatch.setattr(_engine, "_MIN_BLOCK", 1)
    monkeypatch.setattr(_engine, "_MAX_BLOCK", 1)
    monkeypatch.setattr(_engine, "_THREAD_MACS", 1)
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("CONVLAB_NUM_THREADS", threads)
        results.append((
            convlab.conv2d(x, w, *args),
            convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args),
            convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args),
        ))
    for one, three in zip(*results, strict=True):
        assert_close(three, one, np.float64)


def test_callers_on_several_threads_get_their_own_results(rng):
    cfg = Config(4, 20, 20, 8, 8, 3, 3, (1, 1), (1, 1), "SAME")
    inputs = [cfg.arrays(rng, np.float64) for _ in range(4)]
    want = [convlab.conv2d_loops(x, w, *cfg.args()) for x, w, _ in inputs]
    before = _blas_threads()
    got: dict[int, np.ndarray] = {}

    def call(k: int) -> None:
        x, w, _ = inputs[k]
        for _ in range(5):
            got[k] = convlab.conv2d(x, w, *cfg.args())

    callers = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    for k in range(4):
        assert_close(got[k], want[k], np.float64)
    assert _blas_threads() == before


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_threads(rng, monkeypatch):
    import os
    import select
    import signal

    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    monkeypatch.setattr(_engine, "_MIN_BLOCK", 1)
    monkeypatch.setattr(_engine, "_MAX_BLOCK", 1)
    monkeypatch.setattr(_engine, "_THREAD_MACS", 1)
    x, w = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 2))
    want = convlab.conv2d_loops(x, w, 1, "SAME")
    convlab.conv2d(x, w, 1, "SAME")  # the parent's pool exists now
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns that forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        # and so does JAX, when another test of this worker loaded it; the child runs numpy
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        pid = os.fork()
    if pid == 0:  # the child: a conv2d on threads of its own, then report
        ok = np.allclose(convlab.conv2d(x, w, 1, "SAME"), want)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:  # the child waits on threads that exist only in the parent
        os.kill(pid, signal.SIGKILL)
    answer = os.read(read, 1) if ready else b""
    os.waitpid(pid, 0)
    assert answer == b"1", "conv2d in a forked child did not finish"


def test_threads_keep_their_memory_between_calls_until_released(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "1")
    seen: list[int] = []

    def work(item: int, scratch: _parallel.Scratch) -> None:
        seen.append(scratch.empty("b", (1000,), np.float32).__array_interface__["data"][0])

    _parallel.run(work, [0])
    _parallel.run(work, [0])
    assert seen[0] == seen[1]  # the same memory, call after call
    _parallel.release()
    big = (_parallel.Scratch.KEEP // 4 + 1,)
    _parallel.run(lambda item, scratch: seen.append(scratch.empty("b", big, np.float32).size), [0])
    kept = _parallel.run(lambda item, scratch: None, [0])[0]
    assert "b" not in kept._buffers  # larger than KEEP: not kept


def test_sums_belong_to_one_call(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "1")

    def add(item: int, scratch: _parallel.Scratch) -> None:
        scratch.total("s", (), np.float64)[...] += item

    first = _parallel.run(add, [1, 2])[0].totals("s")[0].item()
    second = _parallel.run(add, [5])[0].totals("s")[0].item()
    assert (first, second) == (3.0, 5.0)
