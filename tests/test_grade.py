"""Grading a class (convlab grade), the stub cells' metadata, and the nbgrader export.

The class is the output-size chapter's student notebook, handed in by students who got
it right, made a classic mistake, looped forever (in a cell, in their function, and
ignoring the interrupt), killed their kernel, deleted an exercise's cell, raised, lost a
cell's metadata, or handed in a file that is not JSON. To keep the run short, each
submission holds the notebook's exercise cells only (its title, one import cell and the
stub cells as handed out); one test runs the whole notebook as a subprocess would.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convlab import exercises, student
from convlab.__main__ import main

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupytext")
pytest.importorskip("nbclient")

from convlab import export, grade  # noqa: E402  (needs the book extra)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "output-size.md"
LABEL = "ex-size-checked"
TIMEOUT = 8  # seconds a cell; the slowest cell here imports convlab.exercises

RIGHT = '''\
def out_size(in_size, k, stride, dilation, padding):
    """Output length along one axis; padding "VALID", "SAME" or a pair."""
    if padding == "SAME":
        return -(-in_size // stride)
    before, after = (0, 0) if padding == "VALID" else padding
    k_eff = dilation * (k - 1) + 1
    return (in_size + before + after - k_eff) // stride + 1
'''
NO_DILATION = RIGHT.replace("dilation * (k - 1) + 1", "k")
LOOPS = RIGHT.replace('    if padding == "SAME":',
                      '    while True:\n        pass\n    if padding == "SAME":')


@pytest.fixture(scope="module")
def handout():
    """The output-size chapter's student notebook, as handed out."""
    return student.student_notebook(CHAPTER)


def _sheet(nb):
    """The exercise cells of a student notebook: its title, an import cell, its stubs."""
    nb = copy.deepcopy(nb)
    imports = nbformat.v4.new_code_cell("import numpy as np\nimport convlab\n"
                                        "from convlab import exercises")
    nb.cells = [nb.cells[0], imports, *[c for c in nb.cells if "convlab" in c.metadata]]
    return nb


def _fill(nb, body, before=None, label=LABEL):
    """``nb`` with the function of exercise ``label`` written as ``body`` (the check kept),
    and the cell ``before`` put in front of it."""
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("convlab", {}).get("exercise") == label:
            cell.source = body.rstrip() + "\n" + cell.source[cell.source.index("\n\nresult"):]
            if before is not None:
                nb.cells.insert(i, nbformat.v4.new_code_cell(before))
            return nb
    raise AssertionError(f"{label} is not in the notebook")


def _hand_in(folder: Path, who: str, nb) -> None:
    (folder / who).mkdir(parents=True, exist_ok=True)
    target = folder / who / "output-size.ipynb"
    if isinstance(nb, str):
        target.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, target)


