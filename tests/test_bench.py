"""The benchmark's quick mode (structure, not speed), and the blocked numpy path it times."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import time
from collections.abc import Callable

import numpy as np
import pytest

import convlab
from _support import Config, assert_close
from convlab import _engine, bench
from convlab.__main__ import main

NUMPY_ROWS = {("y", "conv2d"), ("d_x", "conv2d_backprop_input"), ("d_x", "via conv2d"),
              ("d_w", "conv2d_backprop_filter"), ("d_w", "via conv2d")}
TF_ROWS = {("y", "conv2d"), ("d_x", "conv2d_backprop_input"), ("d_x", "via conv2d"),
           ("d_w", "conv2d_backprop_filter"), ("d_w", "via conv2d"), ("y+d_x+d_w", "autodiff")}


@pytest.fixture(scope="module")
def quick(ctf, tmp_path_factory):
    """``convlab bench --quick``, run once: (exit code, printed table, JSON record)."""
    path = tmp_path_factory.mktemp("bench") / "out" / "bench.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", "--quick", "--device", "cpu", "--json", str(path)])
    return code, out.getvalue(), json.loads(path.read_text())


def test_quick_bench_prints_a_table_per_layer_and_the_targets(quick):
    code, out, _ = quick
    assert code == 0, out
    for layer in bench.QUICK_LAYERS:
        assert f"{layer.name}: {layer.describe()}" in out
    for column in ("time ms", "GFLOP/s", "x TF op", "work", "peak MiB", "extra x", "rel err"):
        assert column in out
    assert "targets (numpy <= 1.5x TF's native op where it takes 1 ms or more, 3.0x below" in out
    assert "on the four large layers y and d_x <= 1.3x, d_w <= 1.0x" in out
    assert "the numpy reference (y / d_x / d_w) across sizes" in out
    for layer in bench.QUICK_LAYERS:
        for what in ("y", "d_x", "d_w", "y memory", "d_w threads"):
            assert f"{what} " in out.split(f"  {layer.name}: ")[1].split("\n")[0]
    assert "quick mode" in out
    assert out.rstrip().endswith("bench.json")


def test_quick_bench_writes_json_with_the_machine_and_every_row(quick):
    _, _, record = quick
    machine = record["machine"]
    for key in ("cpu", "cpu_flags", "cores", "platform", "python", "numpy", "blas",
                "blas_details", "environment", "tensorflow"):
        assert key in machine, key
    assert machine["numpy"] == np.__version__
    assert machine["tensorflow"]["version"]
    assert "Eigen" in machine["tensorflow"]["cpu_kernels"] or "oneDNN" in (
        machine["tensorflow"]["cpu_kernels"])
    assert record["settings"]["quick"] is True
    assert [layer["name"] for layer in record["layers"]] == [x.name for x in bench.QUICK_LAYERS]

    rows = record["rows"]
    for layer in bench.QUICK_LAYERS:
        mine = [r for r in rows if r["layer"] == layer.name]
        assert {(r["quantity"], r["method"]) for r in mine if r["backend"] == "numpy"} == NUMPY_ROWS
        assert {(r["quantity"], r["method"]) for r in mine if r["backend"] == "tensorflow"} == (
            TF_ROWS)
        assert len(mine) == len(NUMPY_ROWS) + len(TF_ROWS)
    for r in rows:
        if r["time_ms"] is None:  # n/a rows say why
            assert r["note"].strip(), r
            continue
        assert r["time_ms"] > 0 and r["gflops"] > 0, r
        if r["baseline_ms"] is not None:
            assert r["ratio"] == pytest.approx(r["time_ms"] / r["baseline_ms"]), r
        assert r["rel_err"] < 1e-5, r
        if r["backend"] == "numpy":
            assert r["peak_bytes"] > 0 and r["io_bytes"] > 0 and r["extra"] is not None, r
        if r["backend"] == "numpy" and bench.REFERENCE_METHODS[r["quantity"]] == r["method"]:
            assert r["threads_ratio"] == pytest.approx(r["threaded_ms"] / r["serial_ms"]), r
    # time, memory and threads for each of y, d_x and d_w
    assert len(record["targets"]) == 9 * len(bench.QUICK_LAYERS)


def test_the_via_conv2d_d_x_multiplies_the_inserted_zeros(quick):
    _, _, record = quick
    strided = next(x for x in bench.QUICK_LAYERS if x.strides == 2)
    via = [r for r in record["rows"] if r["layer"] == strided.name and r["quantity"] == "d_x"
           and r["method"] == "via conv2d"]
    assert [r["work"] for r in via] == [4.0, 4.0]  # numpy and TensorFlow: s**2 at stride 2
    scatter = [r for r in record["rows"] if r["layer"] == strided.name
               and r["method"] == "conv2d_backprop_input"]
    assert {r["work"] for r in scatter} == {1.0}


def test_tensorflow_refuses_dilated_gradients_on_cpu_and_the_row_says_so(quick):
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        pytest.skip("TensorFlow's CPU refusals are those of its stock kernels")
    _, out, record = quick
    dilated = next(x for x in bench.QUICK_LAYERS if x.dilations == 2)
    refused = {(r["quantity"], r["method"]): r for r in record["rows"]
               if r["layer"] == dilated.name and r["backend"] == "tensorflow"
               and r["time_ms"] is None}
    assert set(refused) == {("d_x", "conv2d_backprop_input"), ("d_w", "conv2d_backprop_filter"),
                            ("y+d_x+d_w", "autodiff")}
    for r in refused.values():
        assert r["note"].startswith("TF refuses") and "via conv2d works" in r["note"]
    targets = [t for t in record["targets"] if t["layer"] == dilated.name and t["holds"] is None]
    assert {t["what"] for t in targets} == {"d_x", "d_w"}
    assert all(t["note"] for t in targets)
    assert "n/a: TF refuses" in out


def test_without_tensorflow_the_numpy_rows_still_run(monkeypatch):
    why = "TensorFlow is not installed (pip install 'convlab[tf]')"
    monkeypatch.setattr(bench, "_tensorflow", lambda: (None, why))
    result = bench.run(bench.QUICK_LAYERS[:1], repeat=1, rounds=1, pause=0.0, warm_up=0.0)
    numpy_rows = [r for r in result.rows if r.backend == "numpy"]
    tf_rows = [r for r in result.rows if r.backend == "tensorflow"]
    assert len(numpy_rows) == len(NUMPY_ROWS) and all(r.seconds for r in numpy_rows)
    assert len(tf_rows) == len(TF_ROWS) and all(r.seconds is None and r.note == why
                                                for r in tf_rows)
    assert result.machine["tensorflow"] == {"version": None, "why": why}
    assert all(t.holds is None for t in result.targets if " " not in t.what)  # time
    assert f"n/a: {why}" in str(result)
    json.loads(result.to_json())


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--rounds", "-1"]])
def test_bad_bench_arguments_exit_2(tmp_path, capsys, argv):
    assert main(["bench", "--quick", *argv, "--json", str(tmp_path / "b.json")]) == 2
    assert "must be a positive int" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_the_sweep_runs_from_a_tiny_layer_to_the_large_ones(tmp_path, monkeypatch):
    asked = []

    def fake_run(layers, **kwargs):
        asked.append(list(layers))
        raise ValueError("stop here")

    monkeypatch.setattr(bench, "run", fake_run)
    assert main(["bench", "--sweep", "--json", str(tmp_path / "b.json")]) == 2
    layers = asked[0]
    assert layers == list(bench.SWEEP) and set(bench.LAYERS) <= set(layers)
    works = sorted(layer.macs for layer in layers)
    assert works[-1] / works[0] > 1e4  # four orders of magnitude and more
    # first layers with 3 channels, a 7x7 stride-2 stem, single images, mid-size batches
    assert any(lay.filter_shape[2] == 3 and lay.filter_shape[0] == 7 and lay.strides == 2
               for lay in layers)
    assert any(lay.input_shape[0] == 1 and lay.input_shape[1] >= 112 for lay in layers)


def test_targets_depend_on_the_time_of_tensorflows_op_and_on_the_layer():
    small, large = bench.SMALL_LAYERS[0], bench.LAYERS[0]
    assert bench.ratio_limit(small, "y", 0.5e-3) == 3.0
    assert bench.ratio_limit(small, "y", 2e-3) == 1.5
    assert bench.ratio_limit(large, "y", 20e-3) == 1.3
    assert bench.ratio_limit(large, "d_w", 20e-3) == 1.0
    # memory: twice the largest array, or the floor
    assert bench.memory_limit(large, 1 << 30) == 2.0
    assert bench.memory_limit(small, 1000) == _engine._FLOOR / 1000


# The numpy reference works a block of images and output rows at a time. The tests elsewhere
# use arrays below one block; here the blocks are made tiny, so that every image and row is
# a block of its own, and the results must not change.
BLOCK_CONFIGS = [
    Config(3, 9, 8, 3, 4, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(2, 10, 7, 2, 3, 3, 2, (1, 2), (2, 1), ((2, 1), (0, 3))),
    Config(3, 7, 7, 4, 2, 2, 2, (2, 1), (1, 1), "VALID", "NCHW"),
    Config(2, 6, 6, 5, 6, 1, 1, (1, 1), (1, 1), "VALID"),
]


@pytest.mark.parametrize("budget", [1, 2000])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("cfg", BLOCK_CONFIGS, ids=["s2-same", "dilated-explicit", "nchw", "1x1"])
def test_blocks_do_not_change_the_result(cfg, dtype, budget, rng, monkeypatch):
    x, w, dy = cfg.arrays(rng, dtype)
    args = cfg.args()
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    ref = {
        "y": convlab.conv2d_loops(x64, w64, *args),
        "d_x": convlab.conv2d_backprop_input(cfg.input_shape, w64, dy64, *args),
        "d_w": convlab.conv2d_backprop_filter(x64, cfg.filter_shape, dy64, *args),
    }
    monkeypatch.setattr(_engine, "_MIN_BLOCK", budget)
    monkeypatch.setattr(_engine, "_MAX_BLOCK", budget)
    assert_close(convlab.conv2d(x, w, *args), ref["y"], dtype, what="y")
    assert_close(convlab.conv2d_backprop_input(cfg.input_shape, w, dy, *args), ref["d_x"], dtype,
                 what="d_x")
    assert_close(convlab.conv2d_transpose(dy, w, cfg.input_shape, *args), ref["d_x"], dtype,
                 what="transpose")
    assert_close(convlab.conv2d_backprop_filter(x, cfg.filter_shape, dy, *args), ref["d_w"],
                 dtype, what="d_w")
    assert_close(convlab.grad_input_via_conv2d(cfg.input_shape, w, dy, *args), ref["d_x"], dtype,
                 what="via d_x")
    assert_close(convlab.grad_filter_via_conv2d(x, cfg.filter_shape, dy, *args), ref["d_w"],
                 dtype, what="via d_w")


def test_blocks_cover_the_range_once():
    for count, unit, budget in [(1, 10, 1), (7, 3, 10), (8, 1, 100), (5, 0, 4), (9, 4, 8)]:
        slices = _engine._blocks(count, unit, budget)
        assert [i for s in slices for i in range(count)[s]] == list(range(count))
        assert all(len(range(count)[s]) * unit <= max(budget, unit) for s in slices)


def _extra(fn) -> tuple[int, int]:
    """Peak bytes that ``fn()`` allocates beyond its result, and the result's bytes."""
    peak, result = bench._peak(fn)
    return peak - result, result


