"""Build the student edition of the book: notebooks without the solutions.

Run as ``python -m convlab.student OUTDIR`` (from the repository root, or with
``--root`` naming it). Every chapter listed in ``_toc.yml`` (MyST Markdown notebooks read
by jupytext) becomes ``OUTDIR/<chapter>.ipynb``, and ``OUTDIR.zip`` holds the folder.
Needs jupytext and nbformat (the ``book`` extra); ``import convlab`` never imports this.

What changes, chapter by chapter:

* **Solutions are removed**: everything between a ``{solution-start}`` and a
  ``{solution-end}`` directive (sphinx-exercise's gated form, across cells), and every
  ``{solution}`` block. ``{exercise-start}`` / ``{exercise}`` directives become a bold
  **Exercise** line, since Jupyter does not render MyST directives.
* **Exercise stubs stay**: a code cell tagged ``exercise-stub`` is kept even inside a
  solution, with the body of every top-level function replaced by a ``TODO`` comment and
  ``raise NotImplementedError`` (the ``def`` line, its signature and its docstring are
  kept); other statements (the checker call) are kept, and lines ending in
  ``# solution-only`` are dropped. For example, in the book::

      ```{code-cell} ipython3
      :tags: [exercise-stub]

      def rot180(w):
          \"\"\"w (HWIO) turned 180 degrees in H and W, channels swapped.\"\"\"
          return np.transpose(w[::-1, ::-1], (0, 1, 3, 2))

      result = exercises.check_rot180(rot180)
      result.raise_if_failed()  # solution-only
      result
      ```

  becomes, in the student notebook::

      def rot180(w):
          \"\"\"w (HWIO) turned 180 degrees in H and W, channels swapped.\"\"\"
          # TODO: write this function, then run the cell
          raise NotImplementedError("rot180")

      result = exercises.check_rot180(rot180)
      result

  A checker never raises: it shows "not implemented yet", so a fresh student notebook
  runs top to bottom, and each exercise reports its state when it is run.
* Each ``exercise-stub`` cell carries its exercise in its metadata, for the grader
  (:mod:`convlab.grade`) and the nbgrader export (:mod:`convlab.export`):
  ``{"convlab": {"exercise": LABEL, "checker": NAME}}``, where ``LABEL`` is the label of the
  exercise the cell answers (the ``{solution-start}`` it sits in, or the ``:label:`` of the
  ``{exercise-start}`` before it) and ``NAME`` the key in ``exercises.CHECKERS`` of the
  checker it calls. A stub cell outside any exercise, or calling no checker or several,
  is an error.
* Outputs are empty; the kernel is the chapter's (``python3``).
* Pages for teachers (``INSTRUCTOR_ONLY``: ``book/instructors.md``) are left out.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

from convlab import notebooks
from convlab.notebooks import STUDENT_INSTALL, Book, finish

__all__ = ["INSTRUCTOR_ONLY", "STUB_TAG", "build", "chapters", "exercise_labels", "stub_checker",
           "stub_source", "student_notebook"]

STUB_TAG = "exercise-stub"
# pages for teachers, left out of the student edition (by file stem)
INSTRUCTOR_ONLY = ("instructors",)
SOLUTION_ONLY = "# solution-only"

_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w-]+)\}(.*)$")


def chapters(root: Path) -> list[Path]:
    """Return the chapter files listed in ``root/_toc.yml``, in order (the root first)."""
    toc = (root / "_toc.yml").read_text(encoding="utf-8")
    names = re.findall(r"^\s*(?:-\s*)?(?:root|file):\s*(\S+)\s*$", toc, flags=re.MULTILINE)
    paths = []
    for name in names:
        candidates = [root / name] if Path(name).suffix else [
            root / f"{name}{ext}" for ext in (".md", ".ipynb")]
        found = [p for p in candidates if p.exists()]
        if not found:
            raise FileNotFoundError(f"_toc.yml lists {name!r}, but no such chapter exists")
        paths.append(found[0])
    return paths


def stub_source(source: str) -> str:
    """Replace the body of each top-level function in ``source`` by a ``TODO`` stub.

    Lines ending in ``# solution-only`` are dropped first.

    Examples
    --------
    >>> print(stub_source('def f(x):\\n    return x + 1\\n\\ncheck(f)\\nok  # solution-only'))
    def f(x):
        # TODO: write this function, then run the cell
        raise NotImplementedError("f")
    <BLANKLINE>
    check(f)
    """
    lines = [line for line in source.splitlines()
             if not line.rstrip().endswith(SOLUTION_ONLY)]
    tree = ast.parse("\n".join(lines))
    out: list[str] = []
    done = 0  # lines[:done] are handled
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0]
        if first.lineno == node.end_lineno == _colon_line(lines, node):  # def f(): return 1
            out.extend(lines[done:first.lineno - 1])
            out.append(lines[first.lineno - 1][:first.col_offset].rstrip())
            indent = " " * (node.col_offset + 4)
        else:
            keep_until = first.lineno - 1  # the def line(s), up to the first statement
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                keep_until = first.end_lineno or first.lineno  # the docstring too
            indent = " " * first.col_offset
            out.extend(lines[done:keep_until])
        out.append(f"{indent}# TODO: write this function, then run the cell")
        out.append(f"{indent}raise NotImplementedError({node.name!r})".replace("'", '"'))
        done = node.end_lineno or node.lineno
    out.extend(lines[done:])
    text = "\n".join(out).rstrip() + "\n"
    ast.parse(text)
    return text.rstrip("\n")


def stub_checker(source: str) -> str:
    """The name in ``exercises.CHECKERS`` of the one checker that ``source`` calls.

    Examples
    --------
    >>> stub_checker("def f(w):\\n    return w\\n\\nresult = exercises.check_rot180(f)")
    'rot180'
    """
    from convlab import exercises

    known = {check.__name__: name for name, check in exercises.CHECKERS.items()}
    called = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = (func.attr if isinstance(func, ast.Attribute)
                    else func.id if isinstance(func, ast.Name) else "")
            if name.startswith("check_") and name not in called:
                called.append(name)
    if len(called) != 1:
        raise ValueError(f"an {STUB_TAG} cell must call one exercises.check_NAME, "
                         f"but it calls {', '.join(called) or 'none'}")
    if called[0] not in known:
        raise ValueError(f"an {STUB_TAG} cell calls {called[0]}, which is not in "
                         f"exercises.CHECKERS ({', '.join(sorted(known))})")
    return known[called[0]]


_OPTION = re.compile(r"^\s*:label:\s*(\S+)\s*$")


def exercise_labels(text: str) -> list[str]:
    """The exercise labels a Markdown cell opens, in order: the ``:label:`` of each
    ``{exercise-start}`` or ``{exercise}`` and the argument of each ``{solution-start}``
    (MyST shown as an example, in a plain code fence, does not count)."""
    lines = text.splitlines()
    shown = notebooks._verbatim(lines)
    labels = []
    for i, line in enumerate(lines):
        match = None if i in shown else _FENCE.match(line)
        if match is None:
            continue
        name, argument = match.group(3), match.group(4).strip()
        if name == "solution-start" and argument:
            labels.append(argument.split()[0])
        elif name in ("exercise-start", "exercise"):
            for option in lines[i + 1:_directive_block(lines, i)]:
                found = _OPTION.match(option)
                if found:
                    labels.append(found.group(1))
                    break
    return labels


def _colon_line(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The line of the first statement of ``node`` when it sits on the ``def`` line."""
    first = node.body[0]
    before = lines[first.lineno - 1][:first.col_offset]
    return first.lineno if before.rstrip().endswith(":") else -1


