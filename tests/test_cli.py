"""The command line: ``convlab verify`` prints the table and exits 0, 1 or 2."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convlab
from convlab import tolerance, via_conv2d
from convlab.__main__ import main

METHODS = ["conv2d_backprop_input", "conv2d_transpose", "conv2d_backprop_filter", "autodiff",
           "via conv2d"]
# keep the TensorFlow rows on the CPU, so the table is the same with or without a GPU; and
# leave PyTorch and JAX out (tests/test_verify_frameworks.py has theirs)
FAST = ["--repeat", "1", "--device", "cpu", "--backends", "numpy,tensorflow"]


def rows(table: str) -> dict[tuple[str, str, str, str], str]:
    """``{(quantity, method, backend, device): agrees}`` from the printed table."""
    out = {}
    for line in table.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 8 and cells[0] in ("y", "d_x", "d_w"):
            out[tuple(cells[:4])] = cells[7]
    return out


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_verify_prints_every_method_and_exits_0(ctf, capsys):
    code, out, err = verify(capsys, *FAST)
    assert code == 0, out + err
    for method in METHODS:
        assert method in out
    assert "adjoint identity" in out and "holds" in out
    assert "all 14 computed results agree with the float64 reference" in out
    table = rows(out)
    assert len(table) == 14
    assert set(table.values()) == {"yes"}
    assert {backend for _, _, backend, _ in table} == {"numpy", "tensorflow"}


def test_explicit_padding(ctf, capsys):
    code, out, err = verify(capsys, *FAST, "--padding", "1,2,0,1")
    assert code == 0, out + err
    assert "pads ((1, 2), (0, 1))" in out
    assert set(rows(out).values()) == {"yes"}


def test_dilations_2_shows_what_tensorflow_refuses_on_cpu(ctf, capsys):
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        pytest.skip("TensorFlow's CPU refusals are those of its stock kernels")
    code, out, err = verify(capsys, *FAST, "--dilations", "2")
    assert code == 0, out + err
    table = rows(out)
    refused = [("d_x", "autodiff"), ("d_x", "conv2d_backprop_input"),
               ("d_x", "conv2d_transpose"), ("d_w", "autodiff"), ("d_w", "conv2d_backprop_filter")]
    for quantity, method in refused:
        agrees = table[(quantity, method, "tensorflow", "cpu")]
        assert agrees.startswith("n/a: TF refuses"), (quantity, method, agrees)
        assert "via conv2d works" in agrees
    for quantity in ("d_x", "d_w"):
        assert table[(quantity, "via conv2d", "tensorflow", "cpu")] == "yes"
    assert table[("y", "conv2d", "tensorflow", "cpu")] == "yes"
    assert all(v == "yes" for (_, _, backend, _), v in table.items() if backend == "numpy")
    assert "5 not computed, each with the reason" in out


# verify()'s messages name input_shape and filter_shape (convlab's checks: input, filters)
INPUT, FILTER = r"input(_shape)?", r"filter(s|_shape)"


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--input", "1,5,5,3", "--filter", "9,9,3,4", "--padding", "VALID"],
                 rf"--filter: {FILTER} does not fit {INPUT}: the filter spans 9",
                 id="filter-too-large"),
    pytest.param(["--input", "1,5,5,3", "--filter", "6,6,3,4", "--padding", "VALID"],
                 rf"--filter: .*{FILTER}", id="empty-output"),
    pytest.param(["--input", "1,5,5,2"], rf"--input: {INPUT} has 2 channels but {FILTER} "
                 "expects 3", id="channel-mismatch"),
    pytest.param(["--strides", "2,1,1,1"], r"--strides: strides must be .*the batch and channel "
                 r"entries must be 1", id="strides-4-with-batch-2"),
    pytest.param(["--data-format", "NCHW", "--input", "1,5,5,3"],
                 rf"--input: {INPUT} has 5 channels but {FILTER} expects 3", id="nchw-channels"),
])
def test_a_configuration_verify_refuses_exits_2_naming_the_option(capsys, argv, message):
    code, out, err = verify(capsys, *argv)
    assert code == 2
    assert out == ""
    assert re.match(r"convlab verify: " + message, err), err
    assert err.count("\n") == 1


def test_gpu_without_a_gpu_exits_2(ctf, capsys):
    if ctf.gpu_available():
        pytest.skip("TensorFlow sees a GPU here")
    code, _, err = verify(capsys, "--repeat", "1", "--device", "gpu")
    assert code == 2
    assert err.startswith("convlab verify: --device: ") and "no GPU" in err


@pytest.mark.parametrize("value", ["numpy,mxnet", "tf", "numpy,,jax", ""])
def test_an_unknown_backend_exits_2_naming_the_accepted_ones(capsys, value):
    code, out, err = verify(capsys, "--backends", value)
    assert code == 2 and out == ""
    assert err == ("convlab verify: --backends: must be names from numpy, tensorflow, torch, "
                   f"jax separated by commas, got {value!r}\n")


def test_backends_numpy_alone(capsys):
    code, out, err = verify(capsys, "--repeat", "1", "--backends", "numpy")
    assert code == 0, out + err
    table = rows(out)
    assert len(table) == 6 and {k[2] for k in table} == {"numpy"}
    assert "all 6 computed results agree" in out and "note:" not in out


def test_backends_are_a_comma_list_in_any_case_and_order(cjax, capsys):
    code, out, err = verify(capsys, *FAST[:4], "--backends", " JAX,numpy,jax ")
    assert code == 0, out + err
    table = rows(out)
    assert {k[2] for k in table} == {"numpy", "jax"} and len(table) == 14
    assert set(table.values()) == {"yes"}


def test_gpu_with_numpy_alone_exits_2_naming_device(capsys):
    code, out, err = verify(capsys, "--repeat", "1", "--backends", "numpy", "--device", "gpu")
    assert code == 2 and out == ""
    assert err.startswith("convlab verify: --device: device='gpu' but no GPU") and \
        "only numpy was asked for" in err and err.count("\n") == 1


BIG = str(2**64)
DIGITS = "9" * 5000  # more digits than Python turns into an int by default

# (argv, the option the error must name): each is bad input, so exit 2 and one line
MALFORMED = [
    (["verify", "--input", "2,x,3,3"], "--input"),
    (["verify", "--input", "1,5.5,5,3"], "--input"),
    (["verify", "--input", "2,3,3"], "--input"),
    (["verify", "--input", "1,5,5,3,1"], "--input"),
    (["verify", "--input", "0,5,5,3"], "--input"),
    (["verify", "--input=-1,5,5,3"], "--input"),
    (["verify", "--input", f"1,{BIG},5,3"], "--input"),
    (["verify", "--input", f"1,{2**31},5,3"], "--input"),  # TensorFlow's limit, 2**31 - 1
    (["verify", "--input", f"1,{DIGITS},5,3"], "--input"),
    (["verify", "--input", ""], "--input"),
    (["verify", "--input", "1,,5,3"], "--input"),
    (["verify", "--input", "1,\u0663,5,3"], "--input"),  # an Arabic-Indic 3
    (["verify", "--input", "1,10000000,10000000,3"], "--input"),  # petabytes
    (["verify", "--filter", "3,3,3"], "--filter"),
    (["verify", "--filter", "3,3,0,4"], "--filter"),
    (["verify", "--filter", "3,3,3,4e0"], "--filter"),
    (["verify", "--strides", "0"], "--strides"),
    (["verify", "--strides=-2"], "--strides"),
    (["verify", "--strides", "1.5"], "--strides"),
    (["verify", "--strides", "1,2,3"], "--strides"),
    (["verify", "--strides", BIG], "--strides"),
    (["verify", "--strides", str(2**31)], "--strides"),
    (["verify", "--strides", "99999999999999999999"], "--strides"),
    (["verify", "--dilations", "0"], "--dilations"),
    (["verify", "--dilations", "1,2,3"], "--dilations"),
    (["verify", "--dilations", "two"], "--dilations"),
    (["verify", "--padding", "FULL"], "--padding"),
    (["verify", "--padding", "1,2,3"], "--padding"),
    (["verify", "--padding=-1,0,0,0"], "--padding"),
    (["verify", "--padding", "-1,0,0,0"], "--padding"),
    (["verify", "--padding", "1,2,3,x"], "--padding"),
    (["verify", "--padding", f"{BIG},0,0,0"], "--padding"),
    (["verify", "--padding", f"0,0,{2**31},0"], "--padding"),
    (["verify", "--padding", "0,100000000,0,100000000"], "--padding"),  # memory
    (["verify", "--data-format", "HWC"], "--data-format"),
    (["verify", "--data-format", "nhwc"], "--data-format"),
    (["verify", "--dtype", "int32"], "--dtype"),
    (["verify", "--device", "tpu"], "--device"),
    (["verify", "--seed", "-1"], "--seed"),
    (["verify", "--seed=-1"], "--seed"),
    (["verify", "--seed", "1.5"], "--seed"),
    (["verify", "--seed", "abc"], "--seed"),
    (["verify", "--seed", DIGITS], "--seed"),
    (["verify", "--seed"], "--seed"),
    (["verify", "--repeat", "0"], "--repeat"),
    (["verify", "--repeat", BIG], "--repeat"),
    (["verify", "--repeat", "100000"], "--repeat"),
    (["verify", "--stirdes", "2"], "--stirdes"),  # unrecognized
    (["verify", "--backends", "numpy,mxnet"], "--backends"),
    (["verify", "--backends", ""], "--backends"),
    (["verify", "--backends", "numpy,,jax"], "--backends"),
    (["verify", "--backends", "numpy jax"], "--backends"),
    (["verify", "--backends"], "--backends"),
    (["bench", "--repeat", "0"], "--repeat"),
    (["bench", "--rounds", "-1"], "--rounds"),
    (["bench", "--seed", "-1"], "--seed"),
    (["bench", "--device", "tpu"], "--device"),
    (["bench", "--json"], "--json"),
    (["frobnicate"], "verify"),
    ([], "verify"),
]


def one_line_naming(err: str, option: str, command: str | None) -> None:
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"convlab {command}: " if command else "convlab: "), err
    assert option in err, err


@pytest.mark.parametrize(("argv", "option"), MALFORMED, ids=[" ".join(a)[:40] or "no command"
                                                             for a, _ in MALFORMED])
def test_a_malformed_option_exits_2_with_one_line_naming_it(capsys, monkeypatch, argv, option):
    from convlab import __main__ as cli
    from convlab import bench

    def never(*args, **kwargs):
        pytest.fail("bad input must be refused before any work")

    monkeypatch.setattr(cli, "verify", never)
    monkeypatch.setattr(bench, "run", never)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line_naming(err, option, argv[0] if argv[:1] in (["verify"], ["bench"]) else None)


@pytest.mark.parametrize("where", ["directory", "under-a-file", "dir-as-file"])
def test_bench_checks_json_can_be_written_before_it_runs(tmp_path, capsys, monkeypatch, where):
    from convlab import bench

    monkeypatch.setattr(bench, "run", lambda *a, **k: pytest.fail("ran before checking --json"))
    (tmp_path / "file").write_text("x")
    path = {"directory": tmp_path, "under-a-file": tmp_path / "file" / "b.json",
            "dir-as-file": tmp_path / "file" / "sub" / "b.json"}[where]
    assert main(["bench", "--quick", "--json", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_line_naming(err, "--json", "bench")
    assert "cannot write" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing left behind


def test_bench_json_check_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    from convlab import bench

    monkeypatch.setattr(bench, "run", lambda *a, **k: (_ for _ in ()).throw(ValueError("stop")))
    path = tmp_path / "a" / "b" / "bench.json"
    assert main(["bench", "--quick", "--json", str(path)]) == 2
    assert "convlab bench: error: stop" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # checked writable, then removed again
    existing = tmp_path / "old.json"
    existing.write_text("kept")
    assert main(["bench", "--quick", "--json", str(existing)]) == 2
    assert existing.read_text() == "kept"


def test_every_parameter_of_verify_has_its_option():
    import inspect

    from convlab.__main__ import VERIFY_OPTIONS, _parser

    assert set(VERIFY_OPTIONS) == set(inspect.signature(convlab.verify).parameters)
    verify_parser = _parser()._subparsers._group_actions[0].choices["verify"]
    options = {s for a in verify_parser._actions for s in a.option_strings}
    assert set(VERIFY_OPTIONS.values()) <= options


@pytest.mark.parametrize(("raised", "status", "words"), [
    (ValueError("strides must be a positive int, got 0"), 2, "convlab verify: --strides: "),
    (TypeError("input_shape must be 4 ints, got '1551'"), 2, "convlab verify: --input: "),
    (ValueError("seed must be a non-negative int, got -1"), 2, "convlab verify: --seed: "),
    (ValueError("data_format must be 'NHWC' or 'NCHW'"), 2, "convlab verify: --data-format: "),
    (ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger"), 2,
     "convlab verify: the request needs an array larger than numpy can make"),
    (MemoryError("Unable to allocate 32.0 TiB for an array"), 2,
     "convlab verify: the request needs more memory than this process can get (Unable to "
     "allocate 32.0 TiB"),
    (ZeroDivisionError("division by zero"), 2, "convlab verify: error: ZeroDivisionError: "),
    (RuntimeError("line one\nline two"), 2, "convlab verify: error: line one line two"),
    (KeyboardInterrupt(), 130, "convlab verify: interrupted"),
])
def test_whatever_verify_raises_is_one_line(capsys, monkeypatch, raised, status, words):
    from convlab import __main__ as cli

    def raising(*args, **kwargs):
        raise raised

    monkeypatch.setattr(cli, "verify", raising)
    assert main(["verify"]) == status
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(words), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_testers_huge_input_fails_fast_on_memory(capsys, monkeypatch):
    from convlab import __main__ as cli

    monkeypatch.setattr(cli._memory, "available", lambda: 4 * 2**30)
    monkeypatch.setattr(cli, "verify", lambda *a, **k: pytest.fail("allocated"))
    assert main(["verify", "--input", "1,100000,100000,3"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"convlab verify: the request needs at least 745.1 GiB \(.*\), more "
                        r"than the 4.0 GiB available; use a smaller --input, .*\n", err), err


def test_exit_code_1_when_tolerances_are_zero(ctf, capsys, monkeypatch):
    for key in tolerance.RTOL:
        monkeypatch.setitem(tolerance.RTOL, key, 0.0)
    code, out, _ = verify(capsys, *FAST)
    assert code == 1
    assert "DISAGREE" in out
    assert any(v.startswith("NO (tol") for v in rows(out).values())


def test_exit_code_1_when_one_method_is_wrong(ctf, capsys, monkeypatch):
    original = via_conv2d.grad_input_via_conv2d

    def off_by_one(*args, **kwargs):
        return original(*args, **kwargs) + np.float32(1.0)

    monkeypatch.setattr(via_conv2d, "grad_input_via_conv2d", off_by_one)
    code, out, _ = verify(capsys, *FAST)
    assert code == 1
    assert "1 of 14 computed results DISAGREE" in out
    table = rows(out)
    assert table[("d_x", "via conv2d", "numpy", "cpu")].startswith("NO (tol 1e-05)")
    assert sum(v != "yes" for v in table.values()) == 1


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.parametrize(("args", "option"), [
    (["verify", "--seed", "-1"], "--seed"),
    (["verify", "--strides", "99999999999999999999"], "--strides"),
    (["verify", "--input", "1,10000000,10000000,3"], "--input"),
    (["bench", "--json", "{file}/b.json"], "--json"),
    (["verify", "--padding", "SAME,"], "--padding"),
])
def test_the_installed_command_exits_2_with_one_line(tmp_path, args, option):
    (tmp_path / "file").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    script = Path(sys.executable).with_name("convlab")  # the entry point, where installed
    command = [str(script)] if script.exists() else [sys.executable, "-m", "convlab"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    one_line_naming(result.stderr, option, args[0])


def test_python_dash_m_convlab_verify(ctf):
    result = _run("-m", "convlab", "verify", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "adjoint identity" in result.stdout
    assert "agree with the float64 reference" in result.stdout


def test_import_convlab_does_not_import_tensorflow():
    result = _run("-c", "import convlab, sys; assert 'tensorflow' not in sys.modules, 'imported'")
    assert result.returncode == 0, result.stderr


def test_the_html_table_fits_a_page_column(ctf):
    # five short columns, the book's symbols, and each reason for a missing row once
    report = convlab.verify((1, 7, 7, 2), (3, 3, 2, 3), 1, "SAME", 2, device="cpu", repeat=1)
    page = report._repr_html_()
    assert page.count("<th>") == 5
    assert "<td>δx</td>" in page and "<td>δw</td>" in page and "d_x</td>" not in page
    missing = [r for r in report.rows if r.ok is None]
    assert page.count("not computed") == len(missing) + (1 if missing else 0)
    for note in {r.note for r in missing}:
        assert page.count(html.escape(note)) == 1
