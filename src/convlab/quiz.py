"""Concept questions that work on a static page: no kernel, no network.

:func:`choice` (multiple choice) and :func:`number` (one number, or several, such as a
shape) return a :class:`Question`. In a notebook or on the built book it renders, through
``_repr_html_``, as self-contained HTML with a small inline script: the options are buttons,
a number is typed into a field and checked with Enter or the *Check* button, and the
feedback appears at once beside the question. The answer and its explanation also sit in a
closed *Show the answer* box, which opens without JavaScript. Nothing is loaded from
anywhere: no stylesheet, font, script or image.

The correct answer travels in the page (in the ``data-quiz`` attribute); these are
questions for learning, not for marking. Compute numeric answers with convlab where you
can, so the page checks itself when it is built::

    quiz.number("How many output rows does SAME give for 10 rows, kernel 3, stride 2?",
                convlab.output_size(10, 3, 2, "SAME"))

Prompts, options and explanations are plain text; text between backticks is shown as code.
This module needs only the standard library (numpy integers are accepted as numbers).

Examples
--------
>>> q = choice("Which side gets SAME's odd extra zero?", ["before", "after"], answer=1)
>>> q.answer_text
'after'
>>> number("Output length?", 5).answer_text
'5'
>>> number("d_x's shape?", (2, 7, 7, 3)).answer_text
'(2, 7, 7, 3)'
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import numbers
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Question", "choice", "number"]

_counter = itertools.count()
_CODE = re.compile(r"`([^`]+)`")

# Okabe-Ito colours (safe for colour-blind readers); right and wrong also differ by a mark
# and a word, never by colour alone.
_CSS = """
.cvq{border:1px solid #8c8c8c;border-left:4px solid #0072B2;border-radius:4px;
padding:.6em .9em;margin:.8em 0;max-width:48em}
.cvq-head{font-weight:bold;margin:0 0 .3em 0}
.cvq-prompt{margin:0 0 .5em 0}
.cvq-options{display:flex;flex-wrap:wrap;gap:.4em;margin:0 0 .4em 0}
.cvq button{font:inherit;color:inherit;background:transparent;border:1px solid #8c8c8c;
border-radius:4px;padding:.25em .7em;cursor:pointer;text-align:left}
.cvq button:hover{border-color:#0072B2}
.cvq button:focus-visible,.cvq input:focus-visible,.cvq summary:focus-visible{
outline:3px solid #0072B2;outline-offset:2px}
.cvq button.cvq-right{border:2px solid #0072B2;font-weight:bold}
.cvq button.cvq-wrong{border:2px dashed #D55E00;text-decoration:line-through}
.cvq input{font:inherit;color:inherit;background:transparent;border:1px solid #8c8c8c;
border-radius:4px;padding:.2em .4em;width:12em;max-width:100%}
.cvq form{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin:0 0 .4em 0}
.cvq-feedback{min-height:1.4em;margin:.2em 0}
.cvq-feedback.cvq-right{color:#0072B2;font-weight:bold}
.cvq-feedback.cvq-wrong{color:#D55E00;font-weight:bold}
.cvq details{margin-top:.3em}
.cvq summary{cursor:pointer}
.cvq code{font-size:.95em}
"""

_JS = r"""
(function (id) {
  var root = document.getElementById(id);
  if (!root || root.getAttribute("data-ready")) { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.getAttribute("data-quiz"));
  var out = root.querySelector(".cvq-feedback");
  function say(ok, text) {
    out.textContent = (ok ? "\u2714 Right. " : "\u2718 Not quite. ") + text;
    out.className = "cvq-feedback " + (ok ? "cvq-right" : "cvq-wrong");
  }
  if (data.kind === "choice") {
    var buttons = root.querySelectorAll("button.cvq-option");
    Array.prototype.forEach.call(buttons, function (b) {
      b.addEventListener("click", function () {
        var i = Number(b.getAttribute("data-index"));
        var ok = i === data.answer;
        Array.prototype.forEach.call(buttons, function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        b.classList.add(ok ? "cvq-right" : "cvq-wrong");
        say(ok, ok ? data.explain : (data.why[i] || "Try another option."));
      });
    });
  } else {
    var form = root.querySelector("form");
    var input = root.querySelector("input");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var got = (input.value.match(/-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?/g) || []).map(Number);
      var want = data.answer;
      if (!got.length) { say(false, "Type your answer first."); return; }
      if (got.length !== want.length) {
        say(false, "The answer has " + want.length + (want.length === 1 ? " number" :
            " numbers") + "; you typed " + got.length + ".");
        return;
      }
      var ok = want.every(function (v, k) { return Math.abs(got[k] - v) <= data.tol; });
      say(ok, ok ? data.explain : "Try again, or open the answer below.");
    });
  }
})
"""


def _text(value: str) -> str:
    """Plain text as HTML: escaped, with `backticks` shown as code."""
    return _CODE.sub(r"<code>\1</code>", html.escape(value, quote=False))


def _plain(value: str) -> str:
    """Plain text for the feedback line (backticks dropped)."""
    return _CODE.sub(r"\1", value)


def _as_number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"answer: expected a number or a sequence of numbers, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    result = float(value)
    if result != result or result in (float("inf"), float("-inf")):
        raise ValueError(f"answer: expected a finite number, got {value!r}")
    return result


class Question:
    """One concept question, rendered as self-contained HTML (see :func:`choice`, :func:`number`).

    Attributes
    ----------
    kind : str
        ``"choice"`` or ``"number"``.
    prompt : str
        The question, plain text (`backticks` for code).
    answer : int or tuple of numbers
        The index of the right option, or the numbers expected.
    answer_text : str
        The answer as the reader sees it when it is revealed.
    """

    def __init__(self, kind: str, prompt: str, answer: Any, answer_text: str,
                 explain: str, options: Sequence[str] = (), why: Sequence[str] = (),
                 tolerance: float = 0.0) -> None:
        self.kind = kind
        self.prompt = prompt
        self.answer = answer
        self.answer_text = answer_text
        self.explain = explain
        self.options = list(options)
        self.why = list(why)
        self.tolerance = tolerance
        digest = hashlib.sha1(f"{kind}{prompt}{answer}".encode()).hexdigest()[:8]
        self.id = f"cvq-{digest}-{next(_counter)}"

    def data(self) -> dict[str, Any]:
        """What the page's script needs: the kind, the answer and the feedback texts."""
        if self.kind == "choice":
            return {"kind": "choice", "answer": self.answer, "explain": _plain(self.explain),
                    "why": [_plain(w) for w in self.why]}
        return {"kind": "number", "answer": list(self.answer), "tol": self.tolerance,
                "explain": _plain(self.explain)}

    def _controls(self) -> str:
        if self.kind == "choice":
            buttons = "".join(
                f'<button type="button" class="cvq-option" data-index="{i}" '
                f'aria-pressed="false">{_text(option)}</button>'
                for i, option in enumerate(self.options))
            return (f'<div class="cvq-options" role="group" '
                    f'aria-labelledby="{self.id}-prompt">{buttons}</div>')
        hint = ("one number" if len(self.answer) == 1 else
                f"{len(self.answer)} numbers, separated by commas")
        return (f'<form><label for="{self.id}-input">Your answer ({hint}):</label>'
                f'<input id="{self.id}-input" type="text" autocomplete="off" '
                f'inputmode="{"numeric" if self.tolerance == 0 else "decimal"}">'
                f'<button type="submit">Check</button></form>')

    def _repr_html_(self) -> str:
        payload = html.escape(json.dumps(self.data(), separators=(",", ":"),
                                         ensure_ascii=True), quote=True)
        explain = f" {_text(self.explain)}" if self.explain else ""
        return (
            f"<style>{_CSS}</style>"
            f'<div class="cvq cvq-{self.kind}" id="{self.id}" data-quiz="{payload}">'
            f'<p class="cvq-head">Question</p>'
            f'<p class="cvq-prompt" id="{self.id}-prompt">{_text(self.prompt)}</p>'
            f"{self._controls()}"
            f'<p class="cvq-feedback" role="status" aria-live="polite"></p>'
            f"<details><summary>Show the answer</summary>"
            f"<p><strong>{_text(self.answer_text)}</strong>.{explain}</p></details>"
            f"</div>"
            f"<script>{_JS}({json.dumps(self.id)});</script>"
        )

    def __str__(self) -> str:
        lines = [f"Question: {self.prompt}"]
        lines += [f"  {chr(ord('a') + i)}) {option}" for i, option in enumerate(self.options)]
        return "\n".join(lines)

    __repr__ = __str__


def choice(prompt: str, options: Sequence[str | tuple[str, str]], answer: int,
           explain: str = "") -> Question:
    """A multiple-choice question.

    Parameters
    ----------
    prompt : str
        The question.
    options : sequence of str or (str, str)
        The options, in the order shown. A pair is ``(option, feedback)``: what a reader who
        picks that wrong option is told (the classic mistake it is).
    answer : int
        The index of the right option.
    explain : str, optional
        Why the answer is right: shown when the reader picks it, and with the answer.
    """
    if len(options) < 2:
        raise ValueError("options: a multiple-choice question needs at least 2 options")
    labels = [o if isinstance(o, str) else o[0] for o in options]
    why = ["" if isinstance(o, str) else o[1] for o in options]
    if isinstance(answer, bool) or not isinstance(answer, numbers.Integral) or not (
            0 <= int(answer) < len(labels)):
        raise ValueError(f"answer: expected the index of an option, 0 to {len(labels) - 1}, "
                         f"got {answer!r}")
    return Question("choice", prompt, int(answer), labels[int(answer)], explain,
                    options=labels, why=why)


def number(prompt: str, answer: Any, explain: str = "", tolerance: float = 0.0) -> Question:
    """A question whose answer is a number, or several (a shape, a pair of paddings).

    Parameters
    ----------
    prompt : str
        The question.
    answer : number or sequence of numbers
        What the reader must type; for a sequence, all of them, in order (any separators:
        ``2, 7, 7, 3`` and ``(2, 7, 7, 3)`` both count).
    explain : str, optional
        Why: shown when the reader gets it right, and with the answer.
    tolerance : float, optional
        Largest accepted absolute difference per number (default 0: exact).
    """
    is_seq = isinstance(answer, Sequence) and not isinstance(answer, str)
    values = tuple(_as_number(v) for v in (answer if is_seq else [answer]))
    if not values:
        raise ValueError("answer: expected at least one number")
    if tolerance < 0:
        raise ValueError(f"tolerance: expected a number >= 0, got {tolerance!r}")
    shown = ", ".join(str(v) for v in values)
    text = f"({shown})" if is_seq and len(values) > 1 else shown
    return Question("number", prompt, values, text, explain, tolerance=float(tolerance))
