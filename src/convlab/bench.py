"""Time every way of computing conv2d and its gradients: ``python -m convlab bench``.

On ResNet-like layers (batch 8) it times the numpy reference (``conv2d``, the scatter
``conv2d_backprop_input``, ``conv2d_backprop_filter``), TensorFlow's native ops,
TensorFlow's autodiff, and the via-conv2d methods on numpy and on TensorFlow: on the CPU,
and on a GPU when TensorFlow sees one. Each row gives the time, the useful GFLOP/s, the
ratio to TensorFlow's native op for the same quantity on the same device, the work done
per useful multiply-add (the via-conv2d ``d_x`` multiplies the zeros that zero insertion
adds: about ``s**2`` times the work at stride ``s``), the error against a float64
reference, and for numpy the peak memory (``tracemalloc``). The targets of the numpy
reference are checked at the end, and :meth:`Result.to_json` describes the machine.

Timing on a shared machine: everything runs in one process; each time is the minimum of
``repeat`` runs after a warm-up, taken again in each of ``rounds`` passes over the
methods, and for the two times of each target (the numpy reference's and TensorFlow's
native op's on the CPU) once more in turns, side by side. Before each method the run
pauses briefly, because OpenBLAS and TensorFlow both keep their worker threads spinning
for a while after a call, and on a small machine a spinning pool of one library slows
the other down.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import convlab
from convlab import _checks, _engine, _parallel, reference
from convlab.tolerance import errors
from convlab.verify import _short, _tensorflow

__all__ = ["LAYERS", "QUICK_LAYERS", "ROUTES", "SMALL_LAYERS", "SWEEP", "Layer", "Result", "Row",
           "Target", "load", "machine", "memory_limit", "ratio_limit", "recorded",
           "recorded_run", "routes", "run", "run_in_process"]


@dataclass(frozen=True)
class Layer:
    """One convolution to time: NHWC input, HWIO filter, TF-style arguments."""

    name: str
    input_shape: tuple[int, int, int, int]
    filter_shape: tuple[int, int, int, int]
    strides: int
    padding: str
    dilations: int

    @property
    def conv(self) -> _checks.Conv:
        return _checks.forward(self.input_shape, np.float32, self.filter_shape, np.float32,
                               self.strides, self.padding, "NHWC", self.dilations)

    @property
    def macs(self) -> int:
        """Multiply-adds one of y, d_x, d_w needs: one per (output, tap, input channel)."""
        n, oh, ow, k = self.conv.output_shape
        kh, kw, c, _ = self.filter_shape
        return n * oh * ow * k * kh * kw * c

    def describe(self) -> str:
        x, y = self.input_shape, self.conv.output_shape
        return (f"x {'x'.join(map(str, x))} -> y {'x'.join(map(str, y))}, filter "
                f"{self.filter_shape[0]}x{self.filter_shape[1]}, stride {self.strides}, "
                f"dilation {self.dilations}, {self.padding}")


LAYERS = (
    Layer("56x56 3x3", (8, 56, 56, 64), (3, 3, 64, 64), 1, "SAME", 1),
    Layer("56x56 3x3 s2", (8, 56, 56, 64), (3, 3, 64, 128), 2, "SAME", 1),
    Layer("28x28 1x1", (8, 28, 28, 128), (1, 1, 128, 256), 1, "SAME", 1),
    Layer("14x14 3x3 d2", (8, 14, 14, 256), (3, 3, 256, 256), 1, "SAME", 2),
)

# the sweep's smaller layers, from tiny to mid-size: with LAYERS, what `make bench` times
SMALL_LAYERS = (
    Layer("1x8x8x8 3x3", (1, 8, 8, 8), (3, 3, 8, 8), 1, "SAME", 1),
    Layer("1x16x16x16 3x3", (1, 16, 16, 16), (3, 3, 16, 16), 1, "SAME", 1),
    Layer("8x32x32x3 3x3", (8, 32, 32, 3), (3, 3, 3, 16), 1, "SAME", 1),
    Layer("1x224x224x3 7x7 s2", (1, 224, 224, 3), (7, 7, 3, 64), 2, "SAME", 1),
    Layer("1x112x112x32 3x3", (1, 112, 112, 32), (3, 3, 32, 32), 1, "SAME", 1),
    Layer("1x56x56x64 3x3", (1, 56, 56, 64), (3, 3, 64, 64), 1, "SAME", 1),
    Layer("2x56x56x64 3x3 s2", (2, 56, 56, 64), (3, 3, 64, 128), 2, "SAME", 1),
    Layer("4x28x28x32 3x3", (4, 28, 28, 32), (3, 3, 32, 32), 1, "SAME", 1),
    Layer("4x14x14x128 1x1", (4, 14, 14, 128), (1, 1, 128, 128), 1, "SAME", 1),
    Layer("8x28x28x64 3x3", (8, 28, 28, 64), (3, 3, 64, 64), 1, "SAME", 1),
)
SWEEP = SMALL_LAYERS + LAYERS

# the same four kinds of layer, tiny: `make test` checks the output's structure with them
QUICK_LAYERS = (
    Layer("8x8 3x3", (2, 8, 8, 4), (3, 3, 4, 4), 1, "SAME", 1),
    Layer("8x8 3x3 s2", (2, 8, 8, 4), (3, 3, 4, 8), 2, "SAME", 1),
    Layer("4x4 1x1", (2, 4, 4, 8), (1, 1, 8, 16), 1, "SAME", 1),
    Layer("6x6 3x3 d2", (2, 6, 6, 8), (3, 3, 8, 8), 1, "SAME", 2),
)

# targets for the numpy reference: time / TF's native time on the CPU, and extra memory.
# On the four large layers (LAYERS):
TARGETS = {"y": 1.3, "d_x": 1.3, "d_w": 1.0, "memory": 2.0}
# on every layer: at most 1.5x where TF's op takes 1 ms or more, 3x below (where fixed
# costs dominate); threaded at most a tenth slower than serial (the timing noise of a
# shared machine; where the engine's rule gives one thread, the two are the same call,
# and the target holds whatever the timing noise); extra
# memory within twice the largest array given or returned, or the engine's floor
# (_engine._FLOOR) if that is larger
SWEEP_TARGETS = {"ratio": 1.5, "ratio_under_1ms": 3.0, "threads": 1.1}
REFERENCE_METHODS = {"y": "conv2d", "d_x": "conv2d_backprop_input",
                     "d_w": "conv2d_backprop_filter"}
ALL = "y+d_x+d_w"  # autodiff records the forward pass and returns both gradients


@dataclass
class Row:
    """One method on one layer, backend and device.

    ``seconds`` is ``None`` when the method could not run (``note`` says why).
    ``baseline`` is TensorFlow's native time for the same quantity on the same device
    (the CPU for numpy rows). ``work`` is multiply-adds done per multiply-add needed.
    ``peak_bytes`` is tracemalloc's peak during one call, the result included;
    ``io_bytes`` is the largest input or output. ``threaded`` and ``serial`` (numpy
    reference rows) time the call as it is and with ``CONVLAB_NUM_THREADS=1``, the two
    taking turns call by call; ``shared`` says whether the call as it is ran on more than
    one thread (None in records from before it was kept).
    """

    layer: str
    quantity: str
    method: str
    backend: str
    device: str
    seconds: float | None = None
    flops: float = 0.0
    work: float = 1.0
    baseline: float | None = None
    peak_bytes: int | None = None
    result_bytes: int | None = None
    io_bytes: int | None = None
    rel_err: float | None = None
    threaded: float | None = None
    serial: float | None = None
    shared: bool | None = None
    note: str = ""

    @property
    def gflops(self) -> float | None:
        """Useful GFLOP/s: the multiply-adds the quantity needs, twice, per second."""
        return None if self.seconds is None else self.flops / self.seconds / 1e9

    @property
    def ratio(self) -> float | None:
        """Time relative to TensorFlow's native op (below 1: faster)."""
        if self.seconds is None or self.baseline is None:
            return None
        return self.seconds / self.baseline

    @property
    def threads_ratio(self) -> float | None:
        """Threaded time relative to serial (numpy reference rows; above 1: threads hurt)."""
        if self.threaded is None or self.serial is None:
            return None
        return self.threaded / self.serial

    @property
    def extra(self) -> float | None:
        """Peak memory beyond the result, relative to the largest input or output."""
        if self.peak_bytes is None or self.result_bytes is None or not self.io_bytes:
            return None
        return (self.peak_bytes - self.result_bytes) / self.io_bytes

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        ms = {k: None if v is None else 1e3 * v
              for k, v in (("time_ms", self.seconds), ("baseline_ms", self.baseline),
                           ("threaded_ms", self.threaded), ("serial_ms", self.serial))}
        out.update(ms, gflops=self.gflops, ratio=self.ratio, extra=self.extra,
                   threads_ratio=self.threads_ratio)
        del out["seconds"], out["baseline"], out["threaded"], out["serial"]
        return out


