"""Concept questions that work on a static page: no kernel, no network.

:func:`choice` (multiple choice) and :func:`number` (one number, or several, such as a
shape) return a :class:`Question`. In a notebook or on the built book it renders, through
``_repr_html_``, as self-contained HTML with a small inline script: the options are buttons,
a number is typed into a field and checked with Enter or the *Check* button, and the
feedback appears at once beside the question. The answer and its explanation also sit in a
closed *Show the answer* box, which opens without JavaScript. Nothing is loaded from
anywhere: no stylesheet, font, script or image.

The correct answer travels in the page (in the ``data-quiz`` attribute); these are
questions for learning, not for marking. In the student edition, :func:`hide_answers` keeps
the answer out of sight: the page carries a hash of it and the explanation enciphered with
it, so the feedback still comes at once, but there is no *Show the answer* box and nothing
in the notebook reads as the answer. A small answer can still be found by trying numbers;
the hash only keeps it from being read by accident. Compute numeric answers with convlab where you
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

import base64
import hashlib
import html
import itertools
import json
import math
import numbers
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

__all__ = ["Question", "choice", "hide_answers", "number"]

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
  // hidden answers (the student edition): FNV-1a of salt|answer, and the explanation XORed
  // with a xorshift32 stream seeded from salt#answer; the Python side is quiz._hash/_cipher
  function fnv(text) {
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) {
      h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
    }
    return h;
  }
  function reveal(key) {
    var bytes = atob(data.explain), s = fnv(data.salt + "#" + key) || 1;
    var out8 = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      out8[i] = bytes.charCodeAt(i) ^ (s & 255);
    }
    return new TextDecoder("utf-8").decode(out8);
  }
  function canonical(values) {
    return values.map(function (v) {
      return data.tol > 0 ? String(Math.round(v / data.tol)) : v.toExponential();
    }).join(",");
  }
  function say(ok, text) {
    out.textContent = (ok ? "\u2714 Right. " : "\u2718 Not quite. ") + text;
    out.className = "cvq-feedback " + (ok ? "cvq-right" : "cvq-wrong");
  }
  if (data.kind === "choice") {
    var buttons = root.querySelectorAll("button.cvq-option");
    Array.prototype.forEach.call(buttons, function (b) {
      b.addEventListener("keydown", function (event) {  // keep Enter from JupyterLab
        if (event.key === "Enter") { event.stopPropagation(); }
      });
      b.addEventListener("click", function () {
        var i = Number(b.getAttribute("data-index"));
        var ok = data.hidden ? fnv(data.salt + "|" + i) === data.check : i === data.answer;
        Array.prototype.forEach.call(buttons, function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        b.classList.add(ok ? "cvq-right" : "cvq-wrong");
        say(ok, ok ? (data.hidden ? reveal(String(i)) : data.explain) :
            (data.why[i] || "Try another option."));
      });
    });
  } else {
    var form = root.querySelector("form");
    var input = root.querySelector("input");
    form.addEventListener("submit", function (event) { event.preventDefault(); check(); });
    // JupyterLab binds Enter to its own commands, which would swallow the form's submit
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); event.stopPropagation(); check(); }
    });
    function check() {
      var got = (input.value.match(/-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?/g) || []).map(Number);
      var count = data.hidden ? data.count : data.answer.length;
      if (!got.length) { say(false, "Type your answer first."); return; }
      if (got.length !== count) {
        say(false, "The answer has " + count + (count === 1 ? " number" :
            " numbers") + "; you typed " + got.length + ".");
        return;
      }
      if (data.hidden) {
        var key = canonical(got);
        var right = fnv(data.salt + "|" + key) === data.check;
        say(right, right ? reveal(key) : "Try again.");
        return;
      }
      var ok = data.answer.every(function (v, k) { return Math.abs(got[k] - v) <= data.tol; });
      say(ok, ok ? data.explain : "Try again, or open the answer below.");
    }
  }
})
"""


_hidden = False


def hide_answers(hidden: bool = True) -> None:
    """Keep answers out of sight in the questions made from now on (the student edition).

    The page then carries a hash of the answer instead of the answer, and the explanation
    enciphered with the answer, so a right answer still gets its explanation at once; there
    is no *Show the answer* box.
    """
    global _hidden
    if not isinstance(hidden, bool):
        raise TypeError(f"hidden: expected True or False, got {hidden!r}")
    _hidden = hidden


def _fnv(text: str) -> int:
    """32-bit FNV-1a of ``text`` (code units below 256 here; the page's ``fnv`` is the same)."""
    h = 2166136261
    for ch in text:
        h = ((h ^ ord(ch)) * 16777619) & 0xFFFFFFFF
    return h


