"""The trace engine behind the explorers: frame counts, final values, JSON, the pictures' facts,
the book's notation, and data given explicitly (a figure's)."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

import convlab
from convlab.trace import OPERATIONS, ROLES, frame_count, trace, window_fits

SIZES = [3, 5, (4, 6)]
KERNELS = [1, 2, 3]
STRIDES = [1, 2, 3]
PADDINGS = ["VALID", "SAME", 1, ((0, 2), (3, 1))]
DILATIONS = [1, 2]
CHANNELS = [1, (1, 2), (2, 1), 2]

GRID = [
    pytest.param(op, *cfg, id=f"{op}-{i}")
    for op in OPERATIONS
    for i, cfg in enumerate(itertools.product(SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS,
                                              CHANNELS))
    if i % 7 == 0  # a thinned, deterministic slice of the grid, still every op and option
]


def _replay(t) -> dict[str, np.ndarray]:
    """The grids' values after the last frame, replaying the frames as a front end does."""
    grids = {g.id: g.values.copy() for g in t.grids}
    for f in t.frames:
        for gid, grid in f.replace.items():
            grids[gid] = grid.values.copy()
        for gid, p, r, c, v in f.put:
            grids[gid][p, r, c] = v
    return grids


@pytest.mark.parametrize(("op", "size", "kernel", "stride", "padding", "dilation", "channels"),
                         GRID)
def test_trace_grid(op, size, kernel, stride, padding, dilation, channels):
    try:
        conv = convlab.conv_geometry(
            (1, *np.broadcast_to(size, 2), np.broadcast_to(channels, 2)[0]),
            (kernel, kernel, *np.broadcast_to(channels, 2)), stride,
            [[1, 1], [1, 1]] if padding == 1 else padding, dilations=dilation)
        window_fits(conv)  # TensorFlow's empty outputs leave nothing to trace
    except ValueError:
        with pytest.raises(ValueError):
            trace(op, input_size=size, kernel_size=kernel, strides=stride, padding=padding,
                  dilations=dilation, channels=channels)
        return
    t = trace(op, input_size=size, kernel_size=kernel, strides=stride, padding=padding,
              dilations=dilation, channels=channels)
    assert len(t.frames) == frame_count(op, conv)
    # the final values, replayed from the frames, are the reference's
    x, w, dy = _data(t)
    args = (conv.strides, conv.pads)
    final = _replay(t)
    if op == "forward":
        want = convlab.conv2d(x, w, *args, dilations=conv.dilations)[0]
        got = np.moveaxis(final["y"], 0, 2)
    elif op == "d_w":
        want = convlab.conv2d_backprop_filter(x, w.shape, dy, *args, dilations=conv.dilations)
        got = final["dw"].reshape(w.shape[2], w.shape[3], *w.shape[:2]).transpose(2, 3, 0, 1)
    else:
        want = convlab.conv2d_backprop_input(x.shape, w, dy, *args, dilations=conv.dilations)[0]
        got = np.moveaxis(final["dx"], 0, 2)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(t.result, want)
    # plain data: a JSON round trip keeps everything
    data = json.loads(json.dumps(t.to_json()))
    assert len(data["frames"]) == len(t.frames)
    roles = {r for g in data["grids"] for row in g["roles"] for r in row}
    assert roles <= set(ROLES)


def _data(t):
    """x, w, δy as 4-D arrays: the data the trace ran on."""
    return t.data["x"][None], t.data["w"], t.data["dy"][None]


def _factors(product: str) -> frozenset[str]:
    return frozenset(product.split("·"))


def _products(term: str) -> tuple[str, set[frozenset[str]]]:
    """The head of ``head = a·b + c·d + N terms on ... = v`` and its products."""
    head, _, rest = term.partition(" = ")
    if rest.startswith("0  (all "):
        return head, set()
    words = rest.rsplit(" = ", 1)[0].split(" + ")
    return head, {_factors(p) for p in words if " on " not in p}


