"""Check convlab's PyTorch and JAX backends on a GPU against the CPU: ``scripts/gpu-check``.

Meant for a borrowed machine with an NVIDIA GPU, PyTorch and/or JAX, and nothing else
installed beyond numpy (no TensorFlow, no threadpoolctl); run from a checkout as
``PYTHONPATH=src scripts/gpu-check --out gpu-check.json``. It

1. runs :func:`convlab.verify` on a handful of configurations (stride, ``SAME`` with an
   odd total padding, explicit asymmetric padding, dilation, NCHW; float32 and float64)
   for each framework, on the CPU and the GPU;
2. computes each framework's eight results (y; d_x by autodiff, via conv2d,
   conv2d_backprop_input, conv2d_transpose; d_w by autodiff, via conv2d,
   conv2d_backprop_filter) on both devices and records the largest relative error of
   the GPU result against the CPU result and against the float64 numpy reference;
3. times the forward pass and the gradients (native ops, autodiff, via conv2d) on the
   benchmark's layers (:data:`convlab.bench.LAYERS`), on the CPU and the GPU, each time
   the best of ``repeat`` (on a GPU at least 5) synchronised runs after a warm-up
   (``torch.cuda.synchronize``, ``jax.block_until_ready``), inputs already on the
   device; and beside them the framework's own ops for y, d_x and d_w on inputs already
   in NCHW/OIHW (``F.conv2d``, ``torch.nn.grad.conv2d_input``/``conv2d_weight``; a
   jitted ``lax.conv_general_dilated`` and its VJPs), so that convlab's own cost per
   call (checks, layout changes, Python: a few hundred microseconds) shows beside
   kernels that take tens of microseconds on a large GPU;

and writes everything, with the machine (framework versions, device names, the TF32
policy), into one JSON file.

Each framework runs in its own Python process (``--in-process`` to not): PyTorch and
JAX in one process can load different cuDNN libraries, and the second then sees no GPU.
``--budget`` is split between them; the layers not yet timed when a share is spent are
skipped, and a process still running well after it is killed. The JSON is rewritten
(whole, by a rename) after each configuration, layer and process, with ``complete``
false until the end, so a run killed on the way leaves what it did.

With ``--device gpu`` a framework that sees no GPU is not run: the JSON and the summary
line name it (``gpu_missing``, "NO GPU SEEN BY ...") and the exit status is 1. With
``auto``, when another framework sees a GPU, it is named the same way and runs on the CPU
alone. Exit status 0 when every result agrees and the run completed; 1 when one does not
(a wrong shape or an error inside a framework is a failing row, and the run goes on), on
a killed or incomplete run, and for a framework without a GPU under ``--device gpu``; 2
for bad arguments only (one line on stderr, before anything runs). Without a GPU
(``--device cpu``, or ``auto`` when no framework sees one) it does the same on the CPU
alone and says so, so it can be tested anywhere.

:func:`render` turns such a file into the HTML tables of the performance chapter.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import html
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from convlab import _checks, reference, tolerance
from convlab.bench import LAYERS, QUICK_LAYERS, Layer, _pause_then_best
from convlab.verify import _FRAMEWORKS, _framework, _framework_methods, verify

__all__ = ["CONFIGS", "FRAMEWORKS", "NATIVE", "QUICK_CONFIGS", "RAW", "TIMED", "check", "cpu_table",
           "main", "recorded", "recorded_path", "recorded_section", "render", "time_methods"]

SCHEMA = "convlab-gpu-check/1"
FRAMEWORKS = ("torch", "jax", "tensorflow")

# (name, verify's keyword arguments); each runs in float32 and in float64
_SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("stride 2", dict(input_shape=(2, 9, 9, 3), filter_shape=(3, 3, 3, 4), strides=2,
                      padding="VALID")),
    ("SAME odd", dict(input_shape=(2, 8, 7, 3), filter_shape=(3, 4, 3, 5), strides=2,
                      padding="SAME")),
    ("explicit asymmetric", dict(input_shape=(1, 9, 10, 2), filter_shape=(3, 2, 2, 3),
                                 strides=(1, 2), padding=[[0, 2], [1, 0]])),
    ("dilation 2", dict(input_shape=(2, 10, 9, 3), filter_shape=(3, 3, 3, 4), strides=1,
                        padding="SAME", dilations=2)),
    ("NCHW", dict(input_shape=(2, 3, 8, 7), filter_shape=(2, 3, 3, 2), strides=(2, 1),
                  padding="SAME", data_format="NCHW")),
]
CONFIGS = [(name, kw, dtype) for dtype in ("float32", "float64") for name, kw in _SHAPES]
QUICK_CONFIGS = [CONFIGS[1], CONFIGS[len(_SHAPES) + 4]]  # SAME odd float32, NCHW float64


def _plain(value: Any) -> Any:
    """JSON for what json does not know: numpy scalars and arrays, tuples inside dicts."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(_FRAMEWORKS[name][0]) is not None
    except (ImportError, ValueError):
        return False


# --- the frameworks: arrays on a device, waiting for a result ---------------------------


def _put(backend: str, mod: Any, a: np.ndarray, dev: str) -> Any:
    """``a`` on ``dev`` as the framework's own array (moved there before any timing)."""
    if backend == "torch":
        import torch

        return torch.from_numpy(a).to("cuda" if dev == "gpu" else "cpu")
    if backend == "jax":
        import jax

        return jax.device_put(a, jax.devices("gpu" if dev == "gpu" else "cpu")[0])
    if backend == "tensorflow":
        with mod.tf.device("/GPU:0" if dev == "gpu" else "/CPU:0"):
            return mod.tf.constant(a)
    return a


def _sync(backend: str, mod: Any, dev: str) -> Callable[[Any], Any]:
    """Wait until a result is computed, without copying it to the host."""
    if backend == "torch":
        import torch

        def wait_torch(result: Any) -> Any:
            if dev == "gpu":
                torch.cuda.synchronize()
            return result
        return wait_torch
    if backend == "jax":
        import jax

        return jax.block_until_ready
    if backend == "tensorflow":
        def wait_tf(result: Any) -> Any:
            if dev == "gpu":
                mod.tf.test.experimental.sync_devices()
                return result
            return tuple(map(mod.as_numpy, result)) if isinstance(result, tuple) else \
                mod.as_numpy(result)
        return wait_tf
    return lambda result: result


