"""Compute d_x and d_w every way the book teaches, and check that they agree.

:func:`verify` draws seeded random ``x``, ``w`` and ``dy`` for one configuration,
runs every method on every backend and device present, and compares each result with
a float64 numpy reference computed from the same (rounded) inputs. It also checks the
adjoint identity ``<conv2d(x, w), dy> == <x, d_x> == <w, d_w>`` in float64, which holds
exactly for the true gradients because conv2d is bilinear.

The backends are numpy and the frameworks convlab wraps (``convlab.tf``,
``convlab.torch``, ``convlab.jax``). A framework is imported only when :func:`verify`
runs, so importing this module needs numpy alone.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convlab import _checks, reference, tolerance, via_conv2d

__all__ = ["BACKENDS", "DeviceUnavailableError", "Report", "Row", "verify"]

# the backends verify() knows, in the order of its rows
BACKENDS = ("numpy", "tensorflow", "torch", "jax")
# framework: (the package, convlab's module, its name in prose, the pip extra)
_FRAMEWORKS = {
    "tensorflow": ("tensorflow", "convlab.tf", "TensorFlow", "tf"),
    "torch": ("torch", "convlab.torch", "PyTorch", "torch"),
    "jax": ("jax", "convlab.jax", "JAX", "jax"),
}
# each framework's rows, "quantity method"
_FRAMEWORK_METHODS = ["y conv2d", "d_x autodiff", "d_x via conv2d", "d_x conv2d_backprop_input",
                      "d_x conv2d_transpose", "d_w autodiff", "d_w via conv2d",
                      "d_w conv2d_backprop_filter"]


# device="gpu" was asked for but no framework verify runs sees a GPU
DeviceUnavailableError = _checks.DeviceUnavailableError

# the book's names for the quantities the command line prints as y, d_x, d_w
_SYMBOL = {"y": "y", "d_x": "δx", "d_w": "δw"}


@dataclass(frozen=True)
class Row:
    """One result: a quantity computed by one method on one backend and device."""

    quantity: str
    method: str
    backend: str
    device: str
    max_abs: float | None = None
    max_rel: float | None = None
    seconds: float | None = None
    rtol: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool | None:
        """Whether it agrees with the reference; ``None`` when it was not computed."""
        if self.max_rel is None or self.rtol is None:
            return None
        return self.max_rel <= self.rtol


@dataclass
class Report:
    """The table :func:`verify` returns. ``str(report)`` prints it."""

    config: dict[str, Any]
    rows: list[Row]
    adjoint: dict[str, float]
    adjoint_ok: bool
    notes: list[str] = field(default_factory=list)

    @property
    def computed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is not None]

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.ok is False]

    @property
    def ok(self) -> bool:
        """True when every computed method agrees and the adjoint identity holds."""
        return not self.failed and self.adjoint_ok

    def records(self) -> list[dict[str, Any]]:
        """Return the rows as dicts (e.g. for ``pandas.DataFrame``)."""
        return [
            {"quantity": r.quantity, "method": r.method, "backend": r.backend,
             "device": r.device, "max_abs_err": _finite(r.max_abs),
             "max_rel_err": _finite(r.max_rel),
             "time_ms": None if r.seconds is None else 1e3 * r.seconds, "rtol": r.rtol,
             "agrees": r.ok, "note": r.note}
            for r in self.rows
        ]

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["quantity", "method", "backend", "device", "max abs err", "rel err",
                "time ms", "agrees"]
        body = []
        for r in self.rows:
            if r.ok is None:
                body.append([r.quantity, r.method, r.backend, r.device, "-", "-", "-",
                             f"n/a: {r.note}"])
                continue
            if r.seconds is None:  # it raised: nothing to measure
                body.append([r.quantity, r.method, r.backend, r.device, "-", "-", "-",
                             f"NO: {r.note}"])
                continue
            body.append([
                r.quantity, r.method, r.backend, r.device, f"{r.max_abs:.2e}",
                f"{r.max_rel:.2e}", f"{1e3 * (r.seconds or 0.0):.2f}",
                "yes" if r.ok else f"NO (tol {r.rtol:.0e})",
            ])
        return head, body

    def summary(self) -> str:
        c = self.config
        return (
            f"input {c['input_shape']} {c['data_format']}, filter {c['filter_shape']} (HWIO), "
            f"strides {c['strides']}, padding {c['padding']} -> pads {c['pads']}, "
            f"dilations {c['dilations']}, {c['dtype']}, seed {c['seed']}; "
            f"output {c['output_shape']}"
        )

    def verdict(self) -> str:
        a = self.adjoint
        adjoint = (
            f"adjoint identity (float64): <conv2d(x,w), dy> = {a['y_dy']:.12g}, "
            f"<x, d_x> = {a['x_dx']:.12g}, <w, d_w> = {a['w_dw']:.12g}; "
            f"max rel diff {a['rel_diff']:.1e} (tol {tolerance.ADJOINT_RTOL:.0e}): "
            f"{'holds' if self.adjoint_ok else 'FAILS'}"
        )
        missing = len(self.rows) - len(self.computed)
        if self.ok:
            tail = f"all {len(self.computed)} computed results agree with the float64 reference"
        else:
            tail = f"{len(self.failed)} of {len(self.computed)} computed results DISAGREE"
        if missing:
            tail += f"; {missing} not computed, each with the reason"
        return f"{adjoint}\n{tail}"

    def __str__(self) -> str:
        head, body = self._cells()
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

        def line(cells: Sequence[str]) -> str:
            padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
            return "  ".join(padded).rstrip()

        rule = "  ".join("-" * w for w in widths)
        table = "\n".join([line(head), rule, *(line(row) for row in body)])
        notes = "".join(f"\nnote: {n}" for n in self.notes)
        return f"convlab verify: {self.summary()}\n\n{table}\n\n{self.verdict()}{notes}"

    def _repr_html_(self) -> str:
        """The table for a page: fewer, shorter columns; why a row is missing, once, below."""
        esc = html.escape
        devices = {r.device for r in self.rows}
        reasons: list[str] = []
        body = []
        for r in self.rows:
            where = r.backend if len(devices) == 1 else f"{r.backend}, {r.device}"
            if r.ok is None:
                if r.note not in reasons:
                    reasons.append(r.note)
                mark = "&nbsp;" + "*" * (reasons.index(r.note) + 1)
                cells = [_SYMBOL[r.quantity], esc(r.method), esc(where), "&ndash;",
                         f"not computed{mark}"]
            elif r.seconds is None:  # it raised
                cells = [_SYMBOL[r.quantity], esc(r.method), esc(where), "&ndash;",
                         f"<b>NO</b>: {esc(r.note)}"]
            else:
                verdict = "yes" if r.ok else f"<b>NO</b> (tol {r.rtol:.0e})"
                cells = [_SYMBOL[r.quantity], esc(r.method), esc(where),
                         f"{r.max_rel:.1e}", verdict]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        heads = "".join(f"<th>{h}</th>" for h in
                        ("quantity", "method", "backend", "rel err", "agrees"))
        notes = "".join(f"<p>{'*' * (i + 1)} {esc(n)}</p>" for i, n in enumerate(reasons))
        notes += "".join(f"<p>note: {esc(n)}</p>" for n in self.notes)
        verdict = esc(self.verdict()).replace("\n", "<br>")
        verdict = verdict.replace("d_x", "δx").replace("d_w", "δw")
        return (
            f"<p>{esc(self.summary())}</p><table class='convlab-verify'><thead><tr>{heads}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>{notes}<p>{verdict}</p>"
        )


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[np.ndarray, float]:
    """Return ``fn()``'s result as numpy and the best of ``repeat`` timings (after a warm-up)."""
    out = np.asarray(fn())
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.asarray(fn())
        best = min(best, time.perf_counter() - start)
    return out, best


