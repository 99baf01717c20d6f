"""verify() with PyTorch and JAX: their rows, ``backends=``, missing frameworks, the GPU."""

from __future__ import annotations

import importlib
import importlib.util
import types

import numpy as np
import pytest

import convlab
from convlab import tolerance

# the module (convlab.verify is also the function's name in convlab)
verify_module = importlib.import_module("convlab.verify")

FRAMEWORK_ROWS = {("y", "conv2d"), ("d_x", "autodiff"), ("d_x", "via conv2d"),
                  ("d_x", "conv2d_backprop_input"), ("d_x", "conv2d_transpose"),
                  ("d_w", "autodiff"), ("d_w", "via conv2d"), ("d_w", "conv2d_backprop_filter")}

CONFIGS = [
    pytest.param(dict(input_shape=(2, 8, 7, 3), filter_shape=(3, 4, 3, 5), strides=2,
                      padding="SAME"), id="same-odd-stride-2"),
    pytest.param(dict(input_shape=(1, 9, 10, 2), filter_shape=(3, 2, 2, 3), strides=(1, 2),
                      padding=[[0, 2], [1, 0]], dilations=2, dtype="float64"),
                 id="explicit-dilated-float64"),
    pytest.param(dict(input_shape=(2, 3, 8, 7), filter_shape=(2, 3, 3, 2), strides=(2, 1),
                      padding="VALID", data_format="NCHW"), id="nchw"),
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_torch_and_jax_rows_are_there_and_agree(ctorch, cjax, kwargs):
    report = convlab.verify(**kwargs, device="cpu", repeat=1,
                            backends=("numpy", "torch", "jax"))
    assert report.ok, str(report)
    for backend in ("torch", "jax"):
        rows = [r for r in report.rows if r.backend == backend]
        assert {(r.quantity, r.method) for r in rows} == FRAMEWORK_ROWS
        assert len(rows) == 8 and all(r.ok is True and r.device == "cpu" for r in rows), rows
        assert {r.rtol for r in rows} == {tolerance.rtol(kwargs.get("dtype", "float32"))}
    assert report.config["backends"] == ["numpy", "torch", "jax"]
    page = report._repr_html_()
    assert "<td>torch</td>" in page and "<td>jax</td>" in page and "NO" not in page


def test_a_wrong_framework_result_is_caught(ctorch, monkeypatch):
    # the check must be able to fail: one method off by a little
    original = ctorch.conv2d_backprop_filter
    monkeypatch.setattr(ctorch, "conv2d_backprop_filter",
                        lambda *a, **k: original(*a, **k) * 1.001)
    report = convlab.verify((1, 6, 6, 2), (3, 3, 2, 2), device="cpu", repeat=1,
                            backends=["torch"])
    assert not report.ok
    assert [(r.backend, r.method) for r in report.failed] == [("torch",
                                                               "conv2d_backprop_filter")]
    assert "1 of 8 computed results DISAGREE" in str(report)


def test_a_framework_that_raises_or_returns_a_wrong_shape_is_a_failing_row(
        ctorch, cjax, monkeypatch):
    """A cuDNN or XLA failure on one method, or a wrong shape, must not end the run."""
    def broken(*a, **k):
        raise RuntimeError("CUDNN_STATUS_EXECUTION_FAILED\nmore lines")

    original = cjax.conv2d
    monkeypatch.setattr(ctorch, "conv2d_backprop_input", broken)
    monkeypatch.setattr(cjax, "conv2d", lambda *a, **k: original(*a, **k)[:, :-1])
    report = convlab.verify((1, 6, 6, 2), (3, 3, 2, 3), 2, "SAME", device="cpu", repeat=1,
                            backends="numpy,torch,jax")
    assert not report.ok
    failed = {(r.backend, r.method): r.note for r in report.failed}
    assert set(failed) == {("torch", "conv2d_backprop_input"), ("jax", "conv2d")}
    assert failed["torch", "conv2d_backprop_input"] == (
        "failed: RuntimeError: CUDNN_STATUS_EXECUTION_FAILED")
    assert failed["jax", "conv2d"].startswith("failed: ValueError: shape (1, 2, 3, 3)")
    assert "2 of 22 computed results DISAGREE" in str(report)
    assert "NO: failed: RuntimeError" in str(report)
    assert "<b>NO</b>: failed: ValueError" in report._repr_html_()
    record = {(r["backend"], r["method"]): r for r in report.records()}
    assert record["jax", "conv2d"]["max_rel_err"] is None
    assert record["jax", "conv2d"]["agrees"] is False


@pytest.mark.parametrize(("backends", "expected"), [
    (["numpy"], {"numpy"}),
    ("numpy", {"numpy"}),
    ("JAX, numpy", {"numpy", "jax"}),
    (("jax", "torch", "jax"), {"jax", "torch"}),
])
def test_backends_picks_a_subset(ctorch, cjax, backends, expected):
    report = convlab.verify((1, 5, 5, 2), (3, 3, 2, 3), device="cpu", repeat=1,
                            backends=backends)
    assert {r.backend for r in report.rows} == expected
    assert len(report.rows) == 6 * ("numpy" in expected) + 8 * len(expected - {"numpy"})
    assert report.ok, str(report)


@pytest.mark.parametrize(("backends", "error", "match"), [
    (["numpy", "mxnet"], ValueError, r"^backends must be None \(every installed one\) or a "
     r"subset of 'numpy', 'tensorflow', 'torch', 'jax', got unknown 'mxnet'"),
    ([], ValueError, "^backends must be .* got none"),
    ("", ValueError, "^backends must be .* got unknown ''"),
    (5, TypeError, "^backends must be None or a subset of"),
    ([None], ValueError, "^backends must be .* got unknown None"),
])
def test_bad_backends_are_refused_by_name(backends, error, match):
    with pytest.raises(error, match=match):
        convlab.verify(repeat=1, backends=backends)


def _without(monkeypatch, *packages):
    """Make ``packages`` look uninstalled to verify()."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in packages else real(name, *args, **kwargs)

    monkeypatch.setattr(verify_module.importlib.util, "find_spec", find_spec)


def test_a_missing_framework_is_a_note_by_default(ctorch, cjax, monkeypatch):
    _without(monkeypatch, "torch", "tensorflow")  # TensorFlow too: it takes seconds
    report = convlab.verify((1, 5, 5, 2), (3, 3, 2, 3), device="cpu", repeat=1)
    assert {r.backend for r in report.rows} == {"numpy", "jax"}
    assert "PyTorch is not installed (pip install 'convlab[torch]'): no torch rows" in \
        report.notes
    assert "note: PyTorch is not installed" in str(report)
    assert report.ok


def test_a_missing_framework_asked_for_gives_rows_that_say_why(cjax, monkeypatch):
    _without(monkeypatch, "jax")
    report = convlab.verify((1, 5, 5, 2), (3, 3, 2, 3), device="cpu", repeat=1,
                            backends="numpy,jax")
    rows = [r for r in report.rows if r.backend == "jax"]
    assert len(rows) == 8
    assert all(r.ok is None and r.note == "JAX is not installed (pip install 'convlab[jax]')"
               for r in rows)
    assert report.ok and "8 not computed, each with the reason" in str(report)
    page = report._repr_html_()
    assert page.count("not computed") == 9 and page.count("JAX is not installed") == 1


def test_a_framework_that_fails_to_import_is_a_note(monkeypatch):
    real = importlib.import_module

    def import_module(name, *args, **kwargs):
        if name == "convlab.jax":
            raise ImportError("simulated broken install")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(verify_module.importlib, "import_module", import_module)
    report = convlab.verify((1, 5, 5, 2), (3, 3, 2, 3), device="cpu", repeat=1,
                            backends=("numpy", "jax"))
    assert {r.note for r in report.rows if r.backend == "jax"} == {
        "JAX failed to import: simulated broken install"}


def test_without_any_framework_the_numpy_rows_run(monkeypatch):
    _without(monkeypatch, "tensorflow", "torch", "jax")
    report = convlab.verify((1, 5, 5, 2), (3, 3, 2, 3), repeat=1)
    assert {r.backend for r in report.rows} == {"numpy"} and report.ok
    assert len(report.notes) == 3
    with pytest.raises(verify_module.DeviceUnavailableError,
                       match=r"^device='gpu' but no GPU is visible to the frameworks verify "
                       r"runs \(none of the frameworks asked for is installed\)"):
        convlab.verify(repeat=1, device="gpu", backends=("numpy", "torch"))


def test_gpu_with_no_gpu_anywhere_is_a_clear_error(ctorch, cjax):
    if ctorch.gpu_available() or cjax.gpu_available():
        pytest.skip("a framework sees a GPU here")
    with pytest.raises(verify_module.DeviceUnavailableError,
                       match=r"^device='gpu' but no GPU is visible to the frameworks verify "
                       r"runs \(PyTorch and JAX see none\); use device='cpu', 'auto' or 'all'$"):
        convlab.verify(repeat=1, device="gpu", backends=("numpy", "torch", "jax"))
    with pytest.raises(verify_module.DeviceUnavailableError, match=r"only numpy was asked"):
        convlab.verify(repeat=1, device="gpu", backends="numpy")


def _pretend_gpu(mod):
    """``mod`` as a framework that sees a GPU: its 'gpu' runs on the CPU."""
    fake = types.SimpleNamespace(gpu_available=lambda: True, tf32_enabled=lambda: False,
                                 as_numpy=mod.as_numpy)
    calls = []

    def on_cpu(fn):
        def call(*args, device="auto", **kwargs):
            calls.append(device)
            return fn(*args, device="cpu", **kwargs)
        return call

    for name in ("conv2d", "conv2d_backprop_input", "conv2d_backprop_filter",
                 "conv2d_transpose", "autodiff", "grad_input_via_conv2d",
                 "grad_filter_via_conv2d"):
        setattr(fake, name, on_cpu(getattr(mod, name)))
    return fake, calls


def test_gpu_works_with_torch_alone_seeing_one_and_no_tensorflow(ctorch, monkeypatch):
    fake, calls = _pretend_gpu(ctorch)
    real = verify_module._framework
    monkeypatch.setattr(verify_module, "_framework", lambda name: (
        (fake, "") if name == "torch" else
        (None, "TensorFlow is not installed (pip install 'convlab[tf]')")
        if name == "tensorflow" else real(name)))
    report = convlab.verify((1, 6, 6, 2), (3, 3, 2, 2), device="gpu", repeat=1,
                            backends=("numpy", "tensorflow", "torch"))
    torch_rows = [r for r in report.rows if r.backend == "torch"]
    assert {r.device for r in torch_rows} == {"gpu"} and set(calls) == {"gpu"}
    assert all(r.ok for r in torch_rows) and {r.rtol for r in torch_rows} == {1e-4}
    tf_rows = [r for r in report.rows if r.backend == "tensorflow"]
    assert len(tf_rows) == 8 and all(r.ok is None and "not installed" in r.note
                                     for r in tf_rows)
    assert "TF32 is off for float32 on the GPU (PyTorch)" in report.notes
    assert report.config["devices"] == ["gpu"]

    # all: the CPU and the GPU for the framework that sees one, the CPU for the other
    both = convlab.verify((1, 6, 6, 2), (3, 3, 2, 2), device="all", repeat=1,
                          backends=("torch", "jax"))
    where = {(r.backend, r.device) for r in both.rows}
    assert where == {("torch", "cpu"), ("torch", "gpu"), ("jax", "cpu")}
    gpu_only = convlab.verify((1, 6, 6, 2), (3, 3, 2, 2), device="gpu", repeat=1,
                              backends=("torch", "jax"))
    jax_rows = [r for r in gpu_only.rows if r.backend == "jax"]
    assert all(r.ok is None and r.note == "JAX sees no GPU" and r.device == "gpu"
               for r in jax_rows)


def test_float64_stays_float64(cjax, ctorch):
    # a float32 computation would miss float64's tolerance by eight orders of magnitude
    report = convlab.verify((1, 7, 7, 3), (3, 3, 3, 2), 1, "SAME", dtype="float64",
                            device="cpu", repeat=1, backends=("torch", "jax"))
    assert report.ok, str(report)
    assert max(r.max_rel for r in report.rows) < 1e-12
    assert np.dtype(report.config["dtype"]) == np.float64
