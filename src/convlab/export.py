"""Export the student edition as an nbgrader source assignment.

``convlab export OUTDIR`` (see :func:`build_nbgrader`) writes, for each chapter with a
checked exercise, ``OUTDIR/source/<chapter>/<chapter>.ipynb``: the chapter's student
notebook (:func:`convlab.student.student_notebook`) in which every ``exercise-stub`` cell
becomes two cells for nbgrader:

* a **solution cell** (``"solution": true``): the book's reference solution, each function
  body between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the ``def`` line and the
  docstring stay outside, so the student sees them); ``nbgrader generate_assignment``
  replaces each region by ``raise NotImplementedError()``;
* an **autograder test cell** (``"grade": true, "locked": true``, with the exercise's
  points) that calls the exercise's checker and fails with its diagnosis::

      result = exercises.check_output_size(out_size)
      assert result.passed, str(result)
      result

  ``str(result)`` holds the diagnosis code, the smallest failing case and the hint, so
  nbgrader's feedback says what is wrong, not only that a test failed. Students can run
  the cell to check their work before they submit.

Each cell's ``grade_id`` comes from the exercise's label (``ex-size-checked-solution``,
``ex-size-checked-check``), and the cells keep convlab's metadata, so ``convlab grade``
reads the same notebooks. With ``assignment``, every chapter goes into one assignment
folder instead. Needs jupytext and nbformat (the ``book`` extra).

nbgrader, not otter-grader: nbgrader's source format is cell metadata in an ordinary
notebook, which maps one to one onto the exercise-stub cells (a solution region, a graded
test cell with points), and its runners (JupyterHub's formgrader, ``nbgrader autograde``)
run the notebook as it is. otter-grader's master notebook needs its own raw-cell markup
around each question and an assignment configuration, and its autograder runs in a Docker
image or on Gradescope.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from convlab import student
from convlab.notebooks import Book

__all__ = ["NBGRADER_SCHEMA", "build_nbgrader", "nbgrader_notebook", "solution_cells"]

NBGRADER_SCHEMA = 3  # nbgrader's cell-metadata schema version (nbgrader 0.6 and later)
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _grade_id(label: str, part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{label}-{part}")


def _meta(label: str, part: str, *, solution: bool = False, grade: bool = False,
          points: float = 0.0) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": _grade_id(label, part),
                            "locked": grade, "schema_version": NBGRADER_SCHEMA,
                            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def _checker_call(tree: ast.Module) -> tuple[ast.stmt, ast.Call] | None:
    """The top-level statement that calls a checker, and the call."""
    for node in tree.body:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Call):
                func = inner.func
                name = (func.attr if isinstance(func, ast.Attribute)
                        else func.id if isinstance(func, ast.Name) else "")
                if name.startswith("check_"):
                    return node, inner
    return None


def solution_cells(source: str) -> tuple[str, str]:
    """Split a book's ``exercise-stub`` cell into nbgrader's two cells.

    Returns
    -------
    tuple of str
        The solution cell (each top-level function's body inside a solution region; other
        statements, such as imports, kept; the checker call and what shows its result
        left out) and the test cell (the checker call, an ``assert`` with the diagnosis,
        the result shown).

    Examples
    --------
    >>> solution, test = solution_cells(
    ...     'def f(w):\\n    "Turn w."\\n    return w[::-1]\\n\\n'
    ...     'result = exercises.check_rot180(f)\\nresult.raise_if_failed()  # solution-only\\n'
    ...     'result')
    >>> print(solution)
    def f(w):
        "Turn w."
        ### BEGIN SOLUTION
        return w[::-1]
        ### END SOLUTION
    >>> print(test)
    result = exercises.check_rot180(f)
    assert result.passed, str(result)
    result
    """
    lines = [line for line in source.splitlines()
             if not line.rstrip().endswith(student.SOLUTION_ONLY)]
    text = "\n".join(lines)
    tree = ast.parse(text)
    found = _checker_call(tree)
    if found is None:
        raise ValueError(f"an {student.STUB_TAG} cell must call one exercises.check_NAME")
    call_statement, call = found
    shown = {t.id for t in getattr(call_statement, "targets", []) if isinstance(t, ast.Name)}
    out: list[str] = []
    done = 0
    for node in tree.body:
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        end = node.end_lineno or node.lineno
        gap = lines[done:start - 1]
        done = end
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if node is call_statement or (isinstance(node, ast.Expr) and shown
                                      and names <= shown | {"print", "display"}):
            continue  # the check and what shows it go to the test cell
        out.extend(gap)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.extend(lines[start - 1:end])
            continue
        first = node.body[0]
        if first.lineno == node.lineno:  # def f(x): return x
            line = lines[node.lineno - 1]
            indent = " " * (node.col_offset + 4)
            out.extend(lines[start - 1:node.lineno - 1])
            out.extend([line[:first.col_offset].rstrip(), indent + BEGIN,
                         indent + line[first.col_offset:].strip(), indent + END])
            continue
        body_start = first.lineno
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):  # the docstring stays visible
            if len(node.body) == 1:
                out.extend(lines[start - 1:end])
                continue
            body_start = node.body[1].lineno
        header = lines[start - 1:body_start - 1]
        indent = " " * node.body[-1].col_offset
        body = lines[body_start - 1:end]
        out.extend([*header, indent + BEGIN, *body, indent + END])
    segment = ast.get_source_segment(text, call) or ""
    test = f"result = {segment}\nassert result.passed, str(result)\nresult"
    return "\n".join(out).strip("\n"), test


def _stub_sources(path: Path) -> dict[str, str]:
    """The book's ``exercise-stub`` cells of a chapter, by exercise label."""
    import jupytext

    found: dict[str, str] = {}
    label = None
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "markdown":
            label = ([label, *student.exercise_labels(cell.source)])[-1]
        elif student.STUB_TAG in cell.get("metadata", {}).get("tags", []) and label:
            found.setdefault(label, cell.source)
    return found


