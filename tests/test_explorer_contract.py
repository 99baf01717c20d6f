"""The explorers' page contract, checked in headless Chromium against TensorFlow's numbers.

Each explorer is an element with ``data-op`` (``forward``, ``d_w``, ``d_x_scatter``,
``d_x_gather`` or ``conv2d_transpose``). Its controls are form elements named ``input_h``,
``input_w``, ``kernel_h``, ``kernel_w``, ``stride_h``, ``stride_w``, ``dilation_h``,
``dilation_w``, ``channels_in``, ``channels_out``, ``padding`` (``VALID``, ``SAME``,
``EXPLICIT``) and ``pad_top``, ``pad_bottom``, ``pad_left``, ``pad_right``, applied on their
``change`` event; a control with ``data-action="last"`` jumps to the last step. Every array
drawn carries ``data-array`` (``x``, ``w``, ``dy``, ``y``, ``dx`` or ``dw``; the transpose
explorer's input is ``dy``, its output ``dx``), ``data-shape`` (JSON: ``[H, W, C_in]``,
``[KH, KW, C_in, C_out]`` or ``[OH, OW, C_out]``) and ``data-values`` (JSON, row-major
nested lists). A window larger than the padded input shows a message in an element with
``role="alert"`` and no result.

The tests here

* enter seeded random settings through the named controls, jump to the last step and hold
  the result shown equal to convlab's numpy reference computed from the inputs shown (and
  to ``tf.nn`` itself where TensorFlow is importable and has a CPU kernel for the case);
* enter impossible settings and look for the alert, then a possible one again;
* run axe-core's ``color-contrast`` rule on every built chapter page with an explorer, in
  light and dark mode;
* tab through the first explorer: every control and step button takes the focus;
* at 390 px (a phone), no explorer is wider than its box.

The page is the built book's ``_build/html/book/explorers.html`` when it exists
(``CONVLAB_SITE`` may name another built site), otherwise a page of the five explorers
written here by :func:`convlab.explorer.static_explorer`. The contrast test needs the built
site and ``node_modules/axe-core`` (``npm ci``); like the other browser tests, everything
here needs the ``playwright`` package and Debian's ``chromium`` and is skipped without them
(failed with ``CONVLAB_REQUIRE_BROWSER=1``). Playwright waits at most 15 seconds for an
element or an action (a page may take longer to load on a busy machine), so an explorer that
breaks the contract fails quickly, saying what is missing.

Run with ``.venv/bin/python -m pytest tests/test_explorer_contract.py -s`` to see the
timings and the contrast report.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import _browser
import _support
import convlab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("CONVLAB_SITE", ROOT / "_build" / "html"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
OPS = ["forward", "d_w", "d_x_scatter", "d_x_gather", "conv2d_transpose"]
CONTROLS = ("input_h", "input_w", "kernel_h", "kernel_w", "stride_h", "stride_w",
            "dilation_h", "dilation_w", "channels_in", "channels_out", "padding",
            "pad_top", "pad_bottom", "pad_left", "pad_right")
# the range each numeric control must offer (the contract's)
RANGES = {"input": (1, 16), "kernel": (1, 5), "stride": (1, 4), "dilation": (1, 4),
          "channels": (1, 3)}
NAMES = ("x", "w", "dy", "y", "dx", "dw")
# the arrays each explorer shows at its last step: (inputs, result)
SHOWN = {"forward": (("x", "w"), "y"), "d_w": (("x", "dy"), "dw"),
         "d_x_scatter": (("w", "dy"), "dx"), "d_x_gather": (("w", "dy"), "dx"),
         "conv2d_transpose": (("dy", "w"), "dx")}
CHAPTERS = ["book/explorers.html", "book/forward-pass.html", "book/filter-gradient.html",
            "book/input-gradient.html", "book/transpose.html"]
VIEWPORT = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
COLUMN = 736  # px: the content column of a Jupyter Book 1 page at 1280 px
TIMEOUT_MS = 15_000  # an element or an action: fail fast when the contract is not met
LOAD_MS = 90_000  # a chapter page on a loaded 2-core machine (make test runs 2 workers)
SETTINGS_PER_OP = 10


# ----------------------------------------------------------------------------------------
# settings and what TensorFlow makes of them


@dataclass(frozen=True)
class Setting:
    """One setting of an explorer's controls (heights before widths)."""

    input_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    channels: tuple[int, int] = (1, 1)  # (in, out)
    padding: str = "VALID"
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right

    def controls(self) -> list[tuple[str, str]]:
        """(control name, value) in the order they are entered: padding first."""
        values = [("padding", self.padding)]
        if self.padding == "EXPLICIT":
            values += [(f"pad_{side}", str(p))
                       for side, p in zip(("top", "bottom", "left", "right"), self.pads,
                                          strict=True)]
        pairs = {"input": self.input_hw, "kernel": self.kernel_hw, "stride": self.strides,
                 "dilation": self.dilations}
        for name, (h, w) in pairs.items():
            values += [(f"{name}_h", str(h)), (f"{name}_w", str(w))]
        values += [("channels_in", str(self.channels[0])),
                   ("channels_out", str(self.channels[1]))]
        return values

    def tf_padding(self) -> Any:
        """The ``padding`` argument of ``tf.nn.conv2d`` (and of convlab's reference)."""
        if self.padding != "EXPLICIT":
            return self.padding
        top, bottom, left, right = self.pads
        return [[0, 0], [top, bottom], [left, right], [0, 0]]

    def output_hw(self) -> tuple[int, int] | None:
        """The output's height and width, or ``None`` where the window does not fit."""
        out = []
        for axis in (0, 1):
            size, kernel = self.input_hw[axis], self.kernel_hw[axis]
            stride, span = self.strides[axis], (kernel - 1) * self.dilations[axis] + 1
            if self.padding == "SAME":
                out.append(-(-size // stride))
                continue
            if self.padding == "EXPLICIT":
                size += self.pads[2 * axis] + self.pads[2 * axis + 1]
            if size < span:
                return None
            out.append((size - span) // stride + 1)
        return out[0], out[1]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The contract's ``data-shape`` of every array name."""
        hw = self.output_hw()
        assert hw is not None
        (h, w), (kh, kw), (cin, cout) = self.input_hw, self.kernel_hw, self.channels
        return {"x": (h, w, cin), "dx": (h, w, cin), "w": (kh, kw, cin, cout),
                "dw": (kh, kw, cin, cout), "dy": (*hw, cout), "y": (*hw, cout)}

    def __str__(self) -> str:
        pad = f"EXPLICIT{list(self.pads)}" if self.padding == "EXPLICIT" else self.padding
        return (f"input {self.input_hw}, kernel {self.kernel_hw}, strides {self.strides}, "
                f"dilations {self.dilations}, channels {self.channels}, {pad}")


def _draw(rng: np.random.Generator, **fixed: Any) -> Setting:
    """A random setting whose window fits, with the fields in ``fixed`` as given."""
    def pair(name: str) -> tuple[int, int]:
        low, high = RANGES[name]
        return int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))

    for _ in range(10_000):
        drawn = {"input_hw": pair("input"), "kernel_hw": pair("kernel"),
                 "strides": pair("stride"),
                 # half undilated: TensorFlow's CPU kernels compute those backprops too
                 "dilations": pair("dilation") if rng.random() < 0.5 else (1, 1),
                 "channels": pair("channels"),
                 "padding": str(rng.choice(["VALID", "SAME", "EXPLICIT"])),
                 "pads": tuple(int(p) for p in rng.integers(0, 4, size=4))}
        setting = Setting(**{**drawn, **fixed})
        if setting.output_hw() is not None:
            return setting
    raise AssertionError(f"no setting with {fixed} fits")


def _settings(rng: np.random.Generator) -> list[Setting]:
    """Random settings, the first few made to cover what the contract names."""
    four_pads = tuple(int(p) for p in rng.permutation(4))
    forced = [
        {"padding": "SAME", "strides": (1, 2), "dilations": (1, 1), "channels": (3, 2)},
        {"padding": "EXPLICIT", "pads": four_pads, "dilations": (2, 1)},
        {"padding": "VALID", "input_hw": (7, 11), "kernel_hw": (2, 4), "channels": (2, 3),
         "strides": (2, 3), "dilations": (1, 1)},
        {"padding": "SAME", "dilations": (1, 3), "kernel_hw": (3, 2)},
        {"padding": "EXPLICIT", "pads": (3, 0, 1, 2), "strides": (3, 1), "channels": (1, 3)},
    ]
    settings = [_draw(rng, **f) for f in forced]
    while len(settings) < SETTINGS_PER_OP:
        settings.append(_draw(rng))
    return settings


def _reference(op: str, s: Setting, shown: dict[str, np.ndarray]) -> np.ndarray:
    """convlab's numpy reference (TensorFlow's semantics) for the inputs shown."""
    args = {"strides": list(s.strides), "padding": s.tf_padding(),
            "dilations": list(s.dilations)}
    if op == "forward":
        return convlab.conv2d(shown["x"][None], shown["w"], **args)[0]
    if op == "d_w":
        return convlab.conv2d_backprop_filter(shown["x"][None], s.shapes()["w"],
                                              shown["dy"][None], **args)
    return convlab.conv2d_backprop_input((1, *s.shapes()["x"]), shown["w"],
                                         shown["dy"][None], **args)[0]


def _tensorflow(tf: Any, op: str, s: Setting, shown: dict[str, np.ndarray]) -> Any:
    """``tf.nn``'s own result, or ``None`` where stock TensorFlow has no CPU kernel."""
    dilated = s.dilations != (1, 1)
    if dilated and (op != "forward" or s.strides != (1, 1)):
        return None  # backprops with dilation, and dilation with stride, refused on CPU
    strides, dilations = [1, *s.strides, 1], [1, *s.dilations, 1]
    pad = s.tf_padding()
    if op == "forward":
        y = tf.nn.conv2d(shown["x"][None], shown["w"], strides, pad, dilations=dilations)
        return y.numpy()[0]
    dy = shown["dy"][None]
    if op == "d_w":
        return tf.compat.v1.nn.conv2d_backprop_filter(
            shown["x"][None], list(s.shapes()["w"]), dy, strides, pad).numpy()
    sizes = [1, *s.shapes()["x"]]
    if op == "conv2d_transpose":
        return tf.nn.conv2d_transpose(dy, shown["w"], sizes, strides, pad).numpy()[0]
    return tf.compat.v1.nn.conv2d_backprop_input(sizes, shown["w"], dy, strides, pad).numpy()[0]


# ----------------------------------------------------------------------------------------
# the page


@pytest.fixture(scope="module")
def chromium():
    with _browser.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def explorers_page(tmp_path_factory) -> tuple[Path, str]:
    """(directory served, path of a page holding the five explorers in it).

    The generated page gives the explorers no data: every number on it is drawn.
    """
    if (SITE / "book" / "explorers.html").exists():
        return SITE, "book/explorers.html"
    from convlab.explorer import static_explorer

    root = tmp_path_factory.mktemp("contract")
    body = "\n".join(static_explorer(op)._repr_html_() for op in OPS)
    return _browser.explorers_page(root, body, COLUMN)


@pytest.fixture(scope="module")
def explorers_url(explorers_page):
    directory, path = explorers_page
    with _browser.serve(directory) as base:
        yield f"{base}/{path}"


def _open(chromium: Any, url: str, viewport: dict[str, int]) -> Any:
    context = chromium.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(LOAD_MS)
    page = context.new_page()
    page.goto(url, wait_until="load")
    return page


@pytest.fixture
def page(chromium, explorers_url):
    pg = _open(chromium, explorers_url, VIEWPORT)
    yield pg
    pg.context.close()


def _explorer(page: Any, op: str) -> Any:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    root = page.locator(f'[data-op="{op}"]').first
    try:
        root.wait_for(state="attached")
    except PlaywrightTimeout:
        root = None
    if root is None:
        pytest.fail(f"no element with data-op={op!r} on the page")
    return root


# what a root offers of the contract's controls
_CONTROLS = """(root, [names, ranges]) => {
  const missing = [], narrow = [];
  for (const name of names) {
    const c = root.querySelector(`[name="${name}"]`);
    if (!c) { missing.push(name); continue; }
    const range = ranges[name.replace(/_(h|w|in|out)$/, '')];
    if (range && c.tagName === 'INPUT' && (c.min !== '' && +c.min > range[0]
                                          || c.max !== '' && +c.max < range[1])) {
      narrow.push(`${name} offers ${c.min}-${c.max}, not ${range[0]}-${range[1]}`);
    }
    if (name === 'padding') {
      const options = c.tagName === 'SELECT' ? Array.from(c.options).map(o => o.value) : [];
      const lacking = ['VALID', 'SAME', 'EXPLICIT'].filter(v => !options.includes(v));
      if (lacking.length) { narrow.push(`padding is a ${c.tagName} without ${lacking}`); }
    }
  }
  if (!root.querySelector('[data-action="last"]')) { missing.push('[data-action="last"]'); }
  return {missing, narrow};
}"""


def _require_controls(root: Any, op: str) -> None:
    found = root.evaluate(_CONTROLS, [list(CONTROLS), RANGES])
    assert not found["missing"], (
        f"the {op} explorer does not follow the page contract: no control "
        f"{', '.join(found['missing'])}")
    assert not found["narrow"], f"the {op} explorer's controls: {'; '.join(found['narrow'])}"


# set each control, then dispatch its change event; the time to the next painted frame
_ENTER = """async (root, values) => {
  const bad = [];
  const t0 = performance.now();
  for (const [name, value] of values) {
    const c = root.querySelector(`[name="${name}"]`);
    if (!c) { bad.push(`no control ${name}`); continue; }
    if (c.tagName === 'SELECT' && !Array.from(c.options).some(o => o.value === value)) {
      bad.push(`${name} has no option ${value}`);
      continue;
    }
    c.value = value;
    if (c.value !== value) { bad.push(`${name} took ${value} as ${c.value}`); }
    c.dispatchEvent(new Event('change', {bubbles: true}));
  }
  const handled = performance.now() - t0;
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  return {bad, handled, painted: performance.now() - t0};
}"""

# every element with data-array: its name, shape, values and whether it is seen
_ARRAYS = """root => Array.from(root.querySelectorAll('[data-array]')).map(e => {
  const style = getComputedStyle(e);
  return {
    name: e.dataset.array, shape: e.dataset.shape ?? null, values: e.dataset.values ?? null,
    visible: e.getClientRects().length > 0 && style.visibility !== 'hidden'
             && !e.closest('[hidden]'),
  };
})"""

# the alerts in a root that are seen, with their text
_ALERTS = """root => Array.from(root.querySelectorAll('[role="alert"]'))
  .filter(e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
  .map(e => e.textContent.trim())"""


def _enter(root: Any, setting: Setting) -> dict[str, Any]:
    entered = root.evaluate(_ENTER, setting.controls())
    assert not entered["bad"], f"entering {setting}: {'; '.join(entered['bad'])}"
    return entered


def _last_step(root: Any) -> None:
    last = root.locator('[data-action="last"]').first
    if last.is_enabled():  # a one-step setting may start (and stay) at its last step
        last.click()


def _shown(root: Any, op: str, setting: Setting | str) -> dict[str, np.ndarray]:
    """The arrays an explorer shows, by name, checked against the contract."""
    arrays: dict[str, np.ndarray] = {}
    for item in root.evaluate(_ARRAYS):
        name = item["name"]
        assert name in NAMES, f"{op}: data-array={name!r} is not one of {NAMES}"
        if not item["visible"]:
            continue
        assert item["shape"] and item["values"], (
            f"{op} ({setting}): array {name} lacks data-shape or data-values")
        shape = tuple(json.loads(item["shape"]))
        values = np.array(json.loads(item["values"]), dtype=np.float64)
        assert values.shape == shape, (
            f"{op} ({setting}): {name}'s data-values have shape {values.shape}, "
            f"its data-shape says {shape}")
        if name in arrays:
            assert np.array_equal(arrays[name], values), (
                f"{op} ({setting}): two pictures of {name} hold different values")
        arrays[name] = values
    return arrays


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, or ``None`` where it is not importable."""
    try:
        import tensorflow
    except ImportError:
        return None
    return tensorflow


# ----------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("op", OPS)
def test_random_settings_give_tensorflow_s_result(page, op, rng, tf, explorers_page):
    root = _explorer(page, op)
    _require_controls(root, op)
    generated = explorers_page[0] != SITE
    inputs, result = SHOWN[op]
    initial = {k: v.shape for k, v in _shown(root, op, "as loaded").items()}
    by_tf = 0
    timings = []
    for setting in _settings(rng):
        entered = _enter(root, setting)
        t0 = time.perf_counter()
        _last_step(root)
        shown = _shown(root, op, setting)
        timings.append((entered["handled"], entered["painted"],
                        1000 * (time.perf_counter() - t0)))
        expected = setting.shapes()
        for name in (*inputs, result):
            assert name in shown, (
                f"{op} ({setting}): no visible array {name!r} at the last step; "
                f"shown: {sorted(shown)}")
            assert shown[name].shape == expected[name], (
                f"{op} ({setting}): {name} has shape {shown[name].shape}, "
                f"expected {expected[name]}")
        for name in inputs:
            a = shown[name]
            assert np.array_equal(a, np.round(a)), f"{op} ({setting}): {name} is not integers"
            # data the explorer drew, not a figure's (the book's pages may replay those)
            if generated or a.shape != initial.get(name):
                assert np.all(a != 0) and np.all(np.abs(a) <= 9), (
                    f"{op} ({setting}): {name} is not small nonzero integers: {a.tolist()}")
        np.testing.assert_allclose(
            shown[result], _reference(op, setting, shown), rtol=0, atol=1e-9,
            err_msg=f"{op} ({setting}): {result} differs from convlab's reference")
        if tf is not None:
            by_tf_result = _tensorflow(tf, op, setting, shown)
            if by_tf_result is not None:
                np.testing.assert_allclose(
                    shown[result], by_tf_result, rtol=0, atol=1e-9,
                    err_msg=f"{op} ({setting}): {result} differs from tf.nn's")
                by_tf += 1
    _support.oracle_checked(by_tf)
    handled, painted, last = (np.median([t[i] for t in timings]) for i in range(3))
    print(f"\n{op}: {len(timings)} settings ({by_tf} also against tf.nn); median per "
          f"setting (13 to 17 change events): {handled:.1f} ms in the change handlers, "
          f"{painted:.1f} ms to the next frame; {last:.1f} ms to jump to the last step "
          f"and read the arrays")


IMPOSSIBLE = [
    Setting((2, 2), (5, 5)),
    Setting((4, 4), (3, 3), dilations=(4, 4)),
    Setting((3, 6), (5, 2), padding="EXPLICIT", pads=(0, 1, 1, 0)),
]


@pytest.mark.parametrize("op", OPS)
def test_impossible_settings_show_an_alert(page, op):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    root = _explorer(page, op)
    _require_controls(root, op)
    result = SHOWN[op][1]
    possible = Setting((5, 4), (3, 2), strides=(2, 1), padding="SAME", channels=(2, 1))
    for setting in IMPOSSIBLE:
        assert setting.output_hw() is None
        _enter(root, setting)
        alert = root.locator('[role="alert"]').first
        try:
            alert.wait_for(state="visible")
        except PlaywrightTimeout:
            alert = None
        if alert is None:
            pytest.fail(f"{op} ({setting}): no visible role=alert element in the explorer")
        texts = [t for t in root.evaluate(_ALERTS) if t]
        assert texts, f"{op} ({setting}): the alert is empty"
        stale = [a for a in root.evaluate(_ARRAYS)
                 if a["name"] == result and a["visible"] and a["values"]]
        assert not stale, f"{op} ({setting}): {result} is still shown beside {texts[0]!r}"
        print(f"\n{op} ({setting}): {texts[0]!r}")

        _enter(root, possible)
        assert root.evaluate(_ALERTS) == [], (
            f"{op}: the alert stays after a possible setting ({possible})")
        _last_step(root)
        shown = _shown(root, op, possible)
        assert result in shown, f"{op}: no {result} after the possible setting {possible}"
        assert shown[result].shape == possible.shapes()[result]


def _axe(page: Any) -> dict[str, Any]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate("""async () => {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
      }
      const found = await axe.run(document,
        {runOnly: {type: 'rule', values: ['color-contrast']}});
      const nodes = found.violations.flatMap(v => v.nodes).map(n => {
        const target = n.target.map(String);
        const e = document.querySelector(target[target.length - 1]);
        const d = (n.any[0] || n.all[0] || n.none[0] || {}).data || {};
        return {
          target: target.join(' '), html: n.html.slice(0, 140),
          explorer: !!(e && e.closest('[class^="cvx"], [class*=" cvx"]')),
          fg: d.fgColor, bg: d.bgColor, ratio: d.contrastRatio,
          needed: d.expectedContrastRatio, size: d.fontSize, weight: d.fontWeight,
        };
      });
      return {nodes, incomplete: found.incomplete.flatMap(v => v.nodes).length,
              passes: found.passes.flatMap(v => v.nodes).length};
    }""")


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "book" / "explorers.html").exists():
        _browser.missing(f"the book is not built ({SITE}; make book)")
    if not AXE.exists():
        _browser.missing("axe-core is not installed (npm ci --ignore-scripts)")
    with _browser.serve(SITE) as base:
        yield base


# (page, the site's mode, the system's colour scheme): every chapter in both modes, and the
# explorers' page with the site's mode set against the system's as well
LOOKS = [(chapter, mode, mode) for chapter in CHAPTERS for mode in ("light", "dark")] + [
    (CHAPTERS[0], "light", "dark"), (CHAPTERS[0], "dark", "light")]


@pytest.mark.parametrize(("chapter", "mode", "scheme"), LOOKS,
                         ids=[f"{c}-{m}-system-{s}" for c, m, s in LOOKS])
def test_no_contrast_failures(chromium, site_url, chapter, mode, scheme):
    if not (SITE / chapter).exists():
        _browser.missing(f"{chapter} is not in the built site {SITE}")
    context = chromium.new_context(viewport=VIEWPORT, color_scheme=scheme)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(LOAD_MS)
    # pydata-sphinx-theme reads the reader's choice from localStorage in an inline script
    # in <head> and sets data-mode and data-theme on <html>
    context.add_init_script(
        f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');")
    page = context.new_page()
    try:
        page.goto(f"{site_url}/{chapter}", wait_until="load")
        theme = page.evaluate("document.documentElement.dataset.theme")
        if mode == "dark" and theme != "dark":
            pytest.skip(f"the site has no dark mode (data-theme={theme!r} on <html>)")
        t0 = time.perf_counter()
        found = _axe(page)
    finally:
        context.close()
    nodes = found["nodes"]
    report = [f"{'explorer' if n['explorer'] else 'site'}: {n['target']} "
              f"{n['fg']} on {n['bg']} = {n['ratio']} (needs {n['needed']}; "
              f"{n['size']} {n['weight']}) {n['html']}" for n in nodes]
    print(f"\n{chapter} ({mode}, system {scheme}): {len(nodes)} contrast failures, "
          f"{found['passes']} passes, {found['incomplete']} undecided, "
          f"axe took {time.perf_counter() - t0:.1f} s")
    print("\n".join(report))
    assert nodes == [], f"{len(nodes)} colour-contrast failures:\n" + "\n".join(report)


_FOCUS = """root => {
  const a = document.activeElement;
  if (!root.contains(a)) { return null; }
  return a.getAttribute('name') || (a.dataset.action ? 'action:' + a.dataset.action
                                                     : a.tagName.toLowerCase());
}"""


def test_keyboard_reaches_every_control(page):
    root = page.locator("[data-op]").first
    root.wait_for(state="attached")
    op = root.get_attribute("data-op")
    _require_controls(root, op)
    # with EXPLICIT padding every pad control is in use
    _enter(root, Setting((6, 6), (3, 3), padding="EXPLICIT", pads=(1, 1, 1, 1)))
    actions = root.evaluate("""root => Array.from(root.querySelectorAll('[data-action]'))
        .map(e => ['action:' + e.dataset.action, !e.disabled])""")
    # start from a button just before the explorer
    root.evaluate("""root => {
      const b = document.createElement('button');
      b.textContent = 'before';
      root.before(b);
      b.focus();
    }""")
    focused: list[str] = []
    for _ in range(200):
        page.keyboard.press("Tab")
        now = root.evaluate(_FOCUS)
        if now is None and focused:
            break
        if now is not None:
            focused.append(now)
    print(f"\n{op}: the Tab key visits {focused}")
    unreached = [n for n in CONTROLS if n not in focused]
    unreached += [a for a, enabled in actions if enabled and a not in focused]
    assert not unreached, f"{op}: Tab never reaches {unreached}"
    assert [a for a, _ in actions], f"{op}: no step buttons (data-action)"


@pytest.mark.parametrize("op", OPS)
def test_explorer_fits_a_phone(chromium, explorers_url, op):
    page = _open(chromium, explorers_url, PHONE)
    try:
        root = _explorer(page, op)
        fits = """root => ({scroll: root.scrollWidth, client: root.clientWidth,
                           right: root.getBoundingClientRect().right,
                           viewport: document.documentElement.clientWidth,
                           inner_scrollers: Array.from(root.querySelectorAll('*'))
                             .filter(e => !e.matches('input, select, textarea')
                                          && e.scrollWidth > e.clientWidth + 1
                                          && getComputedStyle(e).overflowX !== 'visible')
                             .map(e => e.className || e.tagName)})"""

        def check(what: str) -> None:
            m = root.evaluate(fits)
            print(f"\n{op} at {PHONE['width']} px, {what}: {m}")
            assert m["scroll"] <= m["client"] + 1, f"{op} overflows its box {what}: {m}"
            assert m["right"] <= m["viewport"] + 1, f"{op} is wider than the screen {what}: {m}"

        check("as loaded")
        _require_controls(root, op)
        largest = Setting((16, 16), (5, 5), padding="SAME", channels=(3, 3))
        _enter(root, largest)
        _last_step(root)
        check(f"at the last step of {largest}")
    finally:
        page.context.close()
