"""The explorers' page engine (``explorer_assets/trace.js``) held to :mod:`convlab.trace`.

The static explorers compute their frames in the browser, so the numbers a reader sees come
from JavaScript. This module runs that same file under Node on a list of settings and
compares every trace with Python's, frame for frame (grids, roles, highlighted cells, terms,
captions, values), and its last values with convlab's functions. ``make test`` and the
explorers page use it; it needs ``node`` on the ``PATH``.

Examples
--------
>>> check = compare([("d_x_scatter", {"input_size": 4, "strides": 2, "padding": "SAME"})])
>>> check.rows[0]["frames"]
6
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from convlab import reference
from convlab._checks import conv_geometry
from convlab.trace import OPERATIONS, trace, window_fits

__all__ = ["EngineCheck", "compare", "fits", "node_traces", "random_settings"]

ENGINE = resources.files("convlab") / "explorer_assets" / "trace.js"

# settings as JSON lines on stdin; one JSON line out per setting: the trace, or the refusal
_RUNNER = """
const T = require(process.argv[1]);
const lines = require("fs").readFileSync(0, "utf8").split("\\n").filter(Boolean);
for (const line of lines) {
  const job = JSON.parse(line);
  let out;
  try {
    out = {trace: T.trace(job.op, job.settings)};
  } catch (err) {
    if (!(err instanceof T.TraceError)) { throw err; }
    out = {error: err.message};
  }
  process.stdout.write(JSON.stringify(out) + "\\n");
}
"""


def node_traces(jobs: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run ``trace.js`` under Node: ``{"trace": ...}`` or ``{"error": ...}`` per job.

    Raises
    ------
    RuntimeError
        When ``node`` is not installed.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the explorers' engine runs under Node: install nodejs")
    lines = "\n".join(json.dumps({"op": op, "settings": kw}) for op, kw in jobs)
    done = subprocess.run([node, "-e", _RUNNER, str(ENGINE)], check=True, capture_output=True,
                          text=True, input=lines)
    return [json.loads(line) for line in done.stdout.splitlines()]


def random_settings(rng: np.random.Generator, big: float = 0.05) -> dict[str, Any]:
    """A setting the explorers' form could hold; mostly small, a share ``big`` up to the
    largest (16x16 input, 5x5 kernel); stride, dilation and padding forms all mixed."""
    large = rng.random() < big
    top = 16 if large else 7
    kernel = 6 if large else 4
    kw: dict[str, Any] = {
        "input_size": [int(rng.integers(1, top + 1)), int(rng.integers(1, top + 1))],
        "kernel_size": [int(rng.integers(1, kernel)), int(rng.integers(1, kernel))],
        "strides": [int(rng.integers(1, 5)), int(rng.integers(1, 5))],
        "dilations": [int(rng.choice([1, 1, 2, 3, 4])), int(rng.choice([1, 1, 2, 3, 4]))],
        "channels": [int(rng.integers(1, 4)), int(rng.integers(1, 4))],
        "seed": int(rng.integers(0, 2**31)),
    }
    form = str(rng.choice(["VALID", "SAME", "EXPLICIT"]))
    kw["padding"] = form if form != "EXPLICIT" else [
        [int(rng.integers(0, 4)), int(rng.integers(0, 4))],
        [int(rng.integers(0, 4)), int(rng.integers(0, 4))]]
    return kw


def fits(kw: dict[str, Any]) -> bool:
    """Whether the window fits the padded input (else trace and the page refuse)."""
    try:
        window_fits(conv_geometry((1, *np.broadcast_to(kw.get("input_size", 5), 2), 1),
                                  (*np.broadcast_to(kw.get("kernel_size", 3), 2), 1, 1),
                                  kw.get("strides", 1), _padding(kw.get("padding", "VALID")),
                                  dilations=kw.get("dilations", 1)))
    except ValueError:
        return False
    return True


def _padding(padding: Any) -> Any:
    return padding if isinstance(padding, (str, int)) else tuple(map(tuple, padding))


def _reference(op: str, kw: dict[str, Any], data: dict[str, Any]) -> np.ndarray:
    x, w, dy = (np.asarray(data[k], dtype=np.float64) for k in ("x", "w", "dy"))
    p = _padding(kw.get("padding", "VALID"))
    pad = [[0, 0], *p, [0, 0]] if isinstance(p, tuple) else p
    args = (kw.get("strides", 1), pad)
    dil = kw.get("dilations", 1)
    if op == "forward":
        return reference.conv2d(x[None], w, *args, dilations=dil)[0]
    if op == "d_w":
        return reference.conv2d_backprop_filter(x[None], w.shape, dy[None], *args, dilations=dil)
    if op == "conv2d_transpose":
        return reference.conv2d_transpose(dy[None], w, (1, *x.shape), *args, dilations=dil)[0]
    return reference.conv2d_backprop_input((1, *x.shape), w, dy[None], *args, dilations=dil)[0]


def _first_difference(py: dict[str, Any], js: dict[str, Any]) -> str:
    for key in py:
        if key == "frames":
            if len(py["frames"]) != len(js["frames"]):
                return f"{len(js['frames'])} frames, Python has {len(py['frames'])}"
            for n, (a, b) in enumerate(zip(py["frames"], js["frames"], strict=True)):
                for part in sorted(set(a) | set(b)):
                    if a.get(part) != b.get(part):
                        return f"frame {n}, {part}:\n Python {a.get(part)}\n page   {b.get(part)}"
        elif py[key] != js.get(key):
            return f"{key}:\n Python {py[key]}\n page   {js.get(key)}"
    return "no difference"


@dataclass
class EngineCheck:
    """The page engine held to Python: one row per operation (see :func:`compare`)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def _repr_html_(self) -> str:
        head = ("<tr><th>operation</th><th>settings</th><th>frames compared</th>"
                "<th>impossible, refused by both</th><th>last step equals</th></tr>")
        body = "".join(
            f"<tr><td><code>{html.escape(r['op'])}</code></td><td>{r['settings']}</td>"
            f"<td>{r['frames']}</td><td>{r['refused']}</td>"
            f"<td><code>convlab.{html.escape(r['reference'])}</code></td></tr>"
            for r in self.rows)
        return f"<table>{head}{body}</table>"

    def __str__(self) -> str:
        return "\n".join(f"{r['op']}: {r['settings']} settings, {r['frames']} frames identical, "
                         f"{r['refused']} refused by both, last step = convlab."
                         f"{r['reference']}" for r in self.rows)


