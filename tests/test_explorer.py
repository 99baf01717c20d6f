"""The explorers from Python: the static HTML and the live ipywidgets version."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

import convlab
from convlab.explorer import MAX_BYTES, frame_html, live_explorer, static_explorer
from convlab.trace import OPERATIONS


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_static_explorer_is_self_contained(op):
    ex = static_explorer(op)
    page = ex._repr_html_()
    assert ex.nbytes == len(page.encode()) <= MAX_BYTES
    # the presets are embedded as JSON: settings and seed; the page computes the frames
    data = re.search(r'<script type="application/json" id="[^"]+-data">(.*?)</script>', page, re.S)
    assert data is not None
    payload = json.loads(data.group(1))
    assert [p["label"] for p in payload["presets"]][:2] == ["stride 1, VALID", "stride 2, SAME"]
    # nothing is loaded from anywhere: no src=, href= or url(http...)
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "http://" not in page and "https://" not in page


def test_live_explorer_recomputes_on_every_control():
    ex = live_explorer("d_x_gather")
    first, view = ex.trace, ex.view.value
    assert first is not None and "δy" in view and "d_out" not in view
    changes = [
        (ex.stride_h, 2), (ex.padding, "SAME"), (ex.dilation_w, 2), (ex.input_h, 6),
        (ex.kernel_w, 2), (ex.channels_in, 3), (ex.channels_out, 2),
        (ex.padding, "EXPLICIT"), (ex.pad_top, 2), (ex.pad_right, 1), (ex.op, "d_w"),
        (ex.op, "conv2d_transpose"),
    ]
    for control, value in changes:
        before, before_view = ex.trace, ex.view.value
        t0 = time.perf_counter()
        control.value = value
        elapsed = time.perf_counter() - t0
        assert ex.trace is not before, control.description
        assert ex.trace.params != before.params or ex.trace.op != before.op
        assert ex.view.value != before_view, control.description
        assert elapsed < 0.2, f"{control.description}: {elapsed * 1000:.0f} ms"
    assert ex.trace.params["channels"] == [3, 2]
    assert ex.trace.params["pads"] == [[2, 0], [0, 1]]
    assert ex.step.max == len(ex.trace.frames) == ex.play.max and ex.step.min == 1
    # stepping redraws; the step counts from 1, as the caption does
    ex.step.value = 2
    two = ex.view.value
    assert f"Step 2 of {len(ex.trace.frames)}" in two
    ex.step.value = 3
    assert ex.view.value != two and 'data-frame="2"' in ex.view.value


def test_live_explorer_has_the_static_explorer_s_controls():
    ex = live_explorer("forward")
    assert set(ex.controls) == {"input_h", "input_w", "kernel_h", "kernel_w", "stride_h",
                                "stride_w", "dilation_h", "dilation_w", "channels_in",
                                "channels_out", "padding", "pad_top", "pad_bottom",
                                "pad_left", "pad_right"}
    assert (ex.input_h.min, ex.input_h.max, ex.kernel_w.max, ex.stride_h.max,
            ex.channels_out.max) == (1, 16, 5, 4, 3)
    assert list(ex.padding.options) == ["VALID", "SAME", "EXPLICIT"]


def test_live_explorer_reports_impossible_settings():
    ex = live_explorer("forward", input_size=3)
    assert ex.trace is not None and ex.view.value
    # longer than the input by twice the stride (VALID): TensorFlow refuses it (by less, it
    # gives an empty output, and so does the trace)
    ex.kernel_h.value = 5
    assert ex.trace is None and ex.view.value == ""  # no stale picture
    assert "does not fit" in ex.message.value and 'role="alert"' in ex.message.value
    ex.kernel_h.value = 2
    assert ex.trace is not None and ex.view.value and "alert" not in ex.message.value


@pytest.mark.parametrize(("kw", "message"), [
    ({"padding": 1}, None),
    ({"padding": ((1, 0), (0, 2))}, None),
    ({"channels": (2, 3)}, None),
    ({"padding": "full"}, r"padding must be 'VALID', 'SAME', 'EXPLICIT'"),
    ({"padding": [1, 2, 3]}, r"padding must be"),
    ({"channels": 4}, r"channels_in \(channels in\) must be a whole number from 1 to 3"),
    ({"input_size": (5, 40)}, r"input_w \(input width\) must be a whole number from 1 to 16"),
    ({"strides": "2"}, r"strides must be an int or a pair of ints, got '2'"),
    ({"strides": "22"}, r"stride_h \(stride, rows\) must be a whole number from 1 to 4"),
    ({"stride": 2}, r"live_explorer has no setting 'stride'; it takes"),
    ({"seed": 1.5}, r"seed must be an int"),
])
def test_live_explorer_checks_every_keyword(kw, message):
    if message is None:
        ex = live_explorer("forward", **kw)
        assert ex.trace is not None
        if "channels" in kw:
            assert ex.trace.params["channels"] == list(kw["channels"])
        return
    with pytest.raises(ValueError, match=message):
        live_explorer("forward", **kw)


def test_frame_html_marks_highlight_and_focus():
    ex = static_explorer("forward", [{"label": "one"}])
    t = ex.traces[0]
    page = frame_html(t, 1)
    assert page.count("cvx-c r-data hl") >= 9 and " fx" in page
    assert "y[0,0] = " in page
    assert "values drawn at random (seed 0)" in page


# the figure of input-gradient.md (fig-dx-gather, top), as the chapter's preset
FIGURE = {"label": "stride 2, VALID, 6\u00d76 input (the top picture)", "strides": 2,
          "padding": "VALID", "input_size": 6, "w": [[1, 2, 0], [0, -1, 1], [2, 0, 1]],
          "dy": [[1, -1], [2, 1]]}


@pytest.mark.parametrize("op", ["d_x_scatter", "d_x_gather"])
def test_a_preset_replays_a_figure_s_numbers(op):
    ex = static_explorer(op, [FIGURE, {"label": "stride 2, SAME", "strides": 2,
                                       "padding": "SAME"}])
    w = np.reshape(FIGURE["w"], (3, 3, 1, 1)).astype(float)
    dy = np.reshape(FIGURE["dy"], (1, 2, 2, 1)).astype(float)
    want = convlab.conv2d_backprop_input((1, 6, 6, 1), w, dy, 2, "VALID")[0]
    np.testing.assert_array_equal(ex.traces[0].result, want)
    page = ex._repr_html_()
    payload = json.loads(re.search(r'id="[^"]+-data">(.*?)</script>', page, re.S).group(1))
    # the page draws what is not given from the same seed: only given arrays travel
    first, second = (p["settings"] for p in payload["presets"])
    assert first["strides"] == [2, 2] and first["padding"] == "VALID"
    assert np.squeeze(first["dy"]).tolist() == FIGURE["dy"]
    assert np.squeeze(first["w"]).tolist() == FIGURE["w"]
    assert not {"x", "w", "dy", "u"} & set(second) and second["seed"] == 0
    assert "values given: w, δy" in frame_html(ex.traces[0], 0)


def test_a_label_is_made_when_a_preset_has_none():
    ex = static_explorer("forward", [{"strides": 2, "x": np.ones((5, 5))}])
    label = ex.presets[0]["label"]
    assert "strides=2" in label and label.endswith("given x") and "[[" not in label


@pytest.mark.parametrize(("preset", "message"), [
    ({"label": "a", "stride": 2}, r"preset 0 \('a'\) has unknown key\(s\) \['stride'\]"),
    ({"label": "b", "dy": np.ones((3, 3))}, r"preset 0 \('b'\): dy must be an array of numbers "
     r"of shape \(2, 2\), \(2, 2, 1\) or \(1, 2, 2, 1\)"),
    ({"label": "c", "x": np.ones((5, 5))}, r"preset 0 \('c'\): x is not used by op "
     r"'d_x_gather'"),
])
def test_bad_presets_say_which_and_why(preset, message):
    kw = {"strides": 2, "padding": "SAME", "input_size": 4}
    with pytest.raises(ValueError, match=message):
        static_explorer("d_x_gather", [preset], **kw)
