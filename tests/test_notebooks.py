"""The reader's edition (``make notebooks``) and the student edition carry the whole page.

Jupyter renders Markdown and LaTeX but not MyST: in every notebook of both editions, no
Markdown cell may keep a role, a directive, a ``(label)=`` target or a directive option;
each chapter's ``literalinclude``'d code must be in its notebook; equation numbers must be
the book's. Running every notebook top to bottom is in ``test_notebooks_run``.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from convlab import notebooks, student

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [p for p, _ in notebooks._chapters(ROOT)]


@pytest.fixture(scope="module")
def book() -> notebooks.Book:
    return notebooks.Book.read(ROOT)


def _includes(path: Path) -> list[str]:
    """What each literalinclude of a chapter shows: the function's def line, or its start."""
    text = path.read_text(encoding="utf-8")
    out = re.findall(r"^:pyobject:\s*(\S+)", text, re.M)
    return [f"def {name.split('.')[-1]}(" for name in out] + [
        s.strip('"') for s in re.findall(r"^:start-at:\s*(.+)$", text, re.M)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_reader_s_notebook_has_no_myst_and_all_the_code(path, book):
    nb = notebooks.reader_notebook(path, book)
    nbformat.validate(nb)
    left = {i: notebooks.unresolved(c.source) for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown"}
    assert {i: v for i, v in left.items() if v} == {}
    text = "\n".join(c.source for c in nb.cells)
    for shown in _includes(path):
        assert shown in text, f"{path.stem}: {shown} is not in the notebook"
    # the page's code cells are all there, in order
    source = path.read_text(encoding="utf-8")
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(cells) >= source.count("```{code-cell}") - source.count("````md")


@pytest.mark.parametrize("path", [p for p in CHAPTERS if p.stem not in
                                  student.INSTRUCTOR_ONLY], ids=lambda p: p.stem)
def test_the_student_s_notebook_has_no_myst(path, book):
    nb = student.student_notebook(path, book)
    left = [notebooks.unresolved(c.source) for c in nb.cells if c.cell_type == "markdown"]
    assert [v for v in left if v] == []
    text = "\n".join(c.source for c in nb.cells)
    for shown in _includes(path):
        assert shown in text, f"{path.stem}: {shown} is not in the student's notebook"
    assert "<details>" not in text  # solutions are out, not collapsed


def test_numbers_are_the_book_s(book):
    assert book.equations["eq-forward"] == "1.1" and book.equations["eq-fwd-index"] == "2.1"
    assert book.figures["fig-window"] == "Fig. 1.1"
    assert book.in_order["forward-pass"][:2] == ["Exercise 2.1", "Exercise 2.2"]
    assert book.sections["perf-sizes"].startswith("From tiny layers")
    nb = notebooks.reader_notebook(ROOT / "book" / "forward-pass.md", book)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert r"\tag{2.1}" in text and "(2.1)" in text and "**Exercise 2.1.**" in text
    assert "<details><summary><b>Solution</b>" in text
    hidden = [c for c in nb.cells if c.get("metadata", {}).get("jupyter", {}).get(
        "source_hidden")]
    assert hidden  # the cells the page hides are kept, collapsed


def test_a_reference_to_nothing_is_an_error(tmp_path, book):
    page = tmp_path / "book" / "page.md"
    page.parent.mkdir()
    page.write_text("See {eq}`eq-missing`.\n")
    with pytest.raises(ValueError, match="eq-missing"):
        book.markdown(page.read_text(), page, [])
    with pytest.raises(ValueError, match="names no section"):
        book.markdown("See {ref}`nowhere`.", page, [])


def test_myst_in_a_code_block_is_an_example(book):
    text = "An exercise is written\n\n````md\n```{exercise-start}\n:label: ex-a\n```\n````\n"
    out = book.markdown(text, ROOT / "book" / "instructors.md", [])
    assert "```{exercise-start}" in out and notebooks.unresolved(out) == []


def test_make_notebooks_writes_every_chapter(tmp_path):
    written = notebooks.build(tmp_path / "nb", ROOT)
    assert [p.stem for p in written] == [p.stem for p in CHAPTERS]
    assert notebooks.main([str(tmp_path / "again"), "--root", str(ROOT)]) == 0


# ---------------------------------------------------------------------------------------
# both editions run top to bottom in a fresh kernel, as a reader or a student runs them


def _run(nb: nbformat.NotebookNode) -> list[str]:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_reader_s_notebook_runs(path, book):
    nb = notebooks.reader_notebook(path, book)
    assert _run(nb) == []
    first = nb.cells[2]
    assert "convlab-needs" in first.metadata.get("tags", []) and not first.outputs


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in CHAPTERS if p.stem not in
                                  student.INSTRUCTOR_ONLY], ids=lambda p: p.stem)
