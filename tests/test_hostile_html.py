"""Hostile strings in an explorer's presets cannot break the page it writes.

A preset label travels as JSON inside ``<script type="application/json">``; it must come back
from the page as the same string whatever it holds (``</script>``, ``<!--``, ``]]>``,
U+2028, lone surrogates, ...), with no raw ``<`` in the element, and the explorer must still
mount in a browser. Everything else the explorers write is escaped for HTML.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _browser
from convlab.explorer import frame_html, static_explorer

HOSTILE = [
    "<!--", "-->", "<!-- <script>", "</script>", "</SCRIPT >", "</script\t", "<script>",
    "<script>alert(1)</script>", "]]>", "<![CDATA[", "&", "&amp;", "&lt;", '"', "'",
    "\"'><img src=x onerror=alert(1)>", "\u2028", "\u2029", "a\u2028b\u2029c", "\ud800",
    "\udfff x", "\x00", "\x1b[31m", "<\\/script>", "\\u003c", "\\", "{{label}}", "${x}",
    "δ ∑ 😀", "\r\n\t", "<style></style>", "</style>", "<!DOCTYPE html>", "\ufeff",
]


class _Scripts(HTMLParser):
    """The text of every ``<script>`` element, as a browser's tokenizer splits them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, "".join(self._text)))
            self._open = None


def payload(page: str) -> tuple[str, dict]:
    """The JSON element's raw text and its data, read as an HTML parser reads the page."""
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    data = [text for attrs, text in parser.scripts if attrs.get("type") == "application/json"]
    assert len(data) == 1, "one JSON element"
    assert len(parser.scripts) == 2, "the JSON and the player: no script ended early"
    return data[0], json.loads(data[0])


def check(labels: list[str], op: str = "forward") -> str:
    ex = static_explorer(op, [{"label": label} for label in labels])
    page = ex._repr_html_()
    text, data = payload(page)
    assert [p["label"] for p in data["presets"]] == labels
    assert data == {"op": op, "title": ex.title, "presets": ex.presets}
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert text.isascii()
    page.encode("utf-8")  # lone surrogates are escaped, so the page can be written
    assert ex.nbytes == len(page.encode())
    return page


@pytest.mark.parametrize("label", HOSTILE, ids=[ascii(s) for s in HOSTILE])
def test_a_hostile_label_comes_back_unchanged(label):
    check([label, f"stride 1 {label} end"])


def test_all_of_them_in_one_explorer():
    page = check(HOSTILE, "d_x_gather")
    # the only script ends are the two elements' own
    assert page.lower().count("</script") == 2 and "<!--" not in page


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(
    st.text(st.characters(exclude_categories=()), min_size=1),
    st.lists(st.sampled_from(["<", ">", "&", "!--", "-", "/", "script", "]]", "\u2028", "\ud800",
                              "\\", '"']), min_size=1, max_size=8).map("".join)),
    min_size=1, max_size=3))
def test_any_label_comes_back_unchanged(labels):
    check(labels)


@pytest.mark.parametrize(("args", "error", "message"), [
    (("<script>", [{"label": "a"}]), ValueError, r"op must be one of 'forward', .*got '<script>'"),
    (("forward", []), ValueError, r"presets must hold at least one preset"),
    (("forward", "</script>"), TypeError, r"presets must be a list of dicts, got '</script>'"),
    (("forward", [5]), TypeError, r"preset 0 must be a dict, got 5"),
    (("forward", [{"label": 5}]), TypeError, r"preset 0's label must be a str, got 5"),
    (("forward", [{"label": "a", "x": [[float("nan")] * 5] * 5}]), ValueError,
     r"preset 0 \('a'\): x .* not finite"),
    (("forward", [{"label": "a", "<b>": 1}]), ValueError,
     r"preset 0 \('a'\) has unknown key\(s\) \['<b>'\]"),
])
def test_bad_op_or_presets_are_refused_by_name(args, error, message):
    with pytest.raises(error, match=message):
        static_explorer(*args)


def test_frame_html_escapes_what_it_writes():
    ex = static_explorer("d_x_scatter", [{"label": "</div><script>x</script>"}])
    page = frame_html(ex.traces[0], 2)
    assert "<script" not in page and "</div><script>" not in page
    # every attribute value is quoted and holds no raw markup
    for value in re.findall(r'="([^"]*)"', page):
        assert "<" not in value and ">" not in value


@pytest.mark.browser
def test_an_explorer_with_hostile_labels_mounts_in_a_browser(tmp_path):
    labels = ["<!-- x", "</script><script>window.hacked = 1</script>", "]]>", "a\u2028b", "&amp;"]
    ex = static_explorer("forward", [{"label": label} for label in labels])
    root, name = _browser.explorers_page(tmp_path, ex._repr_html_())
    with _browser.chromium() as browser:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((root / name).as_uri(), wait_until="load")
        options = page.eval_on_selector_all(f"#{ex.id} select.cvx-preset option",
                                            "os => os.map(o => o.textContent)")
        hacked = page.evaluate("window.hacked === undefined")
        grids = page.locator(f"#{ex.id} .cvx-grid").count()
    assert errors == []
    assert options[:len(labels)] == labels
    assert hacked and grids > 0