def _unpad(target: str, pads) -> str:
    """``δx̃[p,q,...]`` -> ``δx[p - p_t, q - p_l, ...]``: the crop of the last frame."""
    p, q, *rest = (int(v) for v in target[target.index("[") + 1:-1].split(","))
    return "δx[" + ",".join(str(v) for v in (p - pads[0][0], q - pads[1][0], *rest)) + "]"


@pytest.mark.parametrize("kw", [
    {"input_size": 5, "kernel_size": 3, "strides": 2, "padding": "SAME", "channels": (2, 2)},
    {"input_size": 6, "kernel_size": 3, "strides": 2, "padding": "VALID", "channels": 1},
    {"input_size": 5, "kernel_size": 2, "strides": 1, "padding": ((2, 0), (1, 2)),
     "dilations": 2, "channels": (1, 2)},
])
def test_scatter_and_gather_write_the_same_terms(kw):
    scatter, gather = trace("d_x_scatter", **kw), trace("d_x_gather", **kw)
    np.testing.assert_array_equal(scatter.result, gather.result)
    pads = scatter.params["pads"]
    # every product the scatter adds into δx̃[p,q,c] inside the padding is a product the
    # gather sums into δx[p - p_t, q - p_l, c]
    added: dict[str, set[frozenset[str]]] = {}
    for f in scatter.frames[1:-1]:
        for term in f.terms:
            if "padding" in term:
                continue
            target, product = term.split(" += ")
            assert target.startswith("δx̃[")
            added.setdefault(_unpad(target, pads), set()).add(_factors(product))
    for f in gather.frames[5:-1]:
        head, products = _products(f.terms[0])
        assert head.startswith("δx[")
        assert products == added.get(head, set()), head


def test_gather_shows_the_rotation_and_the_swap_as_two_steps():
    t = trace("d_x_gather", input_size=4, kernel_size=2, channels=(1, 2))
    w = t.grids[1].values  # panels w[:,:,0,0], w[:,:,0,1]
    turned = t.frames[3].replace["wk"].values
    swapped = t.frames[4].replace["wk"].values
    np.testing.assert_array_equal(turned, w[:, ::-1, ::-1])
    np.testing.assert_array_equal(swapped, w[:, ::-1, ::-1])  # 1 in-channel: same panels
    assert t.frames[3].replace["wk"].panels == ["rot180(w)[:,:,0,0]", "rot180(w)[:,:,0,1]"]
    assert t.frames[4].replace["wk"].panels == ["w'[:,:,0,0]", "w'[:,:,1,0]"]


def test_roles_mark_padding_inserted_zeros_and_unreached_rows():
    t = trace("d_x_gather", input_size=4, kernel_size=3, strides=2, padding="VALID")
    roles = t.frames[2].replace["dz"].roles  # stretched and padded d_out
    assert roles[0, 0] == "pad" and "zero" not in roles[0]
    assert (roles == "zero").sum() == 0  # VALID 4, k 3, s 2: one output, nothing inserted
    t = trace("d_x_gather", input_size=5, kernel_size=3, strides=2, padding="VALID")
    assert (t.frames[1].replace["dz"].roles == "zero").sum() == 5
    t = trace("forward", input_size=6, kernel_size=3, strides=2, padding="VALID")
    roles = t.grids[0].roles  # the last row and column of x are never reached
    assert set(roles[5]) == {"unreached"} and set(roles[:, 5]) == {"unreached"}


def test_the_term_names_the_scatter():
    t = trace("d_x_scatter", input_size=4, kernel_size=3, strides=2, padding="SAME")
    assert t.frames[1].terms[0] == "δx̃[0,0] += w[0,0]·δy[0,0]"
    t = trace("conv2d_transpose", input_size=4, kernel_size=3, strides=2, padding="SAME")
    assert t.frames[1].terms[0] == "ṽ[0,0] += w[0,0]·u[0,0]"
    # padding on top: the window of δy[0,0] starts at δx̃[0,0], a padded cell
    t = trace("d_x_scatter", input_size=5, kernel_size=3, strides=2, padding="SAME")
    assert t.frames[1].terms[0] == "δx̃[0,0] += w[0,0]·δy[0,0]  (padding: cropped)"
    assert t.frames[1].terms[4] == "δx̃[1,1] += w[1,1]·δy[0,0]"
    assert t.frames[-1].terms[1] == "δx[p-1,q-1] = δx̃[p,q]"


