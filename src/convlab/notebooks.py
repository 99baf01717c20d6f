"""The reader's edition: every chapter as a Jupyter notebook that carries the whole page.

Run as ``python -m convlab.notebooks OUTDIR`` (from the repository root, or with ``--root``).
Every chapter in ``_toc.yml`` (MyST Markdown notebooks, read by jupytext) becomes
``OUTDIR/<chapter>.ipynb``. Jupyter renders Markdown and LaTeX but not MyST, so what only
the book builder understands is resolved here, from the same sources:

* a ``literalinclude`` becomes the code itself (a Python block, with a note of the file and
  function it comes from in ``src/convlab``), read with :mod:`ast` as Sphinx's
  ``:pyobject:`` does, or between ``:start-at:`` and ``:end-at:``;
* ``{eq}`` references become the book's numbers, ``(2.1)``, and a labelled display equation
  carries its number as ``\\tag{2.1}``; ``{numref}`` becomes ``Fig. 1.1``, ``{ref}`` the
  section's title (or the text given), ``{doc}`` the chapter's title;
* ``(label)=`` targets and directive options disappear; exercises become a bold
  **Exercise 2.1** line; solutions become a collapsed ``<details>`` block (their code cells
  are kept, collapsed);
* a figure's caption follows its cell as *Fig. 2.1* text; cells the book hides stay, with
  their source collapsed.

The student edition (:mod:`convlab.student`) resolves its Markdown with the same
:class:`Book`. Needs jupytext and nbformat (the ``book`` extra).
"""

from __future__ import annotations

import argparse
import ast
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convlab import __version__

__all__ = ["Book", "build", "finish", "needs", "preamble", "reader_notebook", "unresolved"]

WHEEL = f"convlab-{__version__}-py3-none-any.whl"
INSTALL = f'pip install "{WHEEL}[notebooks]"'
READER_INSTALL = "in the folder where you saved that wheel from the book's front page"
STUDENT_INSTALL = "in the folder of these notebooks (the wheel comes with them)"

_FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w-]+)\}(.*)$")
_ROLE = re.compile(r"\{(eq|ref|doc|numref)\}`([^`]*)`")
_TARGET = re.compile(r"^\(([\w-]+)\)=\s*$")
_MATH_LABEL = re.compile(r"^\$\$\s*\(([\w-]+)\)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
#: MyST that Jupyter does not render: what a resolved Markdown cell must not hold.
_LEFTOVERS = [
    (re.compile(r"\{(eq|ref|doc|numref|glue|term|download)[:\w]*\}`"), "a MyST role"),
    (re.compile(r"^\s*(`{3,}|:{3,})\{", re.M), "a MyST directive"),
    (re.compile(r"^\([\w-]+\)=\s*$", re.M), "a (label)= target"),
    (re.compile(r"^:(label|class|pyobject|tags|name):", re.M), "a directive option"),
    (re.compile(r"^\$\$\s*\([\w-]+\)\s*$", re.M), "an equation label"),
]


_CODE_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(?!\{)")


def _closes(line: str, fence: str) -> bool:
    bare = line.strip()
    return len(bare) >= len(fence) and bare == fence[0] * len(bare)


def _verbatim(lines: list[str], code_cells: bool = False) -> set[int]:
    """The lines inside plain code fences (```python, ````md, ...): shown as they are, so
    MyST written there is an example, not something to resolve. With ``code_cells`` (a
    chapter's source), the lines of ``{code-cell}`` blocks too. A directive's own fence
    (```{exercise-start} ... ```) is skipped over, not taken for a code block."""
    inside: set[int] = set()
    i = 0
    while i < len(lines):
        directive = _FENCE.match(lines[i])
        plain = None if directive else _CODE_FENCE.match(lines[i])
        if directive is not None or plain is not None:
            fence = (directive or plain).group(2)  # type: ignore[union-attr]
            code = plain is not None or (code_cells and directive is not None
                                         and directive.group(3) == "code-cell")
            j = i + 1
            while j < len(lines) and not _closes(lines[j], fence):
                if code:
                    inside.add(j)
                j += 1
            i = j + 1
            continue
        i += 1
    return inside


def unresolved(text: str) -> list[str]:
    """What MyST is left in a Markdown text (empty when Jupyter renders all of it); code
    blocks are left alone."""
    lines = text.splitlines()
    skip = _verbatim(lines)
    kept = "\n".join("" if i in skip else line for i, line in enumerate(lines))
    out = []
    for pattern, what in _LEFTOVERS:
        for m in pattern.finditer(kept):
            line = kept[:m.start()].count("\n") + 1
            out.append(f"{what} on line {line}: {lines[line - 1].strip()[:60]}")
    return out


def _chapters(root: Path) -> list[tuple[Path, bool]]:
    """The files of ``_toc.yml`` in order, each with whether its part is numbered."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out = [(root / f"{toc['root']}.md", False)]
    for part in [*toc.get("parts", []), {"chapters": toc.get("chapters", [])}]:
        for chapter in part.get("chapters", []):
            out.append((root / f"{chapter['file']}.md", bool(part.get("numbered"))))
    return out


@dataclass
class Book:
    """What the book's cross-references resolve to, read from every chapter's source."""

    root: Path
    titles: dict[str, str] = field(default_factory=dict)  # doc stem -> title
    equations: dict[str, str] = field(default_factory=dict)  # label -> "2.1"
    sections: dict[str, str] = field(default_factory=dict)  # label -> section title
    figures: dict[str, str] = field(default_factory=dict)  # label -> "Fig. 2.1"
    exercises: dict[str, str] = field(default_factory=dict)  # label -> "Exercise 2.1"
    in_order: dict[str, list[str]] = field(default_factory=dict)  # doc stem -> its exercises

    @classmethod
    def read(cls, root: Path) -> Book:
        book = cls(root)
        number = 0
        for path, numbered in _chapters(root):
            number += numbered
            prefix = f"{number}." if numbered else ""
            lines = path.read_text(encoding="utf-8").splitlines()
            skip = _verbatim(lines, code_cells=True)
            eq = fig = ex = 0
            pending: str | None = None
            for i, line in enumerate(lines):
                if (m := re.match(r"^\s+name:\s*(fig-[\w-]+)\s*$", line)):  # a cell's figure
                    fig += 1
                    book.figures[m.group(1)] = f"Fig. {prefix}{fig}"
                if i in skip:
                    continue
                heading = _HEADING.match(line)
                if heading and path.stem not in book.titles and heading.group(1) == "#":
                    book.titles[path.stem] = _plain(heading.group(2))
                if (m := _TARGET.match(line)):
                    pending = m.group(1)
                    continue
                if pending and heading:
                    book.sections[pending] = _plain(heading.group(2))
                    pending = None
                elif pending and line.strip():
                    pending = None
                if (m := _MATH_LABEL.match(line)):
                    eq += 1
                    book.equations[m.group(1)] = f"{prefix}{eq}"
                if (f := _FENCE.match(line)) and f.group(3) in ("exercise-start", "exercise"):
                    ex += 1
                    name = f"Exercise {prefix}{ex}"
                    book.in_order.setdefault(path.stem, []).append(name)
                    for option in lines[i + 1:i + 4]:
                        if (m := re.match(r"^:label:\s*([\w-]+)", option)):
                            book.exercises[m.group(1)] = name
        return book

    def number(self, label: str, doc: Path) -> str:
        if label not in self.equations:
            raise ValueError(f"{doc}: {{eq}}`{label}` names no labelled equation")
        return self.equations[label]

    def role(self, kind: str, body: str, doc: Path) -> str:
        """The text a ``{kind}`body``` reference shows."""
        m = re.match(r"^(.*?)\s*<([^>]+)>$", body)
        text, target = (m.group(1), m.group(2)) if m else (None, body)
        if kind == "eq":
            return f"({self.number(target, doc)})"
        if kind == "numref":
            return self.figures.get(target) or self.exercises.get(target) or text or target
        if kind == "doc":
            return text or self.titles.get(Path(target).name, target)
        shown = (self.sections.get(target) or self.exercises.get(target)
                 or self.figures.get(target))
        if shown is None and text is None:
            raise ValueError(f"{doc}: {{ref}}`{body}` names no section, figure or exercise")
        return text or shown or target

    def markdown(self, text: str, doc: Path, exercises: list[str]) -> str:
        """Resolve one Markdown cell's MyST; ``exercises`` lists the numbers still to give,
        in order (each ``exercise-start`` takes the next)."""
        lines = text.splitlines()
        skip = _verbatim(lines)
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            fence = _FENCE.match(line)
            if i in skip or _CODE_FENCE.match(line):
                out.append(line)
                i += 1
                continue
            if _TARGET.match(line):
                i += 1
                continue
            if (m := _MATH_LABEL.match(line)):
                # close the display with its number: $$ ... \tag{2.1} $$
                out.append(rf"\tag{{{self.number(m.group(1), doc)}}}")
                out.append("$$")
                i += 1
                continue
            if fence:
                name, end = fence.group(3), _block_end(lines, i)
                body = [b for b in lines[i + 1:end - 1]]
                options = {}
                while body and (body[0].startswith(":") or not body[0].strip()):
                    if (m := re.match(r"^:([\w-]+):\s*(.*)$", body[0])):
                        options[m.group(1)] = str(_yaml_value(m.group(2)))  # MyST reads YAML
                    body = body[1:]
                if name == "literalinclude":
                    out.extend(self.include(fence.group(4).strip(), options, doc))
                elif name in ("exercise-start", "exercise"):
                    title = fence.group(4).strip()
                    out.append(f"**{exercises.pop(0) if exercises else 'Exercise'}.**"
                               + (f" *{title}*" if title else ""))
                    if name == "exercise":
                        out += ["", *body]
                elif name in ("exercise-end", "solution-end"):
                    pass
                else:
                    raise ValueError(f"{doc}: the {name} directive has no notebook form")
                i = end
                continue
            out.append(_ROLE.sub(lambda m: self.role(m.group(1), m.group(2), doc), line))
            i += 1
        return "\n".join(out).strip("\n")

    def include(self, target: str, options: dict[str, str], doc: Path) -> list[str]:
        """A ``literalinclude`` as a Python block, with where the code lives."""
        path = (doc.parent / target).resolve()
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(self.root.resolve()).as_posix()
        if "pyobject" in options:
            code = _pyobject(source, options["pyobject"], path)
            note = f"`{options['pyobject']}` in `{where}`"
        else:
            code = source
            if "start-at" in options:
                code = code[code.index(options["start-at"]):]
            if "end-at" in options:
                stop = code.index(options["end-at"]) + len(options["end-at"])
                code = code[:code.index("\n", stop) if "\n" in code[stop:] else len(code)]
            note = f"from `{where}`"
        return [f"*The code ({note}), as convlab runs it:*", "", "```python",
                *code.rstrip("\n").splitlines(), "```"]


def _yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text) if text.strip() else ""


def _plain(title: str) -> str:
    """A heading as plain text: math and code markers kept, MyST roles resolved later."""
    return title.strip()


def _block_end(lines: list[str], start: int) -> int:
    fence = _FENCE.match(lines[start])
    assert fence is not None
    for i in range(start + 1, len(lines)):
        if lines[i].strip() == fence.group(2):
            return i + 1
    raise ValueError(f"an unclosed {fence.group(3)} directive: {lines[start]}")


def _pyobject(source: str, name: str, path: Path) -> str:
    """The source of function or class ``name`` (``Class.method`` too), as Sphinx's
    ``:pyobject:`` shows it: from its decorators to its last line."""
    tree = ast.parse(source)
    nodes: list[Any] = list(tree.body)
    found = None
    for part in name.split("."):
        found = next((n for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                                                           ast.AsyncFunctionDef))
                      and n.name == part), None)
        if found is None:
            raise ValueError(f"{path}: no {name} to include")
        nodes = list(found.body)
    assert found is not None
    start = min([found.lineno, *(d.lineno for d in found.decorator_list)])
    lines = source.splitlines()[start - 1:found.end_lineno]
    indent = len(lines[0]) - len(lines[0].lstrip())
    return "\n".join(line[indent:] for line in lines)


def reader_notebook(path: Path, book: Book) -> Any:
    """One chapter as the reader's notebook (an nbformat node): everything the page shows."""
    import jupytext
    import nbformat

    nb = jupytext.read(path)
    ex_numbers = list(book.in_order.get(path.stem, []))
    cells: list[Any] = []
    in_solution = False
    held: list[str] = []  # a solution's Markdown, shown in one <details> block
    for cell in nb.cells:
        meta = dict(cell.get("metadata", {}))
        tags = meta.get("tags", [])
        if cell.cell_type == "markdown":
            parts = _split_solutions(cell.source)
            for text, solution in parts:
                if solution == "start":
                    in_solution = True
                    continue
                if solution == "end":
                    in_solution = False
                    if held:
                        cells.append(_details(held))
                        held = []
                    continue
                resolved = book.markdown(text, path, ex_numbers)
                if not resolved.strip():
                    continue
                if in_solution:
                    held.append(resolved)
                else:
                    cells.append(nbformat.v4.new_markdown_cell(resolved))
            continue
        if cell.cell_type != "code":
            continue
        if held:
            cells.append(_details(held))
            held = []
        if "notebook-only" in tags:  # a cell the book leaves out (it needs a kernel)
            tags = [t for t in tags if t not in ("remove-cell", "skip-execution")]
            meta["tags"] = tags
        hide = {"remove-input", "hide-input", "remove-cell", "hide-cell"} & set(tags)
        jupyter = dict(meta.get("jupyter", {}))
        if hide or in_solution:
            jupyter["source_hidden"] = True
        if "remove-output" in tags or "hide-output" in tags:
            jupyter["outputs_hidden"] = True
        new_meta = {k: v for k, v in meta.items() if k not in ("mystnb", "jupyter")}
        if jupyter:
            new_meta["jupyter"] = jupyter
        source = cell.source
        if in_solution:
            source = "# Solution (a worked answer: try the exercise first)\n" + source
        cells.append(nbformat.v4.new_code_cell(source, metadata=new_meta))
        figure = meta.get("mystnb", {}).get("figure")
        if figure:
            label = book.figures.get(figure.get("name", ""), "Figure")
            caption = book.markdown(str(figure.get("caption", "")), path, [])
            cells.append(nbformat.v4.new_markdown_cell(f"*{label}.* {caption}".strip()))
    if held:
        cells.append(_details(held))
    return finish(path, cells, nb.metadata)


def finish(path: Path, cells: list[Any], metadata: dict[str, Any],
           install: str = READER_INSTALL) -> Any:
    """A chapter's notebook from its cells (either edition): what it needs first, after the
    title, with ``install`` saying how to get it; ids that stay the same on every build; the
    chapter's kernel."""
    import nbformat

    cells[1:1] = preamble(path, install)
    for index, new in enumerate(cells):  # stable ids: the same notebook bytes on every build
        new["id"] = f"{path.stem}-{index}"[-64:]
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata = {k: v for k, v in metadata.items() if k != "jupytext"}
    out.metadata.setdefault("kernelspec", {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"})
    out.metadata["language_info"] = language_info()
    return out


def language_info() -> dict[str, Any]:
    """What ipykernel reports of its language. JupyterLab writes this into a notebook when
    its kernel starts, which marks a notebook without it (or with another Python's) unsaved."""
    try:
        from ipykernel.ipkernel import IPythonKernel
    except ImportError:
        return {"name": "python", "version": platform.python_version(),
                "mimetype": "text/x-python", "file_extension": ".py",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "pygments_lexer": "ipython3", "nbconvert_exporter": "python"}
    return dict(IPythonKernel.language_info)


def _split_solutions(text: str) -> list[tuple[str, str]]:
    """A Markdown cell cut at ``solution-start`` / ``solution-end`` directives:
    (text, "") pieces and ("", "start") / ("", "end") marks."""
    lines = text.splitlines()
    skip = _verbatim(lines)
    out: list[tuple[str, str]] = []
    chunk: list[str] = []
    i = 0
    while i < len(lines):
        fence = None if i in skip else _FENCE.match(lines[i])
        if fence and fence.group(3) in ("solution-start", "solution-end"):
            out.append(("\n".join(chunk), ""))
            chunk = []
            out.append(("", fence.group(3).split("-")[1]))
            i = _block_end(lines, i)
            continue
        chunk.append(lines[i])
        i += 1
    out.append(("\n".join(chunk), ""))
    return [(t, s) for t, s in out if s or t.strip()]


def _details(parts: list[str]) -> Any:
    import nbformat

    body = "\n\n".join(parts)
    return nbformat.v4.new_markdown_cell(
        f"<details><summary><b>Solution</b> (open it once you have tried)</summary>\n\n"
        f"{body}\n\n</details>")


def needs(path: Path) -> list[str]:
    """The packages a chapter's code imports, beyond the standard library."""
    text = path.read_text(encoding="utf-8")
    out = ["convlab", "numpy"]
    if re.search(r"matplotlib|plt\.|convlab\.draw|check_legible", text):
        out.append("matplotlib")
    if re.search(r"import tensorflow|convlab\.tf\b|from convlab import .*\btf\b|\btf\.", text):
        out.append("tensorflow")
    if re.search(r"ipywidgets|live_explorer", text):
        out.append("ipywidgets")
    if re.search(r"import torch|convlab\.torch\b|\btorch\.", text):
        out.append("torch")
    if re.search(r"import jax|convlab\.jax\b|\bjax\.", text):
        out.append("jax")
    return out


# PyPI's torch for Linux is a CUDA build of several GB; the CPU build is on PyTorch's index
FRAMEWORK_INSTALL = {
    "torch": "pip install torch --index-url https://download.pytorch.org/whl/cpu",
    "jax": "pip install jax",
}


def preamble(path: Path, install: str = READER_INSTALL) -> list[Any]:
    """A notebook's first cells: what it needs, where to get it (``install`` says where
    the wheel is), and a check that says so clearly."""
    import nbformat

    wanted = needs(path)
    extra = [FRAMEWORK_INSTALL[m] for m in wanted if m in FRAMEWORK_INSTALL]
    also = "".join(f" and `{cmd}`" for cmd in extra)
    text = (f"*This notebook is a chapter of the convlab book. It needs "
            f"{', '.join(wanted)}. From a clone of the repository, `make lab` installs "
            f"them; otherwise run `{INSTALL}` {install}{also}. The cell below checks.*")
    hint = f"run {INSTALL} {install}{also.replace('`', '')}, or make lab from a clone"
    code = (f"import importlib.util\n\nneeded = {wanted!r}\n"
            "missing = [m for m in needed if importlib.util.find_spec(m) is None]\n"
            "if missing:\n"
            "    raise ModuleNotFoundError(\n"
            "        f\"this notebook needs {', '.join(missing)}: \"\n"
            f"        {hint!r})")
    return [nbformat.v4.new_markdown_cell(text),
            nbformat.v4.new_code_cell(code, metadata={"tags": ["convlab-needs"]})]


def wheel(outdir: Path) -> Path:
    """Build convlab's wheel (the package and the ``notebooks`` extra, for readers without
    the clone) into ``outdir`` with pip, from the checkout convlab is imported from."""
    import shutil
    import subprocess
    import tempfile

    source = Path(__file__).resolve().parents[2]
    if not (source / "pyproject.toml").exists():
        raise OSError(f"convlab is not imported from a checkout ({source} has no "
                      "pyproject.toml), so there is no source to build its wheel from")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # a clean copy: no stale build/ is packed
        copy = Path(tmp) / "convlab"
        shutil.copytree(source / "src", copy / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, copy / name)
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                              "--wheel-dir", str(outdir.resolve()), str(copy)],
                             capture_output=True, text=True)
    target = outdir / WHEEL
    if run.returncode or not target.exists():
        raise OSError(f"pip could not build {WHEEL}: {run.stderr.strip()[-500:]}")
    return target


def build(outdir: Path, root: Path | None = None) -> list[Path]:
    """Write the reader's edition of every chapter into ``outdir``; return the paths."""
    import nbformat

    root = (root or Path.cwd()).resolve()
    book = Book.read(root)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, _ in _chapters(root):
        nb = reader_notebook(path, book)
        target = outdir / f"{path.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlab.notebooks", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the notebooks")
    parser.add_argument("--root", type=Path, default=None,
                        help="the repository root (default: the current folder)")
    parser.add_argument("--wheel", type=Path, default=None, metavar="DIR",
                        help=f"also build {WHEEL} into DIR, for readers without the clone")
    args = parser.parse_args(argv)
    root = args.root or Path.cwd()
    if not (root / "_toc.yml").exists():
        parser.error(f"--root {root} holds no _toc.yml: run from the repository root")
    for path in build(args.outdir, root):
        print(path)
    if args.wheel is not None:
        try:
            print(wheel(args.wheel))
        except OSError as err:
            print(f"convlab.notebooks: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
