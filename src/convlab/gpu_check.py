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
   the best of ``repeat`` synchronised runs after a warm-up (``torch.cuda.synchronize``,
   ``jax.block_until_ready``), inputs already on the device;

and writes everything, with the machine (framework versions, device names, the TF32
policy), into one JSON file. Exit status 0 when every result agrees, 1 when one does not,
2 for bad input (one line on stderr). Without a GPU (``--device cpu``, or ``auto`` when no
framework sees one) it does the same on the CPU alone and says so, so it can be tested
anywhere.

:func:`render` turns such a file into the HTML tables of the performance chapter.
"""

from __future__ import annotations

import argparse
import datetime
import html
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from convlab import _checks, reference, tolerance
from convlab.bench import LAYERS, QUICK_LAYERS, Layer, _pause_then_best
from convlab.verify import _FRAMEWORKS, _framework, _framework_methods, verify

__all__ = ["CONFIGS", "FRAMEWORKS", "NATIVE", "QUICK_CONFIGS", "TIMED", "check", "cpu_table",
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


def time_methods(layer: Layer, backends: Sequence[str], devices: Sequence[str] = ("cpu",),
                 methods: Sequence[tuple[str, str]] = tuple(TIMED), repeat: int = 3,
                 seed: int = 0, pause: float = 0.05) -> list[dict[str, Any]]:
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
    pause : float
        Seconds to wait before each method, so that the thread pool of the library timed
        before it stops spinning (as in :mod:`convlab.bench`).

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
        reaches a few 1e-6 on a CPU, too near float32's 1e-5 to judge by.
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
            if mod is not None and dev == "gpu" and not mod.gpu_available():
                continue
            tf32 = dev == "gpu" and mod is not None and mod.tf32_enabled()
            rtol = tolerance.rtol("float32", dev, tf32)
            on = {} if backend == "numpy" else {"device": dev}
            put = [_put(backend, mod, a, dev) for a in (x, w, dy)] if mod is not None else []
            for quantity, method in methods:
                if backend == "numpy" and method == "autodiff":
                    continue
                row: dict[str, Any] = {
                    "layer": layer.name, "backend": backend, "device": dev,
                    "quantity": quantity, "method": method, "ms": None, "gflops": None,
                    "rel_err": None, "rel_err_terms": None, "rtol": rtol, "agrees": None,
                    "note": why}
                rows.append(row)
                if mod is None:
                    continue
                fn = _timed_call(mod, quantity, method, layer, *put, **on)
                try:
                    result, seconds = _pause_then_best(fn, _sync(backend, mod, dev),
                                                       repeat, pause)
                except NotImplementedError as err:
                    row["note"] = str(err).split("; convlab.")[0]
                    continue
                except Exception as err:  # recorded as wrong: the run goes on to the end
                    row.update(note=f"{type(err).__name__}: {err}", agrees=False)
                    continue
                got = _host(mod, result)
                pairs = (zip(got, ("d_x", "d_w"), strict=True) if quantity == "d_x+d_w"
                         else [(got, quantity)])
                errs = [(tolerance.errors(g, ref[q])[1],
                         tolerance.errors(g, ref[q], terms[q])[1]) for g, q in pairs]
                rel, rel_terms = (max(e) for e in zip(*errs, strict=True))
                macs = 2 if quantity == "d_x+d_w" else 1
                row.update(ms=1e3 * seconds, gflops=2e-9 * layer.macs * macs / seconds,
                           rel_err=rel, rel_err_terms=rel_terms, agrees=rel_terms <= rtol)
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
        row["cpu_vs_ref"] = tolerance.errors(cpu, ref[quantity])[1]
        ok = row["cpu_vs_ref"] <= rtol_cpu
        if gpu_got is not None:
            row["gpu_vs_ref"] = tolerance.errors(gpu_got, ref[quantity])[1]
            # both sides round: the GPU's tolerance plus the CPU's
            row["gpu_vs_cpu"] = tolerance.errors(gpu_got, cpu, ref[quantity])[1]
            ok = ok and row["gpu_vs_ref"] <= rtol_gpu
            ok = ok and row["gpu_vs_cpu"] <= rtol_gpu + rtol_cpu
        row["ok"] = bool(ok)
        rows.append(row)
    return rows


# --- the machine --------------------------------------------------------------------------


def _framework_info(backend: str, mod: Any, why: str, used_gpu: bool) -> dict[str, Any]:
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


def check(frameworks: Sequence[str], device: str = "auto",
          configs: Sequence[tuple[str, dict[str, Any], str]] = tuple(CONFIGS),
          layers: Sequence[Layer] = tuple(LAYERS), repeat: int = 3,
          progress: Callable[[str], None] | None = None,
          budget: float | None = None) -> dict[str, Any]:
    """Run the whole check (see the module docstring) and return the JSON-ready record.

    ``budget`` (seconds): once it is spent, the layers not yet timed are skipped (listed
    under ``skipped``), so that a run on a borrowed machine ends in time with its record.
    An error inside a framework is recorded as a disagreeing row, and the run goes on.

    Raises
    ------
    ValueError
        For an unknown framework or device, or ``device="gpu"`` when no framework in
        ``frameworks`` sees a GPU.
    """
    say = progress or (lambda line: None)
    started = time.perf_counter()
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown or not frameworks:
        raise ValueError(f"frameworks must be names from {', '.join(FRAMEWORKS)}, got "
                         f"{list(frameworks)!r}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {device!r}")
    mods = {f: _framework(f) for f in frameworks}
    missing = [f"{f}: {why}" for f, (m, why) in mods.items() if m is None]
    if missing:
        raise ValueError("frameworks: " + "; ".join(missing))
    seen = [f for f, (m, _) in mods.items() if m.gpu_available()]
    if device == "gpu" and not seen:
        raise ValueError(f"device='gpu' but none of {', '.join(frameworks)} sees a GPU; use "
                         "--device cpu or auto")
    gpu = device != "cpu" and bool(seen)
    mode = "gpu" if gpu else "cpu"
    mode_note = ("GPU and CPU" if gpu else
                 "no GPU seen: CPU only" if device == "auto" else "CPU only (--device cpu)")
    say(f"gpu-check: {', '.join(frameworks)}; {mode_note}")

    def elapsed() -> float:
        return time.perf_counter() - started

    verified: list[dict[str, Any]] = []
    agreement: list[dict[str, Any]] = []
    for name, kw, dtype in configs:
        entry: dict[str, Any] = {"config": name, "dtype": dtype}
        try:
            report = verify(**kw, dtype=dtype, device="all" if gpu else "cpu", repeat=1,
                            backends=("numpy", *frameworks))
        except Exception as err:  # recorded as a failure: the run goes on to the end
            entry.update(ok=False, adjoint_ok=None, error=f"{type(err).__name__}: {err}")
        else:
            entry.update(ok=report.ok, adjoint_ok=report.adjoint_ok,
                         summary=report.summary(), rows=report.records(), notes=report.notes)
        verified.append(entry)
        for f in frameworks:
            agreement += _agreement(f, mods[f][0], name, kw, dtype, gpu)
        bad = sum(r["ok"] is False for r in agreement if r["config"] == name
                  and r["dtype"] == dtype)
        say(f"  {name} {dtype}: verify {'ok' if entry['ok'] else 'FAILS'}, "
            f"{'all agree' if not bad else f'{bad} disagree'} ({elapsed():.0f} s)")
    checked_at = elapsed()

    timings: list[dict[str, Any]] = []
    skipped: list[str] = []
    for layer in layers:
        if budget is not None and elapsed() > budget:
            skipped.append(layer.name)
            say(f"  skipped {layer.name}: the budget of {budget:g} s is spent")
            continue
        rows = time_methods(layer, frameworks, ("cpu", "gpu") if gpu else ("cpu",),
                            repeat=repeat)
        timings += rows
        say(f"  timed {layer.name}: {sum(r['ms'] is not None for r in rows)} rows "
            f"({elapsed():.0f} s)")

    info = {f: _framework_info(f, m, why, gpu and f in seen) for f, (m, why) in mods.items()}
    ok = (all(v["ok"] for v in verified) and all(r["ok"] is not False for r in agreement)
          and all(r["agrees"] is not False for r in timings))
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "mode_note": mode_note,
        "ok": ok,
        "seconds": round(elapsed(), 1),
        "seconds_checking": round(checked_at, 1),
        "machine": {**_machine(), "frameworks": info},
        "settings": {"frameworks": list(frameworks), "device": device, "repeat": repeat,
                     "budget": budget},
        "configs": [{"name": n, "dtype": d, **kw} for n, kw, d in configs],
        "layers": [{"name": la.name, "description": la.describe(),
                    "gflop": 2e-9 * la.macs} for la in layers],
        "verify": verified,
        "agreement": agreement,
        "timings": timings,
        "skipped": skipped,
    }


# --- the command line ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _BadInput(message.replace("argument ", "", 1))


class _BadInput(Exception):
    pass


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
                   help="where to write the JSON (default gpu-check.json)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"],
                   help="auto (default): GPU and CPU when a framework sees a GPU, else the "
                   "CPU alone; gpu: exit 2 without one")
    p.add_argument("--frameworks", type=_names, default=None,
                   help="torch,jax,tensorflow or a part (default: PyTorch and JAX, those "
                   "installed)")
    p.add_argument("--repeat", type=_repeat, default=3, help="timed runs (default 3)")
    p.add_argument("--budget", type=_seconds, default=240,
                   help="seconds after which the layers not yet timed are skipped "
                   "(default 240)")
    p.add_argument("--quick", action="store_true",
                   help="two small configurations and one tiny layer: checks that it runs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; return 0 (all agree), 1 (one disagrees) or 2 (bad input)."""
    # JAX would otherwise take three quarters of the GPU's memory at its first call,
    # leaving PyTorch the rest
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        frameworks = args.frameworks or [f for f in ("torch", "jax") if _installed(f)]
        if not frameworks:
            raise _BadInput("--frameworks: neither PyTorch nor JAX is installed")
        try:  # checked before minutes of work; nothing is left behind
            args.out.parent.mkdir(parents=True, exist_ok=True)
            existed = args.out.exists()
            args.out.open("a").close()
            if not existed:
                args.out.unlink()
        except OSError as err:
            raise _BadInput(f"--out: cannot write {str(args.out)!r}: "
                            f"{err.strerror or err}") from None
        try:
            record = check(frameworks, args.device,
                           QUICK_CONFIGS if args.quick else CONFIGS,
                           QUICK_LAYERS[:1] if args.quick else LAYERS,
                           1 if args.quick else args.repeat,
                           progress=lambda line: print(line, flush=True),
                           budget=args.budget)
        except ValueError as err:
            option = "--device" if str(err).startswith("device") else "--frameworks"
            raise _BadInput(f"{option}: {err}") from None
    except _BadInput as err:
        print(f"gpu-check: {err}", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(record, indent=1, default=_plain) + "\n", encoding="utf-8")
    bad = [r for r in record["agreement"] if r["ok"] is False]
    bad_t = [r for r in record["timings"] if r["agrees"] is False]
    print(f"gpu-check: {record['mode_note']}; {len(record['agreement'])} agreement rows, "
          f"{len(bad)} disagree; {len(record['timings'])} timings, {len(bad_t)} disagree; "
          f"verify {'ok' if all(v['ok'] for v in record['verify']) else 'FAILS'}; "
          + (f"layers skipped (budget): {', '.join(record['skipped'])}; "
             if record["skipped"] else "")
          + f"{record['seconds']} s; wrote {args.out}")
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
        cells = [esc(layer), esc(quantity), esc(method)]
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


def cpu_table(rows: Sequence[dict[str, Any]]) -> str:
    """HTML for :func:`time_methods` rows on the CPU: quantity x backend, milliseconds."""
    esc = html.escape
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    keys = list(dict.fromkeys((r["quantity"], r["method"]) for r in rows))
    cell = {(r["quantity"], r["method"], r["backend"]): r for r in rows}
    body = []
    for quantity, method in keys:
        cells = [esc(quantity), esc(method)]
        for b in backends:
            r = cell.get((quantity, method, b))
            if r is None or r.get("ms") is None:
                cells.append("&ndash;" if r is None else f"n/a: {esc(r.get('note', ''))}")
            else:
                cells.append(f"{r['ms']:.2f}" + ("" if r["agrees"] else " <b>(wrong)</b>"))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = ["quantity", "method"] + [f"{esc(b)} ms" for b in backends]
    return ("<table class='convlab-verify convlab-frameworks-cpu'><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")