# ----------------------------------------------------------------------------------------
# the book's notation: x̃, δy, δx, δw, δŷ; u, w, ṽ, v; padded arrays indexed from 0

SETTINGS = [
    {"strides": 2, "padding": "SAME"},
    {"strides": 1, "padding": "VALID", "channels": (2, 2), "input_size": 4},
    {"strides": 1, "padding": ((2, 0), (1, 3)), "dilations": 2},
]


def _visible(t) -> list[str]:
    """Every text of a trace that a reader sees: title, labels, panel names, captions, terms."""
    grids = list(t.grids) + [g for f in t.frames for g in f.replace.values()]
    return ([t.title] + [g.label for g in grids] + [p for g in grids for p in g.panels]
            + [f.caption for f in t.frames] + [term for f in t.frames for term in f.terms])


@pytest.mark.parametrize("op", list(OPERATIONS))
@pytest.mark.parametrize("kw", SETTINGS)
def test_the_book_notation_everywhere_a_reader_looks(op, kw):
    t = trace(op, **kw)
    text = _visible(t)
    old = [s for s in text if re.search(r"d_out|d_x|d_w|\binput\[|\boutput\[|filters\[|pad\[", s)]
    assert old == []
    # no negative index and no index past a grid: every named cell is a cell of its grid
    assert not [s for s in text if re.search(r"\[-\d", s)]
    # every grid is indexed from 0, padded ones included
    grids = list(t.grids) + [g for f in t.frames for g in f.replace.values()]
    assert all(tuple(g.offset) == (0, 0) for g in grids)
    assert all(tuple(g["offset"]) == (0, 0) for g in t.to_json()["grids"])


def test_padded_grids_say_which_array_they_are():
    t = trace("forward", input_size=5, kernel_size=3, strides=2, padding="SAME")
    x = t.grids[0]
    assert x.label.replace("\u00a0", " ") == ("x̃ = x padded: p_t = 1 row on top, p_b = 1 below; "
                       "p_l = 1 column left, p_r = 1 right")
    assert x.panels == ["x̃"] and x.roles.shape == (7, 7)
    # window (0,0) reads x̃[0..2, 0..2]; its data cells are x̃[1,1], x̃[1,2], x̃[2,1], x̃[2,2]
    assert t.frames[1].terms[0].startswith("y[0,0] = x̃[1,1]·w[1,1] + x̃[1,2]·w[1,2] + ")
    assert " + 5 terms on padding = " in t.frames[1].terms[0]
    assert "x[p-1,q-1] = x̃[p,q]" in t.frames[0].caption
    assert trace("forward", padding="VALID").grids[0].label == "x̃ = x (no padding)"
    # the scatter writes δx̃ and crops it to δx; the transpose writes ṽ and crops it to v
    t = trace("d_x_scatter", input_size=5, kernel_size=3, strides=2, padding="SAME")
    assert t.grids[2].label.startswith("δx̃, the gradient of x̃ = x padded: p_t\u00a0=\u00a01 row")
    assert t.grids[2].panels == ["δx̃"] and t.grids[2].roles.shape == (7, 7)
    final = t.frames[-1].replace["dx"]
    assert final.panels == ["δx"] and final.roles.shape == (5, 5)
    assert final.label.endswith("δx̃ cropped, δx[p-1,q-1] = δx̃[p,q]")
    t = trace("conv2d_transpose", input_size=5, kernel_size=3, strides=2, padding="SAME",
              channels=(2, 1))
    assert [g.panels for g in t.grids] == [["u"], ["w[:,:,0,0]", "w[:,:,1,0]"],
                                           ["ṽ[:,:,0]", "ṽ[:,:,1]"]]
    assert t.frames[-1].replace["dx"].panels == ["v[:,:,0]", "v[:,:,1]"]
    # the gather: δy, then δŷ (zero-stretched), then pad(δŷ), each indexed from 0
    t = trace("d_x_gather", input_size=6, kernel_size=3, strides=2, padding="VALID")
    stretched, padded = t.frames[1].replace["dz"], t.frames[2].replace["dz"]
    assert stretched.panels == ["δŷ"] and stretched.label.startswith("δŷ = δy zero-stretched")
    assert padded.panels == ["pad(δŷ)"]
    assert padded.label == "pad(δŷ) = δŷ padded: 2 rows on top, 3 below; 2 columns left, 3 right"
    assert padded.roles.shape == (8, 8) and padded.roles[2, 2] == "data"


