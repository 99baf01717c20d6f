"""Hostile student code: nothing a student's function does or returns crashes a checker,
hangs it, or makes a wrong answer pass.

Each student function here misbehaves on purpose: endless loops, exits, exceptions that
cannot be printed, results that lie about themselves, forbidden library calls. The time
limit in these tests is 1 s a case, so an endless loop costs about a second.
"""

from __future__ import annotations

import ast
import asyncio
import ctypes
import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convlab
from convlab import _sandbox, exercises
from convlab import conv2d_backprop_input as bound_backprop_input  # a student's import
from convlab.exercises import DIAGNOSES, CheckResult

BOOK = Path(__file__).resolve().parent.parent / "book"
LIMIT = 1.0
FORKS = _sandbox.forking()
needs_fork = pytest.mark.skipif(not FORKS, reason="this system cannot fork")


def flat(text):
    """``text`` with its lines joined: messages wrap at word boundaries."""
    return " ".join(text.split())


@pytest.fixture
def short(monkeypatch):
    """A 1 s limit a case."""
    monkeypatch.setattr(exercises, "TIMEOUT", LIMIT)


# --- correct answers, written as a student would ---------------------------------------------


def rot180(w):
    return np.transpose(w[::-1, ::-1], (0, 1, 3, 2))


def out_size(in_size, k, stride, dilation, padding):
    if padding == "SAME":
        return -(-in_size // stride)
    before, after = (0, 0) if padding == "VALID" else padding
    return (in_size + before + after - dilation * (k - 1) - 1) // stride + 1


def stretch(dy, strides):
    n, h, w, c = dy.shape
    out = np.zeros((n, strides[0] * (h - 1) + 1, strides[1] * (w - 1) + 1, c))
    out[:, ::strides[0], ::strides[1]] = dy
    return out


def grad_input(input_sizes, w, dy, strides, padding):
    pads = []
    for axis in (0, 1):
        size, k, s = input_sizes[1 + axis], w.shape[axis], strides[axis]
        before, after = convlab.same_padding(size, k, s) if padding == "SAME" else (0, 0)
        unreached = (size + before + after - k) % s
        pads.append((k - 1 - before, k - 1 - after + unreached))
    grid = np.pad(stretch(dy, strides), ((0, 0), pads[0], pads[1], (0, 0)))
    return convlab.conv2d(grid, rot180(w), 1, "VALID")


def loop_forever(*args):
    while True:
        pass


def loop_catching_everything(*args):
    while True:
        try:
            time.sleep(0.01)
        except BaseException:  # a student's code that swallows everything
            pass


CHECKS = [exercises.check_rot180, exercises.check_output_size, exercises.check_grad_input]


# --- time limits ---------------------------------------------------------------------------------


@needs_fork
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_an_endless_loop_is_a_timeout(short, check):
    started = time.monotonic()
    result = check(loop_forever)
    took = time.monotonic() - started
    assert (result.passed, result.diagnosis, result.case) == (False, "timeout", 1), str(result)
    assert "did not return within 1 s on case 1" in flat(result.message)
    assert took < LIMIT + 4


@needs_fork
def test_a_loop_that_catches_every_exception_is_still_stopped():
    started = time.monotonic()
    result = exercises._run(exercises._ROT180, loop_catching_everything, timeout=LIMIT)
    assert result.diagnosis == "timeout"
    assert time.monotonic() - started < LIMIT + 4


@needs_fork
def test_a_later_case_that_hangs_keeps_the_earlier_diagnosis(short):
    def wrong_then_hangs(w):
        if w.shape[2] > 1:
            loop_forever()
        return w[::-1, ::-1]  # not channel-swapped: wrong, silently, with one channel

    result = exercises.check_rot180(wrong_then_hangs)
    # cases 1-3 have one channel: the rotation without the swap equals the answer there
    assert result.diagnosis == "timeout" and result.case == 4
    assert "did not return within 1 s on case 4" in flat(result.message)

    def hangs_after_a_wrong_case(w):
        if w.shape[2] > 1:
            loop_forever()
        return np.transpose(w, (0, 1, 3, 2))  # no rotation: wrong from case 1

    result = exercises.check_rot180(hangs_after_a_wrong_case)
    assert (result.diagnosis, result.case) == ("no_rotation", 1)
    assert "on case 4, your function did not return within 1 s" in flat(result.message)


def test_the_limit_is_configurable(monkeypatch):
    assert exercises._time_limit(None) == 10.0
    monkeypatch.setenv("CONVLAB_CHECK_TIMEOUT", "2.5")
    assert exercises._time_limit(None) == 2.5
    monkeypatch.setenv("CONVLAB_CHECK_TIMEOUT", "0")
    assert exercises._time_limit(None) is None
    monkeypatch.setattr(exercises, "TIMEOUT", 3)
    assert exercises._time_limit(None) == 3.0
    assert exercises._time_limit(4) == 4.0
    monkeypatch.setattr(exercises, "TIMEOUT", None)
    monkeypatch.setenv("CONVLAB_CHECK_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="CONVLAB_CHECK_TIMEOUT must be a non-negative number"):
        exercises.check_rot180(rot180)
    with pytest.raises(ValueError, match="timeout must be a non-negative number"):
        exercises._run(exercises._ROT180, rot180, timeout=-1)
    with pytest.raises(TypeError, match=r"timeout must be a non-negative number.*got '3'"):
        exercises._run(exercises._ROT180, rot180, timeout="3")
    with pytest.raises(ValueError, match="timeout"):
        exercises._run(exercises._ROT180, rot180, timeout=float("nan"))


@needs_fork
def test_the_environment_variable_sets_the_limit(monkeypatch):
    monkeypatch.setenv("CONVLAB_CHECK_TIMEOUT", "1")
    result = exercises.check_rot180(loop_forever)
    assert result.diagnosis == "timeout" and "within 1 s" in flat(result.message)


def test_without_fork_the_function_runs_here_and_says_so(monkeypatch):
    monkeypatch.setattr(_sandbox, "forking", lambda: False)
    good, bad = exercises.check_rot180(rot180), exercises.check_rot180(lambda w: w)
    assert good.passed and "without a time limit" in flat(good.message)
    assert not bad.passed and "without a time limit" in flat(bad.message)


# --- exits, BaseExceptions, crashes -------------------------------------------------------------


class Custom(BaseException):
    pass


@pytest.mark.parametrize("raiser, code, text", [
    (lambda *a: sys.exit(), "exit", "SystemExit"),
    (lambda *a: sys.exit(4), "exit", "SystemExit: 4"),
    (lambda *a: exit(), "exit", "SystemExit"),
    (lambda *a: (_ for _ in ()).throw(SystemExit("bye")), "exit", "SystemExit: bye"),
    (lambda *a: (_ for _ in ()).throw(GeneratorExit()), "exception", "GeneratorExit"),
    (lambda *a: (_ for _ in ()).throw(Custom("mine")), "exception", "Custom: mine"),
    (lambda *a: (_ for _ in ()).throw(RecursionError()), "exception", "RecursionError"),
], ids=["exit()", "exit(4)", "builtin-exit", "SystemExit", "GeneratorExit", "custom",
        "recursion"])
@pytest.mark.parametrize("isolated", [True, False], ids=["forked", "in-process"])
def test_base_exceptions_are_reported(monkeypatch, raiser, code, text, isolated):
    if isolated and not FORKS:
        pytest.skip("this system cannot fork")
    monkeypatch.setattr(exercises, "TIMEOUT", None if isolated else 0)
    for check in (exercises.check_rot180, exercises.check_output_size):
        result = check(raiser)
        assert (result.passed, result.diagnosis, result.case) == (False, code, 1), str(result)
        assert text in flat(result.message)


@needs_fork
def test_os_exit_is_reported_and_the_checker_survives():
    result = exercises.check_grad_input(lambda *a: os._exit(3))
    assert (result.diagnosis, result.case) == ("exit", 1)
    assert "exit status 3" in flat(result.message) and "os._exit(3)" in flat(result.message)


@needs_fork
def test_a_crash_in_compiled_code_is_reported():
    result = exercises.check_rot180(lambda w: ctypes.string_at(0))
    assert result.diagnosis == "crash" and "SIGSEGV" in flat(result.message), str(result)


@needs_fork
def test_huge_allocations_fail_in_the_child():
    for make in (lambda w: np.ones(10**10), lambda w: np.zeros((10**6, 10**6)),
                 lambda w: np.empty(10**11, dtype=np.int8)):
        result = exercises.check_rot180(make)
        assert not result.passed
        assert result.diagnosis in ("exception", "crash", "wrong_shape"), str(result)
    # a result far larger than the answer is not sent back whole
    result = exercises.check_rot180(lambda w: np.zeros((300, 300, 2, 2)))
    assert result.diagnosis == "wrong_shape" and "too large to print" in flat(result.message)


# --- exceptions that cannot be shown, results that lie ----------------------------------------


class Unprintable(Exception):
    def __str__(self):
        raise ValueError("no text for you")

    def __repr__(self):
        raise ValueError("no repr either")


class ArrayRaises:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("__array__ refuses")

    def __repr__(self):
        raise RuntimeError("and so does repr")


class LyingLength:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        raise IndexError(i)


class AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class LyingInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__

    def __index__(self):
        return 3

    def __int__(self):
        return 3


def test_an_exception_whose_str_raises():
    def student(w):
        raise Unprintable()

    result = exercises.check_rot180(student)
    assert result.diagnosis == "exception"
    assert "Unprintable (its message cannot be shown" in flat(result.message)
    assert "student()" in flat(result.message)


@pytest.mark.parametrize("value, code", [
    (lambda w: ArrayRaises(), "wrong_type"),
    (lambda w: LyingLength(), "wrong_shape"),  # read as an empty list
    (lambda w: "a string", "wrong_type"),
    (lambda w: {"w": w}, "wrong_type"),
    (lambda w: (x for x in w), "wrong_type"),
    (lambda w: [[1.0, 2.0], [3.0]], "wrong_type"),  # ragged
    (lambda w: rot180(w) > 0, "wrong_type"),  # booleans
    (lambda w: rot180(w).astype(str), "wrong_type"),
    (lambda w: rot180(w) + 0j, "complex_result"),  # the real part is right
    (lambda w: rot180(w) + 1e-30j, "complex_result"),
    (lambda w: rot180(w).astype(object), "object_result"),
    (lambda w: np.array([rot180(w), None], dtype=object), "object_result"),
    (lambda w: [rot180(w), None], "wrong_type"),
    (lambda w: rot180(w) * np.nan, "nan_result"),
    (lambda w: np.where(rot180(w) > 1, rot180(w), np.inf), "nan_result"),
    (lambda w: rot180(w).view(AlwaysEqual) + 1, "wrong_values"),
    (lambda w: np.float64(rot180(w).sum()), "wrong_shape"),
], ids=["__array__-raises", "__len__-lies", "str", "dict", "generator", "ragged", "bool",
        "strings", "complex", "complex-tiny", "object", "object-list", "list-with-None", "nan",
        "inf",
        "__eq__-lies", "numpy-scalar"])
def test_results_that_are_not_real_arrays(value, code):
    result = exercises.check_rot180(value)
    assert (result.passed, result.diagnosis, result.case) == (False, code, 1), str(result)
    assert DIAGNOSES[code] in str(result) and "hint:" in flat(result.message)


def test_right_values_of_another_number_type_pass():
    for convert in (lambda a: a.astype(np.float32), lambda a: a.astype(np.int64),
                    lambda a: a.tolist(), lambda a: np.asfortranarray(a),
                    lambda a: a.astype(np.longdouble), lambda a: a.astype(a.dtype.newbyteorder())):
        assert exercises.check_rot180(lambda w, c=convert: c(rot180(w))).passed


@pytest.mark.parametrize("value, code", [
    (lambda *a: LyingInt(3), "wrong_type"),
    (lambda *a: True, "wrong_type"),
    (lambda *a: np.bool_(True), "wrong_type"),
    (lambda *a: 3 + 0j, "complex_result"),
    (lambda *a: float("nan"), "nan_result"),
    (lambda *a: float("inf"), "nan_result"),
    (lambda *a: "3", "wrong_type"),
    (lambda *a: [3], "wrong_type"),
    (lambda *a: (3, 3), "wrong_type"),
    (lambda *a: np.array([3]), "wrong_type"),
    (lambda *a: 10**5000, "wrong_values"),  # too long for repr()
    (lambda *a: ArrayRaises(), "wrong_type"),
], ids=["lying-int", "bool", "np.bool_", "complex", "nan", "inf", "str", "list", "tuple",
        "1-d-array", "huge-int", "unprintable"])
def test_sizes_must_be_plain_ints(value, code):
    result = exercises.check_output_size(value)
    assert (result.passed, result.diagnosis, result.case) == (False, code, 1), str(result)


def test_numpy_integers_are_ints_but_floats_are_not():
    assert exercises.check_output_size(lambda *a: np.int64(out_size(*a))).passed
    assert exercises.check_output_size(lambda *a: np.array(out_size(*a))).passed
    result = exercises.check_output_size(lambda *a: float(out_size(*a)))
    assert (result.diagnosis, result.case) == ("wrong_type", 1)
    assert "a float" in flat(result.message)
    # floats that are also numerically wrong get the numeric diagnosis
    exact = exercises.check_output_size(
        lambda i, k, s, d, p: (i - d * (k - 1) - 1) / s + 1 if p == "VALID" else out_size(
            i, k, s, d, p))
    assert exact.diagnosis == "rounding"


def test_not_a_function():
    result = exercises.check_rot180(np.zeros((2, 2, 1, 1)))
    assert (result.passed, result.diagnosis) == (False, "not_a_function")
    assert "check_rot180(rot180)" in flat(result.message)


# --- stubs ---------------------------------------------------------------------------------


def to_columns(x, kh, kw):
    raise NotImplementedError


def im2col_calling_a_stub(x, w, strides, padding):
    cols = to_columns(x, *w.shape[:2])
    return cols @ w.reshape(-1, w.shape[3])


def test_a_stub_helper_is_named():
    result = exercises.check_conv2d_im2col(im2col_calling_a_stub)
    assert (result.diagnosis, result.case) == ("not_implemented", 1)
    assert "your function calls to_columns(), which still raises NotImplementedError" in (
        flat(result.message))
    assert "replace the line" not in flat(result.message)


def test_a_stub_helper_for_some_cases_is_named():
    def channels(w):
        raise NotImplementedError("several channels")

    def student(w):
        return channels(w) if w.shape[2] > 1 else rot180(w)

    result = exercises.check_rot180(student)
    assert (result.diagnosis, result.case) == ("not_implemented", 4)
    assert "channels(), which raised NotImplementedError: several channels" in (
        flat(result.message))


def test_the_function_itself_a_stub_still_gets_the_stub_message():
    def student(w):
        raise NotImplementedError

    result = exercises.check_rot180(student)
    assert "replace the line `raise NotImplementedError`" in flat(result.message)


def test_a_library_not_implemented_error_is_an_exception():
    def student(w):
        return asyncio.AbstractEventLoop().time()  # the standard library raises it

    result = exercises.check_rot180(student)
    assert result.diagnosis == "exception", str(result)
    assert "NotImplementedError" in flat(result.message)


# --- forbidden functions ------------------------------------------------------------------------


def grad_input_by_the_library(input_sizes, w, dy, strides, padding):
    return convlab.conv2d_backprop_input(input_sizes, w, dy, strides, padding)


def grad_input_by_an_imported_name(input_sizes, w, dy, strides, padding):
    return bound_backprop_input(input_sizes, w, dy, strides, padding)


def grad_input_hiding_the_call(input_sizes, w, dy, strides, padding):
    try:
        return convlab.reference.conv2d_backprop_input(input_sizes, w, dy, strides, padding)
    except:  # noqa: E722 - a student who swallows everything
        return grad_input(input_sizes, w, dy, strides, padding)


def make_closure():
    library = convlab.conv2d_transpose

    def student(input_sizes, w, dy, strides, padding):
        return library(dy, w, input_sizes, strides, padding)

    return student


def with_default(input_sizes, w, dy, strides, padding, op=convlab.grad_input_via_conv2d):
    return op(input_sizes, w, dy, strides, padding)


class CallableStudent:
    def __call__(self, input_sizes, w, dy, strides, padding):
        return bound_backprop_input(input_sizes, w, dy, strides, padding)


@pytest.mark.parametrize("student, name", [
    (grad_input_by_the_library, "convlab.conv2d_backprop_input"),
    (grad_input_by_an_imported_name, "convlab.conv2d_backprop_input"),
    (grad_input_hiding_the_call, "convlab.conv2d_backprop_input"),
    (make_closure(), "convlab.conv2d_transpose"),
    (with_default, "convlab.grad_input_via_conv2d"),
    (CallableStudent(), "convlab.conv2d_backprop_input"),
    (convlab.conv2d_backprop_input, "convlab.conv2d_backprop_input"),
    (functools.partial(convlab.conv2d_backprop_input), "convlab.conv2d_backprop_input"),
], ids=["attribute", "global", "swallowed", "closure", "default", "callable", "itself",
        "partial"])
@pytest.mark.parametrize("isolated", [True, False], ids=["forked", "in-process"])
def test_a_forbidden_library_call_fails_the_check(monkeypatch, student, name, isolated):
    if isolated and not FORKS:
        pytest.skip("this system cannot fork")
    monkeypatch.setattr(exercises, "TIMEOUT", None if isolated else 0)
    result = exercises.check_grad_input(student)
    assert (result.passed, result.diagnosis, result.case) == (False, "forbidden", 1), str(
        result)
    assert f"used {name}, which this exercise asks you to write" in flat(result.message)
    # in this process, every replaced name is back
    assert convlab.conv2d_backprop_input is convlab.reference.conv2d_backprop_input
    assert bound_backprop_input is convlab.reference.conv2d_backprop_input
    assert with_default.__defaults__[0] is convlab.via_conv2d.grad_input_via_conv2d
    assert exercises.conv2d_backprop_input.__module__ == "convlab.reference"


@pytest.mark.parametrize("isolated", [True, False], ids=["forked", "in-process"])
def test_allowed_library_calls_still_work(monkeypatch, isolated):
    """grad_input's solution calls convlab.conv2d and convlab.same_padding; convlab's own
    code keeps calling the functions that the exercise forbids."""
    if isolated and not FORKS:
        pytest.skip("this system cannot fork")
    monkeypatch.setattr(exercises, "TIMEOUT", None if isolated else 0)
    assert exercises.check_grad_input(grad_input).passed
    task = dataclasses.replace(exercises._GRAD_INPUT, forbidden=("convlab.conv2d_transpose",))
    # conv2d_transpose itself calls conv2d_backprop_input: allowed inside convlab
    result = exercises._run(task, lambda i, w, dy, s, p: convlab.conv2d_backprop_input(
        i, w, dy, s, p))
    assert result.passed


def test_forbidden_names_of_modules_imported_later(tmp_path, monkeypatch):
    """tf.* names are replaced once the student's code imports the module."""
    (tmp_path / "fakelib").mkdir()
    (tmp_path / "fakelib" / "__init__.py").write_text("from fakelib import nn\n")
    (tmp_path / "fakelib" / "nn.py").write_text(
        "def rotate(w):\n    return w[::-1, ::-1].transpose(0, 1, 3, 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fakelib", raising=False)
    monkeypatch.delitem(sys.modules, "fakelib.nn", raising=False)
    monkeypatch.setitem(_sandbox.ALIASES, "fl", "fakelib")
    task = dataclasses.replace(exercises._ROT180, forbidden=("fl.nn.rotate",))

    def student(w):
        import fakelib

        return fakelib.nn.rotate(w)

    def student_from(w):
        from fakelib.nn import rotate

        return rotate(w)

    for fn in (student, student_from):
        for timeout in (None, 0):
            if timeout is None and not FORKS:
                continue
            result = exercises._run(task, fn, timeout=timeout)
            assert result.diagnosis == "forbidden", str(result)
            assert "used fl.nn.rotate, which" in flat(result.message)
    assert builtins_import_is_restored()


def builtins_import_is_restored():
    import builtins

    return builtins.__import__ is __import__ and getattr(
        builtins.__import__, "__name__", "") == "__import__"


def test_every_forbidden_name_is_well_formed_and_names_a_convlab_or_tf_function():
    tasks = [t for t in vars(exercises).values() if isinstance(t, exercises._Task)]
    assert sum(bool(t.forbidden) for t in tasks) >= 8
    for task in tasks:
        for name in task.forbidden:
            assert re.fullmatch(r"(convlab|tf)(\.\w+)+", name), name
            if name.startswith("convlab.") and not name.startswith("convlab.tf."):
                found = _sandbox._owner_and_object(name)
                assert found is not None and callable(found[2]), name


def _top_level(cell):
    try:
        return ast.parse("\n".join(line for line in cell.splitlines()
                                   if not line.startswith((":", "%", "!")))).body
    except SyntaxError:
        return []


def _light_import(node):
    """An import of numpy or of convlab's numpy modules (not TensorFlow, not plotting)."""
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
    elif isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    else:
        return False
    return all(m.split(".")[0] in ("numpy", "convlab")
               and not m.startswith(("convlab.tf", "convlab.draw", "convlab.explorer"))
               for m in modules)


def stub_cells():
    """(page, imports, code) of each exercise-stub cell of the book whose checker forbids
    names; ``imports`` are the import lines of the page's code cells."""
    forbidding = {t.name for t in vars(exercises).values()
                  if isinstance(t, exercises._Task) and t.forbidden}
    for page in sorted(BOOK.glob("*.md")):
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", page.read_text(), re.S)
        imports = "\n".join(ast.unparse(node) for cell in cells for node in _top_level(cell)
                            if _light_import(node))
        for cell in cells:
            if not cell.startswith(":tags: [exercise-stub]"):
                continue
            code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
            checker = re.search(r"exercises\.(check_\w+)\(", code)
            if checker and checker.group(1) in forbidding:
                yield page.name, imports, code


def test_the_books_reference_solutions_pass_and_use_nothing_forbidden():
    cells = list(stub_cells())
    assert len({c for _, _, c in cells}) >= 8
    space: dict = {}
    for page, imports, code in cells:
        if page != space.get("page"):  # a page's stubs may use its earlier ones
            space = {"page": page}
            exec(compile(imports, f"<{page} imports>", "exec"), space)
        exec(compile(code, f"<{page} stub>", "exec"), space)  # raise_if_failed() inside
        assert space["result"].passed, str(space["result"])


# --- output, inputs, rendering -------------------------------------------------------------------


def test_printing_does_not_break_the_check(capsys):
    def chatty(w):
        print("the shape is", w.shape)
        print("x" * 100_000)  # more than is kept
        sys.stderr.write("a warning\n")
        return rot180(w)

    result = exercises.check_rot180(chatty)
    assert result.passed
    out, err = capsys.readouterr()
    assert "the shape is (2, 2, 1, 1)" in out
    if FORKS:
        assert "output beyond" in out and len(out) < 50_000
    assert "a warning" in err


@pytest.mark.parametrize("isolated", [True, False], ids=["forked", "in-process"])
def test_changing_the_inputs_in_place_changes_nothing_else(monkeypatch, isolated):
    if isolated and not FORKS:
        pytest.skip("this system cannot fork")
    monkeypatch.setattr(exercises, "TIMEOUT", None if isolated else 0)
    before = [c.expected.copy() for c in exercises._GRAD_INPUT.make_cases()]

    def vandal(input_sizes, w, dy, strides, padding):
        out = grad_input(input_sizes, w, dy, strides, padding)
        w[...] = 0
        dy *= -1
        return out

    assert exercises.check_grad_input(vandal).passed
    cases = exercises._GRAD_INPUT.make_cases()
    assert all(np.array_equal(a, c.expected) for a, c in zip(before, cases, strict=True))


def test_the_grader_record():
    good = exercises.check_rot180(rot180)
    bad = exercises.check_grad_input(lambda *a: None)
    for result, passed, diagnosis, case in ((good, True, "ok", None),
                                            (bad, False, "no_return", 1)):
        bundle = result._repr_mimebundle_()
        assert set(bundle) == {"text/plain", "text/html", exercises.MIME_TYPE}
        record = json.loads(json.dumps(bundle[exercises.MIME_TYPE]))
        assert set(record) == {"checker", "passed", "diagnosis", "message", "case", "cases"}
        assert record["checker"] in exercises.CHECKERS
        assert exercises.CHECKERS[record["checker"]].__name__ == result.task
        assert (record["passed"], record["diagnosis"], record["case"]) == (passed, diagnosis,
                                                                         case)
        assert record["message"] == result.message and record["cases"] == result.cases
        assert bundle["text/plain"] == str(result)
    assert exercises.MIME_TYPE == "application/vnd.convlab.check+json"


def test_hints_wrap_at_word_boundaries():
    for code, hint in exercises._HINTS.items():
        lines = exercises._hint(code).split("\n")
        assert all(len(line) <= exercises._WIDTH for line in lines), code
        assert " ".join(line.strip() for line in lines) == f"hint: {hint}", code
    result = exercises.check_grad_input(lambda *a: (_ for _ in ()).throw(KeyError("k")))
    page = result._repr_html_()
    assert "word-break: normal" in page and "overflow-wrap: normal" in page
    hint = result.message[result.message.index("hint:"):]
    assert all(len(line) <= exercises._WIDTH for line in hint.splitlines())
    assert textwrap.dedent(hint).split() == f"hint: {exercises._HINTS['exception']}".split()


def test_a_result_with_an_unknown_code_still_renders():
    result = CheckResult("check_rot180", False, "some_new_code", "text", 1, 6)
    assert "some_new_code" in str(result) and result.as_dict()["checker"] == "rot180"


# --- whatever a student returns, a wrong answer never passes -------------------------------------


hostile = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.complex_numbers(), st.text(),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),
    st.sampled_from([np.nan, np.inf, 0j, np.int8(3), np.uint64(3), np.float16(3.0),
                     np.array(3), np.array([3]), LyingInt(3), ArrayRaises(), LyingLength(),
                     np.bool_(True), object(), type, 3, 3.0]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=hostile)
def test_no_returned_value_crashes_a_check_or_passes_wrongly(value):
    """In this process (TIMEOUT 0) for speed: the same checks run as in the child."""
    old = exercises.TIMEOUT
    exercises.TIMEOUT = 0
    try:
        size = exercises.check_output_size(lambda *a: value)
        rot = exercises.check_rot180(lambda w: value)
    finally:
        exercises.TIMEOUT = old
    for result in (size, rot):
        assert not result.passed
        assert result.diagnosis in DIAGNOSES
        str(result), result._repr_html_(), json.dumps(result.as_dict())


@pytest.mark.parametrize("isolated", [True, False], ids=["forked", "in-process"])
def test_keyboard_interrupt_stops_the_check(monkeypatch, isolated):
    if isolated and not FORKS:
        pytest.skip("this system cannot fork")
    monkeypatch.setattr(exercises, "TIMEOUT", None if isolated else 0)

    def interrupted(w):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        exercises.check_rot180(interrupted)


def test_a_check_in_a_kernel_that_loaded_jax_forks_without_a_warning() -> None:
    """JAX warns at every fork that it may deadlock; a check page that also uses JAX
    (the performance chapter) must not print that under each checked exercise."""
    pytest.importorskip("jax")
    code = (
        "import jax.numpy as jnp\n"
        "jnp.ones(3).sum()\n"
        "from convlab import exercises\n"
        "r = exercises.check_conv2d_macs(lambda i, f, s, p: 0)\n"
        "print(r.passed, r.diagnosis)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["False", "wrong_values"], run.stdout
    assert "fork()" not in run.stderr, run.stderr[-2000:]
