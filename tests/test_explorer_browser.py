"""The static explorers in a real browser: headless Chromium driven by Playwright.

The page is the built book's ``_build/html/book/explorers.html`` when it exists (``make
book`` first; ``CONVLAB_SITE`` may name another built site), otherwise a page holding the
same five explorers, written here in a 736 px column like the book's, each with a figure's
preset first (the data the chapters give them). It is served from 127.0.0.1; every explorer
must render, step on a click and on the → key (the highlighted cells and the term change),
change its grids with the setting menu, log no console error, send no request off the local
server, and fit its column at 1280 px in every frame of every setting (no horizontal
scrolling; term lines wrap). A screenshot per explorer lands in ``test-output/``; the step
timings and sizes are printed.

Needs the ``playwright`` package and Debian's ``chromium`` (Playwright's own browser
download is not used). Set ``CONVLAB_REQUIRE_BROWSER=1`` to fail instead of skip without them.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from urllib.parse import urlparse

import pytest

import _browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output"
OPS = ["forward", "d_w", "d_x_scatter", "d_x_gather", "conv2d_transpose"]
VIEWPORT = {"width": 1280, "height": 900}
COLUMN = 736  # px: the content column of a Jupyter Book 1 page at 1280 px
# sphinx-thebe declares this constant twice on every Jupyter Book 1 page: not ours
KNOWN_ERRORS = ("THEBE_JS_URL",)


@pytest.fixture(scope="module")
def chromium():
    with _browser.chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(directory served, path of the explorers page in it)."""
    built = Path(os.environ.get("CONVLAB_SITE", ROOT / "_build" / "html"))
    if (built / "book" / "explorers.html").exists():
        return built, "book/explorers.html"
    from convlab.explorer import DEFAULT_PRESETS, static_explorer
    from test_trace import FIGURES

    root = tmp_path_factory.mktemp("explorers")
    body = "\n".join(
        static_explorer(op, [{"label": "the figure", **FIGURES[op]}, *DEFAULT_PRESETS])
        ._repr_html_() for op in OPS)
    return _browser.explorers_page(root, body, COLUMN)


@pytest.fixture(scope="module")
def server(site):
    directory, page = site
    with _browser.serve(directory) as base:
        yield f"{base}/{page}", directory / page


@pytest.fixture
def page(chromium, server):
    url, _ = server
    context = chromium.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    record = {"requests": [], "errors": []}
    pg.on("request", lambda r: record["requests"].append(r.url))
    url_path = urlparse(url).path

    def console(m) -> None:
        # errors from the page's inline scripts (the explorers are inline); the theme's own
        # files under _static/ log their notices (e.g. pydata-sphinx-theme's theme mode)
        source = urlparse(m.location.get("url") or url).path
        if m.type == "error" and source == url_path:
            record["errors"].append(m.text)

    pg.on("console", console)
    pg.on("pageerror", lambda e: record["errors"].append(str(e)))
    pg.goto(url, wait_until="load")
    pg.record = record
    yield pg
    context.close()


# the highlighted and written cells, and the term, of one explorer
_STATE = """root => ({
  hl: Array.from(root.querySelectorAll('.cvx-grid .cvx-c.hl, .cvx-grid .cvx-c.fx')).map(c => {
    const fig = c.closest('figure').dataset.grid;
    const cells = Array.from(c.parentNode.children);
    return fig + ':' + cells.indexOf(c) + ':' + c.className;
  }).join('|'),
  term: root.querySelector('.cvx-term').textContent,
  frame: root.dataset.frame,
  params: root.querySelector('.cvx-params').textContent,
  grids: Array.from(root.querySelectorAll('.cvx-grid')).map(g => g.textContent
    + Array.from(g.querySelectorAll('.cvx-c')).map(c => c.className).join()).join('#'),
})"""

_TIMING = """root => {
  const ex = ConvlabExplorer.get(root.id);
  ex.act('first');
  const times = [];
  for (let i = 0; i < ex.steps.length - 1; i++) {
    const t0 = performance.now();
    ex.act('next');
    void root.offsetHeight;  // include style and layout
    times.push(performance.now() - t0);
  }
  ex.act('first');
  return times;
}"""


