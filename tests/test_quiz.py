"""Concept questions: self-contained HTML that carries its answer and loads nothing."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import convlab
from convlab import quiz


class _Page(HTMLParser):
    """The tags, attributes and inline script/style text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(question: quiz.Question) -> tuple[_Page, dict]:
    page = _Page()
    page.feed(question._repr_html_())
    roots = [a for t, a in page.tags if "data-quiz" in a]
    assert len(roots) == 1
    return page, json.loads(roots[0]["data-quiz"])


QUESTIONS = [
    quiz.choice("Where does TensorFlow put `SAME`'s odd extra zero?",
                ["before", ("after", "no"), "split"], answer=0, explain="x"),
    quiz.number("Output length for 10, 3, stride 2, SAME?",
                convlab.output_size(10, 3, 2, "SAME")),
    quiz.number("Shape of d_x?", np.zeros((2, 7, 7, 3)).shape, explain="like x"),
]


@pytest.mark.parametrize("question", QUESTIONS, ids=["choice", "number", "shape"])
def test_html_loads_nothing_from_anywhere(question: quiz.Question) -> None:
    text = question._repr_html_()
    assert "http:" not in text and "https:" not in text and "//" not in re.sub(
        r"<script>.*?</script>", "", text, flags=re.S)
    page, _ = _parse(question)
    for tag, attrs in page.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
        assert tag not in ("link", "img", "iframe", "object", "embed")
    assert "@import" not in text and "url(" not in text
    for script in page.scripts:
        assert "fetch(" not in script and "XMLHttpRequest" not in script
        assert "import(" not in script


def test_choice_carries_its_answer_and_feedback() -> None:
    page, data = _parse(QUESTIONS[0])
    assert data == {"kind": "choice", "answer": 0, "explain": "x", "why": ["", "no", ""]}
    buttons = [a for t, a in page.tags if t == "button"]
    assert [b["data-index"] for b in buttons] == ["0", "1", "2"]
    assert all(b["type"] == "button" for b in buttons)  # keyboard: buttons, not divs
    text = QUESTIONS[0]._repr_html_()
    assert "<code>SAME</code>" in text
    assert 'aria-live="polite"' in text and "<details>" in text  # works without script


def test_number_answers_are_computed_numbers() -> None:
    _, data = _parse(QUESTIONS[1])
    assert data["kind"] == "number" and data["answer"] == [5] and data["tol"] == 0
    page, data = _parse(QUESTIONS[2])
    assert data["answer"] == [2, 7, 7, 3]
    assert QUESTIONS[2].answer_text == "(2, 7, 7, 3)"
    inputs = [a for t, a in page.tags if t == "input"]
    labels = [a for t, a in page.tags if t == "label"]
    assert len(inputs) == 1 and labels[0]["for"] == inputs[0]["id"]
    assert quiz.number("numpy ints", np.int64(4)).answer == (4,)


def test_text_is_escaped_and_ids_are_unique() -> None:
    q = quiz.choice("<b>a & b</b>?", ['"x"', "</script>"], answer=1)
    text = q._repr_html_()
    assert "<b>a" not in text and "&lt;b&gt;a &amp; b" in text
    assert text.count("</script>") == 1  # only the closing tag of the inline script
    _, data = _parse(q)
    assert data["answer"] == 1
    assert q.id != quiz.choice("<b>a & b</b>?", ['"x"', "</script>"], answer=1).id
    assert html.unescape("&lt;") == "<"


def test_bad_questions_are_refused() -> None:
    with pytest.raises(ValueError, match="answer"):
        quiz.choice("?", ["a", "b"], answer=2)
    with pytest.raises(ValueError, match="options"):
        quiz.choice("?", ["a"], answer=0)
    with pytest.raises(TypeError, match="answer"):
        quiz.number("?", "five")
    with pytest.raises(ValueError, match="answer"):
        quiz.number("?", [])
    with pytest.raises(ValueError, match="tolerance"):
        quiz.number("?", 1, tolerance=-1)