def _host(mod: Any, result: Any) -> Any:
    copy = getattr(mod, "as_numpy", np.asarray)  # convlab itself computes numpy arrays
    if isinstance(result, tuple):
        return tuple(np.asarray(copy(r)) for r in result)
    return np.asarray(copy(result))


# --- timing -------------------------------------------------------------------------------

# (quantity, method): autodiff returns both gradients
TIMED = [("y", "conv2d"), ("d_x", "conv2d_backprop_input"), ("d_x", "via conv2d"),
         ("d_w", "conv2d_backprop_filter"), ("d_w", "via conv2d"), ("d_x+d_w", "autodiff")]
NATIVE = [("d_x", "conv2d_backprop_input"), ("d_w", "conv2d_backprop_filter")]


def _timed_call(api: Any, quantity: str, method: str, layer: Layer, x: Any, w: Any, dy: Any,
                **on: str) -> Callable[[], Any]:
    args = (layer.strides, layer.padding, "NHWC", layer.dilations)
    xs, ws = layer.input_shape, layer.filter_shape
    calls: dict[tuple[str, str], Callable[[], Any]] = {
        ("y", "conv2d"): lambda: api.conv2d(x, w, *args, **on),
        ("d_x", "conv2d_backprop_input"): lambda: api.conv2d_backprop_input(xs, w, dy, *args,
                                                                            **on),
        ("d_x", "via conv2d"): lambda: api.grad_input_via_conv2d(xs, w, dy, *args, **on),
        ("d_w", "conv2d_backprop_filter"): lambda: api.conv2d_backprop_filter(x, ws, dy, *args,
                                                                              **on),
        ("d_w", "via conv2d"): lambda: api.grad_filter_via_conv2d(x, ws, dy, *args, **on),
        ("d_x+d_w", "autodiff"): lambda: api.autodiff(x, w, dy, *args, **on),
    }
    return calls[(quantity, method)]


def _measure(row: dict[str, Any], fn: Callable[[], Any], sync: Callable[[Any], Any],
             host: Callable[[Any], Any], quantity: str, layer: Layer, repeat: int,
             pause: float, warm_up: float, ref: dict[str, np.ndarray],
             terms: dict[str, np.ndarray]) -> None:
    """Time ``fn`` and compare its result, filling ``row``; any error is a wrong row."""
    try:
        result, seconds = _pause_then_best(fn, sync, repeat, pause, warm_up)
        got = host(result)
        pairs = (zip(got, ("d_x", "d_w"), strict=True) if quantity == "d_x+d_w"
                 else [(got, quantity)])
        errs = [(tolerance.errors(g, ref[q])[1], tolerance.errors(g, ref[q], terms[q])[1])
                for g, q in pairs]
    except NotImplementedError as err:
        row["note"] = str(err).split("; convlab.")[0]
        return
    except Exception as err:  # recorded as wrong (a wrong shape too): the run goes on
        row.update(note=f"{type(err).__name__}: {err}", agrees=False)
        return
    rel, rel_terms = (max(e) for e in zip(*errs, strict=True))
    macs = 2 if quantity == "d_x+d_w" else 1
    row.update(ms=1e3 * seconds, gflops=2e-9 * layer.macs * macs / seconds, rel_err=rel,
               rel_err_terms=rel_terms, agrees=rel_terms <= row["rtol"])


def _raw_ops(backend: str, mod: Any, layer: Layer, x: np.ndarray, w: np.ndarray,
             dy: np.ndarray, dev: str,
             ) -> dict[str, tuple[str, Callable[[], Any], Callable[[Any], np.ndarray]]]:
    """The framework's own forward, backward-data and backward-filter ops on ``layer``,
    with the inputs already permuted (NCHW/OIHW) and on ``dev``: what a kernel costs
    without convlab's checks and layout changes. ``{quantity: (op, fn, to NHWC/HWIO
    host array)}``."""
    c = layer.conv
    (pt, pb), (pl, pr) = c.pads
    h, w_ = x.shape[1:3]
    nchw = (0, 3, 1, 2)
    if backend == "torch":
        import torch
        import torch.nn.functional as F
        from torch.nn import grad as nn_grad

        on = "cuda" if dev == "gpu" else "cpu"

        def t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a)).to(on)

        # F.conv2d pads symmetrically only: x is padded (TF's split) before timing
        tx = t(np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))).transpose(nchw))
        tw, tdy = t(w.transpose(3, 2, 0, 1)), t(dy.transpose(nchw))
        st, di = c.strides, c.dilations

        def back(r: Any) -> np.ndarray:
            return np.asarray(r.detach().cpu().numpy())

        return {
            "y": ("torch.nn.functional.conv2d (x padded before)",
                  lambda: F.conv2d(tx, tw, stride=st, dilation=di),
                  lambda r: back(r).transpose(0, 2, 3, 1)),
            "d_x": ("torch.nn.grad.conv2d_input (of the padded x)",
                    lambda: nn_grad.conv2d_input(tuple(tx.shape), tw, tdy, st, 0, di),
                    lambda r: back(r).transpose(0, 2, 3, 1)[:, pt:pt + h, pl:pl + w_]),
            "d_w": ("torch.nn.grad.conv2d_weight",
                    lambda: nn_grad.conv2d_weight(tx, tuple(tw.shape), tdy, st, 0, di),
                    lambda r: back(r).transpose(2, 3, 1, 0)),
        }
    if backend == "jax":
        import jax
        from jax import lax

        device = jax.devices("gpu" if dev == "gpu" else "cpu")[0]
        jx, jw, jdy = (jax.device_put(np.ascontiguousarray(a), device)
                       for a in (x.transpose(nchw), w.transpose(3, 2, 0, 1),
                                 dy.transpose(nchw)))
        precision = None if mod.tf32_enabled() else lax.Precision.HIGHEST

        def conv(a: Any, b: Any) -> Any:
            return lax.conv_general_dilated(
                a, b, c.strides, list(c.pads), rhs_dilation=c.dilations,
                dimension_numbers=("NCHW", "OIHW", "NCHW"), precision=precision)

        # the transposes by jax.vjp; XLA drops the unused forward
        fwd = jax.jit(conv)
        dx = jax.jit(lambda a, b, g: jax.vjp(lambda a_: conv(a_, b), a)[1](g)[0])
        dw = jax.jit(lambda a, b, g: jax.vjp(lambda b_: conv(a, b_), b)[1](g)[0])
        return {
            "y": ("jit(lax.conv_general_dilated)", lambda: fwd(jx, jw),
                  lambda r: np.asarray(r).transpose(0, 2, 3, 1)),
            "d_x": ("jit(vjp of lax.conv_general_dilated, x)", lambda: dx(jx, jw, jdy),
                    lambda r: np.asarray(r).transpose(0, 2, 3, 1)),
            "d_w": ("jit(vjp of lax.conv_general_dilated, w)", lambda: dw(jx, jw, jdy),
                    lambda r: np.asarray(r).transpose(2, 3, 1, 0)),
        }
    return {}


