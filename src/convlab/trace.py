"""Step-by-step traces of ``conv2d`` and its gradients, for the explorers.

A trace is a list of frames over a few labelled grids. Each frame says which cells are
highlighted, which cell is being written, the term being added (e.g.
``d_x[1,2] += w[0,1]·d_out[0,0]``) and what changed. The explorers in
:mod:`convlab.explorer` only draw frames; every number comes from here.

Five operations, one trace each:

``forward``
    the window sliding over the padded input, its products, one output cell per frame;
``d_w``
    each filter tap gathering ``x·d_out`` over every output position;
``d_x_scatter``
    each ``d_out`` cell scattering ``w·d_out`` into the window it came from;
``d_x_gather``
    ``d_out`` zero-stretched and padded, the filter turned 180° and then its in/out
    channels swapped (two frames), and a stride-1 window sliding over the result;
``conv2d_transpose``
    the scatter under ``tf.nn.conv2d_transpose``'s names (``input``, ``filters``, ``output``).

The accumulated values at the end of every trace are checked against the convlab
reference (``conv2d``, ``conv2d_backprop_filter``, ``conv2d_backprop_input``,
``conv2d_transpose``) when the trace is built; a mismatch raises ``AssertionError``.
Only numpy is imported, and a trace is plain data: :meth:`Trace.to_json` is
JSON-serialisable.

Examples
--------
>>> t = trace("d_x_scatter", input_size=4, kernel_size=3, strides=2, padding="SAME")
>>> len(t.frames), t.frames[1].terms[0]
(6, 'd_x[0,0] += w[0,0]·d_out[0,0]')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convlab import reference
from convlab._checks import Conv, conv_geometry
from convlab.via_conv2d import full_padding, insert_zeros, pad_or_crop, rotate180, swap_in_out

__all__ = ["OPERATIONS", "ROLES", "Frame", "Grid", "Trace", "frame_count", "trace"]

#: The operations :func:`trace` knows, with a title each.
OPERATIONS = {
    "forward": "forward: y = conv2d(x, w)",
    "d_w": "d_w: each filter tap gathers x·d_out",
    "d_x_scatter": "d_x as a scatter: each d_out cell spreads w·d_out over its window",
    "d_x_gather": "d_x as a gather: the 180°-turned, channel-swapped filter slides over "
                  "the zero-stretched, padded d_out",
    "conv2d_transpose": "conv2d_transpose: the scatter under its own names",
}

#: Cell roles: what a cell holds, drawn with its own pattern and named in the legend.
ROLES = {
    "data": "a value of the array",
    "pad": "padding (a zero the padding added)",
    "zero": "inserted zero (stride)",
    "unreached": "no window reaches it (gets no gradient)",
}

# Values drawn from these sets: no data value is 0, so every 0 on a grid is a pad,
# an inserted zero or an empty accumulator.
_X_VALUES = (-2, -1, 1, 2, 3)
_W_VALUES = (-1, 1, 2)
_DY_VALUES = (-2, -1, 1, 2)

Cell = tuple[int, int, int]  # (panel, row, column)


def _num(v: float) -> float | int:
    """A JSON-friendly number: ints stay ints."""
    f = float(v)
    return int(f) if f.is_integer() else round(f, 6)


@dataclass
class Grid:
    """One labelled array drawn as panels of cells (one panel per channel or channel pair).

    ``values`` has shape ``(panels, rows, cols)``; ``roles`` ``(rows, cols)`` holds
    keys of :data:`ROLES`. ``kind`` is the array's part in the operation: ``"input"``,
    ``"filter"``, ``"output"`` or ``"work"`` (an intermediate such as the products).
    ``offset`` is the array index of cell ``(0, 0)``: ``(-pad_top, -pad_left)`` on a
    padded grid, so the drawn row and column indices are the array's own.
    """

    id: str
    label: str
    kind: str
    values: np.ndarray
    roles: np.ndarray
    panels: list[str]
    offset: tuple[int, int] = (0, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "panels": list(self.panels),
            "values": [[[_num(v) for v in row] for row in panel] for panel in self.values],
            "roles": [[str(r) for r in row] for row in self.roles],
            "offset": list(self.offset),
        }


@dataclass
class Frame:
    """One step.

    Attributes
    ----------
    caption : str
        What happens in this step, in words.
    terms : list of str
        The term(s) computed now; ``terms[0]`` is the headline.
    highlight : dict
        Grid id -> cells ``(panel, row, col)`` taking part in this step.
    focus : dict
        Grid id -> cells being written (or read, for the input of a scatter).
    put : list
        ``(grid id, panel, row, col, new value)`` cell updates made by this step.
    replace : dict
        Grid id -> a whole new :class:`Grid` (a new shape, labels or roles).
    """

    caption: str
    terms: list[str]
    highlight: dict[str, list[Cell]] = field(default_factory=dict)
    focus: dict[str, list[Cell]] = field(default_factory=dict)
    put: list[tuple[str, int, int, int, float]] = field(default_factory=list)
    replace: dict[str, Grid] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"caption": self.caption, "terms": list(self.terms)}
        if self.highlight:
            out["hl"] = {k: [list(c) for c in v] for k, v in self.highlight.items()}
        if self.focus:
            out["focus"] = {k: [list(c) for c in v] for k, v in self.focus.items()}
        if self.put:
            out["put"] = [[g, p, r, c, _num(v)] for g, p, r, c, v in self.put]
        if self.replace:
            out["replace"] = {k: g.to_json() for k, g in self.replace.items()}
        return out


@dataclass
class Trace:
    """Frames of one operation, its starting grids, and the verified final result."""

    op: str
    title: str
    params: dict[str, Any]
    grids: list[Grid]
    frames: list[Frame]
    result: np.ndarray
    checked_against: str

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "title": self.title,
            "params": self.params,
            "checked_against": self.checked_against,
            "grids": [g.to_json() for g in self.grids],
            "frames": [f.to_json() for f in self.frames],
        }


# ----------------------------------------------------------------------------------------
# parameters


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


@dataclass(frozen=True)
class _Setup:
    conv: Conv
    x: np.ndarray  # (H, W, Cin)
    w: np.ndarray  # (KH, KW, Cin, Cout)
    dy: np.ndarray  # (OH, OW, Cout)
    params: dict[str, Any]

    @property
    def cin(self) -> int:
        return int(self.w.shape[2])

    @property
    def cout(self) -> int:
        return int(self.w.shape[3])


def _setup(input_size: Any, kernel_size: Any, strides: Any, padding: Any, dilations: Any,
           channels: Any, seed: int) -> _Setup:
    h, w = _pair(input_size, "input_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    cin, cout = _pair(channels, "channels")
    if not (1 <= cin <= 2 and 1 <= cout <= 2):
        raise ValueError(f"channels must be 1 or 2 each way (in, out), got {(cin, cout)}")
    if isinstance(padding, (int, np.integer)):
        padding = ((int(padding), int(padding)), (int(padding), int(padding)))
    conv = conv_geometry((1, h, w, cin), (kh, kw, cin, cout), strides, padding,
                         dilations=dilations)
    rng = np.random.default_rng(seed)
    oh, ow = conv.h.out, conv.w.out
    x = rng.choice(_X_VALUES, size=(h, w, cin)).astype(np.float64)
    wt = rng.choice(_W_VALUES, size=(kh, kw, cin, cout)).astype(np.float64)
    dy = rng.choice(_DY_VALUES, size=(oh, ow, cout)).astype(np.float64)
    params = {
        "input_size": [h, w], "kernel_size": [kh, kw], "strides": list(conv.strides),
        "padding": padding if isinstance(padding, str) else [list(p) for p in conv.pads],
        "pads": [list(p) for p in conv.pads], "dilations": list(conv.dilations),
        "channels": [cin, cout], "output_size": [oh, ow], "seed": seed,
    }
    return _Setup(conv, x, wt, dy, params)


# ----------------------------------------------------------------------------------------
# naming cells in the terms


def _idx(name: str, *ix: int) -> str:
    return f"{name}[{','.join(str(i) for i in ix)}]"


class _Names:
    """Writes ``x[i,j]``, adding channel indices only when there are two channels."""

    def __init__(self, s: _Setup, x: str, w: str, dy: str) -> None:
        self.s, self.xn, self.wn, self.dyn = s, x, w, dy

    def x(self, r: int, q: int, c: int, name: str | None = None) -> str:
        extra = (c,) if self.s.cin > 1 or self.s.cout > 1 else ()
        return _idx(name or self.xn, r, q, *extra)

    def w(self, a: int, b: int, c: int, k: int, name: str | None = None) -> str:
        extra = (c, k) if self.s.cin > 1 or self.s.cout > 1 else ()
        return _idx(name or self.wn, a, b, *extra)

    def dy(self, i: int, j: int, k: int) -> str:
        extra = (k,) if self.s.cin > 1 or self.s.cout > 1 else ()
        return _idx(self.dyn, i, j, *extra)


def _sum_terms(head: str, products: list[str], zeros: int, value: float) -> list[str]:
    if not products:
        return [f"{head} = 0  (all {zeros} terms meet a zero)"]
    tail = f" + {zeros} zero term{'s' if zeros != 1 else ''}" if zeros else ""
    return [f"{head} = {' + '.join(products)}{tail} = {_num(value)}"]


# ----------------------------------------------------------------------------------------
# grids


def _x_roles(s: _Setup) -> np.ndarray:
    """Roles of the padded input: data, pad, or unreached (after the last window)."""
    ax_h, ax_w = s.conv.h, s.conv.w
    roles = np.full((ax_h.padded, ax_w.padded), "data", dtype=object)
    reach_h = (ax_h.out - 1) * ax_h.stride + ax_h.k_eff
    reach_w = (ax_w.out - 1) * ax_w.stride + ax_w.k_eff
    roles[reach_h:, :] = "unreached"
    roles[:, reach_w:] = "unreached"
    inside = np.zeros_like(roles, dtype=bool)
    inside[ax_h.pad_before:ax_h.pad_before + ax_h.size,
           ax_w.pad_before:ax_w.pad_before + ax_w.size] = True
    roles[~inside] = "pad"
    return roles


def _channel_panels(name: str, count: int) -> list[str]:
    return [f"{name}[:,:,{c}]" for c in range(count)] if count > 1 else [name]


def _filter_panels(name: str, cin: int, cout: int, *, swapped: bool = False) -> list[str]:
    if cin == 1 and cout == 1:
        return [name]
    if swapped:  # panel index k*cin + c holds name[:,:,k,c]
        return [f"{name}[:,:,{k},{c}]" for k in range(cout) for c in range(cin)]
    return [f"{name}[:,:,{c},{k}]" for c in range(cin) for k in range(cout)]


def _filter_grid(gid: str, label: str, w: np.ndarray, name: str, *,
                 swapped: bool = False) -> Grid:
    """A HWIO filter as panels ``w[:,:,c,k]`` (or HWOI ``w[:,:,k,c]`` when swapped)."""
    kh, kw, a, b = w.shape
    panels = np.stack([w[:, :, i, j] for i in range(a) for j in range(b)])
    cin, cout = (b, a) if swapped else (a, b)
    return Grid(gid, label, "filter", panels, np.full((kh, kw), "data", dtype=object),
                _filter_panels(name, cin, cout, swapped=swapped))


def _image_grid(gid: str, label: str, kind: str, a: np.ndarray, name: str,
                roles: np.ndarray | None = None, offset: tuple[int, int] = (0, 0)) -> Grid:
    """An ``(H, W, C)`` array as one panel per channel."""
    if roles is None:
        roles = np.full(a.shape[:2], "data", dtype=object)
    return Grid(gid, label, kind, np.moveaxis(a, 2, 0).copy(), roles,
                _channel_panels(name, a.shape[2]), offset)


def _padded_x(s: _Setup) -> np.ndarray:
    (t, b), (left, right) = s.conv.pads
    return np.pad(s.x, ((t, b), (left, right), (0, 0)))


def _windows(s: _Setup) -> list[tuple[int, int]]:
    return [(i, j) for i in range(s.conv.h.out) for j in range(s.conv.w.out)]


def _taps(s: _Setup) -> list[tuple[int, int]]:
    kh, kw = s.w.shape[:2]
    return [(a, b) for a in range(kh) for b in range(kw)]


def _where(roles: np.ndarray, role: str, panels: int) -> list[Cell]:
    """Every cell of ``role``, in each of ``panels`` panels."""
    rows, cols = np.nonzero(roles == role)
    return [(p, int(r), int(c)) for p in range(panels) for r, c in zip(rows, cols, strict=True)]


def _all_cells(w: np.ndarray) -> list[Cell]:
    kh, kw, cin, cout = w.shape
    return [(p, a, b) for p in range(cin * cout) for a in range(kh) for b in range(kw)]


def _check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-12, atol=1e-12):
        raise AssertionError(f"the trace's final values differ from convlab.{name}:\n"
                             f"trace:\n{got}\nreference:\n{want}")


# ----------------------------------------------------------------------------------------
# the five traces


def _forward(s: _Setup) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv, n = s.conv, _Names(s, "x", "w", "y")
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    kh, kw = s.w.shape[:2]
    xp = _padded_x(s)
    y = np.zeros((conv.h.out, conv.w.out, s.cout))
    grids = [
        _image_grid("x", "input x (padded)", "input", xp, "x", _x_roles(s), (-pt, -pl)),
        _filter_grid("w", "filter w", s.w, "w"),
        _image_grid("prod", "products x·w in the window", "work",
                    np.zeros((kh, kw, s.cin * s.cout)), "x·w"),
        _image_grid("y", "output y", "output", y.copy(), "y"),
    ]
    grids[2].panels = _filter_panels("x·w", s.cin, s.cout)
    frames = [Frame(
        f"The input x, padded {conv.pads[0]} rows and {conv.pads[1]} columns; the filter w "
        f"({kh}x{kw}, dilation {conv.dilations}) will slide over it with stride {conv.strides}.",
        [f"y = conv2d(x, w, strides={list(conv.strides)}, padding={s.params['padding']!r}, "
         f"dilations={list(conv.dilations)})"])]
    for k in range(s.cout):
        for i, j in _windows(s):
            prods = np.zeros((s.cin * s.cout, kh, kw))
            window: list[Cell] = []
            words: list[str] = []
            zeros = 0
            for c in range(s.cin):
                for a, b in _taps(s):
                    r, q = sh * i + dh * a, sw * j + dw * b
                    window.append((c, r, q))
                    prods[c * s.cout + k, a, b] = xp[r, q, c] * s.w[a, b, c, k]
                    if r - pt in range(conv.h.size) and q - pl in range(conv.w.size):
                        words.append(f"{n.x(r - pt, q - pl, c)}·{n.w(a, b, c, k)}")
                    else:
                        zeros += 1
            y[i, j, k] = prods.sum()
            taps = [(c * s.cout + k, a, b) for c in range(s.cin) for a, b in _taps(s)]
            frames.append(Frame(
                f"Window ({i},{j}) starts at padded row {sh * i}, column {sw * j}: multiply "
                f"each tap by the cell under it and add the products"
                + (f" ({zeros} taps lie on padding and add 0)" if zeros else "") + ".",
                _sum_terms(n.dy(i, j, k), words, zeros, y[i, j, k]),
                highlight={"x": window, "w": [(c * s.cout + k, a, b) for c in range(s.cin)
                                              for a, b in _taps(s)], "prod": taps},
                focus={"y": [(k, i, j)]},
                put=[("y", k, i, j, y[i, j, k])]
                + [("prod", p, a, b, prods[p, a, b]) for p in range(s.cin * s.cout)
                   for a, b in _taps(s)],
            ))
    want = reference.conv2d(s.x[None], s.w, conv.strides, s.params["padding"],
                            dilations=conv.dilations)[0]
    _check("conv2d", y, want)
    frames.append(Frame("Every output cell is filled: y equals convlab.conv2d (and tf.nn.conv2d).",
                        ["y == convlab.conv2d(x, w, ...)  ✓"]))
    return grids, frames, y, "conv2d"


def _d_w(s: _Setup) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv, n = s.conv, _Names(s, "x", "w", "d_out")
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    xp = _padded_x(s)
    dwt = np.zeros_like(s.w)
    grids = [
        _image_grid("x", "input x (padded)", "input", xp, "x", _x_roles(s), (-pt, -pl)),
        _image_grid("dy", "d_out (gradient of the output y)", "input", s.dy, "d_out"),
        _filter_grid("dw", "d_w (result)", dwt, "d_w"),
    ]
    grids[2].kind = "output"
    frames = [Frame(
        "d_w[a,b,c,k] adds x·d_out over every output position: tap (a,b) meets the input "
        f"cells at padded row {sh}·i + {dh}·a, column {sw}·j + {dw}·b. With stride and "
        "dilation trading places, that is a conv2d of x with d_out as the filter.",
        ["d_w = conv2d_backprop_filter(x, w.shape, d_out, ...)"])]
    for c in range(s.cin):
        for k in range(s.cout):
            for a, b in _taps(s):
                words, cells, zeros, total = [], [], 0, 0.0
                for i, j in _windows(s):
                    r, q = sh * i + dh * a, sw * j + dw * b
                    cells.append((c, r, q))
                    total += xp[r, q, c] * s.dy[i, j, k]
                    if r - pt in range(conv.h.size) and q - pl in range(conv.w.size):
                        words.append(f"{n.x(r - pt, q - pl, c)}·{n.dy(i, j, k)}")
                    else:
                        zeros += 1
                dwt[a, b, c, k] = total
                p = c * s.cout + k
                frames.append(Frame(
                    f"Tap ({a},{b}) gathers: every output position (i,j) pairs d_out[i,j] "
                    "with the input cell that this tap multiplied in the forward pass"
                    + (f" ({zeros} of them on padding)" if zeros else "") + ".",
                    _sum_terms(n.w(a, b, c, k, "d_w"), words, zeros, total),
                    highlight={"x": cells,
                               "dy": [(k, i, j) for i, j in _windows(s)]},
                    focus={"dw": [(p, a, b)]},
                    put=[("dw", p, a, b, total)],
                ))
    want = reference.conv2d_backprop_filter(s.x[None], s.w.shape, s.dy[None], conv.strides,
                                            s.params["padding"], dilations=conv.dilations)
    _check("conv2d_backprop_filter", dwt, want)
    frames.append(Frame("Every tap is done: d_w equals convlab.conv2d_backprop_filter.",
                        ["d_w == convlab.conv2d_backprop_filter(x, w.shape, d_out, ...)  ✓"]))
    return grids, frames, dwt, "conv2d_backprop_filter"


def _scatter(s: _Setup, transpose: bool) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv = s.conv
    xn, wn, dyn = ("output", "filters", "input") if transpose else ("d_x", "w", "d_out")
    n = _Names(s, xn, wn, dyn)
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    acc = np.zeros((conv.h.padded, conv.w.padded, s.cin))
    if transpose:
        dy_label = "input (the d_out of the forward conv)"
        w_label = "filters [h, w, out, in]"
        x_label = "output (padded; the d_x of the forward conv)"
    else:
        dy_label = "d_out (gradient of the output y)"
        w_label = "filter w"
        x_label = "d_x (result, padded)"
    grids = [
        _image_grid("dy", dy_label, "input", s.dy, dyn),
        _filter_grid("w", w_label, s.w, wn),
        _image_grid("dx", x_label, "output", acc.copy(), xn, _x_roles(s), (-pt, -pl)),
    ]
    call = ("output = conv2d_transpose(input, filters, output_shape, ...)" if transpose
            else "d_x = conv2d_backprop_input(x.shape, w, d_out, ...)")
    frames = [Frame(
        f"Each {dyn} cell (i,j) spreads {wn}·{dyn}[i,j] over the window it came from in the "
        f"forward pass (stride {conv.strides}, dilation {conv.dilations}); overlapping "
        "windows add up. Whatever lands on the padding is dropped at the end.",
        [call])]
    for k in range(s.cout):
        for i, j in _windows(s):
            terms, puts, cells = [], [], []
            for c in range(s.cin):
                for a, b in _taps(s):
                    r, q = sh * i + dh * a, sw * j + dw * b
                    acc[r, q, c] += s.w[a, b, c, k] * s.dy[i, j, k]
                    cells.append((c, r, q))
                    puts.append(("dx", c, r, q, acc[r, q, c]))
                    inside = r - pt in range(conv.h.size) and q - pl in range(conv.w.size)
                    target = n.x(r - pt, q - pl, c) if inside else f"pad[{r - pt},{q - pl}]"
                    terms.append(f"{target} += {n.w(a, b, c, k)}·{n.dy(i, j, k)}"
                                 + ("" if inside else "  (padding: dropped)"))
            frames.append(Frame(
                f"{dyn}[{i},{j}] = {_num(s.dy[i, j, k])} scatters {wn}·({_num(s.dy[i, j, k])}) "
                f"into the window at padded row {sh * i}, column {sw * j}.",
                terms,
                highlight={"dx": cells, "w": [(c * s.cout + k, a, b) for c in range(s.cin)
                                              for a, b in _taps(s)]},
                focus={"dy": [(k, i, j)]},
                put=puts,
            ))
    h, w = conv.h.size, conv.w.size
    result = acc[pt:pt + h, pl:pl + w]
    if transpose:
        want = reference.conv2d_transpose(s.dy[None], s.w, (1, h, w, s.cin), conv.strides,
                                          s.params["padding"], dilations=conv.dilations)[0]
        ref = "conv2d_transpose"
    else:
        want = reference.conv2d_backprop_input((1, h, w, s.cin), s.w, s.dy[None], conv.strides,
                                               s.params["padding"], dilations=conv.dilations)[0]
        ref = "conv2d_backprop_input"
    _check(ref, result, want)
    final = _image_grid("dx", x_label.replace(" (padded", " (padding cropped").replace(
        ", padded)", ", padding cropped)"), "output", result, xn,
        _x_roles(s)[pt:pt + h, pl:pl + w])
    frames.append(Frame(
        f"Crop the padding: {xn} equals convlab.{ref}.",
        [f"{xn} == convlab.{ref}(...)  ✓"], replace={"dx": final}))
    return grids, frames, result, ref


def _gather(s: _Setup) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv, n = s.conv, _Names(s, "d_x", "w", "d_out")
    kh, kw = s.w.shape[:2]
    dh, dw = conv.dilations
    h, w = conv.h.size, conv.w.size
    pads = full_padding(conv)
    stretched = insert_zeros(s.dy[None], conv.strides)[0]
    # the same steps on a map from each cell to the d_out index it holds (-1: a zero)
    oh, ow = s.dy.shape[:2]
    index = np.arange(oh * ow, dtype=np.float64).reshape(oh, ow, 1)
    marks = insert_zeros((index + 1)[None], conv.strides)[0]  # 0 where a zero was inserted
    # shift by one so that padding (zeros) ends up -1, inserted zeros 0, values k + 1
    padded_marks = pad_or_crop((marks + 1)[None], pads)[0] - 1
    padded = pad_or_crop(stretched[None], pads)[0]
    stretched_roles = np.where(marks[:, :, 0] > 0, "data", "zero").astype(object)
    padded_roles = np.select([padded_marks[:, :, 0] > 0, padded_marks[:, :, 0] == 0],
                             ["data", "zero"], "pad").astype(object)
    rot = rotate180(s.w)
    swapped = swap_in_out(rot)
    (top, _), (left, _) = pads
    (top_x, _), (left_x, _) = conv.pads
    dx = np.zeros((h, w, s.cin))
    grids = [
        _image_grid("dz", "d_out (gradient of the output y)", "input", s.dy, "d_out"),
        _filter_grid("wk", "filter w", s.w, "w"),
        _image_grid("dx", "d_x (result)", "output", dx.copy(), "d_x",
                    _x_roles(s)[top_x:top_x + h, left_x:left_x + w]),
    ]
    frames = [
        Frame("d_x as one stride-1 conv2d. Start from d_out and the filter w.",
              ["d_x = conv2d(pad(insert_zeros(d_out)), swap_in_out(rot180(w)), stride 1)"]),
        Frame(f"Insert stride - 1 = {conv.strides[0] - 1} (rows), {conv.strides[1] - 1} "
              "(columns) zeros between the d_out values: only every stride-th position of "
              "the padded input was a window start.",
              [f"insert_zeros(d_out, strides={list(conv.strides)})"],
              highlight={"dz": _where(stretched_roles, "zero", s.cout)},
              focus={"dz": _where(stretched_roles, "data", s.cout)},
              replace={"dz": _image_grid("dz", "d_out, zero-stretched", "input", stretched,
                                         "d_out stretched", stretched_roles)}),
        Frame(f"Pad {pads[0]} rows, {pads[1]} columns (k_eff - 1 - forward pad before; after, "
              "plus the rows no window reached; negative means crop) so that every input cell "
              "sees every tap that touched it.",
              [f"full_padding = {[list(p) for p in pads]}"],
              highlight={"dz": _where(padded_roles, "pad", s.cout)},
              replace={"dz": _image_grid("dz", "d_out, zero-stretched and padded", "input",
                                         padded, "d_out stretched", padded_roles,
                                         (-top, -left))}),
        Frame("Turn the filter 180°: tap (a,b) moves to (KH-1-a, KW-1-b).",
              ["rot180(w)[a,b] = w[KH-1-a, KW-1-b]"],
              highlight={"wk": _all_cells(s.w)},
              replace={"wk": _filter_grid("wk", "rot180(w)", rot, "rot180(w)")}),
        Frame("Swap its in/out channel axes: the gather runs from d_out's channels back to "
              "x's." + (" With one channel each way the swap changes nothing, but it is "
                        "still there." if s.cin == 1 and s.cout == 1 else ""),
              ["w' = swap_in_out(rot180(w)):  w'[a,b,k,c] = w[KH-1-a, KW-1-b, c, k]"],
              highlight={"wk": _all_cells(s.w)},
              replace={"wk": _filter_grid("wk", "w' = rot180(w), in/out swapped", swapped,
                                          "w'", swapped=True)}),
    ]
    for c in range(s.cin):
        for p in range(h):
            for q in range(w):
                total, words, zeros, cells, taps = 0.0, [], 0, [], []
                for k in range(s.cout):
                    for a, b in _taps(s):
                        r, t = p + dh * a, q + dw * b
                        total += padded[r, t, k] * swapped[a, b, k, c]
                        cells.append((k, r, t))
                        taps.append((k * s.cin + c, a, b))
                        m = int(padded_marks[r, t, 0])
                        if m > 0:
                            i, j = divmod(m - 1, ow)
                            words.append(f"{n.dy(i, j, k)}·{n.w(kh - 1 - a, kw - 1 - b, c, k)}")
                        else:
                            zeros += 1
                dx[p, q, c] = total
                frames.append(Frame(
                    f"d_x[{p},{q}]: the stride-1 window at ({p},{q}) multiplies w' with the "
                    "stretched, padded d_out; only real d_out values count, the same terms "
                    "as in the scatter.",
                    _sum_terms(n.x(p, q, c), words, zeros, total),
                    highlight={"dz": cells, "wk": taps},
                    focus={"dx": [(c, p, q)]},
                    put=[("dx", c, p, q, total)],
                ))
    want = reference.conv2d_backprop_input((1, h, w, s.cin), s.w, s.dy[None], conv.strides,
                                           s.params["padding"], dilations=conv.dilations)[0]
    _check("conv2d_backprop_input", dx, want)
    frames.append(Frame("Every input cell is done: the gather gives the scatter's numbers, "
                        "convlab.conv2d_backprop_input.",
                        ["d_x == convlab.conv2d_backprop_input(x.shape, w, d_out, ...)  ✓"]))
    return grids, frames, dx, "conv2d_backprop_input"


def frame_count(op: str, conv: Conv) -> int:
    """The number of frames :func:`trace` makes for ``op`` on ``conv`` (for tests, sizes)."""
    _, h, w, cin = conv.input_shape
    kh, kw, _, cout = conv.filter_shape
    outs = conv.h.out * conv.w.out
    steps = {
        "forward": outs * cout,
        "d_w": kh * kw * cin * cout,
        "d_x_scatter": outs * cout,
        "conv2d_transpose": outs * cout,
        "d_x_gather": 4 + h * w * cin,
    }[op]
    return steps + 2


def trace(
    op: str,
    *,
    input_size: int | tuple[int, int] = 5,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str | int | Any = "VALID",
    dilations: int | tuple[int, int] = 1,
    channels: int | tuple[int, int] = 1,
    seed: int = 0,
) -> Trace:
    """Build the frames of ``op`` (a key of :data:`OPERATIONS`) on small integer data.

    Parameters
    ----------
    op : str
        ``"forward"``, ``"d_w"``, ``"d_x_scatter"``, ``"d_x_gather"`` or ``"conv2d_transpose"``.
    input_size, kernel_size, strides, dilations : int or (int, int)
        Height and width of ``x`` and of the filter, and the steps, as in ``conv2d``.
    padding : "VALID", "SAME", int or ((top, bottom), (left, right))
    channels : int or (in, out)
        Channel counts, 1 or 2 each.
    seed : int
        Seed of the data: small nonzero integers, so every 0 drawn is padding or an
        inserted zero.

    Raises
    ------
    ValueError
        For an unknown ``op`` or sizes ``conv2d`` would refuse.
    AssertionError
        If the accumulated values disagree with the convlab reference (a bug).
    """
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {sorted(OPERATIONS)}, got {op!r}")
    s = _setup(input_size, kernel_size, strides, padding, dilations, channels, seed)
    builders = {
        "forward": _forward,
        "d_w": _d_w,
        "d_x_scatter": lambda s: _scatter(s, transpose=False),
        "conv2d_transpose": lambda s: _scatter(s, transpose=True),
        "d_x_gather": _gather,
    }
    grids, frames, result, ref = builders[op](s)
    return Trace(op, OPERATIONS[op], s.params, grids, frames, result, ref)