@dataclass(frozen=True)
class Target:
    """One target of the numpy reference on one layer; ``holds`` is None without a baseline."""

    layer: str
    what: str
    value: float | None
    limit: float
    holds: bool | None
    note: str = ""


@dataclass
class Result:
    """What :func:`run` measured. ``str(result)`` is the table; :meth:`to_json` the record."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    layers: list[Layer]
    rows: list[Row]
    targets: list[Target] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({
            "convlab_bench": 1,
            "machine": self.machine,
            "settings": self.settings,
            "layers": [{**asdict(layer), "description": layer.describe(),
                        "output_shape": layer.conv.output_shape, "gflop": 2e-9 * layer.macs}
                       for layer in self.layers],
            "rows": [row.record() for row in self.rows],
            "targets": [asdict(t) for t in self.targets],
        }, indent=1)

    def curve(self) -> list[str]:
        """The numpy reference against TensorFlow layer by layer, smallest work first."""
        head = ["layer", "GFLOP", "TF ms y/d_x/d_w", "numpy / TF", "threaded / serial",
                "extra x"]
        found = {(r.layer, r.quantity): r for r in self.rows
                 if r.backend == "numpy" and r.method == REFERENCE_METHODS.get(r.quantity)}
        body = []
        for layer in sorted(self.layers, key=lambda lay: lay.macs):
            rows = [found.get((layer.name, q)) for q in REFERENCE_METHODS]
            if None in rows:
                continue

            def cells(value: Callable[[Row], float | None], spec: str,
                      rows: list[Any] = rows) -> str:
                return " / ".join(_fmt(value(r), spec) for r in rows)

            body.append([layer.name, f"{2e-9 * layer.macs:.3f}",
                         cells(lambda r: None if r.baseline is None else 1e3 * r.baseline,
                               ".2f"),
                         cells(lambda r: r.ratio, ".2f"),
                         cells(lambda r: r.threads_ratio, ".2f"),
                         cells(lambda r: r.extra, ".2f")])
        return ["the numpy reference (y / d_x / d_w) across sizes, against TensorFlow's native "
                "ops on the CPU:", *_table(head, body)]

    def __str__(self) -> str:
        head = ["quantity", "method", "backend", "device", "time ms", "GFLOP/s", "x TF op",
                "work", "peak MiB", "extra x", "rel err", "note"]
        lines = [_header(self.machine, self.settings)]
        for layer in self.layers:
            body = [_cells(r) for r in self.rows if r.layer == layer.name]
            lines += ["", f"{layer.name}: {layer.describe()}; {2e-9 * layer.macs:.2f} GFLOP "
                          "for each of y, d_x, d_w", *_table(head, body)]
        lines += ["", _legend(), "", *self.curve(), "", *_verdict(self.targets)]
        if self.settings.get("quick"):
            lines.append("quick mode: layers this small time Python's overhead, not the "
                         "arithmetic; the targets are meant for the full layers")
        return "\n".join(lines)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cells(r: Row) -> list[str]:
    if r.seconds is None:
        return [r.quantity, r.method, r.backend, r.device, *["-"] * 7, f"n/a: {r.note}"]
    peak = None if r.peak_bytes is None else r.peak_bytes / 2**20
    return [r.quantity, r.method, r.backend, r.device, f"{1e3 * r.seconds:.2f}",
            _fmt(r.gflops, ".0f"), _fmt(r.ratio, ".2f"), f"{r.work:.2f}", _fmt(peak, ".1f"),
            _fmt(r.extra, ".2f"), _fmt(r.rel_err, ".1e"), r.note]


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *(line(row) for row in body)]


def _header(m: dict[str, Any], s: dict[str, Any]) -> str:
    tf = m.get("tensorflow", {})
    flags = "".join(f", {f}" for f in m["cpu_flags"])
    lines = [
        f"convlab bench: {m['cpu']} ({m['cores']} cores{flags}), numpy {m['numpy']} "
        f"({m['blas']}), TensorFlow {tf.get('version') or '-'}",
        f"float32; each time the best of {s['repeat']} after {s.get('warm_up_s', 0):g} s of "
        f"warm-up calls, in each of "
        f"{s['rounds']} round(s), then numpy and TF's native op in turns; TensorFlow "
        f"CPU kernels: {tf.get('cpu_kernels', '-')}; "
        f"numpy reference on {m.get('convlab_threads', 1)} thread(s)",
    ]
    if tf.get("gpus"):
        lines.append(f"GPU: {', '.join(tf['gpus'])}; float32 on the GPU: {tf['tf32']}")
    return "\n".join(lines)


def _legend() -> str:
    return (
        "x TF op: time / TensorFlow's native op for the same quantity on the same device (numpy "
        "rows: the CPU);\nwork: multiply-adds done per multiply-add needed; GFLOP/s count only "
        "those needed;\npeak MiB: tracemalloc's peak during one call, the result included; "
        "extra x: (peak - result) / largest input or output;\nrel err: max |error| / max "
        "|value| against a float64 numpy reference."
    )


def _verdict(targets: list[Target]) -> list[str]:
    limits = (f"numpy <= {SWEEP_TARGETS['ratio']}x TF's native op where it takes 1 ms or "
              f"more, {SWEEP_TARGETS['ratio_under_1ms']}x below; on the four large layers y "
              f"and d_x <= {TARGETS['y']}x, d_w <= {TARGETS['d_w']}x; extra memory <= "
              f"{TARGETS['memory']}x the largest input or output, or "
              f"{_engine._FLOOR >> 20} MiB if larger; threaded <= "
              f"{SWEEP_TARGETS['threads']}x serial")
    lines = [f"targets ({limits}):"]
    for layer in dict.fromkeys(t.layer for t in targets):
        parts = []
        for t in (t for t in targets if t.layer == layer):
            verdict = {True: "holds", False: "MISSES", None: f"n/a ({t.note})"}[t.holds]
            if t.holds and t.note:
                verdict = f"holds ({t.note})"
            parts.append(f"{t.what} {_fmt(t.value, '.2f')} {verdict}")
        lines.append(f"  {layer}: " + "; ".join(parts))
    held = sum(t.holds is True for t in targets)
    missed = sum(t.holds is False for t in targets)
    lines.append(f"{held} of {len(targets)} targets hold, {missed} miss, "
                 f"{len(targets) - held - missed} without a TensorFlow baseline")
    return lines


def _pause_then_best(fn: Callable[[], Any], sync: Callable[[Any], Any], repeat: int,
                     pause: float, warm_up: float = 0.0) -> tuple[Any, float]:
    """Return ``fn()``'s result and the best of ``repeat`` or more timed runs after a warm-up.

    Runs are timed until there are ``repeat`` of them and they took ``2 * warm_up``
    seconds: a call of a fraction of a millisecond is timed hundreds of times, since a
    best of five of those moves by a third from run to run on a shared machine.

    The warm-up lasts at least ``warm_up`` seconds: after the pause, a virtual machine's
    idle CPUs wake slowly for a while (its haltpoll governor stops polling), which slows
    whatever hands work between threads, numpy's tiles more than TensorFlow's spinning
    pool; a few calls bring both back to their steady speed.
    """
    time.sleep(pause)  # let the other library's spinning worker threads go to sleep
    result = sync(fn())
    warm_until = time.perf_counter() + warm_up
    while time.perf_counter() < warm_until:
        sync(fn())
    best = float("inf")
    timed_until = time.perf_counter() + 2 * warm_up
    done = 0
    while done < repeat or time.perf_counter() < timed_until:
        start = time.perf_counter()
        sync(fn())
        best = min(best, time.perf_counter() - start)
        done += 1
    return result, best


def _peak(fn: Callable[[], Any]) -> tuple[int, int]:
    """Return tracemalloc's peak during one call of ``fn`` and the size of its result.

    The memory the reference's threads keep between calls is dropped first, so the peak
    counts it.
    """
    _parallel.release()
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, int(np.asarray(result).nbytes)


def _work_via_filter(layer: Layer) -> float:
    """Multiply-adds of the via-conv2d d_w per needed one: its output may exceed the kernel."""
    conv = layer.conv
    inner = [(ax.padded - (ax.stride * (ax.out - 1) + 1)) // ax.dilation + 1
             for ax in (conv.h, conv.w)]
    return inner[0] * inner[1] / (conv.h.kernel * conv.w.kernel)


def _methods(layer: Layer, api: Any, x: Any, w: Any, dy: Any,
             **on: str) -> list[tuple[str, str, float, Callable[[], Any]]]:
    """``(quantity, method, work, fn)`` for every method of ``api``: convlab or convlab.tf."""
    conv, args = layer.conv, (layer.strides, layer.padding, "NHWC", layer.dilations)
    xs, ws = layer.input_shape, layer.filter_shape
    zeros = conv.h.size * conv.w.size / (conv.h.out * conv.w.out)  # via d_x: dy zero-stretched
    methods = [
        ("y", "conv2d", 1.0, lambda: api.conv2d(x, w, *args, **on)),
        ("d_x", "conv2d_backprop_input", 1.0,
         lambda: api.conv2d_backprop_input(xs, w, dy, *args, **on)),
        ("d_x", "via conv2d", zeros, lambda: api.grad_input_via_conv2d(xs, w, dy, *args, **on)),
        ("d_w", "conv2d_backprop_filter", 1.0,
         lambda: api.conv2d_backprop_filter(x, ws, dy, *args, **on)),
        ("d_w", "via conv2d", _work_via_filter(layer),
         lambda: api.grad_filter_via_conv2d(x, ws, dy, *args, **on)),
    ]
    if hasattr(api, "autodiff"):
        methods.append((ALL, "autodiff", 1.0, lambda: api.autodiff(x, w, dy, *args, **on)))
    return methods


def _tf_sync(ctf: Any, dev: str) -> Callable[[Any], Any]:
    """Wait for a TensorFlow result; on a GPU without copying it to the host."""
    def sync(result: Any) -> Any:
        if dev == "gpu":
            ctf.tf.test.experimental.sync_devices()
            return result
        if isinstance(result, tuple):
            return tuple(ctf.as_numpy(r) for r in result)
        return ctf.as_numpy(result)
    return sync


def _bench_layer(layer: Layer, ctf: Any, why: str, devices: list[str], repeat: int,
                 rounds: int, pause: float, seed: int, warm_up: float = 0.0) -> list[Row]:
    rng = np.random.default_rng(seed)
    conv = layer.conv
    x = rng.standard_normal(layer.input_shape, dtype=np.float32)
    w = rng.standard_normal(layer.filter_shape, dtype=np.float32)
    dy = rng.standard_normal(conv.output_shape, dtype=np.float32)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    args = (layer.strides, layer.padding, "NHWC", layer.dilations)
    ref = {"y": reference.conv2d(x64, w64, *args),
           "d_x": reference.conv2d_backprop_input(x.shape, w64, dy64, *args),
           "d_w": reference.conv2d_backprop_filter(x64, w.shape, dy64, *args)}
    inputs = {"y": (x, w), "d_x": (w, dy), "d_w": (x, dy)}

    jobs: list[tuple[Row, Callable[[], Any], Callable[[Any], Any]]] = []
    serial_jobs: list[tuple[Row, Callable[[], Any]]] = []
    for quantity, method, work, fn in _methods(layer, convlab, x, w, dy):
        row = Row(layer.name, quantity, method, "numpy", "cpu", flops=2.0 * layer.macs, work=work)
        jobs.append((row, fn, np.asarray))
        if REFERENCE_METHODS[quantity] == method:
            serial_jobs.append((row, fn))
    for dev in devices:
        if ctf is None:  # rows that say why
            names = [(q, m) for q, m, _, _ in _methods(layer, convlab, x, w, dy)]
            methods = [(q, m, 1.0, lambda: None) for q, m in [*names, (ALL, "autodiff")]]
            sync: Callable[[Any], Any] = np.asarray
        else:
            with ctf.tf.device("/GPU:0" if dev == "gpu" else "/CPU:0"):
                tensors = [ctf.tf.constant(a) for a in (x, w, dy)]  # not timed: on the device
            methods = _methods(layer, ctf, *tensors, device=dev)
            sync = _tf_sync(ctf, dev)
        for quantity, method, work, fn in methods:
            flops = 2.0 * layer.macs * (3 if quantity == ALL else 1)
            row = Row(layer.name, quantity, method, "tensorflow", dev, flops=flops, work=work,
                      note=why)
            jobs.append((row, fn, sync))

    for round_ in range(rounds):
        for row, fn, sync in jobs:
            if row.note:  # refused, or TensorFlow is missing
                continue
            try:
                result, seconds = _pause_then_best(fn, sync, repeat, pause, warm_up)
            except NotImplementedError as err:  # convlab.tf.TensorFlowUnsupportedError
                row.note = _short(str(err))
                continue
            row.seconds = seconds if row.seconds is None else min(row.seconds, seconds)
            if round_ == 0:
                row.rel_err = _rel_err(row.quantity, result, ref)
        for row, fn in serial_jobs if round_ == 0 else []:  # the same call on one thread
            row.shared = _shared(fn)
            turns = 16 if row.shared else 8
            row.threaded, row.serial = _threaded_and_serial(fn, pause, 2.5 * warm_up, turns)
    # each target's two times again, side by side: numpy's and TF's native op take turns
    for row, fn in serial_jobs:
        native = next(((r, f, s) for r, f, s in jobs if r.backend == "tensorflow"
                       and r.device == "cpu" and r.method == row.method
                       and r.seconds is not None), None)
        if native is None or row.seconds is None:
            continue
        tf_row, tf_fn, tf_sync = native

        def tf_call(fn: Callable[[], Any] = tf_fn,
                    sync: Callable[[Any], Any] = tf_sync) -> Any:
            return sync(fn())

        mine, theirs = _in_turns(fn, tf_call, pause, 2.5 * warm_up, 8)
        row.seconds = min(row.seconds, mine)
        tf_row.seconds = min(tf_row.seconds or theirs, theirs)

    for row, fn, _ in jobs:
        if row.backend == "numpy":
            row.peak_bytes, row.result_bytes = _peak(fn)
            row.io_bytes = max(row.result_bytes, *(int(a.nbytes) for a in inputs[row.quantity]))
    rows = [r for r, _, _ in jobs]
    _baselines(rows)
    order = {"y": 0, "d_x": 1, "d_w": 2, ALL: 3}
    return sorted(rows, key=lambda r: order[r.quantity])


def _shared(fn: Callable[[], Any]) -> bool:
    """Whether ``fn()`` runs on more than one thread: what the engine's rule decided,
    seen in :func:`convlab._parallel.run`, not guessed from the layer."""
    threads = []
    run = _parallel.run

    def counting(work: Callable[[Any, Any], object], items: Sequence[Any],
                 most: int | None = None) -> list[Any]:
        scratches = run(work, items, most)
        threads.append(len(scratches))
        return scratches

    _parallel.run = counting
    try:
        fn()
    finally:
        _parallel.run = run
    return max(threads, default=1) > 1


def _threaded_and_serial(fn: Callable[[], Any], pause: float, turn: float,
                         turns: int = 8) -> tuple[float, float]:
    """The best times of ``fn()`` as it is and on one thread, the two taking turns.

    See :func:`_in_turns`; ``turns`` in all, half each.
    """
    def serial() -> Any:
        with _one_thread():
            return fn()

    return _in_turns(fn, serial, pause, turn, turns)


def _in_turns(first: Callable[[], Any], second: Callable[[], Any], pause: float,
              turn: float, turns: int = 8) -> tuple[float, float]:
    """The best times of ``first()`` and ``second()``, the two taking turns.

    Taking turns, the two see the same moments of a shared machine, whose speed drifts by
    a fifth from one second to the next, and more from one minute to the next. Each turn
    is a short run of calls whose first is not timed: right after a switch, the other's
    worker threads (BLAS's own, TensorFlow's, or convlab's) are still spinning.
    ``turns`` turns in all, of ``turn`` seconds or two calls each.
    """
    def calls(fn: Callable[[], Any], best: float, until: float) -> float:
        fn()
        while True:
            start = time.perf_counter()
            fn()
            end = time.perf_counter()
            best = min(best, end - start)
            if end >= until:
                return best

    time.sleep(pause)
    bests = [float("inf"), float("inf")]
    for k in range(turns):
        bests[k % 2] = calls((first, second)[k % 2], bests[k % 2],
                             time.perf_counter() + turn)
    return bests[0], bests[1]


@contextmanager
def _one_thread() -> Iterator[None]:
    """The numpy reference on one thread (``CONVLAB_NUM_THREADS=1``) for a while."""
    before = os.environ.get("CONVLAB_NUM_THREADS")
    os.environ["CONVLAB_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["CONVLAB_NUM_THREADS"]
        else:
            os.environ["CONVLAB_NUM_THREADS"] = before


def _rel_err(quantity: str, result: Any, ref: dict[str, np.ndarray]) -> float:
    """Relative error against the float64 reference (tensors are copied to the host)."""
    if quantity == ALL:  # autodiff returns (d_x, d_w)
        return max(errors(r, ref[q])[1] for r, q in zip(result, ("d_x", "d_w"), strict=True))
    return errors(result, ref[quantity])[1]


def _baselines(rows: list[Row]) -> None:
    """Give every row its TensorFlow native time: the same quantity, on the same device."""
    native = {(r.device, r.quantity): r.seconds for r in rows
              if r.backend == "tensorflow" and r.method == REFERENCE_METHODS.get(r.quantity)}
    for r in rows:
        if r.quantity == ALL:
            parts = [native.get((r.device, q)) for q in REFERENCE_METHODS]
            r.baseline = None if None in parts else sum(p or 0.0 for p in parts)
        else:
            r.baseline = native.get((r.device, r.quantity))


def ratio_limit(layer: Layer, quantity: str, baseline: float) -> float:
    """The most numpy's time may be, as a multiple of TF's native op taking ``baseline`` s."""
    limit = SWEEP_TARGETS["ratio"] if baseline >= 1e-3 else SWEEP_TARGETS["ratio_under_1ms"]
    return min(limit, TARGETS[quantity]) if layer in LAYERS else limit


def memory_limit(layer: Layer, io_bytes: int) -> float:
    """The most extra memory may be, as a multiple of the largest array given or returned."""
    return max(TARGETS["memory"], _engine._FLOOR / io_bytes)


def _targets(layer: Layer, rows: list[Row]) -> list[Target]:
    out = []
    reference_rows = {q: next(r for r in rows if r.backend == "numpy" and r.method == m)
                      for q, m in REFERENCE_METHODS.items()}
    for quantity, row in reference_rows.items():
        native = next((r for r in rows if r.backend == "tensorflow" and r.device == "cpu"
                       and r.method == REFERENCE_METHODS[quantity]), None)
        if row.ratio is None or row.baseline is None:
            note = native.note if native is not None and native.note else "no TF time"
            out.append(Target(layer.name, quantity, None, TARGETS[quantity], None,
                              note.split(":")[0]))
        else:
            limit = ratio_limit(layer, quantity, row.baseline)
            out.append(Target(layer.name, quantity, row.ratio, limit, row.ratio <= limit))
    for quantity, row in reference_rows.items():
        extra = row.extra
        limit = memory_limit(layer, row.io_bytes or 1)
        out.append(Target(layer.name, f"{quantity} memory", extra, round(limit, 2),
                          None if extra is None else extra <= limit))
    for quantity, row in reference_rows.items():
        ratio = row.threads_ratio
        shared = (row.shared if row.shared is not None  # older records: the rule's guess
                  else _engine._plan(layer.macs, 0).threads > 1)
        if ratio is not None and not shared:  # the same code, and the same call
            out.append(Target(layer.name, f"{quantity} threads", ratio,
                              SWEEP_TARGETS["threads"], True, "one thread by the rule"))
            continue
        out.append(Target(layer.name, f"{quantity} threads", ratio, SWEEP_TARGETS["threads"],
                          None if ratio is None else ratio <= SWEEP_TARGETS["threads"]))
    return out


def _cpu() -> tuple[str, list[str]]:
    """The CPU's model name, and which of the vector extensions BLAS kernels use it has."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
    model = info.get("model name") or platform.processor() or platform.machine()
    return model, [f for f in wanted if f in flags]


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return round(pages * size / 2**30, 1)


def _blas() -> tuple[str, Any]:
    """numpy's BLAS in one phrase, and whatever more numpy and threadpoolctl say about it."""
    details: dict[str, Any] = {}
    try:
        config = np.show_config(mode="dicts")  # type: ignore[call-arg]  # numpy >= 1.26
        details["numpy_build"] = config["Build Dependencies"]["blas"]
    except Exception:  # older numpy prints instead
        pass
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-not-found]
    except ImportError:
        details["threadpools"] = "threadpoolctl is not installed"
    else:
        details["threadpools"] = threadpool_info()
    blas = details.get("numpy_build", {})
    phrase = " ".join(str(blas[k]) for k in ("name", "version") if k in blas) or "BLAS unknown"
    pools = details["threadpools"]
    if isinstance(pools, list):
        for pool in pools:
            if pool.get("user_api") == "blas":
                phrase += f", {pool.get('architecture')} kernels, {pool.get('num_threads')} threads"
                break
    return phrase, details