def test_bad_arguments():
    with pytest.raises(ValueError, match="op must be one of"):
        trace("backward")
    with pytest.raises(ValueError, match="channels"):
        trace("forward", channels=4)
    with pytest.raises(ValueError):
        trace("forward", input_size=2, kernel_size=3)


# ----------------------------------------------------------------------------------------
# data given explicitly: the figures' arrays

# the presets that replay the book's figures (the report hands these to the chapters)
FIGURES = {
    "forward": {  # forward-pass.md, fig-forward-steps
        "strides": 2, "padding": "SAME", "input_size": 5,
        "x": [[3, 1, 0, 2, 1], [0, 2, 4, 1, 0], [1, 0, 3, 2, 2], [2, 1, 0, 0, 3],
              [0, 3, 1, 2, 1]],
        "w": [[1, 0, -1], [2, 1, 0], [0, -1, 1]]},
    "d_w": {  # filter-gradient.md, fig-dw-taps
        "strides": 2, "padding": "VALID", "input_size": 6,
        "x": (np.arange(36) % 5 - 2).reshape(6, 6), "dy": [[1, -1], [2, 1]]},
    "d_x_scatter": {  # input-gradient.md, fig-dx-gather (top)
        "strides": 2, "padding": "VALID", "input_size": 6,
        "w": [[1, 2, 0], [0, -1, 1], [2, 0, 1]], "dy": [[1, -1], [2, 1]]},
    "conv2d_transpose": {  # transpose.md, fig-scatter
        "strides": 2, "padding": "SAME", "input_size": 5,
        "u": [[1, 2, 0], [3, 1, 2], [0, 1, 1]], "w": [[1, 0, 2], [1, 1, 0], [0, 2, 1]]},
}
FIGURES["d_x_gather"] = FIGURES["d_x_scatter"]


def _reference(op: str, t) -> np.ndarray:
    """convlab's own result on the trace's data."""
    p = t.params
    x, w, dy = t.data["x"][None], t.data["w"], t.data["dy"][None]
    args = (p["strides"], p["padding"] if isinstance(p["padding"], str) else p["pads"])
    kw = {"dilations": p["dilations"]}
    if op == "forward":
        return convlab.conv2d(x, w, *args, **kw)[0]
    if op == "d_w":
        return convlab.conv2d_backprop_filter(x, w.shape, dy, *args, **kw)
    if op == "conv2d_transpose":
        return convlab.conv2d_transpose(dy, w, x.shape, *args, **kw)[0]
    return convlab.conv2d_backprop_input(x.shape, w, dy, *args, **kw)[0]


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_a_figure_s_numbers_give_convlab_s_result(op):
    preset = FIGURES[op]
    t = trace(op, **preset)
    for key in ("x", "w", "dy", "u"):
        if key in preset:
            got = t.data["dy" if key == "u" else key]
            np.testing.assert_array_equal(got.reshape(np.shape(preset[key])), preset[key])
    want = _reference(op, t)
    np.testing.assert_array_equal(t.result, want)
    np.testing.assert_array_equal(_final(t, op), want)
    assert t.params["given"] == [k for k in ("x", "w", "dy", "u") if k in preset]
    # the given arrays are the grids' values, the seed draws only what is not given
    seeded = trace(op, **{k: v for k, v in preset.items() if k not in ("x", "w", "dy", "u")})
    for key in ("x", "w", "dy"):
        if key not in preset and not (key == "dy" and "u" in preset):
            np.testing.assert_array_equal(t.data[key], seeded.data[key])


