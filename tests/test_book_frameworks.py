"""The chapter "TensorFlow, PyTorch and JAX" (book/frameworks.md), without building the book.

The static tests read the chapter's source: it is the last numbered chapter, its code fits,
and the convlab source it shows exists. The slow one executes the chapter as a notebook
in a fresh kernel, as the book build does; the chapter's own asserts are its checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "frameworks.md"
HARD_COLUMNS = 88


def _code_cells(text: str) -> list[tuple[int, str, list[str]]]:
    """(first line number, source, tags) of every code cell, hidden ones included."""
    lines = text.splitlines()
    cells, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```{code-cell}"):
            i += 1
            continue
        start = i + 1
        i += 1
        while not lines[i].startswith("```"):
            i += 1
        body = lines[start:i]
        tags = []
        while body and (body[0].startswith(":") or not body[0].strip()):
            found = re.match(r":tags:\s*\[(.*)\]", body[0])
            tags += [t.strip() for t in found.group(1).split(",")] if found else []
            body.pop(0)
            start += 1
        cells.append((start + 1, "\n".join(body), tags))
        i += 1
    return cells


def _includes(text: str) -> list[tuple[str, str]]:
    """(file, object) of each literalinclude with :pyobject:."""
    return re.findall(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)", text)


def _toc_parts() -> dict[str, list[str]]:
    """Each part's caption and its chapters' files, in order, from _toc.yml."""
    parts: dict[str, list[str]] = {}
    caption = None
    for line in (ROOT / "_toc.yml").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\s*- caption:\s*(.+?)\s*$", line):
            caption = m.group(1)
            parts[caption] = []
        elif (m := re.match(r"\s*- file:\s*(\S+)", line)) and caption is not None:
            parts[caption].append(m.group(1))
    return parts


def test_the_chapter_is_the_last_numbered_one():
    parts = _toc_parts()
    chapters = parts["Chapters"]
    assert chapters[-1] == "book/frameworks"
    assert chapters[-2] == "book/explorers"  # no earlier chapter's number changed
    assert sum(f == "book/frameworks" for p in parts.values() for f in p) == 1
    assert "numbered: true" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


def test_the_front_page_points_to_it():
    assert "<frameworks>`" in (ROOT / "book" / "intro.md").read_text(encoding="utf-8")


def test_the_title_and_the_traps():
    text = CHAPTER.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("# "))
    assert title == "# TensorFlow, PyTorch and JAX"
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert sum(h.startswith("Trap ") for h in heads) == 5
    # setup is hidden, as in the other chapters
    first = _code_cells(text)[0]
    assert "hide-input" in first[2] and "import torch" in first[1]


def test_code_cells_fit_88_columns():
    wide = [f"frameworks.md:{line + k}: {len(row)} columns"
            for line, cell, _ in _code_cells(CHAPTER.read_text(encoding="utf-8"))
            for k, row in enumerate(cell.splitlines()) if len(row) > HARD_COLUMNS]
    assert not wide, "\n".join(wide)


def test_the_column_check_sees_a_long_line():
    page = "```{code-cell} ipython3\n:tags: [hide-input]\n\nok = 1\n" + "x" * 89 + "\n```\n"
    cells = _code_cells(page)
    assert [(line, tags) for line, _, tags in cells] == [(4, ["hide-input"])]
    assert max(map(len, cells[0][1].splitlines())) == 89


def test_it_shows_convlab_torch_and_convlab_jax_source_that_exists():
    shown = _includes(CHAPTER.read_text(encoding="utf-8"))
    files = {Path(f).name for f, _ in shown}
    assert {"torch.py", "jax.py"} <= files, shown
    for module in ("torch.py", "jax.py"):  # at least one public function of each
        assert any(Path(f).name == module and not n.startswith("_") for f, n in shown)
    for file, name in shown:
        path = (CHAPTER.parent / file).resolve()
        assert path.is_file(), f"{file} does not exist"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert name in top, f"{file} has no top-level {name}"


@pytest.mark.slow
def test_the_chapter_runs_top_to_bottom():
    """Every cell runs and every assert on the page holds (about 30 s)."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    nb = jupytext.read(CHAPTER)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(CHAPTER.parent)}}).execute()
    shown = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "not supported for strided convolutions" in shown
    assert "output padding must be smaller" in shown
    assert "| $\\delta x$ | `conv2d_backprop_input` |" in shown