def machine(ctf: Any = None, why: str = "") -> dict[str, Any]:
    """Describe this machine: CPU, cores, memory, numpy and its BLAS, TensorFlow and GPUs."""
    blas, blas_details = _blas()
    cpu, flags = _cpu()
    env = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
           "MKL_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES")
    out: dict[str, Any] = {
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas,
        "blas_details": blas_details,
        "environment": {k: os.environ[k] for k in env if k in os.environ},
    }
    if hasattr(os, "sched_getaffinity"):
        out["cores_usable"] = len(os.sched_getaffinity(0))
    out["convlab_threads"] = _parallel.threads()
    if ctf is None:
        out["tensorflow"] = {"version": None, "why": why}
        return out
    tf = ctf.tf
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(f"{details.get('device_name', gpu.name)} "
                    f"(compute capability {details.get('compute_capability', '?')})")
    out["tensorflow"] = {
        "version": tf.__version__,
        "cpu_kernels": _tf_cpu_kernels(),
        "gpus": gpus,
        "tf32": ("TF32 allowed (10-bit mantissa products)" if ctf.tf32_enabled()
                 else "TF32 off, full float32 (convlab's default; --tf32 allows it)"),
    }
    return out


def _tf_cpu_kernels() -> str:
    try:
        from tensorflow.python.util import _pywrap_util_port  # private, so guarded
        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:
        onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1"
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    return f"{'oneDNN' if onednn else 'stock Eigen'} (TF_ENABLE_ONEDNN_OPTS={setting})"