def _final(t, op: str) -> np.ndarray:
    final = _replay(t)
    if op == "forward":
        return np.moveaxis(final["y"], 0, 2)
    if op == "d_w":
        w = t.data["w"]
        return final["dw"].reshape(w.shape[2], w.shape[3], *w.shape[:2]).transpose(2, 3, 0, 1)
    return np.moveaxis(final["dx"], 0, 2)


def test_the_figures_numbers():
    # forward-pass.md prints y[0,0], y[1,1], y[2,1] of its figure
    t = trace("forward", **FIGURES["forward"])
    x1 = np.array(FIGURES["forward"]["x"], float).reshape(1, 5, 5, 1)
    w1 = np.array(FIGURES["forward"]["w"], float).reshape(3, 3, 1, 1)
    np.testing.assert_array_equal(t.result[None], convlab.conv2d(x1, w1, 2, "SAME"))
    # the figure's outlined tap (1, 2) of δw
    t = trace("d_w", **FIGURES["d_w"])
    x1 = FIGURES["d_w"]["x"]
    assert t.result[1, 2, 0, 0] == sum(x1[2 * i + 1, 2 * j + 2] * [[1, -1], [2, 1]][i][j]
                                       for i in range(2) for j in range(2))
    # the transpose chapter's loop of three lines
    u = np.array(FIGURES["conv2d_transpose"]["u"], float)
    w3 = np.array(FIGURES["conv2d_transpose"]["w"], float)
    out = np.zeros((7, 7))
    for i, j in np.ndindex(u.shape):
        out[2 * i: 2 * i + 3, 2 * j: 2 * j + 3] += u[i, j] * w3
    t = trace("conv2d_transpose", **FIGURES["conv2d_transpose"])
    np.testing.assert_array_equal(t.result[:, :, 0], out[1:6, 1:6])
    np.testing.assert_array_equal(t.frames[-2].put[-1][4], out[6, 6])  # ṽ before the crop


def test_zeros_in_the_data_are_values_not_padding():
    # fig-forward-steps: window (0,0) reads x̃[1..2, 1..2] = x[0..1, 0..1] = 3, 1, 0, 2
    t = trace("forward", **FIGURES["forward"])
    assert t.frames[1].terms[0] == ("y[0,0] = x̃[1,1]·w[1,1] + x̃[1,2]·w[1,2] + x̃[2,1]·w[2,1] "
                                    "+ x̃[2,2]·w[2,2] + 5 terms on padding = 5")
    # a δy of the gather's bottom figure, with zeros: roles and products come from positions
    kw = {"input_size": 6, "strides": 2, "padding": "SAME", "w": FIGURES["d_x_gather"]["w"]}
    dy = [[1, 0, -1], [2, 1, 0], [0, 1, 2]]
    given, drawn = trace("d_x_gather", dy=dy, **kw), trace("d_x_gather", **kw)
    for a, b in zip(given.frames, drawn.frames, strict=True):
        for g, h in zip(a.replace.values(), b.replace.values(), strict=True):
            assert (g.roles == h.roles).all()
        assert a.highlight == b.highlight and a.focus == b.focus
        heads = [_products(term) for term in (a.terms[0], b.terms[0])]
        assert heads[0] == heads[1]  # the same products and heads, whatever the values
    scatter = trace("d_x_scatter", dy=dy, **kw)
    np.testing.assert_array_equal(scatter.result, given.result)
    # a filter with zeros, two channels each way, as (KH, KW, C_in, C_out)
    w = np.zeros((2, 2, 2, 2))
    w[0, 1, 1, 0] = 3
    t = trace("d_x_scatter", input_size=3, kernel_size=2, channels=2, w=w)
    assert "δx̃[0,1,1] += w[0,1,1,0]·δy[0,0,0]" in t.frames[1].terms
    assert len(t.frames[1].terms) == 8  # every tap of every input channel, zero or not