def _framework(name: str) -> tuple[Any, str]:
    """Return ``(convlab's module for framework name, "")`` or ``(None, why it is missing)``."""
    package, module, prose, extra = _FRAMEWORKS[name]
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # an import hook that refuses it, a broken install
        found = False
    if not found:
        return None, f"{prose} is not installed (pip install 'convlab[{extra}]')"
    try:
        return importlib.import_module(module), ""
    except Exception as err:  # a broken install should not hide the other rows
        return None, f"{prose} failed to import: {err}"


def _tensorflow() -> tuple[Any, str]:
    """Return ``(convlab.tf, "")`` or ``(None, why it is missing)``."""
    return _framework("tensorflow")


def _backends(backends: Any) -> tuple[tuple[str, ...], bool]:
    """The backends asked for, in :data:`BACKENDS` order, and whether they were named."""
    accepted = "a subset of " + ", ".join(map(repr, BACKENDS))
    if backends is None:
        return BACKENDS, False
    names = backends.split(",") if isinstance(backends, str) else backends
    try:
        names = [n.strip().lower() if isinstance(n, str) else n for n in names]
    except TypeError:
        raise TypeError(f"backends must be None or {accepted}, got {backends!r}") from None
    unknown = [n for n in names if n not in BACKENDS]
    if unknown or not names:
        got = f"unknown {unknown[0]!r}" if unknown else "none"
        raise ValueError(f"backends must be None (every installed one) or {accepted}, "
                         f"got {got}")
    return tuple(b for b in BACKENDS if b in names), True