@pytest.mark.parametrize("cfg", [
    Config(8, 48, 48, 32, 32, 3, 3, (1, 1), (1, 1), "SAME"),
    Config(8, 48, 48, 32, 64, 3, 3, (2, 2), (1, 1), "SAME"),
    Config(8, 14, 14, 256, 256, 3, 3, (1, 1), (2, 2), "SAME"),  # the filter is the largest
    Config(4, 28, 28, 32, 32, 3, 3, (1, 1), (1, 1), "SAME"),  # small: the floor is the bound
    Config(1, 112, 112, 3, 32, 7, 7, (2, 2), (1, 1), "SAME"),  # few channels: col2im d_x
    # y by filter rows, where the products (C_out wide) are wider than the strips
    Config(2, 64, 64, 16, 512, 3, 1, (1, 1), (1, 1), "SAME"),
], ids=["3x3", "3x3-s2", "3x3-d2", "small", "stem", "3x1-wide-out"])
def test_extra_memory_stays_within_the_bound(cfg, rng):
    # the bound: twice the largest array given or returned, or _engine._FLOOR if larger.
    # An im2col of the whole batch would take KH*KW = 9 times the input; d_w comes
    # closest to the bound when the filter is the largest array, since each block's
    # product is a temporary the size of the filter (numpy's matmul cannot add into its
    # output)
    x, w, dy = cfg.arrays(rng, np.float32)
    args = cfg.args()
    for what, fn, inputs in [
        ("y", lambda: convlab.conv2d(x, w, *args), (x, w)),
        ("d_x", lambda: convlab.conv2d_backprop_input(x.shape, w, dy, *args), (w, dy)),
        ("d_w", lambda: convlab.conv2d_backprop_filter(x, w.shape, dy, *args), (x, dy)),
    ]:
        extra, result = _extra(fn)
        largest = max(result, *(a.nbytes for a in inputs))
        bound = max(2 * largest, _engine._FLOOR)
        assert extra <= bound, f"{what}: {extra / bound:.2f} x the bound"