def _class(folder: Path, handout) -> None:
    sheet = _sheet(handout)
    _hand_in(folder, "alice", _fill(_sheet(handout), RIGHT))
    _hand_in(folder, "bob", _fill(_sheet(handout), NO_DILATION))
    _hand_in(folder, "carol", _fill(_sheet(handout), RIGHT, before="while True:\n    pass"))
    _hand_in(folder, "dave", _fill(_sheet(handout), RIGHT + "\nimport os\n\nos._exit(1)\n"))
    erin = copy.deepcopy(sheet)
    erin.cells = [c for c in erin.cells
                  if c.metadata.get("convlab", {}).get("exercise") != LABEL]
    _hand_in(folder, "erin", erin)
    _hand_in(folder, "frank", '{"cells": [ this is not JSON')
    _hand_in(folder, "henry", _fill(_sheet(handout), LOOPS))
    _hand_in(folder, "ivan", _fill(_sheet(handout), RIGHT, before=(
        "import signal\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")))
    judy = _fill(_sheet(handout), "def out_size(in_size, k, stride, dilation, padding)\n"
                 "    return 1\n", before="undefined_name + 1")
    _hand_in(folder, "judy", judy)
    kim = _fill(_sheet(handout), RIGHT)
    for cell in kim.cells:  # the metadata of every stub cell lost (a copied-in cell)
        cell.metadata.pop("convlab", None)
    _hand_in(folder, "kim", kim)
    # what the grader leaves alone: a notebook outside a student's folder, checkpoints
    nbformat.write(sheet, folder / "stray.ipynb")
    (folder / "alice" / ".ipynb_checkpoints").mkdir()
    nbformat.write(sheet, folder / "alice" / ".ipynb_checkpoints" / "output-size.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, handout):
    """The class graded by ``convlab grade`` (in this process): its CSV rows by student,
    its HTML report, what it printed, its exit status and its time."""
    folder = tmp_path_factory.mktemp("class")
    submissions = folder / "submissions"
    _class(submissions, handout)
    (folder / "handout").mkdir()
    nbformat.write(handout, folder / "handout" / "output-size.ipynb")
    out, report = folder / "out" / "grades.csv", folder / "report.html"
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        status = main(["grade", str(submissions), "--out", str(out), "--html", str(report),
                       "--timeout", str(TIMEOUT), "--jobs", "2",
                       "--points", f"{LABEL}=2.5", "--handout", str(folder / "handout")])
    seconds = time.perf_counter() - start
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by = {}
    for row in rows:
        by.setdefault(row["student"], {})[row["exercise"]] = row
    return {"rows": rows, "by": by, "html": report.read_text(encoding="utf-8"),
            "printed": printed.getvalue(), "status": status, "seconds": seconds,
            "header": out.read_text(encoding="utf-8").splitlines()[0]}


EXPECTED = {  # student: (passed, diagnosis) of the filled-in exercise
    "alice": ("True", "ok"),
    "bob": ("False", "no_dilation"),
    "carol": ("True", "ok"),           # her endless cell was interrupted; the rest ran
    "dave": ("False", "kernel_died"),
    "erin": ("False", "missing"),
    "frank": ("False", "unreadable"),
    "ivan": ("False", "not_run"),      # his kernel ignored the interrupt and was killed
    "judy": ("False", "cell_error"),   # a syntax error in her cell
    "kim": ("True", "ok"),             # found by its checker, its metadata gone
}


def _rows_and_diagnoses(graded, handout):
    assert graded["status"] == 0
    assert graded["header"] == ",".join(grade.COLUMNS)
    labels = [c.metadata["convlab"]["exercise"] for c in handout.cells
              if "convlab" in c.metadata]
    assert LABEL in labels
    students = ["alice", "bob", "carol", "dave", "erin", "frank", "henry", "ivan", "judy",
                "kim"]
    assert list(graded["by"]) == students  # stray.ipynb and checkpoints left out
    for who in students:
        assert list(graded["by"][who]) == labels, who
    for who, (passed, diagnosis) in EXPECTED.items():
        row = graded["by"][who][LABEL]
        assert (row["passed"], row["diagnosis"]) == (passed, diagnosis), (who, row)
        assert row["checker"] == "output_size" and row["notebook"] == "output-size"
        assert row["points"] == ("2.5" if passed == "True" else "0")
        assert row["max_points"] == "2.5"
    # an endless loop in the function: the checker's own limit (or the cell's) stops it
    henry = graded["by"]["henry"][LABEL]
    assert henry["passed"] == "False" and henry["diagnosis"] in ("timeout", "cell_timeout")
    # the exercises left as stubs say so; those after a dead kernel never ran
    for label in labels[1:]:
        assert graded["by"]["alice"][label]["diagnosis"] == "not_implemented"
        assert graded["by"]["alice"][label]["points"] == "0"
        assert graded["by"]["dave"][label]["diagnosis"] == "not_run"
        assert graded["by"]["frank"][label]["diagnosis"] == "unreadable"


def _messages(graded, handout):
    by = graded["by"]
    assert "expected 5, got 7" in by["bob"][LABEL]["message"]
    assert by["bob"][LABEL]["case"] == "6" and by["bob"][LABEL]["cases"] == "9"
    assert "the kernel died while cell" in by["dave"][LABEL]["message"]
    assert "no cell of this notebook holds exercise ex-size-checked" in by["erin"][LABEL][
        "message"]
    assert "NotJSONError" in by["frank"][LABEL]["message"]
    assert f"did not finish within {TIMEOUT} s and ignored the interrupt" in by["ivan"][LABEL][
        "message"]
    assert "SyntaxError" in by["judy"][LABEL]["message"]
    assert "metadata was removed" in by["kim"][LABEL]["message"]
    printed = graded["printed"]
    most = 2.5 + sum("convlab" in c.metadata for c in handout.cells) - 1
    assert f"carol/output-size.ipynb: 2.5 of {most:g} points" in printed
    assert f"did not finish within {TIMEOUT} s" in printed
    assert "graded 10 notebooks of 10 students" in printed and "s per notebook" in printed


def _report(graded, handout):
    page = graded["html"]
    most = 2.5 + sum("convlab" in c.metadata for c in handout.cells) - 1
    assert page.startswith("<!DOCTYPE html>")
    for outside in ("<script", "src=", "http://", "https://", "@import", "url("):
        assert outside not in page  # self-contained: nothing loaded, nothing run
    assert f"<h3 id='student-1'>alice: 2.5 of {most:g} points</h3>" in page
    assert "<h2>By exercise</h2>" in page and "<h2>By student</h2>" in page
    assert "<td>3 of 10</td>" in page  # ex-size-checked: alice, carol and kim
    assert exercises.DIAGNOSES["no_dilation"] in page
    assert grade.GRADER_DIAGNOSES["kernel_died"] in page
    assert "<code>no_dilation</code> &times; 1" in page
    # what a student's code printed or raised is escaped
    assert "&#x27;{&quot;cells&quot;: [ this is not JSON&#x27;" in page


@pytest.mark.slow
def test_grading_a_class(graded, handout):
    """One row per exercise of each notebook, with its diagnosis; the messages and notes
    say what happened; the report, per student and per exercise. (One test, so that
    parallel workers do not each grade the class.)"""
    _rows_and_diagnoses(graded, handout)
    _messages(graded, handout)
    _report(graded, handout)


def test_hostile_names_and_messages_are_escaped_and_not_formulas(tmp_path):
    row = grade.Row("=cmd|' /C calc'!A0", "<b>nb</b>", "ex", "output_size", False,
                    "wrong_values", 0.0, 1.0, "<script>alert(1)</script>\n-2 + 3")
    grades = grade.Grades([grade.Notebook("=cmd|' /C calc'!A0", "<b>nb</b>", [row],
                                          ["<img src=x onerror=alert(1)>"])])
    page = grades.html()
    assert "<script>" not in page and "<img" not in page and "<b>nb" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    grades.write_csv(tmp_path / "g.csv")
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as f:
        (read,) = list(csv.DictReader(f))
    assert read["student"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it as text
    assert read["message"] == "<script>alert(1)</script>\n-2 + 3"


def test_results_are_read_from_the_checkers_json_or_their_text():
    cell = nbformat.v4.new_code_cell("x")
    payload = {"checker": "output_size", "passed": False, "diagnosis": "rounding",
               "message": "m", "case": 2, "cases": 9}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout",
                               text="check_rot180: passed (6 of 6 cases)\nall agree\n"),
        nbformat.v4.new_output("display_data", data={
            "text/plain": "check_output_size: failed [rounding] ...",
            grade.MIME_TYPE: payload}),
        nbformat.v4.new_output("execute_result", data={
            "text/plain": "check_grad_input: not implemented yet\nnot implemented"},
            execution_count=1),
        nbformat.v4.new_output("display_data", data={grade.MIME_TYPE: {"checker": 1}}),
    ]
    found = grade.read_results(cell)
    assert [(r["checker"], r["passed"], r["diagnosis"]) for r in found] == [
        ("rot180", True, "ok"), ("output_size", False, "rounding"),
        ("grad_input", False, "not_implemented")]
    assert found[0]["cases"] == 6 and found[1]["case"] == 2