def _devices(mod: Any, device: str) -> list[str]:
    """The devices a framework's rows run on for verify's ``device``."""
    if device == "cpu":
        return ["cpu"]
    if device == "gpu":
        return ["gpu"]
    gpu = bool(mod.gpu_available())
    if device == "all":
        return ["cpu", "gpu"] if gpu else ["cpu"]
    return ["gpu" if gpu else "cpu"]


def verify(
    input_shape: Sequence[int] = (2, 9, 9, 3),
    filter_shape: Sequence[int] = (3, 3, 3, 4),
    strides: Any = 2,
    padding: Any = "SAME",
    dilations: Any = 1,
    data_format: str = "NHWC",
    dtype: str = "float32",
    device: str = "auto",
    seed: int = 0,
    repeat: int = 3,
    backends: Sequence[str] | str | None = None,
) -> Report:
    """Compute d_x four ways and d_w three ways on every backend present, and compare.

    Parameters
    ----------
    input_shape : 4 positive ints
        Shape of ``x`` in ``data_format`` order.
    filter_shape : 4 positive ints
        ``[KH, KW, C_in, C_out]``.
    strides, padding, dilations, data_format
        As in :func:`convlab.conv2d`.
    dtype : {"float16", "float32", "float64"}
        The dtype the methods run in; the reference is always float64.
    device : {"auto", "cpu", "gpu", "all"}
        Where each framework's rows run (numpy's run on the CPU): ``"auto"`` picks a GPU
        where that framework sees one, ``"all"`` gives rows for the CPU and, where the
        framework sees one, the GPU. ``"gpu"`` gives GPU rows for every framework that sees
        a GPU (the others' rows say they see none) and raises
        :class:`DeviceUnavailableError` when none does.
    seed : int
        Seed of ``np.random.default_rng`` for ``x``, ``w`` and ``dy`` (0 or more).
    repeat : int
        Timed runs per method after one warm-up (1 or more); the best is reported.
    backends : None or a subset of ("numpy", "tensorflow", "torch", "jax")
        ``None``: numpy and every framework installed (a note names those that are not).
        Named frameworks that are missing get rows saying why. A string may name several,
        separated by commas.

    Returns
    -------
    Report
        One row per quantity x method x backend x device, with the max absolute and
        relative error against the reference, the time, and whether it agrees; plus the
        adjoint check. Framework rows that cannot run say why.

    Raises
    ------
    DeviceUnavailableError
        If ``device="gpu"`` and no framework asked for sees a GPU.

    Examples
    --------
    >>> report = verify((1, 5, 5, 2), (3, 3, 2, 3), strides=1, padding="VALID",
    ...                 backends=["numpy"])
    >>> report.adjoint_ok, len(report.rows)
    (True, 6)
    """
    dt = _checks.float_dtype("dtype", dtype)
    if not isinstance(device, str) or device.lower() not in ("auto", "cpu", "gpu", "all"):
        raise ValueError(f"device must be 'auto', 'cpu', 'gpu' or 'all', got {device!r}")
    device = device.lower()
    seed = _checks.whole("seed", seed, 0, most=None)
    repeat = _checks.whole("repeat", repeat, 1, most=None)
    names, named = _backends(backends)
    fmt = _checks.check_data_format(data_format)
    # the arrays are drawn at random, so their shapes must be positive: the empty cases are
    # held to TensorFlow by the tests
    in_shape = _checks.sizes("input_shape", input_shape, _checks.LAYOUT[fmt], least=1)
    f_shape = _checks.sizes("filter_shape", filter_shape, _checks.FILTER_LAYOUT, least=1)
    conv = _checks.conv_geometry(in_shape, f_shape, strides, padding, fmt, dilations)
    out_shape = _checks.from_nhwc(conv.output_shape, fmt)
    if 0 in out_shape:
        raise ValueError(
            f"with filter_shape {f_shape}, input_shape {in_shape} gives an empty output "
            f"{out_shape} (the filter is longer than the padded input): nothing to compare"
        )

    # which frameworks run, where; checked before any work is done
    notes: list[str] = []
    plan: list[tuple[str, Any, str, list[str]]] = []  # (backend, module, why, devices)
    for name in names[1:] if names[0] == "numpy" else names:
        mod, why = _framework(name)
        if mod is None:
            if named:
                plan.append((name, None, why, ["gpu" if device == "gpu" else "cpu"]))
            else:
                notes.append(f"{why}: no {name} rows")
            continue
        plan.append((name, mod, "", _devices(mod, device)))
    if device == "gpu" and not any(m is not None and m.gpu_available() for _, m, _, _ in plan):
        asked = [_FRAMEWORKS[n][2] for n, m, _, _ in plan if m is not None]
        seen = (" and ".join([", ".join(asked[:-1]), asked[-1]] if len(asked) > 1 else asked)
                + (" see none" if len(asked) > 1 else " sees none")
                if asked else "none of the frameworks asked for is installed" if plan
                else "only numpy was asked for, and it runs on the CPU")
        raise DeviceUnavailableError(
            f"device='gpu' but no GPU is visible to the frameworks verify runs ({seen}); "
            "use device='cpu', 'auto' or 'all'"
        )

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(in_shape).astype(dt)
    w = rng.standard_normal(f_shape).astype(dt)
    dy = rng.standard_normal(out_shape).astype(dt)
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))
    args = (strides, padding, fmt, dilations)

    ref = {
        "y": reference.conv2d(x64, w64, *args),
        "d_x": reference.conv2d_backprop_input(in_shape, w64, dy64, *args),
        "d_w": reference.conv2d_backprop_filter(x64, f_shape, dy64, *args),
    }
    inner = {
        "y_dy": float(np.vdot(ref["y"], dy64)),
        "x_dx": float(np.vdot(x64, ref["d_x"])),
        "w_dw": float(np.vdot(w64, ref["d_w"])),
    }
    scale = max(abs(v) for v in inner.values()) or 1.0
    rel_diff = (max(inner.values()) - min(inner.values())) / scale
    adjoint = {**inner, "rel_diff": rel_diff}

    rows: list[Row] = []

    def add(quantity: str, method: str, backend: str, dev: str, fn: Callable[[], Any],
            tf32: bool = False) -> None:
        limit = tolerance.rtol(dt, dev, tf32)
        try:
            got, seconds = _timed(fn, repeat)
            max_abs, max_rel = tolerance.errors(got, ref[quantity])
        except NotImplementedError as err:  # the framework has no kernel for it
            prose = "TF" if backend == "tensorflow" else _FRAMEWORKS[backend][2]
            rows.append(Row(quantity, method, backend, dev, note=_short(str(err), prose)))
            return
        except Exception as err:  # a framework's failure (cuDNN, XLA) or a wrong shape
            if backend == "numpy":
                raise
            rows.append(Row(quantity, method, backend, dev, math.inf, math.inf, None, limit,
                            note=f"failed: {type(err).__name__}: {_first_line(err)}"))
            return
        rows.append(Row(quantity, method, backend, dev, max_abs, max_rel, seconds, limit))

    numpy_methods: list[tuple[str, str, Callable[[], Any]]] = [
        ("y", "conv2d", lambda: reference.conv2d(x, w, *args)),
        ("d_x", "via conv2d", lambda: via_conv2d.grad_input_via_conv2d(in_shape, w, dy, *args)),
        ("d_x", "conv2d_backprop_input",
         lambda: reference.conv2d_backprop_input(in_shape, w, dy, *args)),
        ("d_x", "conv2d_transpose",
         lambda: reference.conv2d_transpose(dy, w, in_shape, strides, padding, fmt, dilations)),
        ("d_w", "via conv2d", lambda: via_conv2d.grad_filter_via_conv2d(x, f_shape, dy, *args)),
        ("d_w", "conv2d_backprop_filter",
         lambda: reference.conv2d_backprop_filter(x, f_shape, dy, *args)),
    ]

    order = {"y": 0, "d_x": 1, "d_w": 2}
    if names[0] == "numpy":
        for quantity, method, fn in numpy_methods:
            add(quantity, method, "numpy", "cpu", fn)
    used: list[str] = []
    for backend, mod, why, devices in plan:
        prose = _FRAMEWORKS[backend][2]
        for dev in devices:
            if mod is None or (dev == "gpu" and not mod.gpu_available()):
                reason = why or f"{prose} sees no GPU"
                for name in _FRAMEWORK_METHODS:
                    quantity, method = name.split(" ", 1)
                    rows.append(Row(quantity, method, backend, dev, note=reason))
                continue
            used.append(dev)
            tf32 = dev == "gpu" and mod.tf32_enabled()
            if dev == "gpu":
                notes.append(f"TF32 is {'allowed' if tf32 else 'off'} for float32 on the GPU"
                             + ("" if backend == "tensorflow" else f" ({prose})"))
            for quantity, method, fn in _framework_methods(mod, dev, x, w, dy, in_shape,
                                                           f_shape, args):
                add(quantity, method, backend, dev, fn, tf32)
    rows.sort(key=lambda r: order[r.quantity])

    config = {
        "input_shape": in_shape, "filter_shape": f_shape, "strides": conv.strides,
        "padding": padding if isinstance(padding, str) else conv.pads, "pads": conv.pads,
        "dilations": conv.dilations, "data_format": fmt, "dtype": dt.name, "seed": seed,
        "output_shape": out_shape, "devices": [d for d in ("cpu", "gpu") if d in used],
        "backends": [r for r in BACKENDS if any(row.backend == r for row in rows)],
    }
    return Report(config, rows, adjoint, rel_diff <= tolerance.ADJOINT_RTOL, notes)


