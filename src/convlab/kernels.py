"""Which of TensorFlow's CPU kernels compute which convolutions, probed in fresh processes.

On a CPU, TensorFlow 2.x computes ``conv2d`` and its gradients with one of two sets of
kernels: its own, built on Eigen, or oneDNN's. ``TF_ENABLE_ONEDNN_OPTS`` chooses (``1``:
oneDNN, ``0``: Eigen); when it is unset, TensorFlow decides from the CPU it runs on. The
variable is read once, when TensorFlow is imported, so each setting needs a process of
its own: :func:`probe` starts one, runs every case through :mod:`convlab.tf` on the CPU
and compares each result that comes back with the numpy reference.

Only numpy is imported here; TensorFlow is imported in the child process (or, by
:func:`kernels`, in this one).

Examples
--------
>>> case = Case("conv2d_backprop_input", dilations=2)
>>> case.describe()
'conv2d_backprop_input, NHWC, stride 1, dilation 2, SAME'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["CASES", "OPS", "Case", "Outcome", "Probe", "default_kernels", "kernels", "probe"]

#: The functions a case can call, as :mod:`convlab.tf` names them.
OPS = ("conv2d", "conv2d_backprop_input", "conv2d_backprop_filter", "conv2d_transpose",
       "autodiff")

_EXPLICIT = ((1, 2), (0, 1))  # uneven on purpose: top, bottom; left, right


@dataclass(frozen=True)
class Case:
    """One call: an op of :mod:`convlab.tf` on a small batch, with these settings."""

    op: str
    data_format: str = "NHWC"
    strides: int = 1
    dilations: int = 1
    padding: Any = "SAME"  # "SAME", "VALID" or "explicit" (uneven pads)
    dtype: str = "float32"

    def describe(self) -> str:
        return (f"{self.op}, {self.data_format}, stride {self.strides}, dilation "
                f"{self.dilations}, {self.padding}"
                + ("" if self.dtype == "float32" else f", {self.dtype}"))


#: Every op at strides 1-3, dilation 1 and 2, each padding, in both layouts and in
#: float32 and float64 (oneDNN's convolutions are float32 ones).
CASES = tuple(
    Case(op, fmt, s, d, p, dtype)
    for dtype in ("float32", "float64")
    for op in OPS
    for fmt in ("NHWC", "NCHW")
    for d in (1, 2)
    for s in (1, 2, 3)
    for p in ("SAME", "VALID", "explicit")
)


@dataclass(frozen=True)
class Outcome:
    """What TensorFlow did with a case: ``ran`` and ``agrees`` with numpy, or ``error``."""

    case: Case
    ran: bool
    agrees: bool | None = None
    error: str = ""


@dataclass
class Probe:
    """The outcomes of :func:`probe` under one setting, and the kernels TensorFlow used."""

    setting: str  # the TF_ENABLE_ONEDNN_OPTS value, or "unset"
    kernels: str  # "oneDNN" or "Eigen"
    tensorflow: str
    outcomes: list[Outcome] = field(default_factory=list)

    def ran(self, **where: Any) -> list[bool]:
        """Whether each case matching ``where`` (Case fields) ran."""
        return [o.ran for o in self.outcomes
                if all(getattr(o.case, k) == v for k, v in where.items())]

    def all_ran(self, **where: Any) -> bool:
        found = self.ran(**where)
        return bool(found) and all(found)

    def none_ran(self, **where: Any) -> bool:
        found = self.ran(**where)
        return bool(found) and not any(found)


def kernels() -> str:
    """Return the CPU kernels the TensorFlow of this process uses: ``"oneDNN"`` or ``"Eigen"``.

    Imports TensorFlow.
    """
    import tensorflow  # noqa: F401  (the flag is read on import)
    from tensorflow.python.util import _pywrap_util_port  # private, so guarded

    try:
        return "oneDNN" if _pywrap_util_port.IsMklEnabled() else "Eigen"
    except AttributeError:  # pragma: no cover - older or newer TensorFlow
        return "oneDNN" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else "Eigen"


def _child(setting: str | None, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run(
        [sys.executable, "-m", "convlab.kernels"], input=json.dumps(request), env=env,
        capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"the probe process failed ({done.returncode}): {' | '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_kernels(timeout: float = 120) -> str:
    """Return the kernels TensorFlow picks on this machine when nothing chooses them."""
    return str(_child(None, {"cases": []}, timeout)["kernels"])


def probe(cases: tuple[Case, ...] | list[Case] = CASES, onednn: bool | None = None,
          timeout: float = 300) -> Probe:
    """Run ``cases`` through :mod:`convlab.tf` on the CPU in a fresh process.

    Parameters
    ----------
    cases : sequence of Case
    onednn : bool or None
        ``True``: ``TF_ENABLE_ONEDNN_OPTS=1``; ``False``: ``0``; ``None``: unset, so
        TensorFlow chooses.
    timeout : float
        Seconds before the child process is given up.

    Returns
    -------
    Probe
        One :class:`Outcome` per case, in order.
    """
    setting = None if onednn is None else ("1" if onednn else "0")
    data = _child(setting, {"cases": [asdict(c) for c in cases]}, timeout)
    outcomes = [Outcome(Case(**o["case"]), o["ran"], o["agrees"], o["error"])
                for o in data["outcomes"]]
    return Probe(setting or "unset", data["kernels"], data["tensorflow"], outcomes)


def _run_case(case: Case, rng: np.random.Generator) -> Outcome:
    import convlab
    import convlab.tf as ctf
    from convlab import tolerance

    x = rng.standard_normal((2, 9, 8, 3)).astype(case.dtype)
    w = rng.standard_normal((3, 3, 3, 4)).astype(case.dtype)
    padding = [list(p) for p in _EXPLICIT] if case.padding == "explicit" else case.padding
    args = (case.strides, padding, "NHWC", case.dilations)
    y = convlab.conv2d(x, w, *args)
    dy = rng.standard_normal(y.shape).astype(case.dtype)
    want: Any = {
        "conv2d": y,
        "conv2d_backprop_input": convlab.conv2d_backprop_input(x.shape, w, dy, *args),
        "conv2d_backprop_filter": convlab.conv2d_backprop_filter(x, w.shape, dy, *args),
    }
    want["conv2d_transpose"] = want["conv2d_backprop_input"]
    want["autodiff"] = (want["conv2d_backprop_input"], want["conv2d_backprop_filter"])
    if case.data_format == "NCHW":
        x, y, dy = (a.transpose(0, 3, 1, 2) for a in (x, y, dy))
        for key in ("conv2d", "conv2d_backprop_input", "conv2d_transpose"):
            want[key] = want[key].transpose(0, 3, 1, 2)
        want["autodiff"] = (want["conv2d_backprop_input"], want["autodiff"][1])
    targs = (case.strides, padding, case.data_format, case.dilations)
    calls = {
        "conv2d": lambda: ctf.conv2d(x, w, *targs, device="cpu"),
        "conv2d_backprop_input":
            lambda: ctf.conv2d_backprop_input(x.shape, w, dy, *targs, device="cpu"),
        "conv2d_backprop_filter":
            lambda: ctf.conv2d_backprop_filter(x, w.shape, dy, *targs, device="cpu"),
        "conv2d_transpose":
            lambda: ctf.conv2d_transpose(dy, w, x.shape, *targs, device="cpu"),
        "autodiff": lambda: ctf.autodiff(x, w, dy, *targs, device="cpu"),
    }
    try:
        got = calls[case.op]()
    except ctf.TensorFlowUnsupportedError as err:
        return Outcome(case, False, None, str(err).split(": ", 1)[-1].split(";")[0])
    pairs = zip(got, want[case.op], strict=True) if case.op == "autodiff" else [
        (got, want[case.op])]
    limit = tolerance.rtol(case.dtype, "cpu")
    agrees = all(tolerance.errors(ctf.as_numpy(g), v)[1] <= limit for g, v in pairs)
    return Outcome(case, True, bool(agrees))


def _main() -> None:
    request = json.loads(sys.stdin.read() or "{}")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    outcomes = [_run_case(Case(**c), rng) for c in request.get("cases", [])]
    print(json.dumps({"kernels": kernels(), "tensorflow": tf.__version__,
                      "outcomes": [asdict(o) for o in outcomes]}))


if __name__ == "__main__":
    _main()