def test_bad_input_is_one_line_naming_the_option(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = {
        ("grade", str(tmp_path / "nowhere")): "SUBMISSIONS: ",
        ("grade", str(tmp_path / "empty")): "SUBMISSIONS: no notebooks in",
        ("grade", str(tmp_path), "--timeout", "0"): "--timeout: must be a positive",
        ("grade", str(tmp_path), "--timeout", "1e9"): "--timeout: must be a positive",
        ("grade", str(tmp_path), "--jobs", "-1"): "--jobs: must be a positive int",
        ("grade", str(tmp_path), "--points", "ex-a"): "--points: must be LABEL=N",
        ("grade", str(tmp_path), "--points", "ex-a=nan"): "--points: must be LABEL=N",
        ("grade", str(tmp_path), "--html", str(tmp_path)): "--html: cannot write",
        ("grade", str(tmp_path), "--out", str(tmp_path / "f\0")): "--out: cannot write",
        ("grade", str(tmp_path), "--handout", str(tmp_path / "no")): "--handout: ",
        ("export", str(tmp_path / "x"), "--root", str(tmp_path)): "--root: ",
        ("export", str(tmp_path / "x"), "--assignment", "../up"): "--assignment: ",
    }
    for argv, start in cases.items():
        assert main(list(argv)) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"convlab {argv[0]}: {start}" in err, (argv, err)
        assert "Traceback" not in err


# --- the stub cells' metadata ----------------------------------------------------------


def test_every_stub_cell_names_its_exercise_and_checker():
    from convlab.notebooks import Book

    book = Book.read(ROOT)
    seen = []
    for chapter in student.chapters(ROOT):
        if chapter.stem in student.INSTRUCTOR_ONLY:
            continue
        nb = student.student_notebook(chapter, book)
        for cell in nb.cells:
            if student.STUB_TAG in cell.metadata.get("tags", []):
                meta = cell.metadata["convlab"]
                assert set(meta) == {"exercise", "checker"}
                assert meta["checker"] in exercises.CHECKERS
                assert f"exercises.check_{meta['checker']}(" in cell.source
                assert meta["exercise"] in book.exercises, meta
                seen.append(meta["exercise"])
    assert len(seen) == len(set(seen)) >= 8


def test_a_stub_outside_an_exercise_or_without_one_checker_is_refused(tmp_path):
    head = textwrap.dedent("""\
        ---
        kernelspec:
          display_name: Python 3 (ipykernel)
          language: python
          name: python3
        ---

        # A chapter

        """)
    cell = "```{code-cell} ipython3\n:tags: [exercise-stub]\n\n%s\n```\n"
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/a\n")
    (tmp_path / "book").mkdir()
    chapter = tmp_path / "book" / "a.md"
    for text, error in (
            (cell % "def f(w):\n    return w\n\nexercises.check_rot180(f)",
             "comes before any exercise"),
            ("```{exercise-start}\n:label: ex-a\n```\n\nDo it.\n\n```{exercise-end}\n```\n\n"
             + cell % "def f(w):\n    return w\n\nf(1)", "calls none"),
            ("```{solution-start} ex-a\n```\n\n"
             + cell % "def f(w):\n    return w\n\nexercises.check_nothing_like_it(f)",
             "check_nothing_like_it, which is not in exercises.CHECKERS")):
        chapter.write_text(head + text)
        with pytest.raises(ValueError, match=error):
            student.student_notebook(chapter)
    assert student.exercise_labels(
        "````md\n```{solution-start} ex-shown\n```\n````\n\n```{solution-start} ex-b\n```"
    ) == ["ex-b"]


# --- the nbgrader export -----------------------------------------------------------------

# nbgrader's cell-metadata schema (version 3), as its documentation states it
NBGRADER_CELL = {
    "type": "object",
    "properties": {
        "schema_version": {"type": "integer", "minimum": 3, "maximum": 3},
        "grade": {"type": "boolean"}, "locked": {"type": "boolean"},
        "solution": {"type": "boolean"}, "task": {"type": "boolean"},
        "grade_id": {"type": "string", "pattern": "^[a-zA-Z0-9_\\-]*$"},
        "points": {"type": "number", "minimum": 0},
    },
    "required": ["schema_version", "grade", "locked", "solution"],
    "additionalProperties": False,
}


def test_the_nbgrader_source_notebook(handout):
    jsonschema = pytest.importorskip("jsonschema")
    nb = export.nbgrader_notebook(CHAPTER, points={LABEL: 3})
    nbformat.validate(nb)
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    ids = [c.metadata["nbgrader"]["grade_id"] for c in graded]
    assert len(ids) == len(set(ids))
    for cell in graded:
        meta = cell.metadata["nbgrader"]
        jsonschema.validate(meta, NBGRADER_CELL)
        assert meta["grade"] or meta["solution"]
    labels = [c.metadata["convlab"]["exercise"] for c in handout.cells
              if "convlab" in c.metadata]
    assert ids == [f"{label}-{part}" for label in labels for part in ("solution", "check")]
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in graded}
    solution, check = by_id[f"{LABEL}-solution"], by_id[f"{LABEL}-check"]
    assert solution.metadata["nbgrader"]["solution"] and not solution.metadata["nbgrader"][
        "grade"]
    assert check.metadata["nbgrader"] == {
        "grade": True, "grade_id": f"{LABEL}-check", "locked": True, "points": 3.0,
        "schema_version": 3, "solution": False, "task": False}
    assert "    ### BEGIN SOLUTION\n    if padding == \"SAME\":" in solution.source
    assert "k_eff = dilation * (k - 1) + 1" in solution.source
    assert solution.source.rstrip().endswith("### END SOLUTION")
    assert "check_output_size" not in solution.source
    assert check.source == ("result = exercises.check_output_size(out_size)\n"
                            "assert result.passed, str(result)\nresult")
    assert check.metadata["convlab"] == {"exercise": LABEL, "checker": "output_size"}
    # the rest is the student edition: the text, no other solution
    text = "\n".join(c.source for c in nb.cells if "nbgrader" not in c.metadata)
    assert text == "\n".join(c.source for c in handout.cells if "convlab" not in c.metadata)