@pytest.mark.browser
def test_feedback_in_a_real_browser_from_the_keyboard() -> None:
    """Headless Chromium (Debian's), as in test_explorer_browser: Tab, Enter, typing."""
    import os
    import shutil

    path = os.environ.get("CONVLAB_CHROMIUM") or shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not path:
        if os.environ.get("CONVLAB_REQUIRE_BROWSER") == "1":
            pytest.fail("CONVLAB_REQUIRE_BROWSER=1 but Debian's chromium is not installed")
        pytest.skip("Debian's chromium is not installed")
    body = "".join(q._repr_html_() for q in QUESTIONS)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.set_content(f'<!doctype html><html lang="en"><body>{body}</body></html>')
        choice, size, shape = (page.locator(".cvq").nth(i) for i in range(3))
        feedback = choice.locator(".cvq-feedback")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")  # the second option: a wrong one, with its own feedback
        page.keyboard.press("Enter")
        assert feedback.inner_text().startswith("✘") and "no" in feedback.inner_text()
        choice.locator("button").nth(0).click()
        assert feedback.inner_text() == "✔ Right. x"
        size.locator("input").fill("4")
        size.locator("input").press("Enter")
        assert size.locator(".cvq-feedback").inner_text().startswith("✘")
        size.locator("input").fill(" 5 ")
        size.locator("input").press("Enter")
        assert size.locator(".cvq-feedback").inner_text().startswith("✔")
        shape.locator("input").fill("(2, 7, 7, 3)")
        shape.locator("button").click()
        assert shape.locator(".cvq-feedback").inner_text() == "✔ Right. like x"
        browser.close()
    assert not errors and not [u for u in requests if not u.startswith(("about:", "data:"))]


# ---------------------------------------------------------------------------------------
# the student edition: answers out of sight, feedback still at once


@pytest.fixture
def hidden():
    quiz.hide_answers()
    yield
    quiz.hide_answers(False)


HIDDEN = [
    ("choice", lambda: quiz.choice("Which side?", ["before", ("after", "no: that is PyTorch")],
                                   answer=0, explain="TensorFlow puts it after: 4 zeros"),
     ["1", "0"]),
    ("number", lambda: quiz.number("How long?", 17, explain="(20 - 4)/1 + 1 = 17"),
     ["16", "17"]),
    ("shape", lambda: quiz.number("Shape?", (2, 7, 7, 3), explain="like x: (2, 7, 7, 3)"),
     ["2, 7, 7, 4", "(2,7,7,3)"]),
    ("float", lambda: quiz.number("A ratio?", 0.1 + 0.2, explain="0.3, nearly"),
     ["0.3", "0.30000000000000004"]),
    ("tolerance", lambda: quiz.number("About?", 0.35, tolerance=0.01, explain="0.35"),
     ["0.37", "0.351"]),
]


@pytest.mark.parametrize("kind, make, tries", HIDDEN, ids=[h[0] for h in HIDDEN])
def test_hidden_answers_are_not_in_the_html(kind, make, tries, hidden) -> None:
    question = make()
    text = question._repr_html_()
    _, data = _parse(question)
    assert data["hidden"] is True and "answer" not in data
    assert "Show the answer" not in text and "<details>" not in text
    assert question.explain not in html.unescape(text)
    shown = html.unescape(re.sub(r"<[^>]*>", " ", re.sub(r"<(script|style)>.*?</\1>", "",
                                                              text, flags=re.S)))
    if kind != "choice":  # a choice shows every option, and nothing says which is right
        assert question.answer_text not in shown
    opaque = {"salt", "check", "explain"}
    assert set(data) - opaque == ({"kind", "hidden", "why"} if kind == "choice" else
                                  {"kind", "hidden", "count", "tol"})
    assert isinstance(data["check"], int) and question.explain not in data["explain"]