@pytest.mark.parametrize(("op", "kw", "message"), [
    ("forward", {"x": np.ones((4, 4))},
     r"x must be an array of numbers of shape \(5, 5\), \(5, 5, 1\) or \(1, 5, 5, 1\) "
     r"\(input_size=\[5, 5\].*got shape \(4, 4\)"),
    ("forward", {"w": np.ones((3, 3, 2, 1))},
     r"w must be .* shape \(3, 3\) or \(3, 3, 1, 1\) \(kernel_size=\[3, 3\].*"
     r"got shape \(3, 3, 2, 1\)"),
    ("forward", {"channels": (2, 1), "x": np.ones((5, 5))},
     r"x must be .* shape \(5, 5, 2\) or \(1, 5, 5, 2\) .*got shape \(5, 5\)"),
    ("d_w", {"strides": 2, "dy": [[1, 2, 3]]},
     r"dy must be .* shape \(2, 2\), \(2, 2, 1\) or \(1, 2, 2, 1\) \(δy is shaped like y: "
     r"2x2 from .*strides=\[2, 2\].*got shape \(1, 3\)"),
    ("conv2d_transpose", {"input_size": 5, "strides": 2, "padding": "SAME",
                          "u": np.ones((2, 3))},
     r"u must be .*\(1, 3, 3, 1\) \(u is shaped like the forward y: 3x3 .*got shape \(2, 3\)"),
    ("d_x_scatter", {"dy": [[1, 2], [3]]}, r"dy must be an array of numbers"),
    ("d_x_scatter", {"w": "abc"}, r"w must be an array of numbers.*got 'abc'"),
    ("d_x_scatter", {"w": [[1, 2, np.nan]] * 3}, r"w must .*not finite"),
    ("d_x_scatter", {"w": [[1j, 0, 0]] * 3}, r"w must be an array of numbers"),
    ("d_x_scatter", {"x": np.ones((5, 5))}, r"x is not used by op 'd_x_scatter', which reads "
     r"w and dy"),
    ("forward", {"dy": np.ones((3, 3))}, r"dy is not used by op 'forward'"),
    ("d_w", {"w": np.ones((3, 3))}, r"w is not used by op 'd_w'"),
    ("d_x_gather", {"u": np.ones((3, 3))}, r"u is conv2d_transpose's input"),
    ("conv2d_transpose", {"u": np.ones((3, 3)), "dy": np.ones((3, 3))}, r"as u or as dy"),
])
def test_bad_data_names_the_argument_and_the_shape(op, kw, message):
    with pytest.raises(ValueError, match=message):
        trace(op, **kw)


def test_data_forms():
    x = np.arange(25.0).reshape(5, 5)
    forms = [x, x.tolist(), x.reshape(5, 5, 1), x.reshape(1, 5, 5, 1), x.astype(int)]
    results = [trace("forward", x=f).result for f in forms]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    # conv2d_transpose takes its input as u or (the trace's own name) dy
    u = [[1, 2, 0], [3, 1, 2], [0, 1, 1]]
    a = trace("conv2d_transpose", u=u, input_size=5, strides=2, padding="SAME")
    b = trace("conv2d_transpose", dy=u, input_size=5, strides=2, padding="SAME")
    np.testing.assert_array_equal(a.result, b.result)
    assert a.params["given"] == b.params["given"] == ["u"]
    # non-integers are fine too, and JSON keeps them
    t = trace("forward", input_size=3, kernel_size=2, x=np.full((3, 3), 0.5))
    assert json.loads(json.dumps(t.to_json()))["frames"][-2]["put"][0][4] == t.result[1, 1, 0]
