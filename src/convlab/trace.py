"""Step-by-step traces of ``conv2d`` and its gradients, for the explorers.

A trace is a list of frames over a few labelled grids. Each frame says which cells are
highlighted, which cell is being written, the term being added (e.g.
``δx̃[1,2] += w[0,1]·δy[0,0]``) and what changed. The explorers in
:mod:`convlab.explorer` only draw frames; every number comes from here.

The names are the book's: ``x`` input, ``w`` filter, ``y`` output, ``x̃`` the padded input
(``p_t`` rows on top, ``p_l`` columns on the left), and ``δy``, ``δx``, ``δw`` the gradients
(``δ`` means a gradient and nothing else); ``δx̃`` is the gradient of ``x̃``, before the
padding is cropped off to give ``δx``, and ``δŷ`` is ``δy`` zero-stretched (``s - 1`` zeros
between neighbours). ``conv2d_transpose`` keeps its own names: input ``u`` (shaped like
``y``), filters ``w``, output ``v`` (shaped like ``x``) and ``ṽ`` before its padding is
cropped. Indices: ``i, j`` output row and column, ``a, b`` filter tap, ``c`` input channel,
``k`` output channel, ``p, q`` row and column of a padded array. A padded (or stretched)
array is an array of its own, indexed from 0, as in ``y[i,j] = Σ x̃[s·i + d·a, s·j + d·b]·w[a,b]``:
the grid of ``x̃`` is numbered ``0 .. H̃-1``, and ``x[r,c]`` sits at ``x̃[p_t + r, p_l + c]``.

Five operations, one trace each:

``forward``
    the window sliding over ``x̃``, its products, one output cell per frame;
``d_w``
    each filter tap gathering ``x̃·δy`` over every output position;
``d_x_scatter``
    each ``δy`` cell scattering ``w·δy`` into the window of ``δx̃`` it came from; the last
    frame crops the padding off, leaving ``δx``;
``d_x_gather``
    ``δy`` zero-stretched (``δŷ``) and padded, the filter turned 180° and then its in/out
    channels swapped (two frames), and a stride-1 window sliding over the result, one ``δx``
    cell per frame;
``conv2d_transpose``
    the scatter under ``tf.nn.conv2d_transpose``'s names (``u``, ``w``, ``ṽ`` then ``v``).

The data are small integers drawn from ``seed``, or arrays given as ``x=``, ``w=``, ``dy=``
(``u=`` for ``conv2d_transpose``), e.g. a figure's. The accumulated values at the end of
every trace are checked against the convlab reference (``conv2d``,
``conv2d_backprop_filter``, ``conv2d_backprop_input``, ``conv2d_transpose``) when the trace
is built; a mismatch raises ``AssertionError``. Only numpy is imported, and a trace is plain
data: :meth:`Trace.to_json` is JSON-serialisable.

Examples
--------
>>> t = trace("d_x_scatter", input_size=4, kernel_size=3, strides=2, padding="SAME")
>>> len(t.frames), t.frames[1].terms[0]
(6, 'δx̃[0,0] += w[0,0]·δy[0,0]')
>>> t = trace("d_w", input_size=4, kernel_size=3, x=np.arange(16).reshape(4, 4),
...           dy=[[1, -1], [2, 1]])
>>> t.frames[1].terms[0]
'δw[0,0] = x̃[0,0]·δy[0,0] + x̃[0,1]·δy[0,1] + x̃[1,0]·δy[1,0] + x̃[1,1]·δy[1,1] = 12'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convlab import reference
from convlab._checks import Conv, conv_geometry
from convlab.via_conv2d import full_padding, insert_zeros, pad_or_crop, rotate180, swap_in_out

__all__ = ["DATA", "OPERATIONS", "ROLES", "Frame", "Grid", "Trace", "frame_count", "trace"]

#: The operations :func:`trace` knows, with a title each.
OPERATIONS = {
    "forward": "forward: y = conv2d(x, w)",
    "d_w": "δw: each filter tap gathers x̃·δy",
    "d_x_scatter": "δx as a scatter: each δy cell spreads w·δy over its window of δx̃",
    "d_x_gather": "δx as a gather: the 180°-turned, channel-swapped filter slides over "
                  "δŷ (δy zero-stretched), padded",
    "conv2d_transpose": "conv2d_transpose: v = conv2d_transpose(u, w), the scatter under "
                        "its own names",
}

#: The arrays each operation reads, by the keyword that gives them to :func:`trace`.
DATA = {
    "forward": ("x", "w"),
    "d_w": ("x", "dy"),
    "d_x_scatter": ("w", "dy"),
    "d_x_gather": ("w", "dy"),
    "conv2d_transpose": ("u", "w"),
}

#: Cell roles: what a cell holds, drawn with its own pattern and named in the legend.
ROLES = {
    "data": "a value of the array",
    "pad": "padding (a zero the padding added)",
    "zero": "inserted zero (stride)",
    "unreached": "no window reaches it (gets no gradient)",
}

# Values drawn from these sets are nonzero. Given data may hold zeros: a cell's role, never
# its value, says whether it is padding, an inserted zero or an array's own value.
_X_VALUES = (-2, -1, 1, 2, 3)
_W_VALUES = (-1, 1, 2)
_DY_VALUES = (-2, -1, 1, 2)
_MASK = 0xFFFFFFFF
#: Most channels a trace draws each way (a picture of 3 x 3 filter panels still reads).
MAX_CHANNELS = 3


def window_fits(conv: Conv) -> None:
    """Refuse a window longer than the padded input, as the page does: TensorFlow gives an
    empty output there, which leaves nothing to trace."""
    for axis in (conv.h, conv.w):
        if axis.k_eff > axis.padded:
            raise ValueError(
                f"The window does not fit: the filter spans {axis.k_eff} (kernel "
                f"{axis.kernel}, dilation {axis.dilation}) but the padded input is only "
                f"{axis.padded} long ({axis.size} + {axis.pad_before} + {axis.pad_after} "
                "padding). Use a smaller kernel or dilation, more padding, or SAME padding.")


class _Draw:
    """Small integers from a seed, the same in Python and in the page's ``trace.js``.

    A 32-bit xorshift generator: a few lines that both languages compute exactly, so a
    seed means the same numbers in the book, a notebook and a browser.
    """

    def __init__(self, seed: int) -> None:
        state = ((seed & _MASK) * 0x9E3779B9 + 0x6A09E667) & _MASK
        self.state = state or 1
        for _ in range(4):  # neighbouring seeds start close together: move apart
            self._next()

    def _next(self) -> int:
        x = self.state
        x ^= (x << 13) & _MASK
        x ^= x >> 17
        x ^= (x << 5) & _MASK
        self.state = x
        return x

    def choice(self, values: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
        """An array of ``shape`` drawn from ``values``, filled in C order."""
        flat = [values[(self._next() >> 8) % len(values)] for _ in range(int(np.prod(shape)))]
        return np.array(flat, dtype=np.float64).reshape(shape)

# the book's symbols (x̃: x and a combining tilde, as no precomposed letter exists)
_XT = "x\u0303"  # x̃
_DX, _DXT, _DY, _DW = "δx", "δx\u0303", "δy", "δw"
_DYH = "δŷ"

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
    ``label`` says which array the grid is (e.g. ``"x̃ = x padded: p_t = 1 row on top,
    ..."``). ``offset`` is the index drawn for cell ``(0, 0)``; every grid of a trace is
    indexed from 0, a padded array (``x̃``, ``δx̃``) as an array of its own, so it is
    ``(0, 0)`` (kept in the format for front ends).
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
    """Frames of one operation, its starting grids, and the verified final result.

    ``data`` holds the arrays the trace ran on, drawn or given: ``"x"`` ``(H, W, C_in)``,
    ``"w"`` ``(KH, KW, C_in, C_out)`` and ``"dy"`` ``(OH, OW, C_out)`` (the ``u`` of
    ``conv2d_transpose``). It is not part of :meth:`to_json`: the grids show what is used.
    """

    op: str
    title: str
    params: dict[str, Any]
    grids: list[Grid]
    frames: list[Frame]
    result: np.ndarray
    checked_against: str
    data: dict[str, np.ndarray] = field(default_factory=dict)

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
# parameters and data


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


def _shape_text(shape: tuple[int, ...], batch: bool) -> str:
    """``(6, 6), (6, 6, 1) or (1, 6, 6, 1)``: the shapes :func:`_given` accepts."""
    shapes = [shape[:2]] if len(shape) > 2 and all(n == 1 for n in shape[2:]) else []
    shapes += [shape] + ([(1, *shape)] if batch else [])
    text = [str(tuple(s)) for s in shapes]
    return text[0] if len(text) == 1 else f"{', '.join(text[:-1])} or {text[-1]}"


def _given(name: str, value: Any, shape: tuple[int, ...], why: str, *,
           batch: bool = False) -> np.ndarray:
    """``value`` as a float array of ``shape``; a 2-D array stands for one channel (pair),
    and with ``batch`` a leading batch axis of 1 (NHWC, as the chapters keep them) is fine."""
    expected = (f"{name} must be an array of numbers of shape {_shape_text(shape, batch)} "
                f"({why})")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "biuf":
            raise TypeError(f"it holds {raw.dtype} values")
        a = raw.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{expected}; got {value!r}: {err}") from None
    if a.shape != shape:
        if a.ndim == 2 and a.shape == shape[:2] and all(n == 1 for n in shape[2:]):
            a = a.reshape(shape)
        elif batch and a.shape == (1, *shape):
            a = a[0]
        else:
            raise ValueError(f"{expected}; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{expected}; got a value that is not finite")
    return a


def _setup(op: str, input_size: Any, kernel_size: Any, strides: Any, padding: Any,
           dilations: Any, channels: Any, seed: int,
           given: dict[str, Any] | None = None) -> _Setup:
    given = {k: v for k, v in (given or {}).items() if v is not None}
    h, w = _pair(input_size, "input_size")
    kh, kw = _pair(kernel_size, "kernel_size")
    cin, cout = _pair(channels, "channels")
    if not (1 <= cin <= MAX_CHANNELS and 1 <= cout <= MAX_CHANNELS):
        raise ValueError(f"channels must be 1 to {MAX_CHANNELS} each way (in, out), "
                         f"got {(cin, cout)}")
    if "u" in given:
        if op != "conv2d_transpose":
            raise ValueError(f"u is conv2d_transpose's input; op {op!r} reads "
                             f"{', '.join(DATA[op])}")
        if "dy" in given:
            raise ValueError("give conv2d_transpose's input as u or as dy, not both")
    elif op == "conv2d_transpose" and "dy" in given:
        given["u"] = given.pop("dy")
    for name in given:
        if name not in DATA[op]:
            raise ValueError(f"{name} is not used by op {op!r}, which reads "
                             f"{' and '.join(DATA[op])}; leave {name} out")
    if isinstance(padding, (int, np.integer)):
        padding = ((int(padding), int(padding)), (int(padding), int(padding)))
    conv = conv_geometry((1, h, w, cin), (kh, kw, cin, cout), strides, padding,
                         dilations=dilations)
    window_fits(conv)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    draw = _Draw(int(seed))
    oh, ow = conv.h.out, conv.w.out
    # always drawn, in this order, so that a given array leaves the others as they were
    x = draw.choice(_X_VALUES, (h, w, cin))
    wt = draw.choice(_W_VALUES, (kh, kw, cin, cout))
    dy = draw.choice(_DY_VALUES, (oh, ow, cout))
    geometry = (f"input_size={[h, w]}, kernel_size={[kh, kw]}, strides={list(conv.strides)}, "
                f"padding={padding!r}, dilations={list(conv.dilations)}")
    if op == "conv2d_transpose":
        why_w = f"kernel_size={[kh, kw]}, then v's {cin} and u's {cout} channel(s)"
        why_dy = (f"u is shaped like the forward y: {oh}x{ow} from {geometry}, "
                  f"with {cout} channel(s)")
    else:
        why_w = f"kernel_size={[kh, kw]}, channels in/out {[cin, cout]}"
        why_dy = f"δy is shaped like y: {oh}x{ow} from {geometry}, with {cout} channel(s)"
    if "x" in given:
        x = _given("x", given["x"], (h, w, cin),
                   f"input_size={[h, w]}, with {cin} channel(s)", batch=True)
    if "w" in given:
        wt = _given("w", given["w"], (kh, kw, cin, cout), why_w)
    for name in ("dy", "u"):
        if name in given:
            dy = _given(name, given[name], (oh, ow, cout), why_dy, batch=True)
    params = {
        "input_size": [h, w], "kernel_size": [kh, kw], "strides": list(conv.strides),
        "padding": padding if isinstance(padding, str) else [list(p) for p in conv.pads],
        "pads": [list(p) for p in conv.pads], "dilations": list(conv.dilations),
        "channels": [cin, cout], "output_size": [oh, ow], "seed": seed,
        "given": [n for n in ("x", "w", "dy", "u") if n in given],
    }
    return _Setup(conv, x, wt, dy, params)


# ----------------------------------------------------------------------------------------
# naming cells in the terms and the grids


def _idx(name: str, *ix: int) -> str:
    return f"{name}[{','.join(str(i) for i in ix)}]"


class _Names:
    """Writes ``x̃[p,q]``, adding channel indices only when either side has several."""

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


def _sum_terms(head: str, products: list[str], zeros: int, value: float, on: str) -> list[str]:
    """``head = a·b + c·d + N terms on <on> = value``; ``on`` names what the zeros are."""
    if not products:
        return [f"{head} = 0  (all {zeros} terms lie on {on})"]
    tail = f" + {zeros} term{'s' if zeros != 1 else ''} on {on}" if zeros else ""
    return [f"{head} = {' + '.join(products)}{tail} = {_num(value)}"]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if abs(n) == 1 else 's'}"


def _pad_words(pads: Any) -> str:
    """``p_t = 1 row on top, p_b = 1 below; p_l = 1 column left, p_r = 1 right``.

    No-break spaces hold each ``p_t = 1`` together where a label wraps.
    """
    (t, b), (left, right) = pads
    eq = "\u00a0=\u00a0"
    return (f"p_t{eq}{_plural(t, 'row')} on top, p_b{eq}{b} below; "
            f"p_l{eq}{_plural(left, 'column')} left, p_r{eq}{right} right")


def _padded(pads: Any) -> bool:
    return any(n for pair in pads for n in pair)


def _shifted(name: str, pads: Any, padded: str) -> str:
    """``δx[p-1,q-1] = δx̃[p,q]``: where the real cells sit in the padded array."""
    (t, _), (left, _) = pads
    return (f"{name}[{'p' if t == 0 else f'p-{t}'},{'q' if left == 0 else f'q-{left}'}] = "
            f"{padded}[p,q]")


def _pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"({v[0]}, {v[1]})"


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
                roles: np.ndarray | None = None) -> Grid:
    """An ``(H, W, C)`` array as one panel per channel, indexed from 0."""
    if roles is None:
        roles = np.full(a.shape[:2], "data", dtype=object)
    return Grid(gid, label, kind, np.moveaxis(a, 2, 0).copy(), roles,
                _channel_panels(name, a.shape[2]))


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


def _x_grid(s: _Setup) -> Grid:
    pads = s.conv.pads
    label = (f"x̃ = x padded: {_pad_words(pads)}" if _padded(pads)
             else "x̃ = x (no padding)")
    return _image_grid("x", label, "input", _padded_x(s), _XT, _x_roles(s))


def _x_caption(s: _Setup) -> str:
    """How x̃ is indexed, for a first frame."""
    if not _padded(s.conv.pads):
        return "x̃ is x itself (no padding), indexed from 0."
    return (f"x̃ is x with the padding added ({_pad_words(s.conv.pads)}), indexed from 0: "
            f"{_shifted('x', s.conv.pads, 'x̃')}, and the border holds zeros.")


# ----------------------------------------------------------------------------------------
# the five traces


def _forward(s: _Setup) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv, n = s.conv, _Names(s, _XT, "w", "y")
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    kh, kw = s.w.shape[:2]
    xp = _padded_x(s)
    y = np.zeros((conv.h.out, conv.w.out, s.cout))
    grids = [
        _x_grid(s),
        _filter_grid("w", "filter w", s.w, "w"),
        _image_grid("prod", "products x̃·w in the window", "work",
                    np.zeros((kh, kw, s.cin * s.cout)), "x̃·w"),
        _image_grid("y", "output y", "output", y.copy(), "y"),
    ]
    grids[2].panels = _filter_panels("x̃·w", s.cin, s.cout)
    frames = [Frame(
        f"{_x_caption(s)} The filter w ({kh}x{kw}, dilation {_pair_text(conv.dilations)}) "
        f"slides over x̃ with stride {_pair_text(conv.strides)}: "
        f"y[i,j] = Σ x̃[{sh}·i + {dh}·a, {sw}·j + {dw}·b]·w[a,b].",
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
                    p, q = sh * i + dh * a, sw * j + dw * b
                    window.append((c, p, q))
                    prods[c * s.cout + k, a, b] = xp[p, q, c] * s.w[a, b, c, k]
                    if p - pt in range(conv.h.size) and q - pl in range(conv.w.size):
                        words.append(f"{n.x(p, q, c)}·{n.w(a, b, c, k)}")
                    else:
                        zeros += 1
            y[i, j, k] = prods.sum()
            taps = [(c * s.cout + k, a, b) for c in range(s.cin) for a, b in _taps(s)]
            frames.append(Frame(
                f"Window ({i},{j}) starts at x̃[{sh * i},{sw * j}]: multiply each tap by the "
                "cell of x̃ under it and add the products"
                + (f" ({zeros} taps lie on padding and add 0)" if zeros else "") + ".",
                _sum_terms(n.dy(i, j, k), words, zeros, y[i, j, k], "padding"),
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
    conv, n = s.conv, _Names(s, _XT, "w", _DY)
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    xp = _padded_x(s)
    dwt = np.zeros_like(s.w)
    grids = [
        _x_grid(s),
        _image_grid("dy", "δy, the gradient of the output y", "input", s.dy, _DY),
        _filter_grid("dw", "δw, the gradient of the filter w (result)", dwt, _DW),
    ]
    grids[2].kind = "output"
    frames = [Frame(
        f"{_x_caption(s)} δw[a,b,c,k] adds x̃·δy over every output position: tap (a,b) met "
        f"x̃[{sh}·i + {dh}·a, {sw}·j + {dw}·b] in the forward pass. With stride and dilation "
        "trading places, that is a conv2d of x̃ with δy as the filter.",
        ["δw = conv2d_backprop_filter(x, w.shape, δy, ...)"])]
    for c in range(s.cin):
        for k in range(s.cout):
            for a, b in _taps(s):
                words, cells, zeros, total = [], [], 0, 0.0
                for i, j in _windows(s):
                    p, q = sh * i + dh * a, sw * j + dw * b
                    cells.append((c, p, q))
                    total += xp[p, q, c] * s.dy[i, j, k]
                    if p - pt in range(conv.h.size) and q - pl in range(conv.w.size):
                        words.append(f"{n.x(p, q, c)}·{n.dy(i, j, k)}")
                    else:
                        zeros += 1
                dwt[a, b, c, k] = total
                panel = c * s.cout + k
                frames.append(Frame(
                    f"Tap ({a},{b}) gathers: every output position (i,j) pairs δy[i,j] "
                    f"with x̃[{sh}·i + {dh * a}, {sw}·j + {dw * b}], the cell this tap "
                    "multiplied in the forward pass"
                    + (f" ({zeros} of them on padding)" if zeros else "") + ".",
                    _sum_terms(n.w(a, b, c, k, _DW), words, zeros, total, "padding"),
                    highlight={"x": cells,
                               "dy": [(k, i, j) for i, j in _windows(s)]},
                    focus={"dw": [(panel, a, b)]},
                    put=[("dw", panel, a, b, total)],
                ))
    want = reference.conv2d_backprop_filter(s.x[None], s.w.shape, s.dy[None], conv.strides,
                                            s.params["padding"], dilations=conv.dilations)
    _check("conv2d_backprop_filter", dwt, want)
    frames.append(Frame("Every tap is done: δw equals convlab.conv2d_backprop_filter.",
                        ["δw == convlab.conv2d_backprop_filter(x, w.shape, δy, ...)  ✓"]))
    return grids, frames, dwt, "conv2d_backprop_filter"


def _scatter(s: _Setup, transpose: bool) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv = s.conv
    if transpose:  # conv2d_transpose's own names: u -> ṽ, cropped to v
        acc_n, out_n, wn, dyn = "ṽ", "v", "w", "u"
        dy_label = "u, the input (shaped like the forward y)"
        w_label = "filters w, shape (KH, KW, v's channels, u's channels)"
        acc_label = (f"ṽ = v before its padding is cropped: {_pad_words(conv.pads)}"
                     if _padded(conv.pads) else "ṽ = v (no padding)")
        call = "v = conv2d_transpose(u, w, output_shape, ...)"
    else:
        acc_n, out_n, wn, dyn = _DXT, _DX, "w", _DY
        dy_label = "δy, the gradient of the output y"
        w_label = "filter w"
        acc_label = (f"δx̃, the gradient of x̃ = x padded: {_pad_words(conv.pads)}"
                     if _padded(conv.pads) else "δx̃ = δx, the gradient of x̃ = x (no padding)")
        call = "δx = conv2d_backprop_input(x.shape, w, δy, ...)"
    n = _Names(s, acc_n, wn, dyn)
    (pt, _), (pl, _) = conv.pads
    sh, sw = conv.strides
    dh, dw = conv.dilations
    acc = np.zeros((conv.h.padded, conv.w.padded, s.cin))
    grids = [
        _image_grid("dy", dy_label, "input", s.dy, dyn),
        _filter_grid("w", w_label, s.w, wn),
        _image_grid("dx", acc_label, "output", acc.copy(), acc_n, _x_roles(s)),
    ]
    cropped = "" if not _padded(conv.pads) else (
        f" The padding is cropped off at the end: {_shifted(out_n, conv.pads, acc_n)}.")
    frames = [Frame(
        f"Each {dyn} cell (i,j) spreads {wn}·{dyn}[i,j] over the window of {acc_n} it came "
        f"from in the forward pass, {acc_n}[{sh}·i + {dh}·a, {sw}·j + {dw}·b] "
        f"(indexed from 0, like x̃); overlapping windows add up.{cropped}",
        [call])]
    for k in range(s.cout):
        for i, j in _windows(s):
            terms, puts, cells = [], [], []
            for c in range(s.cin):
                for a, b in _taps(s):
                    p, q = sh * i + dh * a, sw * j + dw * b
                    acc[p, q, c] += s.w[a, b, c, k] * s.dy[i, j, k]
                    cells.append((c, p, q))
                    puts.append(("dx", c, p, q, acc[p, q, c]))
                    inside = p - pt in range(conv.h.size) and q - pl in range(conv.w.size)
                    terms.append(f"{n.x(p, q, c)} += {n.w(a, b, c, k)}·{n.dy(i, j, k)}"
                                 + ("" if inside else "  (padding: cropped)"))
            frames.append(Frame(
                f"{dyn}[{i},{j}] = {_num(s.dy[i, j, k])} scatters {wn}·({_num(s.dy[i, j, k])}) "
                f"into the window of {acc_n} that starts at {acc_n}[{sh * i},{sw * j}].",
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
        ref, check = "conv2d_transpose", "v == convlab.conv2d_transpose(u, w, ...)  ✓"
        final_label = f"v, the output: ṽ cropped, {_shifted('v', conv.pads, 'ṽ')}"
    else:
        want = reference.conv2d_backprop_input((1, h, w, s.cin), s.w, s.dy[None], conv.strides,
                                               s.params["padding"], dilations=conv.dilations)[0]
        ref, check = ("conv2d_backprop_input",
                      "δx == convlab.conv2d_backprop_input(x.shape, w, δy, ...)  ✓")
        final_label = (f"δx, the gradient of x (result): δx̃ cropped, "
                       f"{_shifted(_DX, conv.pads, _DXT)}")
    _check(ref, result, want)
    final = _image_grid("dx", final_label, "output", result, out_n,
                        _x_roles(s)[pt:pt + h, pl:pl + w])
    crop = (f"Crop the padding: {out_n} is {acc_n} without its padded border, indexed from 0 "
            f"at its first real cell, {acc_n}[{pt},{pl}]." if _padded(conv.pads)
            else f"No padding to crop: {out_n} is {acc_n}.")
    frames.append(Frame(
        f"{crop} {out_n} equals convlab.{ref}.",
        [check, _shifted(out_n, conv.pads, acc_n)], replace={"dx": final}))
    return grids, frames, result, ref


def _gather(s: _Setup) -> tuple[list[Grid], list[Frame], np.ndarray, str]:
    conv, n = s.conv, _Names(s, _DX, "w", _DY)
    kh, kw = s.w.shape[:2]
    dh, dw = conv.dilations
    sh, sw = conv.strides
    h, w = conv.h.size, conv.w.size
    pads = full_padding(conv)
    stretched = insert_zeros(s.dy[None], conv.strides)[0]
    # the same steps on a map from each cell to the δy index it holds, so that roles come
    # from positions, never from values (a given δy may hold zeros)
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
    (top_x, _), (left_x, _) = conv.pads
    dx = np.zeros((h, w, s.cin))

    def side(amount: int, unit: str, where: str) -> str:
        if amount >= 0:
            return f"{_plural(amount, unit)} {where}" if unit else f"{amount} {where}"
        return f"{-amount} {unit + ' ' if unit else ''}cropped {where}"

    (pb, pa), (pl, pr) = pads
    pad_text = (f"{side(pb, 'row', 'on top')}, {side(pa, '', 'below')}; "
                f"{side(pl, 'column', 'left')}, {side(pr, '', 'right')}")
    grids = [
        _image_grid("dz", "δy, the gradient of the output y", "input", s.dy, _DY),
        _filter_grid("wk", "filter w", s.w, "w"),
        _image_grid("dx", "δx, the gradient of x (result)", "output", dx.copy(), _DX,
                    _x_roles(s)[top_x:top_x + h, left_x:left_x + w]),
    ]
    frames = [
        Frame("δx as one stride-1 conv2d. Start from δy and the filter w.",
              ["δx = conv2d(pad(δŷ), w', stride 1),  δŷ = insert_zeros(δy),  "
               "w' = swap_in_out(rot180(w))"]),
        Frame(f"Insert s - 1 = {sh - 1} (rows), {sw - 1} (columns) zeros between neighbouring "
              "δy values: δŷ, indexed from 0, holds δy[i,j] at "
              f"δŷ[{sh}·i, {sw}·j]. Only every s-th row of x̃ started a window.",
              [f"δŷ = insert_zeros(δy, strides={list(conv.strides)})"],
              highlight={"dz": _where(stretched_roles, "zero", s.cout)},
              focus={"dz": _where(stretched_roles, "data", s.cout)},
              replace={"dz": _image_grid(
                  "dz", f"δŷ = δy zero-stretched: {_plural(sh - 1, 'zero')} between rows, "
                  f"{sw - 1} between columns", "input", stretched, _DYH, stretched_roles)}),
        Frame(f"Pad δŷ: {pad_text} (k_eff - 1 - p_t on top, k_eff - 1 - p_b below plus the "
              "rows no window reached, and the same for columns; a negative amount crops), so "
              "that every δx cell sees every tap that touched it. pad(δŷ) is indexed from 0.",
              [f"full_padding = {[list(p) for p in pads]}"],
              highlight={"dz": _where(padded_roles, "pad", s.cout)},
              replace={"dz": _image_grid("dz", f"pad(δŷ) = δŷ padded: {pad_text}", "input",
                                         padded, "pad(δŷ)", padded_roles)}),
        Frame("Turn the filter 180°: tap (a,b) moves to (KH-1-a, KW-1-b).",
              ["rot180(w)[a,b] = w[KH-1-a, KW-1-b]"],
              highlight={"wk": _all_cells(s.w)},
              replace={"wk": _filter_grid("wk", "rot180(w), the filter turned 180°", rot,
                                          "rot180(w)")}),
        Frame("Swap its in/out channel axes: the gather runs from δy's channels back to "
              "x's." + (" With one channel each way the swap changes nothing, but it is "
                        "still there." if s.cin == 1 and s.cout == 1 else ""),
              ["w' = swap_in_out(rot180(w)):  w'[a,b,k,c] = w[KH-1-a, KW-1-b, c, k]"],
              highlight={"wk": _all_cells(s.w)},
              replace={"wk": _filter_grid("wk", "w' = rot180(w), in/out channels swapped",
                                          swapped, "w'", swapped=True)}),
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
                    f"δx[{p},{q}]: the stride-1 window at pad(δŷ)[{p},{q}] multiplies w' "
                    "with the stretched, padded δy; only real δy values count, the same "
                    "terms as in the scatter.",
                    _sum_terms(n.x(p, q, c), words, zeros, total, "zeros (padding or inserted)"),
                    highlight={"dz": cells, "wk": taps},
                    focus={"dx": [(c, p, q)]},
                    put=[("dx", c, p, q, total)],
                ))
    want = reference.conv2d_backprop_input((1, h, w, s.cin), s.w, s.dy[None], conv.strides,
                                           s.params["padding"], dilations=conv.dilations)[0]
    _check("conv2d_backprop_input", dx, want)
    frames.append(Frame("Every δx cell is done: the gather gives the scatter's numbers, "
                        "convlab.conv2d_backprop_input.",
                        ["δx == convlab.conv2d_backprop_input(x.shape, w, δy, ...)  ✓"]))
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
    x: Any = None,
    w: Any = None,
    dy: Any = None,
    u: Any = None,
) -> Trace:
    """Build the frames of ``op`` (a key of :data:`OPERATIONS`) on small numbers.

    Parameters
    ----------
    op : str
        ``"forward"``, ``"d_w"``, ``"d_x_scatter"``, ``"d_x_gather"`` or ``"conv2d_transpose"``.
    input_size, kernel_size, strides, dilations : int or (int, int)
        Height and width of ``x`` and of the filter, and the steps, as in ``conv2d``.
    padding : "VALID", "SAME", int or ((top, bottom), (left, right))
    channels : int or (in, out)
        Channel counts of the forward ``conv2d``, 1 to 3 each (for ``conv2d_transpose``:
        ``v``'s, then ``u``'s).
    seed : int
        Seed of the data that is not given: small nonzero integers, drawn by a generator
        that the explorers' ``trace.js`` repeats exactly.
    x, w, dy : array-like, optional
        The data itself, e.g. a figure's (arrays or nested lists of numbers; zeros are
        fine): ``x`` of shape ``(H, W, C_in)``, ``w`` ``(KH, KW, C_in, C_out)``, ``dy``
        (``δy``) ``(OH, OW, C_out)``, with ``OH, OW`` the output size the other arguments
        give; with one channel (pair) a 2-D array will do, and ``x`` and ``dy`` may have a
        leading batch axis of 1 (NHWC). Each overrides the seeded draw.
        Only the arrays ``op`` reads may be given (:data:`DATA`): ``x, w`` for
        ``forward``; ``x, dy`` for ``d_w``; ``w, dy`` for the two ``δx``; ``u, w`` for
        ``conv2d_transpose``.
    u : array-like, optional
        ``conv2d_transpose``'s input (shaped like ``dy``, which may name it too), with ``w``
        its filters.

    Raises
    ------
    ValueError
        For an unknown ``op``, sizes ``conv2d`` would refuse, or given data of the wrong
        shape, not numbers, or not read by ``op`` (the message names the argument and the
        shape expected).
    AssertionError
        If the accumulated values disagree with the convlab reference (a bug).

    Examples
    --------
    >>> t = trace("forward", input_size=3, kernel_size=2, x=[[1, 0, 2], [0, 1, 0], [3, 0, 1]],
    ...           w=[[1, 2], [0, -1]])
    >>> t.result[:, :, 0].tolist(), t.frames[1].terms[0]
    ([[0.0, 4.0], [2.0, 0.0]], 'y[0,0] = x̃[0,0]·w[0,0] + x̃[0,1]·w[0,1] + x̃[1,0]·w[1,0] + x̃[1,1]·w[1,1] = 0')
    >>> trace("forward", input_size=3, kernel_size=2, x=np.ones((4, 4)))
    Traceback (most recent call last):
    ...
    ValueError: x must be an array of numbers of shape (3, 3), (3, 3, 1) or (1, 3, 3, 1) (input_size=[3, 3], with 1 channel(s)); got shape (4, 4)
    """  # noqa: E501
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {sorted(OPERATIONS)}, got {op!r}")
    s = _setup(op, input_size, kernel_size, strides, padding, dilations, channels, seed,
               {"x": x, "w": w, "dy": dy, "u": u})
    builders = {
        "forward": _forward,
        "d_w": _d_w,
        "d_x_scatter": lambda s: _scatter(s, transpose=False),
        "conv2d_transpose": lambda s: _scatter(s, transpose=True),
        "d_x_gather": _gather,
    }
    grids, frames, result, ref = builders[op](s)
    return Trace(op, OPERATIONS[op], s.params, grids, frames, result, ref,
                 {"x": s.x, "w": s.w, "dy": s.dy})