def test_each_device_has_its_own_rows_and_baselines(ctf, monkeypatch):
    # on a machine without a GPU, pretend there is one: TensorFlow's soft placement runs the
    # "gpu" rows on the CPU, which is enough to check how the rows are put together
    if ctf.gpu_available():
        pytest.skip("a real GPU is present: test_quick_bench_on_the_gpu covers it")
    monkeypatch.setattr(ctf, "gpu_available", lambda: True)
    result = bench.run(bench.QUICK_LAYERS[:2], repeat=1, rounds=1, pause=0.0, warm_up=0.0)
    for layer, device in itertools.product(bench.QUICK_LAYERS[:2], ("cpu", "gpu")):
        rows = [r for r in result.rows if r.layer == layer.name and r.device == device
                and r.backend == "tensorflow"]
        assert {(r.quantity, r.method) for r in rows} == TF_ROWS
        native = {r.quantity: r.seconds for r in rows if r.ratio == 1.0}
        assert set(native) == {"y", "d_x", "d_w"}
        for r in rows:
            assert r.baseline == (native.get(r.quantity) if r.quantity in native
                                  else sum(native.values())), r
    assert result.settings["devices"] == ["cpu", "gpu"]


@pytest.mark.gpu
def test_quick_bench_on_the_gpu(ctf):
    if not ctf.gpu_available():
        pytest.skip("TensorFlow sees no GPU on this machine")
    result = bench.run(bench.QUICK_LAYERS, repeat=1, rounds=1, pause=0.0, warm_up=0.0)
    gpu_rows = [r for r in result.rows if r.device == "gpu"]
    assert len(gpu_rows) == len(TF_ROWS) * len(bench.QUICK_LAYERS)
    assert all(r.seconds and r.rel_err < 1e-4 for r in gpu_rows), [r for r in gpu_rows
                                                                   if not r.seconds]
    assert result.machine["tensorflow"]["gpus"]
    assert result.machine["tensorflow"]["tf32"].startswith("TF32 off")
    assert "float32 on the GPU: TF32 off" in str(result)