RAW = "framework op"  # the method name of the raw framework ops' rows


def time_methods(layer: Layer, backends: Sequence[str], devices: Sequence[str] = ("cpu",),
                 methods: Sequence[tuple[str, str]] = tuple(TIMED), repeat: int = 3,
                 seed: int = 0, pause: float = 0.05, raw: bool = True,
                 ) -> list[dict[str, Any]]:
    """Time ``methods`` of each backend on ``layer`` (float32, NHWC) on each device it has.

    Parameters
    ----------
    layer : convlab.bench.Layer
    backends : names from ("numpy", "tensorflow", "torch", "jax")
        numpy times convlab's reference (it has no autodiff: that row is left out).
    devices : subset of ("cpu", "gpu")
        A framework that sees no GPU gets no GPU rows.
    methods : (quantity, method) pairs from :data:`TIMED`
    repeat : int
        Timed runs after one warm-up call (which compiles, for JAX); the best is kept.
        On a GPU at least 5, and at least 0.1 s of them after 0.05 s of warm-up.
    pause : float
        Seconds to wait before each method, so that the thread pool of the library timed
        before it stops spinning (as in :mod:`convlab.bench`).
    raw : bool
        Also time PyTorch's and JAX's own ops for y, d_x and d_w (method
        :data:`RAW`, the op in ``note``) on inputs already permuted to NCHW/OIHW: the
        difference from convlab's rows is convlab's own cost (checks, layout changes,
        Python), which on a GPU can exceed the kernel's.

    Returns
    -------
    list of dict
        One per backend x device x method: ``ms`` (None with a ``note`` when it could not
        run); ``rel_err``, the largest error against the float64 reference relative to
        its largest magnitude (as :func:`convlab.verify` and the benchmark measure it);
        ``rel_err_terms``, the same error relative to the largest sum of the terms'
        magnitudes (the same function of ``|x|``, ``|w|``, ``|dy|``), which is what
        float32 rounding grows with; and ``agrees``, ``rel_err_terms <= rtol``. On these
        layers a d_w sums up to 25 088 products whose signs cancel: ``rel_err`` there
        reaches a few 1e-6 on a CPU, too near float32's 1e-5 to judge by. An error,
        a wrong shape included, is a row with ``agrees`` False and the error in ``note``.
    """
    import convlab

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(layer.input_shape, dtype=np.float32)
    w = rng.standard_normal(layer.filter_shape, dtype=np.float32)
    dy = rng.standard_normal(layer.conv.output_shape, dtype=np.float32)
    args = (layer.strides, layer.padding, "NHWC", layer.dilations)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    ref = {"y": reference.conv2d(x64, w64, *args),
           "d_x": reference.conv2d_backprop_input(x.shape, w64, dy64, *args),
           "d_w": reference.conv2d_backprop_filter(x64, w.shape, dy64, *args)}
    ax, aw, ady = np.abs(x64), np.abs(w64), np.abs(dy64)
    terms = {"y": reference.conv2d(ax, aw, *args),
             "d_x": reference.conv2d_backprop_input(x.shape, aw, ady, *args),
             "d_w": reference.conv2d_backprop_filter(ax, w.shape, ady, *args)}
    rows = []
    for backend in backends:
        mod, why = (convlab, "") if backend == "numpy" else _framework(backend)
        for dev in devices:
            if backend == "numpy" and dev != "cpu":
                continue
            try:
                if mod is not None and dev == "gpu" and not mod.gpu_available():
                    continue
                tf32 = dev == "gpu" and mod is not None and bool(mod.tf32_enabled())
            except Exception:  # recorded by the rows below
                tf32 = False
            rtol = tolerance.rtol("float32", dev, tf32)
            on = {} if backend == "numpy" else {"device": dev}
            reps, warm_up = (max(repeat, 5), 0.05) if dev == "gpu" else (repeat, 0.0)
            todo = [(q, m) for q, m in methods if not (backend == "numpy" and m == "autodiff")]
            if raw and backend in ("torch", "jax"):
                todo += [(q, RAW) for q in ("y", "d_x", "d_w")]
            new = [{"layer": layer.name, "backend": backend, "device": dev, "quantity": q,
                    "method": m, "ms": None, "gflops": None, "rel_err": None,
                    "rel_err_terms": None, "rtol": rtol, "agrees": None, "note": why}
                   for q, m in todo]
            rows += new
            if mod is None:
                continue
            try:
                put = [_put(backend, mod, a, dev) for a in (x, w, dy)]
                sync = _sync(backend, mod, dev)
            except Exception as err:  # every row of this device is wrong; the run goes on
                for row in new:
                    row.update(note=f"{type(err).__name__}: {err}", agrees=False)
                continue
            ops: dict[str, Any] = {}
            for (quantity, method), row in zip(todo, new, strict=True):
                if method != RAW:
                    fn = _timed_call(mod, quantity, method, layer, *put, **on)
                    _measure(row, fn, sync, functools.partial(_host, mod), quantity, layer,
                             reps, pause, warm_up, ref, terms)
                    continue
                try:
                    ops = ops or _raw_ops(backend, mod, layer, x, w, dy, dev)
                    op, fn, host = ops[quantity]
                except Exception as err:
                    row.update(note=f"{type(err).__name__}: {err}", agrees=False)
                    continue
                row["note"] = op + (", TF32 allowed" if tf32 else "")
                _measure(row, fn, sync, host, quantity, layer, reps, pause, warm_up, ref,
                         terms)
    return rows


