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
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from convlab.trace import MAX_CHANNELS, OPERATIONS, ROLES, Trace, trace

__all__ = ["DEFAULT_PRESETS", "PRESET_KEYS", "LiveExplorer", "StaticExplorer", "frame_html",
           "live_explorer", "static_explorer"]

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


def _script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


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
        self.op = op
        self.presets = []
        self.traces: list[Trace] = []
        for number, preset in enumerate(presets):
            unknown = sorted(set(preset) - set(PRESET_KEYS))
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
            except ValueError as err:
                raise ValueError(f"preset {number} ({label!r}): {err}") from None
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
        return (
            f'<div class="cvx" id="{self.id}" data-op="{html.escape(self.op)}">{noscript}'
            f"<p>{html.escape(self.title)}: loading...</p></div>\n"
            f'<script type="application/json" id="{self.id}-data">{self._json}</script>\n'
            f"<style>{_asset('explorer.css')}</style>\n"
            f"<script>{_asset('trace.js')}\n{_asset('explorer.js')}\n"
            f"ConvlabExplorer.mount({json.dumps(self.id)});</script>\n"
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
    parts = [f'<div class="cvx cvx-static" data-frame="{k}"><p class="cvx-caption">'
             f'{html.escape(summary)}</p><div class="cvx-body"><div class="cvx-grids">']
    for gid, g in defs.items():
        hl = {tuple(c) for c in frame.highlight.get(gid, [])}
        fx = {tuple(c) for c in frame.focus.get(gid, [])}
        rows, cols = g.roles.shape
        parts.append(f'<figure class="cvx-grid cvx-k-{g.kind}" data-grid="{gid}"><figcaption>'
                     f'<span class="cvx-badge">{_KIND_TEXT.get(g.kind, g.kind)}</span>'
                     f"{html.escape(g.label)}</figcaption><div class=\"cvx-panels\">")
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
                    parts.append(f'<span class="{cls}" style="--r:{r};--c:{c}" '
                                 f'title="{ROLES[g.roles[r, c]]}">'
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


class LiveExplorer:
    """ipywidgets controls over :func:`convlab.trace.trace`; see :func:`live_explorer`.

    The controls are attributes (``op``, ``input_size``, ``kernel_size``, ``strides``,
    ``padding``, ``pad``, ``dilations``, ``in_channels``, ``out_channels``, ``frame``,
    ``play``); ``view`` is the HTML of the current frame, ``trace`` the current trace and
    ``widget`` the whole box.
    """

    def __init__(self, op: str = "d_x_gather", **params: Any) -> None:
        import ipywidgets as w

        def slider(name: str, value: int, lo: int, hi: int) -> Any:
            return w.IntSlider(value=value, min=lo, max=hi, description=name,
                               continuous_update=False, style={"description_width": "7em"})

        self.op = w.Dropdown(options=[(v.split(":")[0], k) for k, v in OPERATIONS.items()],
                             value=op, description="operation",
                             style={"description_width": "7em"})
        self.input_size = slider("input size", params.get("input_size", 5), 2, 8)
        self.kernel_size = slider("kernel size", params.get("kernel_size", 3), 1, 4)
        self.strides = slider("stride", params.get("strides", 1), 1, 3)
        self.dilations = slider("dilation", params.get("dilations", 1), 1, 3)
        self.padding = w.Dropdown(options=["VALID", "SAME", "explicit"],
                                  value=params.get("padding", "VALID"), description="padding",
                                  style={"description_width": "7em"})
        self.pad = slider("explicit pad", 1, 0, 3)
        self.in_channels = slider("in channels", params.get("in_channels", 1), 1, MAX_CHANNELS)
        self.out_channels = slider("out channels", params.get("out_channels", 1), 1,
                                   MAX_CHANNELS)
        self.frame = w.IntSlider(value=0, min=0, max=1, description="step",
                                 style={"description_width": "7em"})
        self.play = w.Play(value=0, min=0, max=1, interval=800, description="play")
        w.jslink((self.play, "value"), (self.frame, "value"))
        self.message = w.HTML()
        self.view = w.HTML()
        self.trace: Trace | None = None
        self._controls = [self.op, self.input_size, self.kernel_size, self.strides,
                          self.padding, self.pad, self.dilations, self.in_channels,
                          self.out_channels]
        for c in self._controls:
            c.observe(self._recompute, names="value")
        self.frame.observe(self._redraw, names="value")
        left = w.VBox(self._controls)
        self.widget = w.VBox([w.HBox([left, w.VBox([w.HBox([self.play, self.frame]),
                                                    self.message])]), self.view])
        self._recompute()

    def settings(self) -> dict[str, Any]:
        pad = self.padding.value
        return {
            "input_size": self.input_size.value, "kernel_size": self.kernel_size.value,
            "strides": self.strides.value, "dilations": self.dilations.value,
            "padding": self.pad.value if pad == "explicit" else pad,
            "channels": (self.in_channels.value, self.out_channels.value),
        }

    def _recompute(self, change: Any = None) -> None:
        self.pad.disabled = self.padding.value != "explicit"
        try:
            self.trace = trace(self.op.value, **self.settings())
        except ValueError as err:
            self.message.value = f'<span style="color:#a00">{html.escape(str(err))}</span>'
            return
        n = len(self.trace.frames)
        self.message.value = (f"{n} steps; final values equal convlab."
                              f"{self.trace.checked_against}")
        self.play.max = self.frame.max = n - 1
        if self.frame.value != 0:
            self.frame.value = 0  # redraws through the observer
        else:
            self._redraw()

    def _redraw(self, change: Any = None) -> None:
        if self.trace is not None:
            self.view.value = frame_html(self.trace, self.frame.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def live_explorer(op: str = "d_x_gather", **params: Any) -> LiveExplorer:
    """An ipywidgets explorer for a live notebook: every control recomputes the trace.

    ``params`` sets the starting ``input_size``, ``kernel_size``, ``strides``,
    ``dilations``, ``padding`` (``"VALID"``, ``"SAME"`` or ``"explicit"``),
    ``in_channels`` and ``out_channels``.
    """
    return LiveExplorer(op, **params)