def nbgrader_notebook(path: Path, book: Book | None = None,
                      points: Mapping[str, float] | None = None) -> Any:
    """The nbgrader source notebook of one chapter (an nbformat node).

    Parameters
    ----------
    path : Path
        The chapter (``book/<chapter>.md``).
    book : Book, optional
        The book the chapter belongs to (read when not given).
    points : mapping of str to float, optional
        Points per exercise label (default 1 each).
    """
    import nbformat

    nb = student.student_notebook(path, book)
    sources = _stub_sources(path)
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("convlab")
        if not isinstance(meta, dict) or "exercise" not in meta:
            cells.append(cell)
            continue
        label = meta["exercise"]
        solution, test = solution_cells(sources[label])
        keep = {k: v for k, v in cell.metadata.items() if k != "nbgrader"}
        cells.append(nbformat.v4.new_code_cell(
            solution, metadata={**keep, "nbgrader": _meta(label, "solution", solution=True)}))
        cells.append(nbformat.v4.new_code_cell(test, metadata={
            "convlab": dict(meta),
            "nbgrader": _meta(label, "check", grade=True,
                              points=float((points or {}).get(label, 1)))}))
        cell.metadata = {}
    for index, cell in enumerate(cells):
        cell["id"] = f"{path.stem}-{index}"[-64:]
    nb.cells = cells
    return nb


def build_nbgrader(outdir: Path, root: Path | None = None, *, assignment: str | None = None,
                   points: Mapping[str, float] | None = None, force: bool = False) -> list[Path]:
    """Write an nbgrader course folder: ``outdir/source/<assignment>/<chapter>.ipynb`` for
    each chapter with a checked exercise (the assignment is the chapter unless
    ``assignment`` names one for all).

    Returns the notebooks written. Run ``nbgrader generate_assignment <assignment>`` in
    ``outdir`` to make the students' version in ``outdir/release``.

    Raises
    ------
    FileExistsError
        When a notebook to write is already there, unless ``force`` (an instructor may
        have edited it).
    ValueError
        When a chapter's exercise stubs cannot be read.
    """
    import nbformat

    root = Path.cwd() if root is None else root
    book = Book.read(root)
    planned = []
    for chapter in student.chapters(root):
        if chapter.stem in student.INSTRUCTOR_ONLY or not _stub_sources(chapter):
            continue
        folder = outdir / "source" / (assignment or chapter.stem)
        planned.append((chapter, folder / f"{chapter.stem}.ipynb"))
    there = [str(target) for _, target in planned if target.exists()]
    if there and not force:
        more = f" and {len(there) - 1} more" if len(there) > 1 else ""
        raise FileExistsError(f"{there[0]}{more} already there (edited?): nothing was "
                              "overwritten; export to another folder, or overwrite with "
                              "--force")
    written = []
    for chapter, target in planned:
        nb = nbgrader_notebook(chapter, book, points)
        nbformat.validate(nb)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written