def test_each_method_warms_up_before_it_is_timed():
    calls = []

    def fn():
        calls.append(time.perf_counter())
        time.sleep(0.005)
        return len(calls)

    start = time.perf_counter()
    result, best = bench._pause_then_best(fn, lambda r: r, repeat=3, pause=0.0, warm_up=0.05)
    timed = calls[-3:]
    assert result == 1  # the first call's result
    assert timed[0] - start >= 0.05  # the timed runs start after the warm-up
    assert len(calls) >= 3 + 1 + 5  # result call, warm-up calls, timed calls
    # short calls are timed for twice the warm-up, however many that takes
    assert calls[-1] - start >= 0.05 + 0.1 - 0.01
    assert 0.005 <= best < 0.5


def test_a_result_reads_back_from_its_json(quick):
    _, _, record = quick
    result = bench.load(json.dumps(record))
    assert [layer.name for layer in result.layers] == [x.name for x in bench.QUICK_LAYERS]
    assert result.layers == list(bench.QUICK_LAYERS)
    assert len(result.rows) == len(record["rows"])
    assert json.loads(result.to_json())["rows"] == record["rows"]


def test_routes_add_up_the_rows_of_each_way(quick):
    _, _, record = quick
    rows = bench.load(json.dumps(record)).rows
    layer = bench.QUICK_LAYERS[0].name
    times = {(r.backend, r.quantity, r.method): r.seconds for r in rows
             if r.layer == layer and r.device == "cpu"}
    got = bench.routes(rows, layer)
    for route, parts in bench.ROUTES.items():
        assert got[route] == pytest.approx(sum(times[part] for part in parts)), route
    dilated = next(x.name for x in bench.QUICK_LAYERS if x.dilations == 2)
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":  # TF's own kernels refuse these
        assert bench.routes(rows, dilated)["autodiff"] is None
        assert bench.routes(rows, dilated)["native ops"] is None
    assert bench.routes(rows, dilated)["via conv2d"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("onednn", [False, True])
def test_run_in_process_uses_the_kernels_asked_for(ctf, onednn):
    result = bench.run_in_process(bench.QUICK_LAYERS[-1:], onednn, repeat=1, rounds=1,
                                  device="cpu", pause=0.0, warm_up=0.0)
    kernels = result.machine["tensorflow"]["cpu_kernels"]
    assert kernels.startswith("oneDNN" if onednn else "stock Eigen"), kernels
    dilated = bench.routes(result.rows, bench.QUICK_LAYERS[-1].name)
    assert (dilated["autodiff"] is not None) == onednn  # oneDNN computes float32 dilation


def test_two_ways_take_turns_and_each_keeps_its_own_best(monkeypatch):
    # a slow moment of the machine must hit both ways: they alternate, a turn at a time,
    # and the first call of each turn (when the other's threads still spin) is not timed
    clock = [0.0]
    calls: list[str] = []

    def way(name: str, seconds: float) -> Callable[[], None]:
        def call() -> None:
            switched = not calls or calls[-1] != name
            calls.append(name)
            clock[0] += 100.0 if switched else seconds  # slow right after a switch
        return call

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    a, b = bench._in_turns(way("a", 2.0), way("b", 3.0), pause=0.1, turn=5.0, turns=4)
    assert (a, b) == (2.0, 3.0)
    runs = [name for k, name in enumerate(calls) if k == 0 or calls[k - 1] != name]
    assert runs == ["a", "b", "a", "b"]


def test_a_call_counts_as_shared_only_where_it_ran_on_several_threads(rng, monkeypatch):
    # the threads target compares two calls only where the engine's rule shared one: seen
    # in convlab._parallel.run, since a large filter's d_w stays on one thread whatever
    # the work
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    monkeypatch.setattr(_engine, "_THREAD_MACS", 1)
    monkeypatch.setattr(_engine, "_FLOOR", 0)
    run = bench._parallel.run
    x, w = rng.standard_normal((4, 12, 12, 8)), rng.standard_normal((3, 3, 8, 8))
    assert bench._shared(lambda: convlab.conv2d(x, w, 1, "SAME"))
    assert bench._parallel.run is run
    x, w = rng.standard_normal((1, 4, 4, 64)), rng.standard_normal((3, 3, 64, 64))
    dy = rng.standard_normal((1, 4, 4, 64))
    assert not bench._shared(lambda: convlab.conv2d_backprop_filter(x, w.shape, dy, 1, "SAME"))
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "1")
    assert not bench._shared(lambda: convlab.conv2d(x, w, 1, "SAME"))
    assert bench._parallel.run is run

    # and the targets follow what was seen, or the rule's guess in older records
    monkeypatch.setenv("CONVLAB_NUM_THREADS", "2")
    layer = bench.LAYERS[3]
    rows = [bench.Row(layer.name, q, bench.REFERENCE_METHODS[q], "numpy", "cpu", seconds=1.0,
                      threaded=1.2, serial=1.0, shared=shared)
            for q, shared in (("y", True), ("d_x", None), ("d_w", False))]
    found = {t.what: t for t in bench._targets(layer, rows)}
    assert found["y threads"].holds is False
    assert found["d_x threads"].holds is False  # the rule shares a layer of this work
    assert found["d_w threads"].holds is True and found["d_w threads"].note