# --- agreement ----------------------------------------------------------------------------


def _agreement(backend: str, mod: Any, name: str, kw: dict[str, Any], dtype: str,
               gpu: bool) -> list[dict[str, Any]]:
    """Each of the framework's eight results on the CPU and (``gpu``) the GPU, against
    each other and the float64 reference."""
    fmt = kw.get("data_format", "NHWC")
    args = (kw["strides"], kw["padding"], fmt, kw.get("dilations", 1))
    conv = _checks.conv_geometry(kw["input_shape"], kw["filter_shape"], *args[:2], fmt,
                                 args[3])
    out_shape = _checks.from_nhwc(conv.output_shape, fmt)
    rng = np.random.default_rng(1)
    x, w, dy = (rng.standard_normal(s).astype(dtype)
                for s in (kw["input_shape"], kw["filter_shape"], out_shape))
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    in_shape, f_shape = tuple(kw["input_shape"]), tuple(kw["filter_shape"])
    ref = {"y": reference.conv2d(x64, w64, *args),
           "d_x": reference.conv2d_backprop_input(in_shape, w64, dy64, *args),
           "d_w": reference.conv2d_backprop_filter(x64, f_shape, dy64, *args)}
    on_gpu = gpu and mod.gpu_available()
    tf32 = on_gpu and mod.tf32_enabled()
    rtol_cpu = tolerance.rtol(dtype, "cpu")
    rtol_gpu = tolerance.rtol(dtype, "gpu", tf32)
    results: dict[str, list[tuple[str, str, Any]]] = {}
    for dev in ("cpu", "gpu") if on_gpu else ("cpu",):
        results[dev] = []
        for quantity, method, fn in _framework_methods(mod, dev, x, w, dy, in_shape, f_shape,
                                                       args):
            try:
                got: Any = np.asarray(fn())
            except NotImplementedError as err:
                got = f"refused: {str(err).split('; convlab.')[0]}"
            except Exception as err:  # recorded, and counted as disagreeing
                got = RuntimeError(f"{type(err).__name__}: {err}")
            results[dev].append((quantity, method, got))
    rows = []
    for i, (quantity, method, cpu) in enumerate(results["cpu"]):
        gpu_got = results["gpu"][i][2] if on_gpu else None
        row: dict[str, Any] = {
            "framework": backend, "config": name, "dtype": dtype, "quantity": quantity,
            "method": method, "cpu_vs_ref": None, "gpu_vs_ref": None, "gpu_vs_cpu": None,
            "rtol_cpu": rtol_cpu, "rtol_gpu": rtol_gpu if on_gpu else None, "ok": None,
            "note": ""}
        problems = [g for g in (cpu, gpu_got) if isinstance(g, (str, Exception))]
        if problems:
            row["note"] = "; ".join(map(str, problems))
            row["ok"] = None if all(isinstance(g, str) for g in problems) else False
            rows.append(row)
            continue
        try:  # a wrong shape raises: it is a wrong result, not the end of the run
            row["cpu_vs_ref"] = tolerance.errors(cpu, ref[quantity])[1]
            ok = row["cpu_vs_ref"] <= rtol_cpu
            if gpu_got is not None:
                row["gpu_vs_ref"] = tolerance.errors(gpu_got, ref[quantity])[1]
                # both sides round: the GPU's tolerance plus the CPU's
                row["gpu_vs_cpu"] = tolerance.errors(gpu_got, cpu, ref[quantity])[1]
                ok = ok and row["gpu_vs_ref"] <= rtol_gpu
                ok = ok and row["gpu_vs_cpu"] <= rtol_gpu + rtol_cpu
        except Exception as err:
            row.update(note=f"{type(err).__name__}: {err}", ok=False)
        else:
            row["ok"] = bool(ok)
        rows.append(row)
    return rows


# --- the machine --------------------------------------------------------------------------


def _framework_info(backend: str, mod: Any, why: str, used_gpu: bool) -> dict[str, Any]:
    try:
        return _framework_details(backend, mod, why, used_gpu)
    except Exception as err:  # a half-broken install is reported, not a traceback
        return {"version": None, "why": f"{type(err).__name__}: {err}", "used_gpu": used_gpu}