def test_the_exported_solutions_pass_their_autograder_cells():
    import numpy as np

    import convlab

    nb = export.nbgrader_notebook(CHAPTER)
    cells = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert len(cells) >= 2
    namespace = {"np": np, "convlab": convlab, "exercises": exercises}
    for cell in cells:
        exec(cell.source, namespace)
    # and nbgrader's release (the regions replaced by its stub) fails them, with the diagnosis
    namespace = {"np": np, "convlab": convlab, "exercises": exercises}
    released = cells[0].source.split("### BEGIN SOLUTION")[0] + (
        "# YOUR CODE HERE\n    raise NotImplementedError()")
    exec(released, namespace)
    with pytest.raises(AssertionError, match="not implemented yet"):
        exec(cells[1].source, namespace)


@pytest.mark.parametrize("source, solution", [
    ("def f(x): return x + 1\n\nr = check_rot180(f)\nprint(r)",
     "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"),
    ("import numpy as np\n\n\n@staticmethod\ndef g(w):\n    '''Doc.'''\n    return w\n\n"
     "K = 3  # kept\nprint(exercises.check_rot180(g))",
     "import numpy as np\n\n\n@staticmethod\ndef g(w):\n    '''Doc.'''\n"
     "    ### BEGIN SOLUTION\n    return w\n    ### END SOLUTION\n\nK = 3  # kept"),
])
def test_solution_regions(source, solution):
    got, test = export.solution_cells(source)
    assert got == solution
    assert test.startswith("result = ") and "assert result.passed, str(result)" in test