def test_the_student_s_notebook_runs(path, book):
    nb = student.student_notebook(path, book)
    assert _run(nb) == []
    shown = [o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", [])]
    questions = [h for h in shown if "data-quiz" in h]
    assert ("quiz." in path.read_text(encoding="utf-8")) == bool(questions)
    for text in questions:  # the student edition's questions do not show their answers
        assert "Show the answer" not in text and "&quot;hidden&quot;:true" in text


def test_a_missing_package_is_named(book):
    import nbformat as nbf

    check = notebooks.preamble(ROOT / "book" / "transpose.md")[1].source
    check = check.replace("needed = [", "needed = ['no_such_package_x', ")
    nb = nbf.v4.new_notebook(cells=[nbf.v4.new_code_cell(check)])
    errors = _run(nb)
    assert len(errors) == 1 and "no_such_package_x" in errors[0]
    assert notebooks.INSTALL in errors[0]


def test_both_editions_carry_the_kernel_s_language_info(tmp_path, book):
    """JupyterLab copies the kernel's language_info into a notebook when the kernel starts;
    a notebook that already has it opens without the unsaved mark."""
    from ipykernel.ipkernel import IPythonKernel

    path = ROOT / "book" / "output-size.md"
    for nb in (notebooks.reader_notebook(path, book), student.student_notebook(path, book)):
        assert nb.metadata["language_info"] == IPythonKernel.language_info


def test_make_lab_serves_every_notebook_with_the_kernel_s_language_info(tmp_path):
    """make lab's contents manager: the .md chapters (through Jupytext) and notebooks
    written by another Python come with what the kernel will report, so nothing changes."""
    import asyncio

    from ipykernel.ipkernel import IPythonKernel

    from convlab._lab import LabContents

    (tmp_path / "chapter.md").write_text(
        (ROOT / "book" / "output-size.md").read_text(encoding="utf-8"), encoding="utf-8")
    old = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    old.metadata = {"kernelspec": {"name": "python3", "language": "python",
                                   "display_name": "Python 3"},
                    "language_info": {"name": "python", "version": "3.8.0"}}
    nbformat.write(old, tmp_path / "old.ipynb")
    manager = LabContents(root_dir=str(tmp_path))
    for name in ("chapter.md", "old.ipynb"):
        model = asyncio.run(manager.get(name))
        assert model["type"] == "notebook"
        assert model["content"]["metadata"]["language_info"] == IPythonKernel.language_info
    assert "language_info" not in (tmp_path / "chapter.md").read_text(encoding="utf-8")
    text = asyncio.run(manager.get("chapter.md", type="file"))
    assert text["type"] == "file"


def test_a_chapter_that_uses_pytorch_or_jax_says_how_to_get_them(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```{code-cell} ipython3\nimport convlab.torch as ct\nimport jax\n```\n")
    assert notebooks.needs(page) == ["convlab", "numpy", "torch", "jax"]
    text, check = notebooks.preamble(page)
    assert "download.pytorch.org/whl/cpu" in text.source and "pip install jax" in text.source
    assert "'torch', 'jax'" in check.source and "pip install jax" in check.source
    plain = tmp_path / "plain.md"
    plain.write_text("```{code-cell} ipython3\nimport convlab\n```\n")
    assert notebooks.needs(plain) == ["convlab", "numpy"]
    assert "torch" not in notebooks.preamble(plain)[0].source