@pytest.mark.parametrize("op", OPS)
def test_explorer_steps_in_the_browser(page, op):
    root = page.locator(f'.cvx[data-op="{op}"]').first
    root.wait_for()
    assert root.locator(".cvx-grid").count() >= 3
    assert root.locator(".cvx-badge", has_text="INPUT").count() >= 1
    assert root.locator(".cvx-badge", has_text="OUTPUT").count() >= 1
    start = root.evaluate(_STATE)
    assert start["frame"] == "0" and start["term"]

    root.locator("button.cvx-next").click()
    one = root.evaluate(_STATE)
    assert one["frame"] == "1"
    assert one["hl"] != start["hl"] and one["term"] != start["term"]

    root.focus()
    page.keyboard.press("ArrowRight")
    two = root.evaluate(_STATE)
    assert two["frame"] == "2"
    assert two["hl"] != one["hl"] and two["term"] != one["term"]
    page.keyboard.press("ArrowLeft")
    assert root.evaluate(_STATE)["frame"] == "1"

    page.keyboard.press(" ")  # plays
    assert root.locator("button.cvx-play").get_attribute("aria-pressed") == "true"
    page.keyboard.press(" ")  # pauses
    assert root.locator("button.cvx-play").get_attribute("aria-pressed") == "false"

    root.locator("select.cvx-preset").select_option("1")
    assert root.evaluate(_STATE)["frame"] == "0"
    assert root.locator(".cvx-params").text_content() != start["params"]
    root.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    other = root.evaluate(_STATE)
    assert other["frame"] == "2" and other["grids"] != two["grids"]
    root.locator("select.cvx-preset").select_option("0")
    assert root.evaluate(_STATE)["grids"] == start["grids"]

    times = root.evaluate(_TIMING)
    print(f"\n{op}: {len(times)} steps, median {statistics.median(times):.2f} ms, "
          f"max {max(times):.2f} ms per step (script + layout)")
    assert statistics.median(times) < 16

    root.locator("button.cvx-next").click()
    OUTPUT.mkdir(exist_ok=True)
    root.screenshot(path=str(OUTPUT / f"explorer-{op}.png"))

    ours = [e for e in page.record["errors"] if not any(k in e for k in KNOWN_ERRORS)]
    assert ours == []
    away = [u for u in page.record["requests"]
            if urlparse(u).scheme not in ("data", "blob")
            and urlparse(u).hostname != "127.0.0.1"]
    assert away == []


# every frame of every setting: the page does not scroll sideways, nothing sticks out of
# the explorer, and no term line is wider than its box (long ones wrap)
_FITS = """root => {
  const ex = ConvlabExplorer.get(root.id), bad = [], page = document.documentElement;
  const box = root.getBoundingClientRect();
  for (let p = 0; p < ex.data.presets.length; p++) {
    ex.choose(p);
    for (let k = 0; k < ex.steps.length; k++) {
      ex.show(k);
      const where = 'setting ' + p + ' step ' + (k + 1);
      if (page.scrollWidth > window.innerWidth) { bad.push(where + ': page scrolls'); }
      if (root.scrollWidth > root.clientWidth) { bad.push(where + ': explorer overflows'); }
      root.querySelectorAll('.cvx-grid, .cvx-side, .cvx-more, .cvx-headline, .cvx-caption')
        .forEach(e => {
          const r = e.getBoundingClientRect();
          if (r.right > box.right + 0.5 || e.scrollWidth > e.clientWidth + 1) {
            bad.push(where + ': ' + e.className + ' ' + (e.textContent || '').slice(0, 60));
          }
        });
    }
  }
  ex.choose(0);
  return {bad: bad, width: box.width};
}"""


@pytest.mark.parametrize("op", OPS)
def test_explorer_fits_its_column_in_every_frame(page, op):
    root = page.locator(f'.cvx[data-op="{op}"]').first
    root.wait_for()
    result = root.evaluate(_FITS)
    assert result["bad"] == [], result["bad"][:10]
    assert result["width"] <= VIEWPORT["width"]


def test_explorers_fit_the_budget_and_stack_on_a_phone(chromium, server):
    url, path = server
    context = chromium.new_context(viewport={"width": 380, "height": 800})
    pg = context.new_page()
    pg.goto(url, wait_until="load")
    sizes = pg.evaluate("""() => Array.from(document.querySelectorAll('.cvx')).map(root => {
        const data = document.getElementById(root.id + '-data');
        let n = data.textContent.length;
        for (let e = data.nextElementSibling; e && e.tagName !== 'DIV'; e = e.nextElementSibling) {
          n += e.outerHTML.length;
        }
        return [root.dataset.op, n];
      })""")
    print(f"\npage {path.stat().st_size} bytes; explorers (data + script + style): {sizes}")
    assert len(sizes) >= len(OPS)
    assert all(n <= 1_000_000 for _, n in sizes)
    # at phone width the grids and the term stack: nothing wider than the viewport
    for op in OPS:
        root = pg.locator(f'.cvx[data-op="{op}"]').first
        box = root.bounding_box()
        assert box["width"] <= 380
        widths = root.evaluate("r => Array.from(r.querySelectorAll('.cvx-grid, .cvx-side'))"
                               ".map(e => e.getBoundingClientRect().right)")
        assert max(widths) <= box["x"] + box["width"] + 1
    OUTPUT.mkdir(exist_ok=True)
    pg.locator('.cvx[data-op="d_x_gather"]').first.screenshot(
        path=str(OUTPUT / "explorer-d_x_gather-380px.png"))
    context.close()