TURN = textwrap.dedent('''\
    ---
    kernelspec:
      display_name: Python 3 (ipykernel)
      language: python
      name: python3
    ---

    # Turning a filter

    ```{code-cell} ipython3
    import numpy as np

    from convlab import exercises
    ```

    ```{exercise-start}
    :label: ex-turn
    ```

    Write `rot180(w)`.

    ```{exercise-end}
    ```

    ```{solution-start} ex-turn
    :class: dropdown
    ```

    ```{code-cell} ipython3
    :tags: [exercise-stub]

    def rot180(w):
        """w turned, its channels swapped."""
        return np.transpose(w[::-1, ::-1], (0, 1, 3, 2))


    result = exercises.check_rot180(rot180)
    result.raise_if_failed()  # solution-only
    result
    ```

    ```{solution-end}
    ```
    ''')


def test_convlab_export_writes_a_course_folder_once(tmp_path, capsys):
    book = tmp_path / "book-root"
    (book / "book").mkdir(parents=True)
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/turn\n")
    (book / "book" / "turn.md").write_text(TURN)
    out = tmp_path / "course"
    assert main(["export", str(out), "--root", str(book)]) == 0
    written = out / "source" / "turn" / "turn.ipynb"
    assert written.is_file() and str(written) in capsys.readouterr().out
    assert main(["export", str(out), "--root", str(book)]) == 2
    assert "already there" in capsys.readouterr().err
    assert main(["export", str(out), "--root", str(book), "--force", "--assignment",
                 "week-1"]) == 0
    assert (out / "source" / "week-1" / "turn.ipynb").is_file()
    if shutil.which("nbgrader"):  # nbgrader's own command, where it is installed
        subprocess.run(["nbgrader", "generate_assignment", "turn", "--force"],
                       cwd=out, check=True, capture_output=True, timeout=300)
        released = nbformat.read(out / "release" / "turn" / "turn.ipynb", 4)
        text = "\n".join(c.source for c in released.cells)
        assert "np.transpose" not in text and "raise NotImplementedError()" in text