def _directive_block(lines: list[str], start: int) -> int:
    """Index just after the fenced directive block that opens at ``lines[start]``."""
    match = _FENCE.match(lines[start])
    assert match is not None
    fence = match.group(2)
    for i in range(start + 1, len(lines)):
        if lines[i].strip() == fence:
            return i + 1
    return len(lines)


def _markdown(text: str, in_solution: bool) -> tuple[str, bool]:
    """Remove solutions from one markdown cell; returns (text, still in a solution)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        name = match.group(3) if match else ""
        if in_solution:
            if name == "solution-end":
                in_solution = False
            if match:
                i = _directive_block(lines, i)
            else:
                i += 1
            continue
        if name == "solution-start":
            in_solution = True
            i = _directive_block(lines, i)
        elif name == "solution":
            i = _directive_block(lines, i)
        else:  # exercises and the rest: resolved with the reader's edition (notebooks.Book)
            out.append(lines[i])
            i += 1
    return "\n".join(out).strip("\n"), in_solution


def _root(path: Path) -> Path:
    for folder in path.resolve().parents:
        if (folder / "_toc.yml").exists():
            return folder
    raise ValueError(f"{path} is in no book: no _toc.yml above it")


def student_notebook(path: Path, book: Book | None = None) -> Any:
    """Read one chapter with jupytext and return its student version (an nbformat node).

    Its Markdown is resolved as in the reader's edition (``book``, read from the book the
    chapter belongs to when not given): the code each ``literalinclude`` shows, equation
    numbers, numbered exercises; no MyST is left.
    """
    import jupytext
    import nbformat

    book = book or Book.read(_root(path))
    nb = jupytext.read(path)
    cells = []
    in_solution = False
    numbers = list(book.in_order.get(path.stem, []))
    label = None  # the exercise the cells so far belong to
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown":
            label = ([label, *exercise_labels(cell.source)])[-1]
            text, in_solution = _markdown(cell.source, in_solution)
            text = book.markdown(text, path, numbers)
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text, metadata=cell.metadata))
        elif cell.cell_type == "code":
            if STUB_TAG in tags:
                try:
                    source = stub_source(cell.source)
                    checker = stub_checker(cell.source)
                except SyntaxError as err:
                    raise ValueError(f"{path}: an {STUB_TAG} cell is not plain Python: "
                                     f"{err}") from None
                except ValueError as err:
                    raise ValueError(f"{path}: {err}") from None
                if label is None:
                    raise ValueError(f"{path}: an {STUB_TAG} cell calling check_{checker} "
                                     "comes before any exercise")
                meta = {**cell.metadata, "convlab": {"exercise": label, "checker": checker}}
                cells.append(nbformat.v4.new_code_cell(source, metadata=meta))
            elif not in_solution:
                meta = {k: v for k, v in cell.metadata.items() if k != "mystnb"}
                if "notebook-only" in tags:  # a cell the book leaves out (it needs a kernel)
                    meta["tags"] = [t for t in tags if t not in ("remove-cell", "skip-execution")]
                if {"remove-input", "hide-input"} & set(tags):  # e.g. a quiz: its question shows
                    meta["jupyter"] = {**meta.get("jupyter", {}), "source_hidden": True}
                cells.append(nbformat.v4.new_code_cell(cell.source, metadata=meta))
        elif not in_solution:
            cells.append(cell)
    if in_solution:
        raise ValueError(f"{path}: a solution-start directive has no solution-end")
    if any(c.cell_type == "code" and "quiz." in c.source for c in cells):
        cells.insert(1, nbformat.v4.new_code_cell(
            "from convlab import quiz\n\n"
            "quiz.hide_answers()  # the questions check your answer but do not show it",
            metadata={"tags": ["convlab-student"]}))
    return finish(path, cells, nb.metadata, STUDENT_INSTALL)


_README = """# conv2d and its gradients: the student edition