def _framework_details(backend: str, mod: Any, why: str, used_gpu: bool) -> dict[str, Any]:
    if mod is None:
        return {"version": None, "why": why}
    info: dict[str, Any] = {"gpu_available": bool(mod.gpu_available()),
                            "tf32_allowed": bool(mod.tf32_enabled())}
    if backend == "torch":
        import torch

        info["version"] = torch.__version__
        info["cuda"] = torch.version.cuda
        cudnn = torch.backends.cudnn
        info["cudnn"] = cudnn.version() if cudnn.is_available() else None
        if torch.cuda.is_available():
            info["devices"] = [
                f"{torch.cuda.get_device_name(i)} (compute capability "
                f"{'.'.join(map(str, torch.cuda.get_device_capability(i)))})"
                for i in range(torch.cuda.device_count())]
        else:
            info["devices"] = []
        # what convlab left set: it turns these off the first time it runs on a GPU
        info["cudnn_allow_tf32"] = bool(cudnn.allow_tf32)
        info["matmul_allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        if not used_gpu:
            info["tf32_flags_note"] = (
                "PyTorch's own defaults: convlab did not run on a GPU in this process; it "
                "sets both flags False (unless set_tf32(True)) the first time it does")
        info["tf32_policy"] = ("TF32 allowed (set_tf32(True))" if mod.tf32_enabled() else
                               "TF32 off: cudnn.allow_tf32 and cuda.matmul.allow_tf32 are "
                               "set False the first time convlab runs on a GPU")
    elif backend == "jax":
        import jax

        info["version"] = jax.__version__
        try:
            import jaxlib

            info["jaxlib"] = jaxlib.__version__
        except ImportError:
            pass
        info["default_backend"] = jax.default_backend()
        info["devices"] = [f"{d.platform}: {getattr(d, 'device_kind', d)}"
                           for d in jax.devices()]
        info["tf32_policy"] = ("default precision (set_tf32(True))" if mod.tf32_enabled() else
                               "precision=lax.Precision.HIGHEST on every convolution")
    else:
        tf = mod.tf
        info["version"] = tf.__version__
        info["devices"] = [d.name for d in tf.config.list_physical_devices("GPU")]
        info["tf32_policy"] = "TF32 allowed" if mod.tf32_enabled() else "TF32 off"
    info["used_gpu"] = used_gpu
    return info


def _machine() -> dict[str, Any]:
    from convlab import bench

    out = bench.machine(None, "gpu-check does not use TensorFlow unless --frameworks says so")
    out.pop("tensorflow", None)
    return out


# --- the check ----------------------------------------------------------------------------


def _write(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` whole or not at all (a killed run leaves the last one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_plain) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _safe_machine() -> dict[str, Any]:
    try:
        return _machine()
    except Exception as err:
        return {"error": _error(err)}


def check(frameworks: Sequence[str], device: str = "auto",
          configs: Sequence[tuple[str, dict[str, Any], str]] = tuple(CONFIGS),
          layers: Sequence[Layer] = tuple(LAYERS), repeat: int = 3,
          progress: Callable[[str], None] | None = None,
          budget: float | None = None, out: Path | None = None) -> dict[str, Any]:
    """Run the whole check (see the module docstring) in this process and return the
    JSON-ready record.

    ``budget`` (seconds): once it is spent, the layers not yet timed are skipped (listed
    under ``skipped``), so that a run on a borrowed machine ends in time with its record.
    An error inside a framework, a result of the wrong shape included, is recorded as a
    disagreeing row, and the run goes on. With ``out``, the record is written there
    (atomically) after each configuration and each layer, with ``complete`` False until
    the end, so that a run killed on the way leaves what it did.

    GPU: with ``device="gpu"``, a framework that sees no GPU is not run at all: it is
    listed in ``gpu_missing`` and ``ok`` is False. With ``"auto"``, when some framework
    sees a GPU, those that do not run on the CPU only and are listed in ``gpu_missing``
    (``ok`` is not affected).

    Raises
    ------
    ValueError
        For an unknown framework or device.
    """
    say = progress or (lambda line: None)
    started = time.perf_counter()
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown or not frameworks:
        raise ValueError(f"frameworks must be names from {', '.join(FRAMEWORKS)}, got "
                         f"{list(frameworks)!r}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")

    def elapsed() -> float:
        return time.perf_counter() - started

    errors: list[str] = []
    mods: dict[str, tuple[Any, str]] = {}
    seen: list[str] = []
    for f in frameworks:
        try:
            mods[f] = _framework(f)
            if mods[f][0] is not None and device != "cpu" and mods[f][0].gpu_available():
                seen.append(f)
        except Exception as err:
            mods[f] = (None, _error(err))
    for f, (m, why) in mods.items():
        if m is None:
            errors.append(f"{f}: {why}")
    gpu = device != "cpu" and bool(seen)
    gpu_missing = ([f for f, (m, _) in mods.items() if m is not None and f not in seen]
                   if device == "gpu" or gpu else [])
    run = [f for f, (m, _) in mods.items() if m is not None
           and not (device == "gpu" and f not in seen)]
    mode = "gpu" if gpu else "cpu"
    mode_note = ("GPU and CPU" if gpu else
                 "no GPU seen: CPU only" if device == "auto" else
                 "CPU only (--device cpu)" if device == "cpu" else "no GPU seen")
    if gpu_missing:
        mode_note += f"; NO GPU SEEN BY {', '.join(gpu_missing)}" + (
            " (not run)" if device == "gpu" else " (CPU only)")
    say(f"gpu-check: {', '.join(frameworks)}; {mode_note}")

    record: dict[str, Any] = {
        "schema": SCHEMA, "created": _now(), "mode": mode, "mode_note": mode_note,
        "complete": False, "ok": None, "seconds": 0.0, "seconds_checking": None,
        "gpu_missing": gpu_missing, "errors": errors,
        "machine": {**_safe_machine(), "frameworks": {
            f: _framework_info(f, m, why, False) for f, (m, why) in mods.items()}},
        "settings": {"frameworks": list(frameworks), "device": device, "repeat": repeat,
                     "budget": budget},
        "configs": [{"name": n, "dtype": d, **kw} for n, kw, d in configs],
        "layers": [{"name": la.name, "description": la.describe(),
                    "gflop": 2e-9 * la.macs} for la in layers],
        "verify": [], "agreement": [], "timings": [], "skipped": []}

    def save() -> None:
        record["seconds"] = round(elapsed(), 1)
        if out is not None:
            _write(out, record)

    save()
    verified, agreement = record["verify"], record["agreement"]
    for name, kw, dtype in configs if run else ():
        entry: dict[str, Any] = {"config": name, "dtype": dtype}
        try:
            report = verify(**kw, dtype=dtype, device="all" if gpu else "cpu", repeat=1,
                            backends=("numpy", *run))
            entry.update(ok=report.ok, adjoint_ok=report.adjoint_ok,
                         summary=report.summary(), rows=report.records(), notes=report.notes)
        except Exception as err:  # recorded as a failure: the run goes on to the end
            entry.update(ok=False, adjoint_ok=None, error=_error(err))
        verified.append(entry)
        for f in run:
            try:
                agreement += _agreement(f, mods[f][0], name, kw, dtype, f in seen)
            except Exception as err:
                agreement.append({
                    "framework": f, "config": name, "dtype": dtype, "quantity": None,
                    "method": None, "cpu_vs_ref": None, "gpu_vs_ref": None,
                    "gpu_vs_cpu": None, "rtol_cpu": None, "rtol_gpu": None, "ok": False,
                    "note": _error(err)})
        bad = sum(r["ok"] is False for r in agreement if r["config"] == name
                  and r["dtype"] == dtype)
        say(f"  {name} {dtype}: verify {'ok' if entry['ok'] else 'FAILS'}, "
            f"{'all agree' if not bad else f'{bad} disagree'} ({elapsed():.0f} s)")
        save()
    record["seconds_checking"] = round(elapsed(), 1)

    timings: list[dict[str, Any]] = record["timings"]
    for layer in layers if run else ():
        if budget is not None and elapsed() > budget:
            record["skipped"].append(layer.name)
            say(f"  skipped {layer.name}: the budget of {budget:g} s is spent")
            continue
        try:
            rows = time_methods(layer, run, ("cpu", "gpu") if gpu else ("cpu",),
                                repeat=repeat)
        except Exception as err:
            rows = [{"layer": layer.name, "backend": ",".join(run), "device": None,
                     "quantity": None, "method": None, "ms": None, "gflops": None,
                     "rel_err": None, "rel_err_terms": None, "rtol": None, "agrees": False,
                     "note": _error(err)}]
        timings += rows
        say(f"  timed {layer.name}: {sum(r['ms'] is not None for r in rows)} rows "
            f"({elapsed():.0f} s)")
        save()

    record["machine"]["frameworks"] = {f: _framework_info(f, m, why, gpu and f in seen)
                                       for f, (m, why) in mods.items()}
    record["ok"] = bool(
        not errors and not (device == "gpu" and gpu_missing)
        and all(v["ok"] for v in verified) and all(r["ok"] is not False for r in agreement)
        and all(r["agrees"] is not False for r in timings))
    record["complete"] = True
    save()
    return record


# --- one process per framework ------------------------------------------------------------

# a child is killed after its share of the budget plus GRACE[0] s plus GRACE[1] x its share
GRACE = (20.0, 0.25)


def _child_argv(framework: str, args: argparse.Namespace, share: int,
                out: Path) -> list[str]:
    argv = [sys.executable, "-m", "convlab.gpu_check", "--in-process", "--frameworks",
            framework, "--device", args.device, "--repeat", str(args.repeat), "--budget",
            str(share), "--out", str(out)]
    return argv + (["--quick"] if args.quick else [])


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


def _isolated(frameworks: Sequence[str], args: argparse.Namespace,
              configs: Sequence[tuple[str, dict[str, Any], str]], layers: Sequence[Layer],
              say: Callable[[str], None]) -> dict[str, Any]:
    """Run each framework in its own Python (PyTorch and JAX in one process can load
    different cuDNN libraries, and the second then sees no GPU) and merge their records;
    the merged record is written after each child."""
    started = time.perf_counter()
    record: dict[str, Any] = {
        "schema": SCHEMA, "created": _now(), "mode": "cpu", "mode_note": "",
        "complete": False, "ok": None, "seconds": 0.0, "seconds_checking": None,
        "gpu_missing": [], "errors": [],
        "machine": {**_safe_machine(), "frameworks": {}},
        "settings": {"frameworks": list(frameworks), "device": args.device,
                     "repeat": args.repeat, "budget": args.budget, "isolated": True},
        "configs": [{"name": n, "dtype": d, **kw} for n, kw, d in configs],
        "layers": [{"name": la.name, "description": la.describe(),
                    "gflop": 2e-9 * la.macs} for la in layers],
        "verify": [], "agreement": [], "timings": [], "skipped": [], "children": []}
    src = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, path] if path else [src])}
    stopped = False
    for i, f in enumerate(frameworks):
        if stopped:
            record["errors"].append(f"{f}: not run (gpu-check was terminated)")
            continue
        left = args.budget - (time.perf_counter() - started)
        share = max(1, int(left / (len(frameworks) - i)))
        # the whole run ends by budget x (1 + GRACE[1]) + GRACE[0] at the latest
        limit = min(share * (1 + GRACE[1]), args.budget * (1 + GRACE[1])
                    - (time.perf_counter() - started)) + GRACE[0]
        # beside --out, so that if this process is killed too, the child's part is there
        part = args.out.with_name(f"{args.out.name}.{f}.part")
        child: dict[str, Any] = {"framework": f, "budget": share, "kill_after": limit,
                                 "returncode": None, "killed": False, "running": True,
                                 "part": str(part)}
        record["children"].append(child)
        _write(args.out, record)
        say(f"gpu-check: {f} in its own process, budget {share} s")
        t0 = time.perf_counter()
        try:
            done = subprocess.run(_child_argv(f, args, share, part), env=env,
                                  timeout=limit, check=False)
            child["returncode"] = done.returncode
        except subprocess.TimeoutExpired:
            child["killed"] = True
        except _Terminated:  # subprocess.run has killed the child
            child["killed"] = stopped = True
        except OSError as err:
            child["error"] = _error(err)
        child["seconds"] = round(time.perf_counter() - t0, 1)
        data = _load(part)
        child["complete"] = bool(data and data.get("complete"))
        del child["running"], child["part"]
        if data is None:
            record["errors"].append(f"{f}: its process left no record "
                                    f"(returncode {child['returncode']}, killed "
                                    f"{child['killed']})")
            record["machine"]["frameworks"][f] = {"version": None,
                                                  "why": "its process left no record"}
        else:
            _merge(record, f, data, child)
        record["seconds"] = round(time.perf_counter() - started, 1)
        _write(args.out, record)
        part.unlink(missing_ok=True)
    gpu = any(c.get("mode") == "gpu" for c in record["children"])
    record["mode"] = "gpu" if gpu else "cpu"
    if gpu or args.device == "gpu":
        record["gpu_missing"] = [f for f, info in record["machine"]["frameworks"].items()
                                 if info.get("version") is not None
                                 and not info.get("gpu_available")]
    missing = record["gpu_missing"]
    note = ("GPU and CPU" if gpu else "no GPU seen: CPU only" if args.device == "auto" else
            "CPU only (--device cpu)" if args.device == "cpu" else "no GPU seen")
    if missing:
        note += f"; NO GPU SEEN BY {', '.join(missing)}" + (
            " (not run)" if args.device == "gpu" else " (CPU only)")
    record["mode_note"] = note + "; each framework in its own process"
    record["complete"] = all(c["complete"] for c in record["children"])
    record["ok"] = bool(record["complete"] and not record["errors"]
                        and all(c.get("ok") is True for c in record["children"])
                        and not (args.device == "gpu" and missing))
    record["seconds"] = round(time.perf_counter() - started, 1)
    _write(args.out, record)
    return record


def _merge(record: dict[str, Any], f: str, data: dict[str, Any],
           child: dict[str, Any]) -> None:
    child.update(mode=data.get("mode"), ok=data.get("ok"), mode_note=data.get("mode_note"),
                 seconds_checking=data.get("seconds_checking"))
    record["verify"] += [{**v, "frameworks": [f]} for v in data.get("verify", [])]
    record["agreement"] += data.get("agreement", [])
    record["timings"] += data.get("timings", [])
    record["skipped"] += [f"{f}: {s}" for s in data.get("skipped", [])]
    record["errors"] += data.get("errors", [])
    info = data.get("machine", {}).get("frameworks", {}).get(f)
    record["machine"]["frameworks"][f] = info or {"version": None, "why": "not recorded"}
    if not child["complete"]:
        how = ("killed at the time limit" if child["killed"] else
               f"returncode {child['returncode']}")
        record["errors"].append(f"{f}: its run did not complete ({how}); its record "
                                "holds what it did")


# --- the command line ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _BadInput(message.replace("argument ", "", 1))


class _BadInput(Exception):
    pass


class _Terminated(BaseException):
    """SIGTERM while the children run: the running child is killed, its part kept."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated(f"signal {signum}")


def _names(text: str) -> list[str]:
    names = list(dict.fromkeys(n.strip().lower() for n in text.split(",")))
    if not all(n in FRAMEWORKS for n in names):
        raise argparse.ArgumentTypeError(
            f"must be names from {', '.join(FRAMEWORKS)} separated by commas, got {text!r}")
    return names


def _repeat(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"must be an int from 1 to 100, got {text!r}")
    return int(text)


def _seconds(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 86_400:
        raise argparse.ArgumentTypeError(f"must be whole seconds from 1 to 86400, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gpu-check", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("gpu-check.json"),
                   help="where to write the JSON (default gpu-check.json); rewritten after "
                   "each step, with complete: false until the end")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"],
                   help="auto (default): GPU and CPU when a framework sees a GPU, else the "
                   "CPU alone; gpu: a framework that sees no GPU is not run, is named in "
                   "the JSON and the summary, and the exit status is 1")
    p.add_argument("--frameworks", type=_names, default=None,
                   help="torch,jax,tensorflow or a part (default: PyTorch and JAX, those "
                   "installed)")
    p.add_argument("--repeat", type=_repeat, default=3,
                   help="timed runs (default 3; at least 5 on a GPU)")
    p.add_argument("--budget", type=_seconds, default=240,
                   help="seconds for the whole run, split between the frameworks' "
                   "processes: the layers not yet timed when a share is spent are skipped, "
                   "and a process still running at 1.25 x its share + 20 s is killed, its "
                   "record kept (default 240)")
    p.add_argument("--quick", action="store_true",
                   help="two small configurations and one tiny layer: checks that it runs")
    p.add_argument("--in-process", action="store_true",
                   help="run all the frameworks in this process (default: each in its own "
                   "when there are several)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; return 0 (all agree), 1 (one disagrees, an error, a killed or
    incomplete run, or ``--device gpu`` and a framework that sees no GPU) or 2 (bad
    arguments, before anything runs)."""
    # JAX would otherwise take three quarters of the GPU's memory at its first call,
    # leaving PyTorch the rest
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        frameworks = args.frameworks or [f for f in ("torch", "jax") if _installed(f)]
        if not frameworks:
            raise _BadInput("--frameworks: neither PyTorch nor JAX is installed")
        absent = [f for f in frameworks if not _installed(f)]
        if absent:
            raise _BadInput(f"--frameworks: must be names from {', '.join(FRAMEWORKS)} that "
                            f"are installed; not installed: {', '.join(absent)}")
        try:  # checked before minutes of work; nothing is left behind
            args.out.parent.mkdir(parents=True, exist_ok=True)
            existed = args.out.exists()
            args.out.open("a").close()
            if not existed:
                args.out.unlink()
        except OSError as err:
            raise _BadInput(f"--out: cannot write {str(args.out)!r}: "
                            f"{err.strerror or err}") from None
    except _BadInput as err:
        print(f"gpu-check: {err}", file=sys.stderr)
        return 2

    def say(line: str) -> None:
        print(line, flush=True)

    configs = QUICK_CONFIGS if args.quick else CONFIGS
    layers = QUICK_LAYERS[:1] if args.quick else LAYERS
    try:
        if len(frameworks) > 1 and not args.in_process:
            before = signal.signal(signal.SIGTERM, _terminate)
            try:
                record = _isolated(frameworks, args, configs, layers, say)
            finally:
                signal.signal(signal.SIGTERM, before)
        else:
            record = check(frameworks, args.device, configs, layers,
                           1 if args.quick else args.repeat, progress=say,
                           budget=args.budget, out=args.out)
    except Exception:  # whatever happened, a record says so
        record = _load(args.out) or {"schema": SCHEMA, "created": _now(), "mode": None,
                                     "mode_note": "", "agreement": [], "timings": [],
                                     "verify": [], "skipped": [], "gpu_missing": [],
                                     "errors": []}
        record.update(complete=False, ok=False)
        record.setdefault("errors", []).append(traceback.format_exc())
        _write(args.out, record)
    bad = [r for r in record["agreement"] if r["ok"] is False]
    bad_t = [r for r in record["timings"] if r["agrees"] is False]
    missing = record.get("gpu_missing") or []
    print(("gpu-check: " if not missing else
           f"gpu-check: WARNING: NO GPU SEEN BY {', '.join(missing)}; ")
          + f"{record['mode_note']}; {len(record['agreement'])} agreement rows, "
          f"{len(bad)} disagree; {len(record['timings'])} timings, {len(bad_t)} disagree; "
          f"verify {'ok' if all(v['ok'] for v in record['verify']) else 'FAILS'}; "
          + (f"layers skipped (budget): {', '.join(record['skipped'])}; "
             if record["skipped"] else "")
          + (f"{len(record['errors'])} errors (in the JSON); " if record.get("errors")
             else "")
          + ("" if record.get("complete") else "INCOMPLETE; ")
          + f"{record.get('seconds')} s; wrote {args.out}", flush=True)
    return 0 if record["ok"] else 1


# --- the book's tables --------------------------------------------------------------------


def recorded_path() -> Path:
    """Where a recorded GPU run ships with convlab (it may not exist)."""
    return Path(__file__).resolve().parent / "data" / "gpu-check-recorded.json"


def recorded() -> dict[str, Any] | None:
    """The recorded GPU run, or None when none has been recorded."""
    path = recorded_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _num(value: Any, spec: str) -> str:
    return "&ndash;" if value is None else format(value, spec)


def render(data: dict[str, Any]) -> str:
    """HTML for a gpu-check record: the machine, the agreement and the timings.

    The agreement table gives, per framework, configuration and dtype, the largest
    relative error of the GPU results against the CPU's and against the float64
    reference over the eight methods, and whether all agree; the timings table the best
    time per method, framework and device on each layer.
    """
    esc = html.escape
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not a gpu-check record (schema {data.get('schema')!r})")
    m = data.get("machine", {})
    parts = []
    for name, info in m.get("frameworks", {}).items():
        if info.get("version") is None:
            continue
        devices = ", ".join(info.get("devices") or []) or "no GPU"
        parts.append(f"{esc(name)} {esc(str(info['version']))} ({esc(devices)}; "
                     f"{esc(str(info.get('tf32_policy', '')))})")
    head = (f"<p>{esc(str(data.get('mode_note', '')))}; recorded {esc(str(data.get('created')))}"
            f" on {esc(str(m.get('cpu', '?')))} ({esc(str(m.get('cores', '?')))} cores): "
            f"{'; '.join(parts)}.</p>")

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in data.get("agreement", []):
        groups.setdefault((r["framework"], r["config"], r["dtype"]), []).append(r)

    def worst(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return max(values) if values else None

    body = []
    for (fw, config, dtype), rows in groups.items():
        oks = [r["ok"] for r in rows]
        verdict = ("yes" if all(o is True for o in oks) else
                   "<b>NO</b>" if any(o is False for o in oks) else
                   f"yes ({sum(o is None for o in oks)} refused)")
        cells = [esc(fw), esc(config), esc(dtype), _num(worst(rows, "gpu_vs_cpu"), ".1e"),
                 _num(worst(rows, "gpu_vs_ref"), ".1e"), _num(worst(rows, "cpu_vs_ref"), ".1e"),
                 verdict]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = ("framework", "configuration", "dtype", "GPU vs CPU", "GPU vs float64",
             "CPU vs float64", "all 8 agree")
    agree = ("<table class='convlab-verify convlab-gpu-agree'><thead><tr>"
             + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")

    timings = data.get("timings", [])
    columns = list(dict.fromkeys((r["backend"], r["device"]) for r in timings))
    cell = {(r["layer"], r["quantity"], r["method"], r["backend"], r["device"]): r
            for r in timings}
    keys = list(dict.fromkeys((r["layer"], r["quantity"], r["method"]) for r in timings))
    tbody = []
    for layer, quantity, method in keys:
        cells = [esc(layer), _symbol(quantity), esc(method)]
        for backend, dev in columns:
            r = cell.get((layer, quantity, method, backend, dev))
            if r is None or r.get("ms") is None:
                cells.append("&ndash;")
            else:
                mark = "" if r.get("agrees") is not False else " <b>(wrong)</b>"
                cells.append(f"{r['ms']:.2f}{mark}")
        tbody.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    theads = ["layer", "quantity", "method"] + [f"{esc(b)} {esc(d)} ms" for b, d in columns]
    times = ("<table class='convlab-verify convlab-gpu-times'><thead><tr>"
             + "".join(f"<th>{h}</th>" for h in theads) + "</tr></thead><tbody>"
             + "".join(tbody) + "</tbody></table>")
    return head + agree + times


def recorded_section(data: dict[str, Any] | None) -> str:
    """The performance chapter's part on a recorded GPU run, as HTML: its tables and what
    they show, or, with ``data`` None, that no run has been recorded and how to make one."""
    esc = html.escape
    if data is None:
        return (
            "<p>No GPU run has been recorded yet: convlab ships no "
            "<code>src/convlab/data/gpu-check-recorded.json</code>. To record one, run, on a "
            "machine with an NVIDIA GPU and PyTorch and/or JAX installed (TensorFlow is not "
            "needed), from a checkout:</p><pre>PYTHONPATH=src scripts/gpu-check --out "
            "src/convlab/data/gpu-check-recorded.json</pre><p>It checks every method on the "
            "GPU against the CPU and the float64 reference, times them on both, and "
            "this section then shows its tables.</p>")
    agreement = data.get("agreement", [])
    computed = [r for r in agreement if r.get("ok") is not None]
    agreed = sum(r["ok"] is True for r in computed)
    worst = max((r["gpu_vs_cpu"] for r in agreement if r.get("gpu_vs_cpu") is not None),
                default=None)
    summary = (f"<p>In this run {agreed} of {len(computed)} results computed agreed with the "
               "float64 reference (and, on the GPU, with the CPU)"
               + (f"; the largest relative difference between a GPU result and the CPU's "
                  f"was {worst:.1e}" if worst is not None else "; no GPU result was computed")
               + (f"; {len(agreement) - len(computed)} refused, with the reason in the "
                  "record" if len(computed) < len(agreement) else "")
               + ".</p>")
    return render(data) + summary + f"<p>({esc(str(len(data.get('timings', []))))} timings; " \
        "each the best of the run's repeats, synchronised, inputs already on the device.)</p>"


# the book's notation for the quantities, and the frameworks' own names
NAMES = {"numpy": "numpy", "tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def _symbol(quantity: str) -> str:
    return {"y": "y", "d_x": "δx", "d_w": "δw"}.get(quantity, html.escape(quantity))


def cpu_table(rows: Sequence[dict[str, Any]]) -> str:
    """HTML for :func:`time_methods` rows on the CPU: quantity x backend, milliseconds."""
    esc = html.escape
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    keys = list(dict.fromkeys((r["quantity"], r["method"]) for r in rows))
    cell = {(r["quantity"], r["method"], r["backend"]): r for r in rows}
    body = []
    for quantity, method in keys:
        cells = [_symbol(quantity), esc(method)]
        for b in backends:
            r = cell.get((quantity, method, b))
            if r is None or r.get("ms") is None:
                cells.append("&ndash;" if r is None else f"n/a: {esc(r.get('note', ''))}")
            else:
                cells.append(f"{r['ms']:.2f}" + ("" if r["agrees"] else " <b>(wrong)</b>"))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = ["quantity", "method"] + [f"{NAMES.get(b, esc(b))} ms" for b in backends]
    return ("<table class='convlab-verify convlab-frameworks-cpu'><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


if __name__ == "__main__":
    sys.exit(main())
