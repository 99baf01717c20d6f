"""Explorers over the frames of :mod:`convlab.trace`: a static page player and a live widget.

:func:`static_explorer` returns an object whose ``_repr_html_`` is self-contained HTML: the
presets as embedded JSON (settings, seed and any data given), and the project's own small
player (JavaScript and CSS from ``explorer_assets/``, inlined). The page computes the frames
itself with ``trace.js``, which repeats :mod:`convlab.trace` frame for frame, so a reader
may enter any setting in its form; it needs no kernel and loads nothing, so it works on the
static book site: a setting form, quick picks, play/pause at four speeds, step, scrub,
arrow keys and space, and any cell inspected on hover or focus.

:func:`live_explorer` is the notebook version: ipywidgets controls for every parameter,
recomputing the trace on each change and drawing the current frame as HTML with the same
styles (ipywidgets is imported only here).
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from convlab.trace import MAX_CHANNELS, OPERATIONS, ROLES, Trace, trace

__all__ = ["DEFAULT_PRESETS", "LIVE_CONTROLS", "PRESET_KEYS", "LiveExplorer", "StaticExplorer",
           "frame_html", "live_explorer", "static_explorer"]

#: Most an explorer may add to a page, in bytes.
MAX_BYTES = 1_000_000

#: Presets used when none are given: stride 1/2, VALID/SAME, dilation 1/2, channels.
DEFAULT_PRESETS: list[dict[str, Any]] = [
    {"label": "stride 1, VALID", "strides": 1, "padding": "VALID"},
    {"label": "stride 2, SAME", "strides": 2, "padding": "SAME"},
    {"label": "stride 2, VALID", "strides": 2, "padding": "VALID"},
    {"label": "stride 1, SAME, dilation 2", "strides": 1, "padding": "SAME", "dilations": 2},
    {"label": "stride 2, SAME, 2 in / 1 out channels", "strides": 2, "padding": "SAME",
     "channels": (2, 1), "input_size": 4},
]

#: Keys a preset may hold: a label, the settings of :func:`convlab.trace.trace`, and data.
PRESET_KEYS = ("label", "input_size", "kernel_size", "strides", "padding", "dilations",
               "channels", "seed", "x", "w", "dy", "u")
_DATA_KEYS = ("x", "w", "dy", "u")

_counter = itertools.count()


@cache
def _asset(name: str) -> str:
    return (resources.files("convlab") / "explorer_assets" / name).read_text(encoding="utf-8")


# what may not appear raw in JSON inside a <script> element: `<` starts `</script` and
# `<!--`, `>` ends `-->`, `&` matters to XHTML readers. In JSON they occur only inside
# strings, where a \u escape means the same character.
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def _script_json(data: Any) -> str:
    """``data`` as JSON that is safe as the text of a ``<script>`` element.

    ASCII only (so U+2028/2029 and lone surrogates are escaped too), with ``<``, ``>`` and
    ``&`` as ``\\u003c``, ``\\u003e`` and ``\\u0026``: no label can end the element, open
    a comment in it, or make the text invalid JSON. Non-finite numbers are refused (they
    are not JSON).
    """
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.translate(_SCRIPT_ESCAPES)


def _settings(t: Trace) -> dict[str, Any]:
    """A preset as the page's ``trace.js`` takes it: the setting, the seed and the data given.

    Only the given arrays travel: the page draws the rest from the seed, as Python did.
    """
    p = t.params
    out = {k: p[k] for k in ("input_size", "kernel_size", "strides", "dilations", "channels",
                             "padding", "seed")}
    for name in p["given"]:
        key = "dy" if name == "u" else name
        out[name] = np.asarray(t.data[key]).tolist()
    return out


class StaticExplorer:
    """A static explorer of one operation over a few presets (see :func:`static_explorer`)."""

    def __init__(self, op: str, presets: list[dict[str, Any]], base: dict[str, Any]) -> None:
        if not isinstance(op, str) or op not in OPERATIONS:
            raise ValueError(f"op must be one of {', '.join(map(repr, OPERATIONS))}, got {op!r}")
        if isinstance(presets, (str, bytes, Mapping)) or not isinstance(presets, Iterable):
            raise TypeError(f"presets must be a list of dicts, got {presets!r}")
        presets = list(presets)
        if not presets:
            raise ValueError("presets must hold at least one preset (a dict), got none")
        self.op = op
        self.presets = []
        self.traces: list[Trace] = []
        for number, preset in enumerate(presets):
            if not isinstance(preset, Mapping):
                raise TypeError(f"preset {number} must be a dict, got {preset!r}")
            if "label" in preset and not isinstance(preset["label"], str):
                raise TypeError(f"preset {number}'s label must be a str, got "
                                f"{preset['label']!r}")
            unknown = sorted(set(preset) - set(PRESET_KEYS), key=repr)
            if unknown:
                raise ValueError(f"preset {number} ({preset.get('label', 'no label')!r}) has "
                                 f"unknown key(s) {unknown}; a preset may hold "
                                 f"{', '.join(PRESET_KEYS)}")
            params = {**base, **{k: v for k, v in preset.items() if k != "label"}}
            label = preset.get("label") or ", ".join(
                [f"{k}={v}" for k, v in params.items() if k not in _DATA_KEYS]
                + [f"given {', '.join(k for k in _DATA_KEYS if k in preset)}"] * any(
                    k in preset for k in _DATA_KEYS))
            try:
                t = trace(op, **params)
            except (TypeError, ValueError) as err:
                raise type(err)(f"preset {number} ({label!r}): {err}") from None
            self.presets.append({"label": label, "settings": _settings(t)})
            self.traces.append(t)
        self.title = OPERATIONS[op]
        payload = {"op": op, "title": self.title, "presets": self.presets}
        self._json = _script_json(payload)
        digest = hashlib.sha1(self._json.encode()).hexdigest()[:10]
        self.id = f"cvx-{op.replace('_', '-')}-{digest}-{next(_counter)}"
        self._html = self._render()
        if self.nbytes > MAX_BYTES:
            raise ValueError(f"the {op} explorer is {self.nbytes} bytes, over the "
                             f"{MAX_BYTES}-byte budget: use fewer or smaller presets")

    def _render(self) -> str:
        noscript = ("<noscript>This explorer needs JavaScript; the numbers it steps through "
                    "are computed by convlab.trace.trace.</noscript>")
        ident = html.escape(self.id)
        return (
            f'<div class="cvx" id="{ident}" data-op="{html.escape(self.op)}">{noscript}'
            f"<p>{html.escape(self.title)}: loading...</p></div>\n"
            f'<script type="application/json" id="{ident}-data">{self._json}</script>\n'
            f"<style>{_asset('explorer.css')}</style>\n"
            f"<script>{_asset('trace.js')}\n{_asset('explorer.js')}\n"
            f"ConvlabExplorer.mount({_script_json(self.id)});</script>\n"
        )

    @property
    def nbytes(self) -> int:
        """Size of the HTML this explorer adds to a page."""
        return len(self._html.encode())

    def frame_counts(self) -> list[int]:
        return [len(t.frames) for t in self.traces]

    def _repr_html_(self) -> str:
        return self._html

    def __html__(self) -> str:
        return self._html


def static_explorer(
    op: str,
    presets: list[dict[str, Any]] | None = None,
    *,
    input_size: int | tuple[int, int] = 5,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: Any = "VALID",
    dilations: int | tuple[int, int] = 1,
    channels: int | tuple[int, int] = 1,
    seed: int = 0,
) -> StaticExplorer:
    """An explorer of ``op`` that runs in the browser with no kernel.

    Parameters
    ----------
    op : str
        ``"forward"``, ``"d_w"``, ``"d_x_scatter"``, ``"d_x_gather"`` or ``"conv2d_transpose"``.
    presets : list of dict, optional
        Settings the reader can choose among; each overrides the keyword arguments below
        and may have a ``"label"`` and the data itself (``"x"``, ``"w"``, ``"dy"``, or
        ``"u"`` for ``conv2d_transpose``: arrays or nested lists, e.g. a figure's, as in
        :func:`convlab.trace.trace`). Keys are checked (:data:`PRESET_KEYS`).
        Default: :data:`DEFAULT_PRESETS`.
    input_size, kernel_size, strides, padding, dilations, channels, seed
        The base settings, as in :func:`convlab.trace.trace`.

    Returns
    -------
    StaticExplorer
        Displayed through ``_repr_html_``; ``.nbytes`` is its size in the page.

    Examples
    --------
    >>> ex = static_explorer("d_x_scatter", [{"label": "stride 2", "strides": 2}])
    >>> ex.frame_counts(), ex.nbytes < 1_000_000
    ([6], True)
    >>> ex = static_explorer("d_x_scatter", [
    ...     {"label": "the figure", "strides": 2, "padding": "VALID", "input_size": 6,
    ...      "w": [[1, 2, 0], [0, -1, 1], [2, 0, 1]], "dy": [[1, -1], [2, 1]]}])
    >>> ex.traces[0].result[:, :, 0].astype(int).tolist()[1]
    [0, -1, 1, 1, -1, 0]
    """
    base = {"input_size": input_size, "kernel_size": kernel_size, "strides": strides,
            "padding": padding, "dilations": dilations, "channels": channels, "seed": seed}
    return StaticExplorer(op, DEFAULT_PRESETS if presets is None else presets, base)


# ----------------------------------------------------------------------------------------
# one frame as static HTML (the live widget's view; the same classes as the player)

_KIND_TEXT = {"input": "INPUT", "filter": "FILTER", "output": "OUTPUT", "work": "WORK"}
_DATA_NAME = {"dy": "δy"}  # the book's names of trace's data keywords


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"


def _replay(t: Trace, k: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    defs = {g.id: g for g in t.grids}
    vals = {g.id: g.values.copy() for g in t.grids}
    for f in t.frames[:k + 1]:
        for gid, g in f.replace.items():
            defs[gid], vals[gid] = g, g.values.copy()
        for gid, p, r, c, v in f.put:
            vals[gid][p, r, c] = v
    return defs, vals


def frame_html(t: Trace, k: int) -> str:
    """Frame ``k`` of ``t`` as static HTML with the explorers' styles (no script)."""
    k = max(0, min(k, len(t.frames) - 1))
    frame = t.frames[k]
    defs, vals = _replay(t, k)
    prm = t.params
    summary = (f"{t.title}. Input {prm['input_size']}, kernel {prm['kernel_size']}, stride "
               f"{prm['strides']}, padding {prm['padding']} (pads {prm['pads']}), dilation "
               f"{prm['dilations']}, channels in/out {prm['channels']}, output "
               f"{prm['output_size']}; values "
               + (f"given: {', '.join(_DATA_NAME.get(n, n) for n in prm['given'])}"
                  if prm.get("given") else f"drawn at random (seed {prm['seed']})")
               + f". Step {k + 1} of {len(t.frames)}.")
    esc = html.escape
    parts = [f'<div class="cvx cvx-static" data-frame="{k}"><p class="cvx-caption">'
             f'{esc(summary)}</p><div class="cvx-body"><div class="cvx-grids">']
    for gid, g in defs.items():
        hl = {tuple(c) for c in frame.highlight.get(gid, [])}
        fx = {tuple(c) for c in frame.focus.get(gid, [])}
        rows, cols = g.roles.shape
        parts.append(f'<figure class="cvx-grid cvx-k-{esc(g.kind)}" data-grid="{esc(gid)}">'
                     f'<figcaption><span class="cvx-badge">{esc(_KIND_TEXT.get(g.kind, g.kind))}'
                     f'</span>{esc(g.label)}</figcaption><div class="cvx-panels">')
        for p, name in enumerate(g.panels):
            # each cell at its row and column (--r, --c), as the page's player draws them
            parts.append(f'<div class="cvx-panel"><div class="cvx-plabel">{html.escape(name)}'
                         f'</div><div class="cvx-cells" style="--rows:{rows};--cols:{cols}">')
            parts.extend(f'<span class="cvx-ix cvx-col" style="--c:{q}">{q + g.offset[1]}'
                         "</span>" for q in range(cols))
            for r in range(rows):
                parts.append(f'<span class="cvx-ix cvx-row" style="--r:{r}">{r + g.offset[0]}'
                             "</span>")
                for c in range(cols):
                    cls = f"cvx-c r-{g.roles[r, c]}"
                    cls += " hl" if (p, r, c) in hl else ""
                    cls += " fx" if (p, r, c) in fx else ""
                    parts.append(f'<span class="{esc(cls)}" style="--r:{r};--c:{c}" '
                                 f'title="{esc(ROLES[g.roles[r, c]])}">'
                                 f"{_fmt(vals[gid][p, r, c])}</span>")
            parts.append("</div></div>")
        parts.append("</div></figure>")
    terms = "".join(f"<li>{html.escape(t)}</li>" for t in frame.terms[1:])
    parts.append(f'</div><div class="cvx-side"><p class="cvx-caption">{html.escape(frame.caption)}'
                 f'</p><div class="cvx-term"><div class="cvx-headline">'
                 f"{html.escape(frame.terms[0])}</div>{f'<ul>{terms}</ul>' if terms else ''}"
                 "</div></div></div></div>")
    return f"<style>{_asset('explorer.css')}</style>" + "".join(parts)