# --- a whole notebook, as a subprocess -------------------------------------------------


@pytest.mark.slow
def test_a_whole_student_notebook_graded_by_the_command(tmp_path, handout):
    """The student notebook as handed out (TensorFlow imported, figures drawn), one
    exercise done, graded by ``python -m convlab grade`` in another process."""
    submissions = tmp_path / "submissions"
    _hand_in(submissions, "alice", _fill(copy.deepcopy(handout), RIGHT))
    _hand_in(submissions, "frank", "not a notebook")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "convlab", "grade", str(submissions), "--out",
         str(tmp_path / "g.csv"), "--html", str(tmp_path / "r.html"), "--timeout", "240",
         "--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    alice = {r["exercise"]: r for r in rows if r["student"] == "alice"}
    assert (alice[LABEL]["passed"], alice[LABEL]["diagnosis"]) == ("True", "ok")
    assert {r["diagnosis"] for r in rows if r["student"] == "frank"} == {"unreadable"}
    assert "graded 2 notebooks of 2 students" in done.stdout
    assert "alice: 1 of" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert seconds < 300


# --- the course edition of the site ------------------------------------------------------


def test_the_course_config_is_the_book_s_without_solutions_or_instructors(tmp_path):
    yaml = pytest.importorskip("yaml")

    from convlab import course

    config_path, toc_path = course.write_config(ROOT, tmp_path)
    config = yaml.safe_load(config_path.read_text())
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "convlab.course" in config["sphinx"]["extra_extensions"]
    assert config["sphinx"]["config"]["html_copy_source"] is False
    for name, path in config["sphinx"]["local_extensions"].items():
        assert Path(path) == (ROOT / book["sphinx"]["local_extensions"][name]).resolve()
    assert config["execute"] == book["execute"]  # every chapter still runs, strictly
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"], *(c["file"] for part in toc["parts"] for c in part["chapters"])]
    assert [Path(f).stem for f in files] == [
        p.stem for p in student.chapters(ROOT) if p.stem not in student.INSTRUCTOR_ONLY]


