"""The readable definitions against the engine that the public functions run.

convlab.definitions writes conv2d and its gradients as the maths does (loops; a window
view and one contraction; a scatter tap by tap); convlab._engine computes the same sums in
tiles on every core. Here the two agree over a grid that takes every path of the engine,
and the readable forms agree with the loops and with each other (the adjoint identity).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import convlab
from _support import Config, assert_close
from convlab import _checks, _engine, _parallel, definitions, reference, tolerance

# Each configuration is named after the engine path it is here for (with default tiles,
# 1 or 2 threads); every one has a batch and channels > 1 unless it says otherwise.
PATHS = {
    # 1x1, stride 1, no padding: x is the im2col matrix, one product
    "1x1-one-product": Config(3, 5, 4, 3, 2, 1, 1, (1, 1), (1, 1), "VALID"),
    "1x1-same-one-product": Config(2, 4, 6, 2, 3, 1, 1, (1, 1), (1, 1), "SAME", "NCHW"),
    # strides as large as the filter: copied tap by tap from x
    "1x1-s2-taps": Config(2, 7, 6, 3, 2, 1, 1, (2, 2), (1, 1), "VALID"),
    "1x1-s2-padded-taps": Config(2, 6, 7, 2, 3, 1, 1, (2, 2), (1, 1), ((1, 0), (0, 1))),
    "2x2-s2-same-taps": Config(2, 7, 5, 3, 2, 2, 2, (2, 2), (1, 1), "SAME"),
    "2x2-s3-taps-stride-over-kernel": Config(2, 8, 9, 2, 2, 2, 2, (3, 3), (1, 1),
                                             ((1, 2), (2, 0))),
    "2x2-s2-d2-taps": Config(2, 9, 8, 2, 3, 2, 2, (2, 2), (2, 2), "SAME"),
    "2x1-s21-taps-nchw": Config(3, 6, 5, 2, 2, 2, 1, (2, 1), (1, 1), "SAME", "NCHW"),
    # windows that lie wholly in the padding
    "2x2-s2-taps-all-padding": Config(2, 4, 4, 2, 2, 2, 2, (2, 2), (1, 1),
                                      ((3, 1), (0, 4))),
    "3x3-padded-all-padding": Config(2, 3, 4, 2, 2, 3, 3, (1, 1), (1, 1),
                                     ((4, 1), (2, 5))),
    # strides smaller than the filter: the tile's rows of x padded, then windows
    "3x3-same-padded-rows": Config(3, 9, 8, 3, 4, 3, 3, (1, 1), (1, 1), "SAME"),
    "3x3-valid-rows-as-they-are": Config(2, 9, 7, 3, 2, 3, 3, (1, 1), (1, 1), "VALID"),
    "3x3-rows-padded-above-and-below": Config(2, 10, 6, 2, 3, 3, 3, (2, 1), (1, 1),
                                              ((2, 1), (0, 0))),
    "3x2-asymmetric-dilated": Config(2, 10, 9, 3, 2, 3, 2, (2, 1), (2, 3), ((2, 0), (1, 3))),
    "3x3-s2-same-nchw": Config(2, 9, 8, 2, 4, 3, 3, (2, 2), (1, 1), "SAME", "NCHW"),
    "4x2-s3-stride-over-kernel-height": Config(2, 11, 7, 2, 2, 4, 2, (3, 1), (1, 2), "VALID"),
    # batch 5: tiles of two images on one thread
    "3x3-batch5-tiles-of-images": Config(5, 6, 5, 2, 3, 3, 3, (1, 1), (1, 1), "SAME"),
    # batch 1: row tiles of one image whatever the threads
    "3x3-batch1-rows": Config(1, 12, 5, 4, 2, 3, 3, (1, 1), (1, 1), "SAME"),
    # a filter larger than x and dy: d_w's sums run on one thread
    "3x3-wide-filter": Config(1, 4, 4, 16, 16, 3, 3, (1, 1), (1, 1), "SAME"),
    # one channel in, one out
    "2x3-one-channel": Config(2, 6, 7, 1, 1, 2, 3, (1, 2), (1, 1), "SAME"),
}
CONFIGS = list(PATHS.values())
DTYPES = [np.float16, np.float32, np.float64]
THREADS = ["1", "2"]
# budgets for _engine._MIN_BLOCK/_MAX_BLOCK: the defaults, a tile and part per output row,
# a few rows per part
BUDGETS = [None, 1, 2000]

assert all(cfg.fits() for cfg in CONFIGS)


def _conv(cfg: Config) -> _checks.Conv:
    return convlab.conv_geometry(cfg.input_shape, cfg.filter_shape, *cfg.args())


def _nhwc(cfg: Config, a: np.ndarray) -> np.ndarray:
    return reference.to_nhwc(a, cfg.data_format)


def _readable(cfg: Config, x, w, dy) -> dict[str, np.ndarray]:
    """y, d_x and d_w by the readable definitions, as laid out by ``cfg``."""
    conv, x, dy = _conv(cfg), _nhwc(cfg, x), _nhwc(cfg, dy)
    fmt = cfg.data_format
    return {
        "y": reference.from_nhwc(definitions.conv2d(conv, x, w), fmt),
        "d_x": reference.from_nhwc(definitions.conv2d_backprop_input(conv, w, dy), fmt),
        "d_w": definitions.conv2d_backprop_filter(conv, x, dy),
    }


def _public(cfg: Config, x, w, dy) -> dict[str, np.ndarray]:
    """y, d_x and d_w by the public functions, which run the engine."""
    args = cfg.args()
    return {
        "y": convlab.conv2d(x, w, *args),
        "d_x": convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args),
        "transpose": convlab.conv2d_transpose(dy, w, cfg.input_shape, *args),
        "d_w": convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args),
    }


@contextlib.contextmanager
def _settings(monkeypatch: pytest.MonkeyPatch, threads: str,
              budget: int | None) -> Iterator[None]:
    with monkeypatch.context() as m:
        m.setenv("CONVLAB_NUM_THREADS", threads)
        m.setattr(_engine, "_THREAD_MACS", 1)  # tiny layers on every thread
        if budget is not None:
            m.setattr(_engine, "_FLOOR", 0)
            m.setattr(_engine, "_MIN_BLOCK", budget)
            m.setattr(_engine, "_MAX_BLOCK", budget)
        yield


@pytest.mark.parametrize("budget", BUDGETS, ids=["default-tiles", "row-tiles", "budget-2000"])
@pytest.mark.parametrize("threads", THREADS, ids=["threads-1", "threads-2"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=list(PATHS))
def test_the_engine_equals_the_readable_definitions(cfg, dtype, threads, budget, rng,
                                                    monkeypatch):
    x, w, dy = cfg.arrays(rng, dtype)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    want = _readable(cfg, x64, w64, dy64)
    # the error of a sum is relative to its terms, not to what is left after they cancel
    scale = _readable(cfg, abs(x64), abs(w64), abs(dy64))
    with _settings(monkeypatch, threads, budget):
        got = _public(cfg, x, w, dy)
        conv = _checks.forward(x.shape, x.dtype, w.shape, w.dtype, *cfg.args())
        engine_y = _engine.conv2d(conv, _nhwc(cfg, x), w)
    for name, result in got.items():
        quantity = "d_x" if name == "transpose" else name
        assert_close(result, want[quantity], dtype, what=name, scale=scale[quantity])
    assert_close(engine_y, _nhwc(cfg, want["y"]), dtype, what="_engine.conv2d",
                 scale=_nhwc(cfg, scale["y"]))


@pytest.mark.parametrize("cfg", CONFIGS, ids=list(PATHS))
def test_the_window_form_equals_the_loops(cfg, rng):
    x, w, _ = cfg.arrays(rng, np.float64)
    conv, x = _conv(cfg), _nhwc(cfg, x)
    got = definitions.conv2d(conv, x, w)
    assert got.shape == conv.output_shape
    assert_close(got, definitions.conv2d_loops(conv, x, w), np.float64)


@pytest.mark.parametrize("cfg", CONFIGS, ids=list(PATHS))
def test_the_readable_gradients_are_the_adjoints(cfg, rng):
    # <conv2d(x, w), dy> = <x, d_x> = <w, d_w>: the readable gradients belong to the loops
    x, w, dy = cfg.arrays(rng, np.float64)
    conv, x, dy = _conv(cfg), _nhwc(cfg, x), _nhwc(cfg, dy)
    y = definitions.conv2d_loops(conv, x, w)
    d_x = definitions.conv2d_backprop_input(conv, w, dy)
    d_w = definitions.conv2d_backprop_filter(conv, x, dy)
    assert d_x.shape == x.shape and d_w.shape == w.shape
    inner = np.vdot(y, dy)
    scale = np.abs(y).sum() * np.abs(dy).max()
    assert abs(np.vdot(x, d_x) - inner) <= tolerance.ADJOINT_RTOL * scale
    assert abs(np.vdot(w, d_w) - inner) <= tolerance.ADJOINT_RTOL * scale


def test_the_grid_takes_every_path_of_the_engine(rng, monkeypatch):
    """Run the grid with spies on the engine, and check that it reaches every branch."""
    seen: set[str] = set()
    tiles, taps, padded_rows, run = (_engine._tiles, _engine._taps, _engine._padded_rows,
                                     _parallel.run)
    plan, col2im, by_taps, gather = (
        _engine._plan, _engine._backprop_input_col2im,
        _engine._backprop_input_taps, _engine._gather_geometry)
    tap_rows = _engine._tap_row_strips
    tiled, calling = [0], [""]  # calls of _tiles; the quantity being computed

    def spy_tiles(conv, channels, plan):
        tiled[0] += 1
        result = tiles(conv, channels, plan)
        whole = all(rows == slice(0, conv.h.out) for _, rows in result)
        seen.add("tiles of whole images" if whole else "tiles of rows")
        if any(len(range(conv.input_shape[0])[n]) > 1 for n, _ in result):
            seen.add("tiles of several images")
        return result

    def spy_taps(*args):
        seen.add("im2col tap by tap")
        return taps(*args)

    def spy_tap_rows(*args):
        seen.add(f"{calling[0]} by filter rows")
        return tap_rows(*args)

    def spy_padded_rows(x, conv, rows, scratch):
        band = padded_rows(x, conv, rows, scratch)
        seen.add("rows of x as they are" if np.shares_memory(band, x) else "padded rows")
        return band

    def spy_run(work, items, most=None):
        scratches = run(work, items, most)
        seen.add("several threads" if len(scratches) > 1 else "one thread")
        return scratches

    def spy_plan(macs, *nbytes, most=None):
        if most == 1 and _parallel.threads() > 1:
            seen.add("d_w on one thread for its memory")
        return plan(macs, *nbytes, most=most)

    def spy_col2im(*args):
        seen.add("d_x by col2im")
        return col2im(*args)

    def spy_by_taps(*args):
        seen.add("d_x tap by tap")
        return by_taps(*args)

    def spy_gather(*args):
        found = gather(*args)
        if found is not None:
            seen.add("d_x by the gather")
        return found

    for name, spy in [("_tiles", spy_tiles), ("_taps", spy_taps),
                      ("_tap_row_strips", spy_tap_rows),
                      ("_padded_rows", spy_padded_rows), ("_plan", spy_plan),
                      ("_backprop_input_col2im", spy_col2im),
                      ("_backprop_input_taps", spy_by_taps),
                      ("_gather_geometry", spy_gather)]:
        monkeypatch.setattr(_engine, name, spy)
    monkeypatch.setattr(_parallel, "run", spy_run)
    for cfg in CONFIGS:
        x, w, dy = cfg.arrays(rng, np.float64)
        args = cfg.args()
        for threads in THREADS:
            for budget in BUDGETS:
                with _settings(monkeypatch, threads, budget):
                    before, calling[0] = tiled[0], "y"
                    convlab.conv2d(x, w, *args)
                    if tiled[0] == before:
                        seen.add("y in one product")
                    before, calling[0] = tiled[0], "d_w"
                    convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args)
                    if tiled[0] == before:
                        seen.add("d_w in one product")
                    calling[0] = "d_x"
                    convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args)
    assert seen == {
        "tiles of whole images", "tiles of rows", "tiles of several images",
        "im2col tap by tap", "rows of x as they are", "padded rows", "several threads",
        "one thread", "d_w on one thread for its memory", "y in one product",
        "d_w in one product", "d_x by col2im", "d_x tap by tap", "d_x by the gather",
        "y by filter rows", "d_w by filter rows", "d_x by filter rows",
    }


def test_one_by_one_takes_the_single_product(rng, monkeypatch):
    cfg = PATHS["1x1-one-product"]
    x, w, dy = cfg.arrays(rng, np.float64)

    def no_tiles(*args):
        raise AssertionError("a 1x1 stride-1 unpadded conv2d needs no tiles")

    monkeypatch.setattr(_engine, "_tiles", no_tiles)
    want = _readable(cfg, x, w, dy)
    assert_close(convlab.conv2d(x, w, *cfg.args()), want["y"], np.float64)
    assert_close(convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *cfg.args()),
                 want["d_w"], np.float64)


def test_the_definitions_fit_a_book_column():
    # the chapters show this module's code: at most 79 characters a line
    source = Path(inspect.getfile(definitions)).read_text(encoding="utf-8")
    long = [n for n, line in enumerate(source.splitlines(), 1) if len(line) > 79]
    assert not long, f"convlab/definitions.py lines longer than 79 characters: {long}"


def test_the_chapters_imports_still_work():
    # chapters import the window view and the padding from convlab.reference
    assert reference.windows is definitions.windows
    assert reference.pad_hw is definitions.pad_hw