def _cipher(text: str, seed: int) -> str:
    """``text``'s UTF-8 XORed with a xorshift32 stream from ``seed``, as base64 (the page's
    ``reveal`` undoes it)."""
    state = seed or 1
    out = bytearray()
    for byte in text.encode("utf-8"):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out.append(byte ^ (state & 255))
    return base64.b64encode(bytes(out)).decode("ascii")


def _js_exponential(value: float) -> str:
    """``value`` as JavaScript's ``Number.prototype.toExponential()`` writes it."""
    if value == 0:
        return "0e+0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = int(exponent) + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def _text(value: str) -> str:
    """Plain text as HTML: escaped, with `backticks` shown as code."""
    return _CODE.sub(r"<code>\1</code>", html.escape(value, quote=False))


def _plain(value: str) -> str:
    """Plain text for the feedback line (backticks dropped)."""
    return _CODE.sub(r"\1", value)


def _string(value: Any, name: str, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a string (plain text, `backticks` for code), "
                        f"got {type(value).__name__}: {value!r}")
    if not empty and not value.strip():
        raise ValueError(f"{name}: expected some text, got {value!r}")
    return value


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
    hidden : bool
        Whether the page keeps the answer out of sight (made after :func:`hide_answers`).
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
        self.hidden = _hidden
        digest = hashlib.sha1(f"{kind}{prompt}{answer}".encode()).hexdigest()[:8]
        self.id = f"cvq-{digest}-{next(_counter)}"

    def _key(self) -> str:
        """The answer as the page's ``canonical`` writes what the reader typed."""
        if self.kind == "choice":
            return str(self.answer)
        if self.tolerance > 0:
            return ",".join(str(math.floor(v / self.tolerance + 0.5)) for v in self.answer)
        return ",".join(_js_exponential(v) for v in self.answer)

    def data(self) -> dict[str, Any]:
        """What the page's script needs: the kind, the answer and the feedback texts."""
        if self.hidden:
            key = self._key()
            hidden: dict[str, Any] = {
                "kind": self.kind, "hidden": True, "salt": self.id,
                "check": _fnv(f"{self.id}|{key}"),
                "explain": _cipher(_plain(self.explain), _fnv(f"{self.id}#{key}"))}
            if self.kind == "choice":
                return {**hidden, "why": [_plain(w) for w in self.why]}
            return {**hidden, "count": len(self.answer), "tol": self.tolerance}
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
        reveal = "" if self.hidden else (
            f"<details><summary>Show the answer</summary>"
            f"<p><strong>{_text(self.answer_text)}</strong>.{explain}</p></details>")
        return (
            f"<style>{_CSS}</style>"
            f'<div class="cvq cvq-{self.kind}" id="{self.id}" data-quiz="{payload}">'
            f'<p class="cvq-head">Question</p>'
            f'<p class="cvq-prompt" id="{self.id}-prompt">{_text(self.prompt)}</p>'
            f"{self._controls()}"
            f'<p class="cvq-feedback" role="status" aria-live="polite"></p>'
            f"{reveal}</div>"
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
    _string(prompt, "prompt")
    _string(explain, "explain", empty=True)
    accepted = "options: expected a list of strings or (option, feedback) pairs of strings"
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise TypeError(f"{accepted}, got {options!r}")
    labels, why = [], []
    for option in options:
        pair = (option, "") if isinstance(option, str) else option
        if (isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2
                or not all(isinstance(t, str) for t in pair)):
            raise TypeError(f"{accepted}, got {option!r} among them")
        if not pair[0].strip():
            raise ValueError(f"{accepted}; an option is empty: {option!r}")
        labels.append(pair[0])
        why.append(pair[1])
    if len(labels) < 2:
        raise ValueError("options: a multiple-choice question needs at least 2 options")
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
    _string(prompt, "prompt")
    _string(explain, "explain", empty=True)
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"tolerance: expected a number >= 0, got {tolerance!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance: expected a finite number >= 0, got {tolerance!r}")
    is_seq = isinstance(answer, Sequence) and not isinstance(answer, str)
    values = tuple(_as_number(v) for v in (answer if is_seq else [answer]))
    if not values:
        raise ValueError("answer: expected at least one number")
    shown = ", ".join(str(v) for v in values)
    text = f"({shown})" if is_seq and len(values) > 1 else shown
    return Question("number", prompt, values, text, explain, tolerance=float(tolerance))