SPHINX_PAGE = """\
# A page

See {doc}`instructors` for more.

```{exercise-start}
:label: ex-one
```

Write a function.

```{exercise-end}
```

```{solution-start} ex-one
:class: dropdown
```

THE-GATED-SOLUTION-TEXT is here.

```python
def secret_gated_solution_code(): return 42
```

```{solution-end}
```

```{exercise} A plain one
:label: ex-two

What is 2 + 2?
```

```{solution} ex-two
THE-PLAIN-SOLUTION-TEXT: 4
```

Text after the solutions stays.
"""


@pytest.mark.slow
def test_the_extension_removes_gated_and_plain_solutions(tmp_path):
    """A Sphinx build (strict) of a page with both kinds of solutions and a link to the
    instructors' page, which the course edition leaves out."""
    pytest.importorskip("sphinx_exercise")
    pytest.importorskip("myst_parser")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["myst_parser", "sphinx_exercise", '
                                 '"convlab.course"]\n')
    (src / "index.md").write_text(SPHINX_PAGE)
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "-q",
                           str(src), str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "out" / "index.html").read_text()
    for gone in ("THE-GATED-SOLUTION-TEXT", "secret_gated_solution_code",
                 "THE-PLAIN-SOLUTION-TEXT"):
        assert gone not in page
    assert "Write a function." in page and "What is 2 + 2?" in page
    assert "Text after the solutions stays." in page and "instructors" in page


def test_a_solution_line_in_the_site_is_found(tmp_path):
    from convlab import course

    lines = course.solution_lines(CHAPTER)
    assert "k_eff = dilation * (k - 1) + 1" in lines  # the first exercise's solution
    assert not any("raise NotImplementedError" in line for line in lines)
    site = tmp_path / "site"
    (site / "book").mkdir(parents=True)
    (site / "book" / "clean.html").write_text("<p>No solution here.</p>")
    assert course.leaks(site, lines) == []
    (site / "book" / "output-size.html").write_text(
        '<pre><span class="n">k_eff</span> <span class="o">=</span> dilation '
        '<span class="o">*</span> (k - 1) + 1</pre>')
    assert course.leaks(site, lines) == [
        "book/output-size.html: k_eff = dilation * (k - 1) + 1"]


def test_a_malformed_notebook_is_unreadable_without_a_kernel(tmp_path, handout):
    (tmp_path / "sub" / "zoe").mkdir(parents=True)
    nb = _sheet(handout)
    nb.cells[1] = {"cell_type": "banana", "source": 1, "metadata": {}}
    (tmp_path / "sub" / "zoe" / "output-size.ipynb").write_text(json.dumps(nb))
    (tmp_path / "handout").mkdir()
    nbformat.write(handout, tmp_path / "handout" / "output-size.ipynb")
    start = time.perf_counter()
    grades = grade.grade(tmp_path / "sub", timeout=5, jobs=1, handout=tmp_path / "handout")
    assert time.perf_counter() - start < 10
    assert {r.diagnosis for r in grades.rows} == {"unreadable"}
    assert len(grades.rows) == sum("convlab" in c.metadata for c in handout.cells)
    assert grades.notebooks[0].notes[0].startswith("not a notebook that can be read")
