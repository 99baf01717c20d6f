"""The page's trace engine (``explorer_assets/trace.js``) against Python's ``convlab.trace``.

Node runs the JavaScript engine on a seeded grid of settings across the five operations;
every trace must equal Python's frame for frame (the same grids, cells, roles, highlights,
terms, captions and values), and its final values must equal convlab's functions on the
arrays it drew. Settings that ``trace`` refuses must be refused by the page as well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources

import numpy as np
import pytest

import convlab
from convlab.trace import OPERATIONS, trace

ENGINE = resources.files("convlab") / "explorer_assets" / "trace.js"

# reads settings as JSON lines on stdin, writes one JSON line per setting
RUNNER = """
const T = require(process.argv[1]);
const lines = require("fs").readFileSync(0, "utf8").split("\\n").filter(Boolean);
for (const line of lines) {
  const job = JSON.parse(line);
  let out;
  try {
    const t = T.trace(job.op, job.settings);
    out = {trace: t};
  } catch (err) {
    if (!(err instanceof T.TraceError)) { throw err; }
    out = {error: err.message};
  }
  process.stdout.write(JSON.stringify(out) + "\\n");
}
"""


def _node(jobs: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed")
    done = subprocess.run([node, "-e", RUNNER, str(ENGINE)], check=True, capture_output=True,
                          text=True, input="\n".join(json.dumps(j) for j in jobs))
    return [json.loads(line) for line in done.stdout.splitlines()]


def _settings(rng: np.random.Generator) -> dict:
    """A random setting of the explorer's controls, mostly small, now and then the largest."""
    big = rng.random() < 0.05
    top = 16 if big else 7
    kw = {
        "input_size": [int(rng.integers(1, top + 1)), int(rng.integers(1, top + 1))],
        "kernel_size": [int(rng.integers(1, 6 if big else 4)),
                        int(rng.integers(1, 6 if big else 4))],
        "strides": [int(rng.integers(1, 5)), int(rng.integers(1, 5))],
        "dilations": [int(rng.choice([1, 1, 2, 3, 4])), int(rng.choice([1, 1, 2, 3, 4]))],
        "channels": [int(rng.integers(1, 4)), int(rng.integers(1, 4))],
        "seed": int(rng.integers(0, 2**31)),
    }
    form = rng.choice(["VALID", "SAME", "EXPLICIT"])
    kw["padding"] = (str(form) if form != "EXPLICIT"
                     else [[int(rng.integers(0, 4)), int(rng.integers(0, 4))],
                           [int(rng.integers(0, 4)), int(rng.integers(0, 4))]])
    return kw


def _fits(kw: dict) -> bool:
    try:
        convlab.conv_geometry((1, *kw["input_size"], 1), (*kw["kernel_size"], 1, 1),
                              kw["strides"], kw["padding"], dilations=kw["dilations"])
    except ValueError:
        return False
    return True


def _jobs(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    jobs: list[dict] = []
    ops = list(OPERATIONS)
    while len(jobs) < count:
        kw = _settings(rng)
        if _fits(kw) or len(jobs) % 10 == 0:  # about one in ten impossible
            jobs.append({"op": ops[len(jobs) % len(ops)], "settings": kw})
    return jobs


def _python(op: str, kw: dict) -> dict:
    padding = kw["padding"]
    pad = padding if isinstance(padding, str) else tuple(map(tuple, padding))
    return trace(op, **{**kw, "padding": pad}).to_json()


def _oracle(op: str, kw: dict, data: dict) -> np.ndarray:
    x, w, dy = (np.asarray(data[k], dtype=np.float64) for k in ("x", "w", "dy"))
    pad = kw["padding"] if isinstance(kw["padding"], str) else [[0, 0], *kw["padding"], [0, 0]]
    args = (kw["strides"], pad)
    if op == "forward":
        return convlab.conv2d(x[None], w, *args, dilations=kw["dilations"])[0]
    if op == "d_w":
        return convlab.conv2d_backprop_filter(x[None], w.shape, dy[None], *args,
                                              dilations=kw["dilations"])
    if op == "conv2d_transpose":
        return convlab.conv2d_transpose(dy[None], w, (1, *x.shape), *args,
                                        dilations=kw["dilations"])[0]
    return convlab.conv2d_backprop_input((1, *x.shape), w, dy[None], *args,
                                         dilations=kw["dilations"])[0]


def _first_difference(py: dict, js: dict) -> str:
    for key in py:
        if key == "frames":
            if len(py["frames"]) != len(js["frames"]):
                return f"{len(js['frames'])} frames, Python has {len(py['frames'])}"
            for n, (a, b) in enumerate(zip(py["frames"], js["frames"], strict=True)):
                for part in sorted(set(a) | set(b)):
                    if a.get(part) != b.get(part):
                        return f"frame {n}, {part}:\n  Python {a.get(part)}\n  page   {b.get(part)}"
        elif py[key] != js.get(key):
            return f"{key}:\n  Python {py[key]}\n  page   {js.get(key)}"
    return "no difference"


@pytest.mark.parametrize("part", range(4))
def test_the_page_engine_repeats_python_frame_for_frame(part):
    jobs = _jobs(520, seed=2026)[part::4]
    refused = 0
    for job, got in zip(jobs, _node(jobs), strict=True):
        op, kw = job["op"], job["settings"]
        if not _fits(kw):
            refused += 1
            assert "error" in got, f"{op} {kw}: the page draws a setting trace refuses"
            assert got["error"].startswith("The window does not fit"), got["error"]
            continue
        assert "trace" in got, f"{op} {kw}: the page refuses: {got.get('error')}"
        js = got["trace"]
        data, result = js.pop("data"), js.pop("result")
        py = json.loads(json.dumps(_python(op, kw)))
        assert js == py, f"{op} {kw}: {_first_difference(py, js)}"
        np.testing.assert_array_equal(np.asarray(result, dtype=np.float64),
                                      _oracle(op, kw, data), err_msg=f"{op} {kw}")
    assert refused < len(jobs) // 4


def test_given_data_and_the_seed_mean_the_same_numbers():
    given = {"input_size": 6, "strides": 2, "padding": "VALID",
             "w": [[1, 2, 0], [0, -1, 1], [2, 0, 1]], "dy": [[1, -1], [2, 1]]}
    jobs = [{"op": "d_x_scatter", "settings": given},
            {"op": "conv2d_transpose", "settings": {**given, "dy": None, "u": given["dy"]}},
            {"op": "forward", "settings": {"input_size": 4, "seed": 12345,
                                           "x": [[1, 0, 2, 1]] * 4}}]
    for job, got in zip(jobs, _node(jobs), strict=True):
        kw = {k: v for k, v in job["settings"].items() if v is not None}
        js = got["trace"]
        js.pop("data"), js.pop("result")
        assert js == json.loads(json.dumps(trace(job["op"], **kw).to_json())), job
    assert jobs and _node([{"op": "d_w", "settings": {"x": [[1]], "input_size": 1,
                                                      "kernel_size": 1, "w": [[2]]}}]) \
        == [{"error": "w is not used by d_w, which reads x and dy"}]