# ----------------------------------------------------------------------------------------
# the live notebook widget


#: The live explorer's controls: the static explorer's names and ranges (its page contract).
LIVE_CONTROLS = {
    "input_h": ("input height", 1, 16), "input_w": ("input width", 1, 16),
    "kernel_h": ("kernel height", 1, 5), "kernel_w": ("kernel width", 1, 5),
    "stride_h": ("stride, rows", 1, 4), "stride_w": ("stride, columns", 1, 4),
    "dilation_h": ("dilation, rows", 1, 4), "dilation_w": ("dilation, columns", 1, 4),
    "channels_in": ("channels in", 1, MAX_CHANNELS),
    "channels_out": ("channels out", 1, MAX_CHANNELS),
    "pad_top": ("padding on top", 0, 8), "pad_bottom": ("padding below", 0, 8),
    "pad_left": ("padding on the left", 0, 8), "pad_right": ("padding on the right", 0, 8),
}
_LIVE_DEFAULTS = {"input_h": 5, "input_w": 5, "kernel_h": 3, "kernel_w": 3, "stride_h": 1,
                  "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "channels_in": 1,
                  "channels_out": 1, "pad_top": 0, "pad_bottom": 0, "pad_left": 0,
                  "pad_right": 0}
# the keywords of trace() a reader may also use, as pairs of the controls
_LIVE_PAIRS = {"input_size": ("input_h", "input_w"), "kernel_size": ("kernel_h", "kernel_w"),
               "strides": ("stride_h", "stride_w"), "dilations": ("dilation_h", "dilation_w"),
               "channels": ("channels_in", "channels_out")}