def run(
    layers: Sequence[Layer] = LAYERS,
    repeat: int = 5,
    rounds: int = 3,
    device: str = "all",
    pause: float = 0.15,
    warm_up: float = 0.1,
    seed: int = 0,
    tf32: bool = False,
) -> Result:
    """Time every method on ``layers``; see the module docstring.

    Parameters
    ----------
    layers : sequence of Layer
        :data:`LAYERS` (batch 8, ResNet-like) or :data:`QUICK_LAYERS` (tiny).
    repeat : int
        Timed runs per method and round, after a warm-up; the minimum is kept.
    rounds : int
        Passes over all the methods of a layer; the minimum over them is kept.
    device : {"all", "cpu", "gpu", "auto"}
        Where the TensorFlow rows run; ``"all"``: the CPU, and the GPU if there is one.
        numpy rows always run on the CPU.
    pause : float
        Seconds to wait before each method, so that the worker threads of the library
        timed before it stop spinning.
    warm_up : float
        Seconds of untimed calls after the pause (at least one call), so that every
        method is timed at its steady speed.
    seed : int
        Seed of the random inputs.
    tf32 : bool
        Allow TensorFloat-32 for float32 on the GPU (convlab's default is off).

    Returns
    -------
    Result
    """
    if device not in ("all", "cpu", "gpu", "auto"):
        raise ValueError(f"device must be 'all', 'cpu', 'gpu' or 'auto', got {device!r}")
    for name, value in (("repeat", repeat), ("rounds", rounds)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    ctf, why = _tensorflow()
    if ctf is None:
        devices = ["cpu"] if device in ("all", "auto") else [device]
    else:
        if ctf.gpu_available():
            ctf.set_tf32(tf32)
        if device == "all":
            devices = ["cpu", "gpu"] if ctf.gpu_available() else ["cpu"]
        else:
            devices = [ctf.resolve_device(device)]
    rows: list[Row] = []
    targets: list[Target] = []
    for layer in layers:
        layer_rows = _bench_layer(layer, ctf, why, devices, repeat, rounds, pause, seed,
                                  warm_up)
        rows += layer_rows
        targets += _targets(layer, layer_rows)
    settings = {
        "repeat": repeat, "rounds": rounds, "pause_s": pause, "warm_up_s": warm_up, "seed": seed,
        "dtype": "float32",
        "devices": devices, "tf32": tf32, "quick": tuple(layers) == QUICK_LAYERS,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return Result(machine(ctf, why), settings, list(layers), rows, targets)


def _layer(data: dict[str, Any]) -> Layer:
    return Layer(str(data["name"]), _four(data["input_shape"]), _four(data["filter_shape"]),
                 int(data["strides"]), str(data["padding"]), int(data["dilations"]))


def _four(values: Sequence[int]) -> tuple[int, int, int, int]:
    a, b, c, d = (int(v) for v in values)
    return a, b, c, d


def load(text: str) -> Result:
    """Read a :class:`Result` back from :meth:`Result.to_json`."""
    data = json.loads(text)
    fields = Row.__dataclass_fields__
    rows = [
        Row(**{k: v for k, v in r.items() if k in fields},
            seconds=None if r["time_ms"] is None else r["time_ms"] / 1e3,
            baseline=None if r["baseline_ms"] is None else r["baseline_ms"] / 1e3,
            threaded=None if r.get("threaded_ms") is None else r["threaded_ms"] / 1e3,
            serial=None if r.get("serial_ms") is None else r["serial_ms"] / 1e3)
        for r in data["rows"]
    ]
    layers = [_layer(layer) for layer in data["layers"]]
    targets = [Target(**t) for t in data["targets"]]
    return Result(data["machine"], data["settings"], layers, rows, targets)


def _recorded_path(onednn: bool = False) -> Path:
    name = "bench-recorded-onednn.json" if onednn else "bench-recorded.json"
    return Path(__file__).parent / "data" / name


def recorded_targets(onednn: bool = False) -> list[Target]:
    """Return the numpy reference's targets as checked in the run recorded with ``make bench``."""
    return load(_recorded_path(onednn).read_text()).targets


def recorded_run(onednn: bool = False) -> Result:
    """Return the whole run recorded with ``make bench`` (see :func:`recorded`)."""
    return load(_recorded_path(onednn).read_text())


def recorded(onednn: bool = False) -> tuple[dict[str, Any], list[Row]]:
    """Return the machine description and the rows of the run recorded with ``make bench``.

    ``onednn`` chooses the run with TensorFlow's oneDNN CPU kernels instead of its own.
    The book shows these full-size runs instead of repeating them at build time.
    """
    result = load(_recorded_path(onednn).read_text())
    return result.machine, result.rows


def run_in_process(layers: Sequence[Layer], onednn: bool, timeout: float = 900,
                   **kwargs: Any) -> Result:
    """Run :func:`run` in a fresh process, with TensorFlow's oneDNN CPU kernels or its own.

    TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it is imported, so comparing its
    two sets of CPU kernels takes a process for each. ``kwargs`` go to :func:`run`.
    """
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0")
    request = json.dumps({"layers": [asdict(layer) for layer in layers], "kwargs": kwargs})
    done = subprocess.run(
        [sys.executable, "-c", "from convlab.bench import _child; _child()"], input=request,
        env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"the benchmark process failed ({done.returncode}): {tail}")
    return load(done.stdout)


def _child() -> None:
    import sys

    request = json.loads(sys.stdin.read())
    layers = [_layer(layer) for layer in request["layers"]]
    print(run(layers, **request["kwargs"]).to_json())


#: Ways to get y, d_x and d_w together: (backend, method) for each quantity; autodiff
#: records the forward pass and returns both gradients in one call.
ROUTES: dict[str, list[tuple[str, str, str]]] = {
    "autodiff": [("tensorflow", ALL, "autodiff")],
    "native ops": [("tensorflow", "y", "conv2d"), ("tensorflow", "d_x", "conv2d_backprop_input"),
                   ("tensorflow", "d_w", "conv2d_backprop_filter")],
    "via conv2d": [("tensorflow", "y", "conv2d"), ("tensorflow", "d_x", "via conv2d"),
                   ("tensorflow", "d_w", "via conv2d")],
    "numpy": [("numpy", "y", "conv2d"), ("numpy", "d_x", "conv2d_backprop_input"),
              ("numpy", "d_w", "conv2d_backprop_filter")],
}


def routes(rows: Sequence[Row], layer: str, device: str = "cpu") -> dict[str, float | None]:
    """Seconds each of :data:`ROUTES` takes for y, d_x and d_w on ``layer``.

    ``None`` where a part did not run (TensorFlow refused it). numpy rows run on the CPU
    whatever ``device`` is.
    """
    found = {(r.backend, r.quantity, r.method, r.device): r.seconds for r in rows
             if r.layer == layer}
    out: dict[str, float | None] = {}
    for route, parts in ROUTES.items():
        times = [found.get((backend, q, m, "cpu" if backend == "numpy" else device))
                 for backend, q, m in parts]
        out[route] = None if None in times else sum(t or 0.0 for t in times)
    return out
