"""scripts/gpu-check: runs where TensorFlow and threadpoolctl are absent, writes one JSON;
and the performance chapter's tables of a recorded run."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from convlab import gpu_check

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-check"

# a Python without TensorFlow and threadpoolctl, as on a borrowed GPU machine: an import
# hook refuses them, then the script runs as its own __main__
BLOCKED = """
import runpy, sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "threadpoolctl"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Absent())
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    loaded = sorted(m for m in ("tensorflow", "threadpoolctl") if m in sys.modules)
    print("LOADED", ",".join(loaded) or "none")
"""

AGREEMENT_KEYS = {"framework", "config", "dtype", "quantity", "method", "cpu_vs_ref",
                  "gpu_vs_ref", "gpu_vs_cpu", "rtol_cpu", "rtol_gpu", "ok", "note"}
TIMING_KEYS = {"layer", "backend", "device", "quantity", "method", "ms", "gflops", "rel_err",
               "rel_err_terms", "rtol", "agrees", "note"}


def _blocked(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", BLOCKED, str(SCRIPT), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_the_script_is_executable():
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")


def test_cpu_mode_without_tensorflow_writes_one_json_and_everything_agrees(
        ctorch, cjax, tmp_path):
    out = tmp_path / "nested" / "check.json"
    result = _blocked("--device", "cpu", "--quick", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED none" in result.stdout  # neither TensorFlow nor threadpoolctl
    assert "CPU only (--device cpu)" in result.stdout and f"wrote {out}" in result.stdout
    data = json.loads(out.read_text())

    assert data["schema"] == "convlab-gpu-check/1"
    assert data["mode"] == "cpu" and data["ok"] is True and data["complete"] is True
    assert set(data) >= {"created", "machine", "settings", "configs", "layers", "verify",
                         "agreement", "timings", "seconds", "gpu_missing", "errors"}
    # each framework ran in its own process, and the records were merged
    assert [(c["framework"], c["complete"], c["killed"], c["returncode"])
            for c in data["children"]] == [("torch", True, False, 0), ("jax", True, False, 0)]
    assert data["errors"] == [] and data["gpu_missing"] == []
    frameworks = data["machine"]["frameworks"]
    assert set(frameworks) == {"torch", "jax"}
    for info in frameworks.values():
        assert info["version"] and "tf32_policy" in info and info["used_gpu"] is False
    assert "first time" in frameworks["torch"]["tf32_flags_note"]
    assert data["machine"]["blas_details"]["threadpools"] == "threadpoolctl is not installed"

    assert [(c["name"], c["dtype"]) for c in data["configs"]] == [
        (name, dtype) for name, _, dtype in gpu_check.QUICK_CONFIGS]
    assert all(v["ok"] and v["adjoint_ok"] for v in data["verify"])
    assert {r["backend"] for v in data["verify"] for r in v["rows"]} == {"numpy", "torch",
                                                                        "jax"}
    rows = data["agreement"]
    assert len(rows) == 2 * len(gpu_check.QUICK_CONFIGS) * 8
    assert all(set(r) == AGREEMENT_KEYS for r in rows)
    assert all(r["ok"] is True and r["cpu_vs_ref"] <= r["rtol_cpu"] for r in rows), rows
    assert all(r["gpu_vs_cpu"] is None and r["rtol_gpu"] is None for r in rows)
    timings = data["timings"]
    assert all(set(r) == TIMING_KEYS for r in timings)
    assert {(r["backend"], r["device"]) for r in timings} == {("torch", "cpu"), ("jax", "cpu")}
    assert len(timings) == 2 * (len(gpu_check.TIMED) + 3)
    assert all(r["ms"] > 0 and r["agrees"] for r in timings)
    raw = {(r["backend"], r["quantity"]): r["note"] for r in timings
           if r["method"] == gpu_check.RAW}
    assert raw[("torch", "d_x")].startswith("torch.nn.grad.conv2d_input")
    assert raw[("jax", "d_w")].startswith("jit(vjp of lax.conv_general_dilated")
    # the page renders a record like this one
    page = gpu_check.render(data)
    assert page.count("<tr>") == (1 + 2 * len(gpu_check.QUICK_CONFIGS) + 1
                                  + len(gpu_check.TIMED) + 3)


def test_auto_without_a_gpu_says_so(ctorch):
    if ctorch.gpu_available():
        pytest.skip("PyTorch sees a GPU here")
    data = gpu_check.check(["torch"], "auto", configs=[], layers=[])
    assert data["mode"] == "cpu" and data["mode_note"] == "no GPU seen: CPU only"
    assert data["ok"] is True and data["agreement"] == [] and data["timings"] == []


def test_a_disagreeing_result_exits_1(ctorch, monkeypatch, tmp_path, capsys):
    original = ctorch.conv2d_transpose
    monkeypatch.setattr(ctorch, "conv2d_transpose", lambda *a, **k: original(*a, **k) * 1.01)
    out = tmp_path / "c.json"
    monkeypatch.setattr(gpu_check, "CONFIGS", gpu_check.QUICK_CONFIGS[:1])
    monkeypatch.setattr(gpu_check, "LAYERS", ())
    assert gpu_check.main(["--device", "cpu", "--frameworks", "torch", "--out", str(out)]) == 1
    data = json.loads(out.read_text())
    bad = [(r["method"], r["ok"]) for r in data["agreement"] if r["ok"] is not True]
    assert bad == [("conv2d_transpose", False)]
    assert "1 disagree" in capsys.readouterr().out


def test_an_error_inside_a_framework_is_recorded_and_the_run_goes_on(ctorch, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ctorch, "conv2d", broken)
    data = gpu_check.check(["torch"], "cpu", configs=gpu_check.QUICK_CONFIGS[:1],
                           layers=gpu_check.QUICK_LAYERS[:1], repeat=1)
    assert data["ok"] is False
    # verify records the error in its row (or, raising, in the entry)
    assert data["verify"][0]["ok"] is False and "boom" in json.dumps(data["verify"][0])
    wrong = [r for r in data["agreement"] if r["ok"] is not True]
    assert [(r["method"], r["ok"], r["note"]) for r in wrong] == [
        ("conv2d", False, "RuntimeError: boom")]
    timed = {r["method"]: r for r in data["timings"]}
    assert timed["conv2d"]["agrees"] is False and timed["conv2d"]["note"] == "RuntimeError: boom"
    assert all(r["agrees"] for m, r in timed.items() if m != "conv2d")


def test_a_wrong_shape_is_a_failing_row_not_bad_input(ctorch, monkeypatch, tmp_path, capsys):
    original = ctorch.conv2d_backprop_filter
    monkeypatch.setattr(ctorch, "conv2d_backprop_filter",
                        lambda *a, **k: original(*a, **k)[..., :-1])
    monkeypatch.setattr(gpu_check, "CONFIGS", gpu_check.QUICK_CONFIGS[:1])
    monkeypatch.setattr(gpu_check, "LAYERS", gpu_check.QUICK_LAYERS[:1])
    out = tmp_path / "c.json"
    assert gpu_check.main(["--device", "cpu", "--frameworks", "torch", "--repeat", "1",
                           "--out", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["complete"] is True and data["ok"] is False
    bad = [r for r in data["agreement"] if r["ok"] is not True]
    assert [r["method"] for r in bad] == ["conv2d_backprop_filter"]
    assert "does not match the reference shape" in bad[0]["note"]
    timed = [r for r in data["timings"] if r["agrees"] is not True]
    assert [r["method"] for r in timed] == ["conv2d_backprop_filter"]
    assert timed[0]["note"].startswith("ValueError: shape")
    assert "1 disagree" in capsys.readouterr().out


def test_the_record_is_written_after_each_step(ctorch, tmp_path):
    out = tmp_path / "c.json"
    seen = []

    def progress(line):
        if out.exists():
            data = json.loads(out.read_text())
            seen.append((data["complete"], len(data["verify"]), len(data["timings"])))

    gpu_check.check(["torch"], "cpu", configs=gpu_check.QUICK_CONFIGS,
                    layers=gpu_check.QUICK_LAYERS[:1], repeat=1, progress=progress, out=out)
    # each step is written just after its progress line: at the 2nd config's line, the 1st
    assert seen == [(False, 0, 0), (False, 1, 0), (False, 2, 0)]
    data = json.loads(out.read_text())
    assert data["complete"] is True and len(data["timings"]) == len(gpu_check.TIMED) + 3
    assert json.loads(out.read_text())["complete"] is True
    assert not list(tmp_path.glob(".*.tmp"))


# a child that writes a partial record, then hangs until it is killed
HANG = ("import json, sys, time; json.dump({'schema': 'convlab-gpu-check/1', "
        "'complete': False, 'ok': None, 'mode': 'cpu', 'verify': [], 'agreement': "
        "[{'framework': sys.argv[1], 'ok': True}], 'timings': [], 'skipped': [], "
        "'machine': {'frameworks': {sys.argv[1]: {'version': '1'}}}}, "
        "open(sys.argv[2], 'w')); time.sleep(60)")


def _hanging_children(monkeypatch):
    monkeypatch.setattr(gpu_check, "_child_argv", lambda f, args, share, part: [
        sys.executable, "-c", HANG, f, str(part)])
    monkeypatch.setattr(gpu_check, "_installed", lambda name: True)


def test_a_killed_child_leaves_its_part_and_an_incomplete_record(monkeypatch, tmp_path,
                                                                   capsys):
    _hanging_children(monkeypatch)
    monkeypatch.setattr(gpu_check, "GRACE", (1.5, 0.0))
    out = tmp_path / "c.json"
    assert gpu_check.main(["--frameworks", "torch,jax", "--budget", "2", "--out",
                           str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["complete"] is False and data["ok"] is False
    assert [(c["framework"], c["killed"], c["complete"]) for c in data["children"]] == [
        ("torch", True, False), ("jax", True, False)]
    assert [r["framework"] for r in data["agreement"]] == ["torch", "jax"]
    assert "torch: its run did not complete (killed at the time limit)" in data["errors"][0]
    assert "INCOMPLETE" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # the parts merged


def test_sigterm_kills_the_running_child_and_keeps_its_part(monkeypatch, tmp_path):
    _hanging_children(monkeypatch)
    out = tmp_path / "c.json"
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert gpu_check.main(["--frameworks", "torch,jax", "--out", str(out)]) == 1
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    data = json.loads(out.read_text())
    assert data["complete"] is False
    assert [(c["framework"], c["killed"]) for c in data["children"]] == [("torch", True)]
    assert [r["framework"] for r in data["agreement"]] == ["torch"]
    assert "jax: not run (gpu-check was terminated)" in data["errors"]


def test_device_gpu_without_a_gpu_writes_why_and_exits_1(ctorch, tmp_path, capsys):
    if ctorch.gpu_available():
        pytest.skip("PyTorch sees a GPU here")
    out = tmp_path / "c.json"
    assert gpu_check.main(["--device", "gpu", "--frameworks", "torch", "--out",
                           str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["gpu_missing"] == ["torch"] and data["ok"] is False
    assert data["complete"] is True and data["agreement"] == [] and data["timings"] == []
    assert data["machine"]["frameworks"]["torch"]["gpu_available"] is False
    assert "WARNING: NO GPU SEEN BY torch" in capsys.readouterr().out


def test_the_budget_skips_the_layers_left(ctorch):
    data = gpu_check.check(["torch"], "cpu", configs=[], layers=gpu_check.QUICK_LAYERS[:2],
                           budget=0)
    assert data["skipped"] == [la.name for la in gpu_check.QUICK_LAYERS[:2]]
    assert data["timings"] == [] and data["settings"]["budget"] == 0


@pytest.mark.parametrize(("argv", "start"), [
    (["--frameworks", "torch,mxnet"], "gpu-check: --frameworks: must be names from torch, jax, "
     "tensorflow"),
    (["--repeat", "0"], "gpu-check: --repeat: must be an int from 1 to 100"),
    (["--budget", "-5"], "gpu-check: --budget: must be whole seconds"),
    (["--device", "tpu"], "gpu-check: --device: invalid choice"),
    (["--out", "{file}/x.json"], "gpu-check: --out: cannot write"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, start):
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{file}", str(tmp_path / "file")) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out" / "check.json")]
    assert gpu_check.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(start) and err.count("\n") == 1, err
    assert not (tmp_path / "out" / "check.json").exists()


def test_importing_convlab_and_the_check_imports_no_framework():
    code = ("import sys, convlab, convlab.verify, convlab.bench, convlab.gpu_check; "
            "print(sorted(m for m in ('tensorflow', 'torch', 'jax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                            timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


# --- the chapter's tables, from a fabricated record --------------------------------------


def _row(framework, config, method, ok=True, gpu_vs_cpu=2e-7, note=""):
    return {"framework": framework, "config": config, "dtype": "float32", "quantity": "d_x",
            "method": method, "cpu_vs_ref": 1e-7, "gpu_vs_ref": 3e-7,
            "gpu_vs_cpu": gpu_vs_cpu, "rtol_cpu": 1e-5, "rtol_gpu": 1e-4, "ok": ok,
            "note": note}


FABRICATED = {
    "schema": "convlab-gpu-check/1",
    "created": "2026-12-01T22:00:00+00:00",
    "mode": "gpu",
    "mode_note": "GPU and CPU",
    "ok": False,
    "machine": {"cpu": "Some CPU <x>", "cores": 16, "frameworks": {
        "torch": {"version": "2.13.0", "devices": ["NVIDIA H200 (compute capability 9.0)"],
                  "tf32_policy": "TF32 off"},
        "jax": {"version": "0.10.2", "devices": ["gpu: NVIDIA H200"],
                "tf32_policy": "precision=lax.Precision.HIGHEST"},
        "tensorflow": {"version": None, "why": "not installed"}}},
    "agreement": [
        _row("torch", "stride 2", "autodiff"), _row("torch", "stride 2", "via conv2d",
                                                    gpu_vs_cpu=4e-7),
        _row("jax", "stride 2", "autodiff", ok=False, gpu_vs_cpu=0.5),
        _row("jax", "NCHW", "autodiff", ok=None, gpu_vs_cpu=None, note="refused: no"),
    ],
    "timings": [
        {"layer": "56x56 3x3", "backend": "torch", "device": "cpu", "quantity": "d_x",
         "method": "conv2d_backprop_input", "ms": 12.345, "agrees": True},
        {"layer": "56x56 3x3", "backend": "torch", "device": "gpu", "quantity": "d_x",
         "method": "conv2d_backprop_input", "ms": 0.4567, "agrees": False},
        {"layer": "56x56 3x3", "backend": "jax", "device": "gpu", "quantity": "d_w",
         "method": "autodiff", "ms": None, "agrees": None, "note": "x"},
    ],
}


def test_the_chapter_renders_a_recorded_run():
    page = gpu_check.recorded_section(copy.deepcopy(FABRICATED))
    assert "Some CPU &lt;x&gt;" in page  # escaped
    assert "torch 2.13.0 (NVIDIA H200 (compute capability 9.0); TF32 off)" in page
    assert "tensorflow" not in page.split("<table")[0]  # not installed: not listed
    agree = page.split("convlab-gpu-agree")[1].split("</table>")[0]
    rows = agree.split("<tr>")[2:]
    assert len(rows) == 3  # torch stride 2, jax stride 2, jax NCHW
    assert "<td>4.0e-07</td>" in rows[0] and rows[0].endswith("<td>yes</td></tr>")
    assert "<td>5.0e-01</td>" in rows[1] and "<b>NO</b>" in rows[1]
    assert "yes (1 refused)" in rows[2] and "&ndash;" in rows[2]
    times = page.split("convlab-gpu-times")[1].split("</table>")[0]
    assert "<th>torch cpu ms</th><th>torch gpu ms</th><th>jax gpu ms</th>" in times
    assert "<td>12.35</td><td>0.46 <b>(wrong)</b></td><td>&ndash;</td>" in times
    assert "In this run 2 of 3 results computed agreed" in page
    assert "the largest relative difference between a GPU result and the CPU's was 5.0e-01" \
        in page and "1 refused" in page


def test_the_chapter_says_when_no_run_is_recorded(monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_check, "recorded_path", lambda: tmp_path / "none.json")
    assert gpu_check.recorded() is None
    page = gpu_check.recorded_section(None)
    assert page.startswith("<p>No GPU run has been recorded yet")
    assert "PYTHONPATH=src scripts/gpu-check --out src/convlab/data/gpu-check-recorded.json" \
        in page
    (tmp_path / "none.json").write_text(json.dumps(FABRICATED))
    assert gpu_check.recorded() == FABRICATED


def test_render_refuses_what_is_not_a_record():
    with pytest.raises(ValueError, match="not a gpu-check record"):
        gpu_check.render({"schema": "convlab_bench"})


def test_the_cpu_table():
    rows = [{"backend": b, "quantity": "d_x", "method": "conv2d_backprop_input", "ms": ms,
             "agrees": ok, "note": note}
            for b, ms, ok, note in [("numpy", 2.0, True, ""), ("torch", 1.25, False, ""),
                                    ("jax", None, None, "JAX <refuses>")]]
    page = gpu_check.cpu_table(rows)
    assert "<th>numpy ms</th><th>PyTorch ms</th><th>JAX ms</th>" in page
    assert "<td>δx</td>" in page and "d_x" not in page  # the book's notation
    assert ("<td>2.00</td><td>1.25 <b>(wrong)</b></td><td>n/a: JAX &lt;refuses&gt;</td>"
            in page)