def _live_settings(op: str, params: dict[str, Any]) -> tuple[dict[str, int], str, int]:
    """Check ``live_explorer``'s keywords: (control values, padding, seed)."""
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {', '.join(OPERATIONS)}, got {op!r}")
    values: dict[str, Any] = dict(_LIVE_DEFAULTS)
    padding, seed = "VALID", 0
    known = sorted([*LIVE_CONTROLS, *_LIVE_PAIRS, "padding", "seed"])
    for key, value in params.items():
        if key == "seed":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"seed must be an int, got {value!r}")
            seed = int(value)
        elif key == "padding":
            if isinstance(value, str) and value.upper() in ("VALID", "SAME", "EXPLICIT"):
                padding = value.upper()
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                padding = "EXPLICIT"
                for name in ("pad_top", "pad_bottom", "pad_left", "pad_right"):
                    values[name] = int(value)
            else:
                try:
                    (t, b), (left, r) = value
                except (TypeError, ValueError):
                    raise ValueError(
                        "padding must be 'VALID', 'SAME', 'EXPLICIT', an int or "
                        f"((top, bottom), (left, right)), got {value!r}") from None
                padding = "EXPLICIT"
                values.update(pad_top=t, pad_bottom=b, pad_left=left, pad_right=r)
        elif key in _LIVE_PAIRS:
            first, second = _LIVE_PAIRS[key]
            pair = (value, value) if isinstance(value, (int, np.integer)) else value
            try:
                values[first], values[second] = pair
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be an int or a pair of ints, got {value!r}") from None
        elif key in LIVE_CONTROLS:
            values[key] = value
        else:
            raise ValueError(f"live_explorer has no setting {key!r}; it takes "
                             f"{', '.join(known)}")
    for key, value in values.items():
        words, lo, hi = LIVE_CONTROLS[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not lo <= value <= hi:
            raise ValueError(f"{key} ({words}) must be a whole number from {lo} to {hi}, "
                             f"got {value!r}")
        values[key] = int(value)
    return {k: int(v) for k, v in values.items()}, padding, seed


class LiveExplorer:
    """ipywidgets controls over :func:`convlab.trace.trace`; see :func:`live_explorer`.

    The controls are the static explorer's, under the same names and ranges, in
    ``controls`` (``input_h`` ... ``pad_right``, ``padding``) and as attributes; ``op`` picks
    the operation, ``step`` (counted from 1, as the caption counts) and ``play`` move
    through the steps; ``message`` says what the trace did or why a setting is impossible
    (the picture is cleared then); ``view`` is the HTML of the current step, ``trace`` the
    current trace (``None`` while the setting is impossible) and ``widget`` the whole box.
    """

    def __init__(self, op: str = "d_x_gather", **params: Any) -> None:
        import ipywidgets as w

        values, padding, self.seed = _live_settings(op, params)
        style = {"description_width": "9em"}
        self.op = w.Dropdown(options=[(v.split(":")[0], k) for k, v in OPERATIONS.items()],
                             value=op, description="operation", style=style)
        self.controls: dict[str, Any] = {}
        for name, (words, lo, hi) in LIVE_CONTROLS.items():
            self.controls[name] = w.BoundedIntText(value=values[name], min=lo, max=hi,
                                                   description=words, style=style)
            setattr(self, name, self.controls[name])
        self.padding = w.Dropdown(options=["VALID", "SAME", "EXPLICIT"], value=padding,
                                  description="padding", style=style)
        self.controls["padding"] = self.padding
        self.step = w.IntSlider(value=1, min=1, max=1, description="step", style=style)
        self.play = w.Play(value=1, min=1, max=1, interval=800, description="play")
        w.jslink((self.play, "value"), (self.step, "value"))
        self.message = w.HTML()
        self.view = w.HTML()
        self.trace: Trace | None = None
        for c in [self.op, *self.controls.values()]:
            c.observe(self._recompute, names="value")
        self.step.observe(self._redraw, names="value")
        left = w.VBox([self.op, *self.controls.values()])
        self.widget = w.VBox([w.HBox([left, w.VBox([w.HBox([self.play, self.step]),
                                                    self.message])]), self.view])
        self._recompute()

    def settings(self) -> dict[str, Any]:
        """The setting in the controls, as :func:`convlab.trace.trace` takes it."""
        v = {name: c.value for name, c in self.controls.items()}
        explicit = ((v["pad_top"], v["pad_bottom"]), (v["pad_left"], v["pad_right"]))
        return {
            "input_size": (v["input_h"], v["input_w"]),
            "kernel_size": (v["kernel_h"], v["kernel_w"]),
            "strides": (v["stride_h"], v["stride_w"]),
            "dilations": (v["dilation_h"], v["dilation_w"]),
            "channels": (v["channels_in"], v["channels_out"]),
            "padding": explicit if v["padding"] == "EXPLICIT" else v["padding"],
            "seed": self.seed,
        }

    def _recompute(self, change: Any = None) -> None:
        try:
            self.trace = trace(self.op.value, **self.settings())
        except ValueError as err:
            self.trace = None
            self.view.value = ""  # no stale picture
            self.message.value = (f'<span role="alert" style="color:#b00020">Not possible: '
                                  f"{html.escape(str(err))}</span>")
            return
        n = len(self.trace.frames)
        self.message.value = html.escape(f"{n} steps; the last equals convlab."
                                         f"{self.trace.checked_against}")
        self.play.max = self.step.max = n
        if self.step.value != 1:
            self.step.value = 1  # redraws through the observer
        else:
            self._redraw()

    def _redraw(self, change: Any = None) -> None:
        if self.trace is not None:
            self.view.value = frame_html(self.trace, self.step.value - 1)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def live_explorer(op: str = "d_x_gather", **params: Any) -> LiveExplorer:
    """An ipywidgets explorer for a live notebook: every control recomputes the trace.

    ``params`` sets the start: any control of :data:`LIVE_CONTROLS` (``input_h=6``,
    ``channels_in=2``, ...), or trace's pairs (``input_size``, ``kernel_size``,
    ``strides``, ``dilations``, ``channels``: an int or a pair), ``padding`` (``"VALID"``,
    ``"SAME"``, ``"EXPLICIT"``, an int or ``((top, bottom), (left, right))``) and ``seed``.

    Raises
    ------
    ValueError
        For an unknown operation or keyword, or a value out of its control's range (the
        message names the keyword and the range).
    """
    return LiveExplorer(op, **params)
