"""The trace engine behind the explorers: frame counts, final values, JSON, the pictures' facts."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import convlab
from convlab.trace import OPERATIONS, ROLES, frame_count, trace

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
    """x, w, d_out as 4-D arrays, read back from the trace's first grids."""
    from convlab.trace import _setup

    p = t.params
    s = _setup(p["input_size"], p["kernel_size"], p["strides"], p["padding"], p["dilations"],
               p["channels"], p["seed"])
    return s.x[None], s.w, s.dy[None]


def _factors(product: str) -> frozenset[str]:
    return frozenset(product.split("·"))


def test_scatter_and_gather_write_the_same_terms():
    kw = {"input_size": 5, "kernel_size": 3, "strides": 2, "padding": "SAME", "channels": (2, 2)}
    scatter, gather = trace("d_x_scatter", **kw), trace("d_x_gather", **kw)
    np.testing.assert_array_equal(scatter.result, gather.result)
    # every product the scatter adds into d_x[p,q,c] is a product the gather sums there
    added: dict[str, set[str]] = {}
    for f in scatter.frames[1:-1]:
        for term in f.terms:
            if "padding" in term:
                continue
            target, product = term.split(" += ")
            added.setdefault(target, set()).add(_factors(product))
    for f in gather.frames[5:-1]:
        head, _, rest = f.terms[0].partition(" = ")
        zero = "meet a zero" in rest
        products = set() if zero else set(rest.rsplit(" = ", 1)[0].split(" + "))
        products = {_factors(p) for p in products if "zero term" not in p}
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
    assert t.frames[1].terms[0] == "d_x[0,0] += w[0,0]·d_out[0,0]"
    t = trace("conv2d_transpose", input_size=4, kernel_size=3, strides=2, padding="SAME")
    assert t.frames[1].terms[0] == "output[0,0] += filters[0,0]·input[0,0]"


def test_bad_arguments():
    with pytest.raises(ValueError, match="op must be one of"):
        trace("backward")
    with pytest.raises(ValueError, match="channels"):
        trace("forward", channels=3)
    with pytest.raises(ValueError):
        trace("forward", input_size=2, kernel_size=3)