def compare(jobs: list[tuple[str, dict[str, Any]]]) -> EngineCheck:
    """Run ``jobs`` (operation, settings) in Node and in Python; raise on any difference.

    Raises
    ------
    AssertionError
        Naming the operation, the setting and the first frame that differs, when the page's
        trace differs from :func:`convlab.trace.trace`, its last values from convlab's
        function, or when one side refuses a setting the other computes.
    """
    rows: dict[str, dict[str, Any]] = {
        op: {"op": op, "settings": 0, "frames": 0, "refused": 0, "reference": ""}
        for op in OPERATIONS}
    for (op, kw), got in zip(jobs, node_traces(jobs), strict=True):
        row = rows[op]
        row["settings"] += 1
        if not fits(kw):
            if "error" not in got or not got["error"].startswith("The window does not fit"):
                raise AssertionError(f"{op} {kw}: trace refuses this setting, the page "
                                     f"answers {got}")
            row["refused"] += 1
            continue
        if "trace" not in got:
            raise AssertionError(f"{op} {kw}: the page refuses: {got.get('error')}")
        js = got["trace"]
        data, result = js.pop("data"), js.pop("result")
        py = json.loads(json.dumps(trace(op, **{**kw, "padding": _padding(
            kw.get("padding", "VALID"))}).to_json()))
        if js != py:
            raise AssertionError(f"{op} {kw}: {_first_difference(py, js)}")
        want = _reference(op, kw, data)
        if not np.array_equal(np.asarray(result, dtype=np.float64), want):
            raise AssertionError(f"{op} {kw}: the page's last step differs from convlab."
                                 f"{js['checked_against']}")
        row["frames"] += len(js["frames"])
        row["reference"] = js["checked_against"]
    return EngineCheck([r for r in rows.values() if r["settings"]])
