"""The book read as a reader reads it: no sideways scrolling, no boilerplate before the story.

The browser tests open every chapter page of the built book (``make book`` first; ``make
test`` builds it) in Debian's ``chromium`` through Playwright. At 1280 px they fail when any
element of the article must scroll sideways or is cut off, or when a page shows more than 5
lines of code before its first section; on a 390 px phone, when prose, an equation or a
figure does (code, tables and cell outputs may scroll there). Screenshots land
in ``test-output/pages/``. Without Chromium they skip, unless ``CONVLAB_REQUIRE_BROWSER=1``.

The static tests need no browser: the code a chapter shows, in its cells and through
``literalinclude``, fits in 80 columns.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

import _browser

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("CONVLAB_SITE", ROOT / "_build" / "html"))
OUTPUT = ROOT / "test-output" / "pages"
CHAPTERS = sorted((ROOT / "book").glob("*.md"))
COLUMNS = 80

# What a reader would have to scroll sideways, or cannot see: in the article, every element
# whose content is wider than its box while the box scrolls or clips it (MathJax's hidden
# copy of each formula for screen readers is removed first: it is clipped on purpose); and
# the lines of code shown before the first section.
_MEASURE = """(phone) => {
  for (const el of document.querySelectorAll('mjx-assistive-mml')) el.remove();
  const art = document.querySelector('article.bd-article');
  const over = [];
  for (const el of art.querySelectorAll('*')) {
    const cs = getComputedStyle(el);
    if (el.clientWidth === 0 || !['auto', 'scroll', 'hidden', 'clip'].includes(cs.overflowX))
      continue;
    if (el.scrollWidth <= el.clientWidth + 1) continue;
    // on a phone, code, tables and cell outputs may scroll; prose, equations, figures not
    if (phone && !el.matches('div.math mjx-container, p, li, figure, img')) continue;
    const text = (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ');
    over.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ` +
              `(${el.scrollWidth} px in ${el.clientWidth} px): ${text.slice(0, 70)}`);
  }
  const first = art.querySelector('section section');
  let lines = 0;
  for (const el of art.querySelectorAll('div.highlight pre')) {
    if (el.offsetParent === null) continue;
    if (first && !(el.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING))
      continue;
    const text = el.innerText.replace(/\\n$/, '');
    if (text.trim()) lines += text.split('\\n').length;
  }
  return {over, lines, page: document.documentElement.scrollWidth - innerWidth};
}"""


# the page is read as a reader sees it: MathJax has typeset every formula (and the page's
# script has fitted the wide ones to a phone), every explorer has drawn its first frame
_READY = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
  && !document.querySelector('span.math:not(:has(mjx-container))')
  && !document.querySelector('div.math:not(:has(mjx-container))')
  && !document.querySelector('.cvx:not([data-frame])')"""
_SETTLED = """async () => {
  await MathJax.startup.promise;
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 100)));
}"""


def _pages() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return re.findall(r"^\s*(?:root|-\s*file):\s*(\S+)\s*$", toc, re.MULTILINE)


def _shown_cells(path: Path) -> list[tuple[int, str]]:
    """(line number, source) of every code cell whose code the page shows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    cells, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```{code-cell}"):
            i += 1
            continue
        start, i = i + 1, i + 1
        while not lines[i].startswith("```"):
            i += 1
        body = lines[start:i]
        header = []
        if body and body[0] == "---":
            end = body.index("---", 1)
            header, body = body[:end + 1], body[end + 1:]
        while body and (body[0].startswith(":") or (header and not body[0])):
            header.append(body.pop(0))
        if not re.search(r"remove-(input|cell)", "\n".join(header)):
            cells.append((start + len(header) + 1, "\n".join(body)))
        i += 1
    return cells


def _included(path: Path) -> list[tuple[str, str]]:
    """(file, pyobject) of every literalinclude of a Python object."""
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)", text)
    return [(str((path.parent / f).resolve()), obj) for f, obj in found]


def _source(file: str, name: str) -> str:
    text = Path(file).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            return "\n".join(text.splitlines()[first - 1:node.end_lineno])
    raise AssertionError(f"{file} has no {name}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_cells_fit_in_80_columns(chapter):
    wide = [f"{chapter.name}:{line + k}: {len(text)} columns"
            for line, cell in _shown_cells(chapter)
            for k, text in enumerate(cell.splitlines()) if len(text) > COLUMNS]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_included_source_fits_in_80_columns(chapter):
    wide = []
    for file, name in _included(chapter):
        for k, text in enumerate(_source(file, name).splitlines()):
            if len(text) > COLUMNS:
                wide.append(f"{Path(file).name}:{name} line {k + 1}: {len(text)} columns")
    assert not wide, "\n".join(wide)


def test_the_column_check_sees_long_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```{code-cell} ipython3\n:tags: [hide-input]\n\n" + "x" * 81
                    + "\n```\n\n```{code-cell} ipython3\n:tags: [remove-input]\n\n"
                    + "y" * 99 + "\n```\n", encoding="utf-8")
    assert [(line, len(c)) for line, c in _shown_cells(page)] == [(4, 81)]


# ------------------------------------------------------------------------------------
# in a browser


@pytest.fixture(scope="module")
def browser():
    if not (SITE / "index.html").is_file():
        _browser.missing(f"no built book in {SITE} (make book)")
    with _browser.chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def site_url():
    with _browser.serve(SITE) as base:
        yield base


def _measure(browser, url: str, width: int, shot: Path | None) -> dict:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function(_READY, timeout=60_000)
        page.evaluate(_SETTLED)
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        return page.evaluate(_MEASURE, width < 600)
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.parametrize("name", _pages())
def test_nothing_scrolls_sideways_at_1280_px(browser, site_url, name):
    found = _measure(browser, f"{site_url}/{name}.html", 1280,
                     OUTPUT / f"{Path(name).name}-1280.png")
    assert found["page"] <= 0, f"the page itself is {found['page']} px too wide"
    assert not found["over"], f"{len(found['over'])} elements scroll sideways:\n" + "\n".join(
        found["over"])
    assert found["lines"] <= 5, f"{found['lines']} lines of code before the first section"


@pytest.mark.browser
@pytest.mark.parametrize("name", _pages())
def test_prose_equations_and_figures_fit_a_phone(browser, site_url, name):
    found = _measure(browser, f"{site_url}/{name}.html", 390, None)
    assert found["page"] <= 0, f"the page itself is {found['page']} px too wide"
    assert not found["over"], "\n".join(found["over"])
