"""The course edition of the site: the book without its solutions, for a class.

``make course-book`` builds it into ``_build/course/_build/html`` (``make book``'s site in
``_build/html`` is left as it is), in three steps:

1. ``python -m convlab.course config OUTDIR`` writes ``OUTDIR/_config.yml`` and
   ``OUTDIR/_toc.yml``: the book's, with this module added as a Sphinx extension, no page
   sources copied into the site (``html_copy_source: false``: a chapter's ``.md`` holds
   its solutions), and the instructors' pages (:data:`convlab.student.INSTRUCTOR_ONLY`)
   left out of the table of contents;
2. Jupyter Book builds the site with them (every chapter executed, warnings are errors);
3. ``python -m convlab.course finish HTMLDIR`` puts convlab's wheel beside the front page
   and checks the site (:func:`leaks`): no line of any solution
   (:func:`book_solution_lines`) may appear in a page, a notebook or any other file of the
   site.

As a Sphinx extension, this module removes every solution from the pages: the
``{solution}`` blocks and the gated ``{solution-start}`` ... ``{solution-end}`` ones,
code cells and their outputs included, after sphinx-exercise has merged the gated ones
(sphinx-exercise 1.2's own ``hide_solutions`` drops only the ``{solution-start}`` marker:
what follows it stays on the page, and the lone ``{solution-end}`` stops the build). The
page's notebook download is the chapter's student edition, not the executed notebook. A
link to an instructors' page becomes its plain text.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path
from typing import Any

from convlab import student

__all__ = ["book_solution_lines", "leaks", "setup", "solution_lines", "write_config"]

# a line of prose shorter than this, or with markup that the page renders differently,
# is not looked for in the site
_MIN_CODE, _MIN_PROSE = 25, 40
_MARKUP = re.compile(r"[$`{}\\*_|<>\[\]]")


def write_config(root: Path, outdir: Path) -> tuple[Path, Path]:
    """Write the course edition's ``_config.yml`` and ``_toc.yml`` into ``outdir``.

    Returns their paths, for ``jupyter-book build ROOT --config ... --toc ...``.
    """
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.setdefault("sphinx", {})
    sphinx["extra_extensions"] = [*(sphinx.get("extra_extensions") or []), "convlab.course"]
    # Jupyter Book reads local extensions' paths from where the config file is
    sphinx["local_extensions"] = {name: str((root / path).resolve())
                                  for name, path in (sphinx.get("local_extensions") or {}).items()}
    sphinx.setdefault("config", {})["html_copy_source"] = False
    config["title"] = f"{config.get('title', 'The book')} (course edition)"

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))

    def kept(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in entries if Path(str(e.get("file", ""))).stem
                not in student.INSTRUCTOR_ONLY]

    for part in toc.get("parts", []):
        part["chapters"] = kept(part.get("chapters", []))
    toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    if "chapters" in toc:
        toc["chapters"] = kept(toc["chapters"])
    outdir.mkdir(parents=True, exist_ok=True)
    paths = (outdir / "_config.yml", outdir / "_toc.yml")
    for path, data in zip(paths, (config, toc), strict=True):
        path.write_text("# written by python -m convlab.course: the course edition\n"
                        + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return paths


# --- what must not be in the site ----------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.split())


def _shown(chapter: Path, book: Any) -> set[str]:
    """The lines of ``chapter``'s student edition: what the site may show."""
    return {_norm(line) for cell in student.student_notebook(chapter, book).cells
            for line in cell.source.splitlines()}


def solution_lines(chapter: Path, book: Any = None) -> set[str]:
    """The lines of ``chapter``'s solutions that its student edition does not show (whole,
    or as part of a longer line): code of at least 25 characters, prose of at least 40
    without markup (whitespace collapsed)."""
    import jupytext

    from convlab.notebooks import Book

    book = book or Book.read(student._root(chapter))
    found: set[str] = set()
    in_solution = False
    for cell in jupytext.read(chapter).cells:
        if cell.cell_type == "markdown":
            kept, after = student._markdown(cell.source, in_solution)
            kept_lines = set(kept.splitlines())
            found |= {line for line in cell.source.splitlines() if line not in kept_lines
                      and len(_norm(line)) >= _MIN_PROSE and not _MARKUP.search(line)}
            in_solution = after
        elif cell.cell_type == "code" and (in_solution or student.STUB_TAG in
                                           cell.metadata.get("tags", [])):
            found |= {line for line in cell.source.splitlines()
                      if len(_norm(line)) >= _MIN_CODE}
    shown = "\n".join(_shown(chapter, book))
    return {line for line in map(_norm, found) if line not in shown}