def test_the_hash_and_cipher_match_the_page_s(hidden) -> None:
    """The Python halves agree with known values, so the browser test below is about JS."""
    assert quiz._fnv("") == 2166136261 and quiz._fnv("a") == 0xE40C292C
    assert quiz._js_exponential(5) == "5e+0" and quiz._js_exponential(-0.001) == "-1e-3"
    assert quiz._js_exponential(1234.5) == "1.2345e+3" and quiz._js_exponential(0.0) == "0e+0"
    assert quiz._js_exponential(1e21) == "1e+21" and quiz._js_exponential(2**60) == (
        "1.152921504606847e+18")


def test_bad_arguments_name_the_argument() -> None:
    cases = [
        (lambda: quiz.number("?", 1, tolerance="0.1"), TypeError, "tolerance"),
        (lambda: quiz.number("?", 1, tolerance=float("nan")), ValueError, "tolerance"),
        (lambda: quiz.number("?", 1, tolerance=float("inf")), ValueError, "tolerance"),
        (lambda: quiz.number("?", 1, tolerance=True), TypeError, "tolerance"),
        (lambda: quiz.number(None, 1), TypeError, "prompt"),
        (lambda: quiz.number("  ", 1), ValueError, "prompt"),
        (lambda: quiz.number("?", 1, explain=None), TypeError, "explain"),
        (lambda: quiz.choice("?", [1, 2], answer=0), TypeError, "options"),
        (lambda: quiz.choice("?", "ab", answer=0), TypeError, "options"),
        (lambda: quiz.choice("?", ["a", ("b",)], answer=0), TypeError, "options"),
        (lambda: quiz.choice("?", ["a", ("b", None)], answer=0), TypeError, "options"),
        (lambda: quiz.choice("?", ["a", ""], answer=0), ValueError, "options"),
        (lambda: quiz.choice(None, ["a", "b"], answer=0), TypeError, "prompt"),
        (lambda: quiz.choice("?", ["a", "b"], answer=0, explain=3), TypeError, "explain"),
        (lambda: quiz.choice("?", ["a", "b"], answer=True), ValueError, "answer"),
        (lambda: quiz.number("?", float("nan")), ValueError, "answer"),
        (lambda: quiz.hide_answers("yes"), TypeError, "hidden"),
    ]
    for make, error, name in cases:
        with pytest.raises(error, match=f"^{name}:"):
            make()


@pytest.mark.browser
def test_hidden_answers_still_check_in_a_real_browser(hidden) -> None:
    """The page's hash and cipher agree with Python's: a wrong try says so, the right one
    gets the explanation, deciphered."""
    import os
    import shutil

    path = os.environ.get("CONVLAB_CHROMIUM") or shutil.which("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not path:
        if os.environ.get("CONVLAB_REQUIRE_BROWSER") == "1":
            pytest.fail("CONVLAB_REQUIRE_BROWSER=1 but Debian's chromium is not installed")
        pytest.skip("Debian's chromium is not installed")
    questions = [make() for _, make, _ in HIDDEN]
    body = "".join(q._repr_html_() for q in questions)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content(f'<!doctype html><html lang="en"><body>{body}</body></html>')
        pairs = zip(HIDDEN, questions, strict=True)
        for k, ((kind, _, (wrong, right)), question) in enumerate(pairs):
            root = page.locator(".cvq").nth(k)
            feedback = root.locator(".cvq-feedback")
            for typed, ok in ((wrong, False), (right, True)):
                if kind == "choice":
                    root.locator("button").nth(int(typed)).click()
                else:
                    root.locator("input").fill(typed)
                    root.locator("input").press("Enter")
                text = feedback.inner_text()
                assert text.startswith("✔" if ok else "✘"), (kind, typed, text)
                if ok:
                    assert text == f"✔ Right. {question.explain}", kind
                elif kind == "choice":
                    assert "PyTorch" in text
        browser.close()
    assert not errors