One notebook per chapter, with the solutions taken out. Each exercise has a code cell
with a function to write: its body says `raise NotImplementedError`. Replace that line
with your code and run the cell; the checker under it says whether your function is
right, and if not, the smallest case it gets wrong, what was expected, what your
function returned, and a hint.

The notebooks need convlab and what its notebooks use (numpy, matplotlib, ipywidgets,
TensorFlow, JupyterLab). Its wheel comes with them: in this folder, run

    pip install "WHEEL[notebooks]"
    jupyter lab

(in a virtual environment of its own, if you like). From the convlab repository,
`make lab` opens JupyterLab with everything installed.
Every notebook runs top to bottom as it is: unfinished exercises report
"not implemented yet". The concept questions check what you type or click at once, but
their answers are not shown: no *Show the answer* box, and a right answer gets the
explanation.
"""


def _zip(folder: Path) -> Path:
    """Write ``folder.zip`` holding ``folder`` (fixed timestamps: the same bytes each time)."""
    target = folder.with_name(folder.name + ".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != _WRITTEN:
                info = zipfile.ZipInfo(str(Path(folder.name) / path.relative_to(folder)),
                                       date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())
    return target


_WRITTEN = ".convlab-written.json"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(outdir: Path, written: list[Path]) -> None:
    """Remember what was written, so that a later build can tell a student's changes."""
    (outdir / _WRITTEN).write_text(json.dumps({p.name: _digest(p) for p in written},
                                              indent=1, sort_keys=True), encoding="utf-8")


