"""The engine's one decision of threads, memory and tiles (convlab._engine._plan)."""

from __future__ import annotations

import numpy as np
import pytest

import convlab
from _support import Config
from convlab import _checks, _engine, _parallel

MIB = 1 << 20


@pytest.mark.parametrize("available", ["1", "2", "4"])
def test_a_thread_joins_per_thread_macs_up_to_the_threads_available(available,
                                                                     monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", available)
    most = _parallel.threads()
    step = _engine._THREAD_MACS
    works = [0, 1, step - 1, step, 2 * step - 1, 2 * step, 3 * step, 5 * step, 1 << 40]
    threads = [_engine._plan(macs, 1).threads for macs in works]
    assert threads == [max(1, min(most, macs // step)) for macs in works]
    assert threads == sorted(threads)  # more work never means fewer threads
    assert threads[:5] == [1] * 5  # work under two threads' worth runs serially
    assert _engine._plan(1 << 40, 1, most=1).threads == 1


@pytest.mark.parametrize("threads", ["1", "2", "4"])
@pytest.mark.parametrize("largest", [0, 1000, 3 * MIB, 40 * MIB, 1 << 33])
def test_all_threads_copies_stay_within_twice_the_largest_array_or_the_floor(
        largest, threads, monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", threads)
    plan = _engine._plan(1 << 40, largest, largest // 2)
    assert plan.threads * plan.allowance <= max(2 * largest, _engine._FLOOR)
    # the floor is the budget of small arrays, not a fraction of them
    assert plan.allowance >= _engine._FLOOR // plan.threads


@pytest.mark.parametrize("cfg", [
    Config(1, 8, 8, 8, 8, 3, 3, (1, 1), (1, 1), "SAME"),
    Config(4, 28, 28, 32, 32, 3, 3, (1, 1), (1, 1), "SAME"),
    Config(1, 56, 56, 64, 64, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(8, 32, 32, 3, 16, 3, 3, (1, 1), (1, 1), "SAME"),
], ids=["tiny", "4x28x28x32", "56x56-s2", "cifar-stem"])
def test_a_small_layer_is_one_tile_on_one_thread(cfg, monkeypatch):
    # the cause of issue 11: budgets that were a fraction of a small array cut it into
    # one-row tiles, each costing more Python than arithmetic
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    conv = convlab.conv_geometry(cfg.input_shape, cfg.filter_shape, *cfg.args())
    plan = _engine._plan(_engine._macs(conv), 4 * np.prod(cfg.input_shape))
    assert plan.threads == 1
    assert len(_engine._tiles(conv, cfg.c_in, plan)) == 1


def test_a_large_layer_is_shared_in_tiles_for_every_thread(monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    cfg = Config(8, 56, 56, 64, 64, 3, 3, (1, 1), (1, 1), "SAME")
    conv = convlab.conv_geometry(cfg.input_shape, cfg.filter_shape, *cfg.args())
    plan = _engine._plan(_engine._macs(conv), 4 * np.prod(cfg.input_shape))
    assert plan.threads == 2
    assert len(_engine._tiles(conv, cfg.c_in, plan)) >= _engine._TILES_PER_THREAD * 2


@pytest.mark.parametrize(("kernel", "c_in", "dtype", "way"), [
    ((3, 3), 3, np.float32, "col2im"),
    ((7, 7), 15, np.float32, "col2im"),
    ((3, 3), 16, np.float32, "taps"),
    ((3, 3), 8, np.float64, "taps"),
    ((3, 3), 7, np.float64, "col2im"),
    ((1, 1), 3, np.float32, "taps"),  # one tap: one product either way
    ((3, 3), 3, np.float16, "col2im"),  # sums in float32
])
def test_d_x_adds_along_rows_when_a_row_of_channels_is_under_a_cache_line(
        kernel, c_in, dtype, way, rng, monkeypatch):
    cfg = Config(2, 9, 9, c_in, 4, *kernel, (2, 2), (1, 1), "SAME")  # stride 2: no gather
    _, w, dy = cfg.arrays(rng, dtype)
    taken = []
    for name in ("_backprop_input_col2im", "_backprop_input_taps"):
        real = getattr(_engine, name)
        monkeypatch.setattr(_engine, name, lambda *a, real=real, name=name: (
            taken.append(name.rsplit("_", 1)[1]), real(*a))[1])
    convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *cfg.args())
    assert set(taken) == {way}


@pytest.mark.parametrize(("shared", "most_bytes", "blocks"), [
    (False, None, 1),  # alone: one product a tap for all 8 images
    (True, None, 8),  # shared by 2 threads: four blocks or more each
    (False, 3 * 16 * 16 * 32 * 4, 8),  # alone, with memory for one image
])
def test_d_x_scatters_in_as_few_blocks_as_memory_allows_unless_shared(
        shared, most_bytes, blocks, rng, monkeypatch):
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    if shared:
        monkeypatch.setattr(_engine, "_THREAD_MACS", 1)
    if most_bytes is not None:
        monkeypatch.setattr(_engine, "_MAX_BLOCK", most_bytes)
    cfg = Config(8, 16, 16, 32, 32, 3, 3, (2, 2), (1, 1), "SAME")  # stride 2: taps
    _, w, dy = cfg.arrays(rng, np.float64)
    run, seen = _parallel.run, []
    monkeypatch.setattr(_parallel, "run", lambda work, items, most=None: (
        seen.append(list(items)), run(work, items, most))[1])
    got = convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *cfg.args())
    assert len(seen) == 1 and len(seen[0]) == blocks
    assert sum(n.stop - n.start for n in seen[0]) == 8
    want = convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *cfg.args())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("strides", "padding", "c_in", "gathers"), [
    ((1, 1), "SAME", 16, True),
    ((1, 1), "VALID", 32, True),
    ((1, 1), ((2, 2), (1, 1)), 16, True),  # pads up to K_eff - 1
    ((1, 1), ((3, 0), (0, 0)), 16, False),  # beyond: dy would be cropped
    ((1, 2), "SAME", 16, False),
    ((1, 1), "SAME", 3, False),  # few channels: col2im
])
def test_d_x_at_stride_1_is_the_forward_conv_of_dy_with_the_turned_filter(
        strides, padding, c_in, gathers, rng, monkeypatch):
    cfg = Config(2, 7, 8, c_in, 5, 3, 3, strides, (1, 1), padding)
    _, w, dy = cfg.arrays(rng, np.float64)
    geometry = _engine._gather_geometry
    found = []
    monkeypatch.setattr(_engine, "_gather_geometry",
                        lambda *a: found.append(geometry(*a)) or found[-1])
    got = convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *cfg.args())
    assert (found != [] and found[-1] is not None) == gathers
    want = convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *cfg.args())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kernel", "strides", "c_in", "dtype", "rows"), [
    ((3, 3), (1, 1), 16, np.float32, True),
    ((3, 3), (1, 2), 64, np.float32, True),  # the width's stride is in the strips
    ((3, 1), (1, 1), 32, np.float32, True),
    ((3, 3), (2, 1), 64, np.float32, False),  # height stride: rows are not offsets
    ((1, 3), (1, 1), 64, np.float32, False),  # one filter row: nothing to share
    ((3, 3), (1, 1), 15, np.float32, False),  # a row of channels under a cache line
    ((3, 3), (1, 1), 8, np.float64, True),
    ((3, 3), (1, 1), 16, np.float16, True),  # sums in float32
])
def test_y_and_d_w_take_filter_rows_at_height_stride_1_with_a_cache_line_of_channels(
        kernel, strides, c_in, dtype, rows, rng, monkeypatch):
    cfg = Config(2, 9, 10, c_in, 8, *kernel, strides, (1, 1), "SAME")
    x, w, _ = cfg.arrays(rng, dtype)
    conv = _checks.forward(cfg.input_shape, dtype, cfg.filter_shape, dtype, *cfg.args())
    tile = (slice(0, 2), slice(0, conv.h.out))
    assert _engine._by_tap_rows(conv, tile, _engine._FLOOR) == rows
    # and the padded rows must fit in half the allowance
    assert not _engine._by_tap_rows(conv, tile, 2 * _engine._band_bytes(conv, tile, 2) - 1)
    taken = []
    real = _engine._tap_row_strips
    monkeypatch.setattr(_engine, "_tap_row_strips",
                        lambda *a: (taken.append(1), real(*a))[1])
    got = convlab.conv2d(x, w, *cfg.args())
    assert bool(taken) == rows
    want = convlab.definitions.conv2d(conv, x.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-2 if dtype == np.float16 else 1e-5,
                               atol=2e-2 * np.abs(want).max())
    # d_w takes the same copy, both images in one product a filter row
    taken.clear()
    dy = rng.standard_normal(conv.output_shape).astype(dtype)
    got = convlab.conv2d_backprop_filter(x, w.shape, dy, *cfg.args())
    assert bool(taken) == rows
    want = convlab.definitions.conv2d_backprop_filter(conv, x.astype(np.float64),
                                                      dy.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-2 if dtype == np.float16 else 1e-5,
                               atol=2e-2 * np.abs(want).max())
