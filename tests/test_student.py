"""The student edition: solutions removed, stubs kept, and the notebooks run top to bottom."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from convlab import student

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
STUDENT_CHAPTERS = [p.stem for p in student.chapters(ROOT)
                    if p.stem not in student.INSTRUCTOR_ONLY]

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""

CHAPTER = HEADER + textwrap.dedent('''
    # A chapter with exercises

    ```{code-cell} ipython3
    import numpy as np

    from convlab import exercises
    ```

    ## Exercises

    ```{exercise-start}
    :label: ex-rot
    ```

    Write `rot180(w)`.

    ```{exercise-end}
    ```

    ```{solution-start} ex-rot
    :class: dropdown
    ```

    Turn, then swap: THE-SECRET-EXPLANATION.

    ```{code-cell} ipython3
    :tags: [exercise-stub]

    def rot180(w):
        """w (HWIO) turned 180 degrees, channels swapped."""
        return np.transpose(w[::-1, ::-1], (0, 1, 3, 2))


    result = exercises.check_rot180(rot180)
    result.raise_if_failed()  # solution-only
    result
    ```

    ```{code-cell} ipython3
    secret_solution_cell = 1
    ```

    ```{solution-end}
    ```

    Text after the solution stays.

    ```{exercise-start}
    :label: ex-dx
    ```

    Write `grad_input` with a helper.

    ```{exercise-end}
    ```

    ```{solution-start} ex-dx
    :class: dropdown
    ```

    ```{code-cell} ipython3
    :tags: [exercise-stub]

    import convlab


    def grad_input(input_sizes, w, dy, strides,
                   padding):
        return convlab.conv2d_backprop_input(input_sizes, w, dy, strides, padding)


    print(exercises.check_grad_input(grad_input))
    ```

    ```{solution-end}
    ```

    ```{exercise} A plain one
    :label: ex-plain

    What is the output size of a 7-wide input, kernel 3, stride 2, SAME?
    ```

    ```{solution} ex-plain
    THE-PLAIN-SOLUTION: 4
    ```

    ```{code-cell} ipython3
    assert "secret_solution_cell" not in globals()
    ```
''')


@pytest.fixture
def book(tmp_path: Path) -> Path:
    root = tmp_path / "book-root"
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                   "  - file: book/exercises\n")
    (root / "book" / "intro.md").write_text(HEADER + "\n# Intro\n\nNo code here.\n")
    (root / "book" / "exercises.md").write_text(CHAPTER)
    return root


def _execute(path: Path) -> object:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def test_solutions_removed_stubs_kept(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    written = student.build(out, book)
    assert [p.name for p in written] == ["intro.ipynb", "exercises.ipynb"]
    nb = nbformat.read(out / "exercises.ipynb", as_version=4)
    nbformat.validate(nb)
    text = "\n".join(c.source for c in nb.cells)
    for gone in ("THE-SECRET-EXPLANATION", "secret_solution_cell = 1", "THE-PLAIN-SOLUTION",
                 "solution-start", "solution-end", "np.transpose(w[::-1", "raise_if_failed",
                 "conv2d_backprop_input(input_sizes", "{exercise"):
        assert gone not in text, gone
    for kept in ("Write `rot180(w)`.", "Text after the solution stays.", "**Exercise 1.**",
                 "What is the output size", '"""w (HWIO) turned 180 degrees, channels swapped."""',
                 'raise NotImplementedError("rot180")', "result = exercises.check_rot180(rot180)",
                 'raise NotImplementedError("grad_input")', "import convlab",
                 "print(exercises.check_grad_input(grad_input))"):
        assert kept in text, kept
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "jupytext" not in nb.metadata and nb.metadata.kernelspec.name == "python3"


def test_instructor_pages_are_left_out(book: Path, tmp_path: Path) -> None:
    (book / "_toc.yml").write_text((book / "_toc.yml").read_text()
                                   + "  - file: book/instructors\n")
    (book / "book" / "instructors.md").write_text(HEADER + "\n# For instructors\n")
    written = student.build(tmp_path / "student", book)
    assert [p.stem for p in written] == ["intro", "exercises"]


def test_zip_holds_the_folder(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    student.build(out, book)
    names = zipfile.ZipFile(tmp_path / "student.zip").namelist()
    assert sorted(names) == ["student/README.md", "student/exercises.ipynb",
                             "student/intro.ipynb"]
    first = (tmp_path / "student.zip").read_bytes()
    student.build(out, book)
    assert (tmp_path / "student.zip").read_bytes() == first  # reproducible


def test_fresh_student_notebook_runs_and_says_not_implemented(book: Path,
                                                              tmp_path: Path) -> None:
    student.build(tmp_path / "student", book)
    nb = _execute(tmp_path / "student" / "exercises.ipynb")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                      for o in outputs)
    htmls = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert "check_rot180: not implemented yet" in shown
    assert "check_grad_input: not implemented yet" in shown
    assert any("not implemented yet" in h for h in htmls)


def test_stub_source_keeps_signature_docstring_and_checker() -> None:
    src = textwrap.dedent('''
        @staticmethod
        def f(a,
              b=2):
            """Doc."""
            x = a + b
            return x

        def g(): return 1

        check(f)
        done = True  # solution-only
    ''').strip()
    out = student.stub_source(src)
    assert out.splitlines()[:4] == ["@staticmethod", "def f(a,", "      b=2):", '    """Doc."""']
    assert 'raise NotImplementedError("f")' in out and 'raise NotImplementedError("g")' in out
    assert "x = a + b" not in out and "return 1" not in out and "done" not in out
    assert out.endswith("check(f)")


def test_unclosed_solution_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: book/a\n")
    (root / "book" / "a.md").write_text(HEADER + "\n```{solution-start} x\n```\n\nsecret\n")
    with pytest.raises(ValueError, match="no solution-end"):
        student.build(tmp_path / "out", root)


def test_command_line(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    run = subprocess.run([sys.executable, "-m", "convlab.student", str(out), "--root",
                          str(book), "--no-wheel"], capture_output=True, text=True, check=True)
    assert (out / "exercises.ipynb").exists() and (tmp_path / "cli.zip").exists()
    assert str(tmp_path / "cli.zip") in run.stdout
    bad = subprocess.run([sys.executable, "-m", "convlab.student", str(out), "--root",
                          str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert bad.returncode == 1 and "convlab.student:" in bad.stderr


def test_the_book_becomes_notebooks(tmp_path: Path) -> None:
    written = student.build(tmp_path / "student", ROOT)
    assert [p.stem for p in written] == STUDENT_CHAPTERS
    assert len(written) >= 8
    for path in written:
        text = path.read_text()
        assert "solution-start" not in text and "solution-end" not in text


@pytest.mark.slow
@pytest.mark.parametrize("chapter", STUDENT_CHAPTERS)
def test_each_student_chapter_runs_top_to_bottom(chapter: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    student.build(tmp_path / "student", ROOT)
    nb = _execute(tmp_path / "student" / f"{chapter}.ipynb")
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]


def test_a_student_s_changes_are_never_overwritten(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    student.build(out, book)
    student.build(out, book)  # unchanged: rebuilt in place
    work = out / "exercises.ipynb"
    work.write_text(work.read_text().replace("raise NotImplementedError", "return 1", 1))
    with pytest.raises(ValueError, match=r"exercises\.ipynb changed since .* --force"):
        student.build(out, book)
    assert "return 1" in work.read_text()
    assert student.main([str(out), "--root", str(book)]) == 1
    assert "return 1" in work.read_text()
    student.build(out, book, force=True)
    assert "return 1" not in work.read_text()
    # a folder of notebooks no build wrote is left alone too
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "intro.ipynb").write_text("{}")
    with pytest.raises(ValueError, match=r"intro\.ipynb"):
        student.build(tmp_path / "mine", book)