def _changed(outdir: Path) -> list[Path]:
    """The notebooks in ``outdir`` that differ from what the last build wrote there (all of
    them when no build is recorded there)."""
    if not outdir.is_dir():
        return []
    record = outdir / _WRITTEN
    written = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    return sorted(p for p in outdir.glob("*.ipynb") if written.get(p.name) != _digest(p))


def build(outdir: Path, root: Path | None = None, *, force: bool = False,
          wheel: bool = False) -> list[Path]:
    """Write the student notebooks of ``root``'s book into ``outdir`` and ``outdir.zip``;
    with ``wheel``, convlab's wheel too, so that a student without the clone can install
    what the notebooks need.

    Returns the notebooks written, in the order of ``_toc.yml``.

    Raises
    ------
    ValueError
        When a notebook in ``outdir`` changed since the last build wrote it (or was not
        written by one), unless ``force``: a student's work is never overwritten silently.
    """
    import nbformat

    root = Path.cwd() if root is None else root
    changed = _changed(outdir)
    if changed and not force:
        names = ", ".join(str(p) for p in changed)
        raise ValueError(
            f"{names} changed since the edition was written there (a student's work?). "
            f"Nothing was overwritten: move {'it' if len(changed) == 1 else 'them'} away, "
            "write the edition to another folder, or overwrite with --force "
            "(make student FORCE=1)")
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.ipynb"):
        old.unlink()
    written = []
    book = Book.read(root)
    for chapter in chapters(root):
        if chapter.stem in INSTRUCTOR_ONLY:
            continue
        nb = student_notebook(chapter, book)
        nbformat.validate(nb)
        target = outdir / f"{chapter.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    _record(outdir, written)
    (outdir / "README.md").write_text(_README.replace("WHEEL", notebooks.WHEEL),
                                      encoding="utf-8")
    if wheel:
        notebooks.wheel(outdir)
    _zip(outdir)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m convlab.student",
        description="Write the student edition: one notebook per chapter, solutions "
                    "removed, exercise stubs kept; and OUTDIR.zip.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the book's root, holding _toc.yml (default: here)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite notebooks changed since the last build")
    parser.add_argument("--no-wheel", dest="wheel", action="store_false",
                        help=f"leave out {notebooks.WHEEL} (students who have convlab)")
    args = parser.parse_args(argv)
    try:
        written = build(args.outdir, args.root, force=args.force, wheel=args.wheel)
    except (OSError, ValueError) as err:
        print(f"convlab.student: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(args.outdir.with_name(args.outdir.name + ".zip"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
