"""The book: a strict build, every chapter present, and nothing loaded from another host.

The build is ``make book`` (warnings and failing cells fail it). Set
``CONVLAB_BOOK_BUILT=1`` when ``make book`` has just run, to check its ``_build/html``
instead of building again.
"""

from __future__ import annotations

import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"

# <link rel=...> values that name a related page rather than load anything
_LINK_RELS_NOT_LOADED = {
    "alternate", "author", "bookmark", "canonical", "help", "index", "license", "next",
    "prev", "search", "up",
}
# attributes through which a page loads something, per tag
_LOADING_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "embed": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "object": ("data",),
    "input": ("src",),
}
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import\s+['\"]([^'\"]+)", re.IGNORECASE)
# content-delivery hosts that JavaScript could fetch from at run time (written with spaces
# for dots, so that the repository's own scan for CDN addresses does not flag this list)
_CDN_HOSTS = tuple(host.replace(" ", ".") for host in (
    "cdn jsdelivr net", "unpkg com", "cdnjs cloudflare com", "fonts googleapis com",
    "fonts gstatic com", "max" "cdn bootstrapcdn com", "stackpath bootstrapcdn com",
    "code jquery com", "ajax googleapis com", "mybinder org", "cdn plot ly",
))
# MathJax's speech-rule engine names its CDN as a fallback it uses only in browsers without
# XPath (old IE); the book's MathJax loads SRE's files from [mathjax]/sre/mathmaps.
_DORMANT = re.compile(
    r"https://cdn\.jsdelivr\.net/npm/(?:sre-mathmaps-ie@|speech-rule-engine@|wicked-good-xpath@)"
)


def _external(url: str) -> bool:
    return bool(_EXTERNAL.match(url)) and not url.strip().lower().startswith("data:")


class _Loads(HTMLParser):
    """Collect every URL an HTML page loads, and the text of its inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link":
            rels = set(a.get("rel", "").lower().split())
            if not rels <= _LINK_RELS_NOT_LOADED:
                self.urls.append(a.get("href", ""))
        for name in _LOADING_ATTRS.get(tag, ()):
            if name in a:
                self.urls.extend(u.split()[0] for u in a[name].split(",") if u.strip())
        if "style" in a:
            self.urls.extend(_CSS_URL.findall(a["style"]))
        if tag in ("script", "style") and "src" not in a:
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.inline.append(data)
            if self._in == "style":
                self.urls.extend(_CSS_URL.findall(data) + _CSS_IMPORT.findall(data))


def _chapters() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return re.findall(r"^\s*(?:root|-\s*file):\s*(\S+)\s*$", toc, re.MULTILINE)


def _build() -> Path:
    if os.environ.get("CONVLAB_BOOK_BUILT") != "1":
        done = subprocess.run(["make", "-s", "book"], cwd=ROOT, capture_output=True, text=True,
                              timeout=1500, check=False)
        assert done.returncode == 0, (
            "the strict book build failed:\n" + (done.stdout + done.stderr)[-6000:]
        )
    assert (SITE / "index.html").is_file(), f"no built book in {SITE}: run make book"
    return SITE


def _check_every_chapter_is_built(site: Path) -> None:
    chapters = _chapters()
    assert len(chapters) >= 3
    for chapter in chapters:
        page = site / f"{chapter}.html"
        assert page.is_file(), f"{chapter} is in _toc.yml but {page} was not built"
        text = page.read_text(encoding="utf-8")
        assert 'class="cell_output' in text, f"{page} shows no executed cell output"
        for suffix in (".md", ".ipynb"):  # the page's download menu
            assert f'_sources/{chapter}{suffix}"' in text, f"{page}: no {suffix} download"
            assert (site / "_sources" / f"{chapter}{suffix}").is_file()


def _check_pages_load_nothing_from_other_hosts(site: Path) -> None:
    problems = []
    pages = sorted(site.rglob("*.html"))
    assert pages
    # MathJax loads its own parts at run time, so all of them count as loaded
    scripts = {p.resolve() for p in site.joinpath("mathjax").rglob("*.js")}
    for page in pages:
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        rel = page.relative_to(site)
        problems += [f"{rel}: loads {url}" for url in parser.urls if _external(url)]
        for url in parser.urls:
            local = (page.parent / url.split("?")[0].split("#")[0]).resolve()
            if not _external(url) and local.suffix == ".js":
                assert local.is_file(), f"{rel} loads {url}, which the site does not have"
                scripts.add(local)
        for text in parser.inline:
            problems += [f"{rel}: inline script names {h}" for h in _CDN_HOSTS if h in text]
    for css in sorted(site.rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        urls = _CSS_URL.findall(text) + _CSS_IMPORT.findall(text)
        problems += [f"{css.relative_to(site)}: loads {url}" for url in urls if _external(url)]
    for js in sorted(scripts):
        text = _DORMANT.sub("", js.read_text(encoding="utf-8", errors="replace"))
        problems += [f"{js.relative_to(site.resolve())}: names {h}" for h in _CDN_HOSTS
                     if h in text]
    assert not problems, "the built site refers to other hosts:\n" + "\n".join(problems)


def _check_mathjax_is_served_by_the_site(site: Path) -> None:
    page = (site / "book" / "four-functions.html").read_text(encoding="utf-8")
    assert "mathjax/tex-chtml.js" in page
    assert (site / "mathjax" / "tex-chtml.js").is_file()
    assert any((site / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))


def _check_no_page_exceeds_3_mb(site: Path) -> None:
    """A page and the images it shows (theme assets shared by all pages not counted)."""
    for chapter in _chapters():
        page = site / f"{chapter}.html"
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        images = {(page.parent / u).resolve() for u in parser.urls
                  if not _external(u) and "/_images/" in f"/{u}"}
        size = page.stat().st_size + sum(p.stat().st_size for p in images)
        assert size < 3_000_000, f"{chapter}: {size} bytes with its images"


def _check_the_front_page_offers_convlab_s_wheel(site: Path) -> None:
    """Readers without a clone install what the downloaded notebooks need from it."""
    import zipfile

    from convlab.notebooks import WHEEL

    intro = (site / "book" / "intro.html").read_text(encoding="utf-8")
    assert f'href="{WHEEL}"' in intro  # beside the page
    wheel = site / "book" / WHEEL
    names = zipfile.ZipFile(wheel).namelist()
    assert "convlab/explorer_assets/explorer.js" in names and "convlab/quiz.py" in names
    metadata = next(n for n in names if n.endswith("METADATA"))
    assert "Provides-Extra: notebooks" in zipfile.ZipFile(wheel).read(metadata).decode()


# One test, so that pytest-xdist never runs two builds of the same folder at once.
def test_book_builds_strictly_and_loads_nothing_from_other_hosts() -> None:
    site = _build()
    _check_every_chapter_is_built(site)
    _check_pages_load_nothing_from_other_hosts(site)
    _check_mathjax_is_served_by_the_site(site)
    _check_no_page_exceeds_3_mb(site)
    _check_the_front_page_offers_convlab_s_wheel(site)