# the largest setting the form allows, entered through its controls: how long the page
# takes to trace it (and draw the first step), and each step after (script, style, layout)
_LARGEST = {"input_h": 16, "input_w": 16, "kernel_h": 5, "kernel_w": 5, "stride_h": 1,
            "stride_w": 1, "dilation_h": 1, "dilation_w": 1, "channels_in": 3,
            "channels_out": 3}

_RECOMPUTE = """root => {
  const ex = ConvlabExplorer.get(root.id), times = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    ex.newNumbers();
    void root.offsetHeight;
    times.push(performance.now() - t0);
  }
  return {trace: times, frames: ex.steps.length};
}"""


@pytest.mark.parametrize("op", OPS)
def test_the_largest_setting_is_traced_and_stepped_in_the_page(page, op):
    root = page.locator(f'.cvx[data-op="{op}"]').first
    root.wait_for()
    for name, value in _LARGEST.items():
        root.locator(f'[name="{name}"]').fill(str(value))
        root.locator(f'[name="{name}"]').dispatch_event("change")
    root.locator('[name="padding"]').select_option("SAME")
    assert root.get_attribute("data-state") == "ready"
    assert root.locator('[role="alert"]').is_hidden()
    took = root.evaluate(_RECOMPUTE)
    steps = root.evaluate(_TIMING)
    print(f"\n{op}, largest setting ({took['frames']} steps): trace and first step "
          f"median {statistics.median(took['trace']):.1f} ms (min {min(took['trace']):.1f}); "
          f"a step median {statistics.median(steps):.2f} ms, max {max(steps):.2f} ms")
    root.locator('[data-action="last"]').click()
    values = root.locator('[data-array="dx"], [data-array="y"], [data-array="dw"]')
    assert values.count() == 1 and values.get_attribute("data-values")
    OUTPUT.mkdir(exist_ok=True)
    root.screenshot(path=str(OUTPUT / f"explorer-{op}-largest.png"))


# inspect every output cell at the last step: the sum the inspector spells out must come
# to the number in the cell, and the cells it marks must be as many as its products
_INSPECT = """root => {
  const ex = ConvlabExplorer.get(root.id), bad = [];
  let checked = 0;
  for (let p = 0; p < ex.data.presets.length; p++) {
    ex.choose(p);
    ex.act('last');
    const out = root.querySelector('[data-array="y"], [data-array="dx"], [data-array="dw"]');
    out.querySelectorAll('.cvx-c').forEach(cell => {
      ex.hover(cell);
      const head = root.querySelector('.cvx-inspect .cvx-ihead').textContent;
      const m = / = (-?[0-9.e+-]+)$/.exec(head);
      const products = head.includes(' = 0') && !head.includes('\\u00b7') ? 0
        : (head.split(' = ')[1] || '').split(' + ').filter(t => t.includes('\\u00b7')).length;
      const marked = root.querySelectorAll('.cvx-c.ix-in').length;
      if (!m || Number(m[1]) !== Number(cell.textContent)) {
        bad.push('preset ' + p + ': ' + head + ' but the cell shows ' + cell.textContent);
      } else if (products && marked < products) {
        bad.push('preset ' + p + ': ' + head + ' marks ' + marked + ' cells');
      }
      checked += 1;
    });
    ex.unhover();
  }
  ex.choose(0);
  return {bad: bad, checked: checked};
}"""


@pytest.mark.parametrize("op", OPS)
def test_inspecting_an_output_cell_spells_out_its_sum(page, op):
    root = page.locator(f'.cvx[data-op="{op}"]').first
    root.wait_for()
    result = root.evaluate(_INSPECT)
    assert result["checked"] > 20
    assert result["bad"] == [], result["bad"][:5]
    # and an input cell lists the products it feeds
    source = "dy" if op == "d_w" else "w"
    cell = root.locator(f'[data-array="{source}"] .cvx-c').first
    cell.hover()
    text = root.locator(".cvx-inspect").text_content()
    assert " feeds " in text and "+=" in text, text