def _text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
    elif path.suffix == ".ipynb":
        import json

        try:
            nb = json.loads(raw)
            raw = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []))
        except ValueError:
            pass
    return _norm(raw)


def book_solution_lines(root: Path) -> set[str]:
    """The solution lines of every chapter of the book at ``root`` that no chapter's
    student edition shows (:func:`solution_lines`)."""
    from convlab.notebooks import Book

    book = Book.read(root)
    chapters = [c for c in student.chapters(root) if c.stem not in student.INSTRUCTOR_ONLY]
    lines: set[str] = set()
    for chapter in chapters:
        lines |= solution_lines(chapter, book)
    # a line another chapter shows, whole or as part of a longer one, is no leak
    shown = "\n".join(line for chapter in chapters for line in _shown(chapter, book))
    return {line for line in lines if line not in shown}


def leaks(site: Path, lines: set[str]) -> list[str]:
    """The ``lines`` (:func:`book_solution_lines`) found in the files of the built
    ``site``, as ``"FILE: LINE"``; none in a course edition."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".txt", ".js", ".md"):
            text = _text(path)
            found += [f"{path.relative_to(site)}: {line}" for line in sorted(lines)
                      if line in text]
    return found


# --- the Sphinx extension ------------------------------------------------------------------


def _remove_solutions(app: Any, doctree: Any) -> None:
    from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

    for kind in (solution_node, solution_start_node, solution_end_node):
        for node in list(doctree.findall(kind)):
            node.parent.remove(node)


def _instructors_as_text(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    target = str(node.get("reftarget", ""))
    if node.get("reftype") == "doc" and Path(target).stem in student.INSTRUCTOR_ONLY:
        return contnode
    return None


def _student_download(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                      doctree: Any) -> None:
    import nbformat

    from convlab.notebooks import Book

    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    source = Path(app.srcdir) / f"{pagename}.md"
    if doctree is None or not target.exists() or not source.exists():
        return
    if not hasattr(app, "_convlab_book"):
        app._convlab_book = Book.read(Path(app.srcdir))
    nbformat.write(student.student_notebook(source, app._convlab_book), target)


def setup(app: Any) -> dict[str, Any]:
    """Sphinx's entry point: solutions out, student notebooks in."""
    # doctree-read runs once a page is parsed and transformed: sphinx-exercise has merged
    # the gated solutions into solution nodes by then
    app.connect("doctree-read", _remove_solutions)
    app.connect("missing-reference", _instructors_as_text)
    # after book_pages copies the executed notebook (priority 400), before the theme
    # builds its download menu (501)
    app.connect("html-page-context", _student_download, priority=450)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlab.course",
                                     description="The course edition: the site without "
                                                 "its solutions (make course-book).")
    sub = parser.add_subparsers(dest="step", required=True)
    c = sub.add_parser("config", help="write OUTDIR/_config.yml and OUTDIR/_toc.yml")
    c.add_argument("outdir", type=Path)
    f = sub.add_parser("finish", help="add convlab's wheel to the built site and check "
                                      "that no solution is in it")
    f.add_argument("site", type=Path)
    for p in (c, f):
        p.add_argument("--root", type=Path, default=Path.cwd(),
                       help="the book's root, holding _toc.yml (default: here)")
    args = parser.parse_args(argv)
    try:
        if args.step == "config":
            for path in write_config(args.root, args.outdir):
                print(path)
            return 0
        from convlab import notebooks

        notebooks.wheel(args.site / "book")
        found = leaks(args.site, book_solution_lines(args.root))
    except (OSError, ValueError) as err:
        print(f"convlab.course: {err}", file=sys.stderr)
        return 2
    if found:
        print(f"convlab.course: {len(found)} solution line(s) in the course site:",
              *found[:20], sep="\n  ", file=sys.stderr)
        return 1
    print(f"no solution in {args.site}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
