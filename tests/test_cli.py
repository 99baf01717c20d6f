"""The command line: ``convlab verify`` prints the table and exits 0, 1 or 2."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import convlab
from convlab import tolerance, via_conv2d
from convlab.__main__ import main

METHODS = ["conv2d_backprop_input", "conv2d_transpose", "conv2d_backprop_filter", "autodiff",
           "via conv2d"]
# keep the TensorFlow rows on the CPU, so the table is the same with or without a GPU
FAST = ["--repeat", "1", "--device", "cpu"]


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


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--input", "2,3,3"], r"input must be 4-D", id="input-3-ints"),
    pytest.param(["--input", "1,5,5,3", "--filter", "9,9,3,4", "--padding", "VALID"],
                 r"filters does not fit input: the filter spans 9", id="filter-too-large"),
    pytest.param(["--input", "1,5,5,2"], r"input has 2 channels but filters expects 3",
                 id="channel-mismatch"),
    pytest.param(["--strides", "0"], r"strides must be a positive int", id="strides-0"),
    pytest.param(["--dilations", "1,2,3"], r"dilations must be .*got 3 values",
                 id="dilations-3-ints"),
    pytest.param(["--repeat", "0"], r"repeat must be a positive int", id="repeat-0"),
])
def test_bad_argument_exits_2_with_an_error_naming_it(capsys, argv, message):
    code, out, err = verify(capsys, *argv)
    assert code == 2
    assert out == ""
    assert re.match(r"convlab verify: error: " + message, err), err


def test_gpu_without_a_gpu_exits_2(ctf, capsys):
    if ctf.gpu_available():
        pytest.skip("TensorFlow sees a GPU here")
    code, _, err = verify(capsys, "--repeat", "1", "--device", "gpu")
    assert code == 2
    assert "no GPU" in err


@pytest.mark.parametrize(("argv", "option"), [
    pytest.param(["verify", "--padding", "FOO"], "--padding", id="padding-FOO"),
    pytest.param(["verify", "--padding", "1,2,3"], "--padding", id="padding-3-ints"),
    pytest.param(["verify", "--input", "2,x,3,3"], "--input", id="input-not-ints"),
    pytest.param(["verify", "--dtype", "int32"], "--dtype", id="dtype-int32"),
    pytest.param(["verify", "--data-format", "HWC"], "--data-format", id="data-format-HWC"),
    pytest.param([], "command", id="no-command"),
])
def test_argparse_rejects_malformed_options(capsys, argv, option):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert option in capsys.readouterr().err


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