def _framework_methods(mod: Any, dev: str, x: Any, w: Any, dy: Any, in_shape: Any,
                       f_shape: Any, args: tuple[Any, ...],
                       ) -> list[tuple[str, str, Callable[[], Any]]]:
    """``(quantity, method, fn)`` for a framework module's eight rows on ``dev``; each
    ``fn`` returns a host copy, so the time includes moving the result back."""
    host = mod.as_numpy

    def run(fn: Callable[..., Any], *a: Any) -> Callable[[], Any]:
        return lambda: host(fn(*a, device=dev))

    def autodiff(i: int) -> Callable[[], Any]:
        return lambda: host(mod.autodiff(x, w, dy, *args, device=dev)[i])

    return [
        ("y", "conv2d", run(mod.conv2d, x, w, *args)),
        ("d_x", "autodiff", autodiff(0)),
        ("d_x", "via conv2d", run(mod.grad_input_via_conv2d, in_shape, w, dy, *args)),
        ("d_x", "conv2d_backprop_input", run(mod.conv2d_backprop_input, in_shape, w, dy,
                                             *args)),
        ("d_x", "conv2d_transpose", run(mod.conv2d_transpose, dy, w, in_shape, *args)),
        ("d_w", "autodiff", autodiff(1)),
        ("d_w", "via conv2d", run(mod.grad_filter_via_conv2d, x, f_shape, dy, *args)),
        ("d_w", "conv2d_backprop_filter", run(mod.conv2d_backprop_filter, x, f_shape, dy,
                                              *args)),
    ]


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a result that raised has no error to record."""
    return value if value is None or math.isfinite(value) else None


def _first_line(err: BaseException, width: int = 160) -> str:
    lines = str(err).strip().splitlines() or [""]
    return lines[0][:width]


def _short(message: str, prose: str = "TF") -> str:
    """The gist of a framework's refusal (e.g. TensorFlowUnsupportedError), for a table
    cell; ``prose`` names the framework."""
    head, _, instead = message.partition("; convlab.")
    if ": " in head:
        head = f"{prose} refuses: " + head.split(": ", 1)[1]
    return head.rstrip(".") + ("; via conv2d works" if instead else "")
