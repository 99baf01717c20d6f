/* convlab explorers: a small player for the frames of convlab.trace (no framework, no
   network). Each explorer on a page is a <div class="cvx" id=...> with its data in
   <script type="application/json" id="...-data">; ConvlabExplorer.mount(id) brings it to life. */
(function () {
  "use strict";
  if (window.ConvlabExplorer) { return; }

  var ROLE_TEXT = {
    data: "value", pad: "padding (a zero added around the array)", zero: "inserted zero (stride)",
    unreached: "unreached: no window covers it"
  };
  var KIND_TEXT = { input: "INPUT", filter: "FILTER", output: "OUTPUT", work: "WORK" };
  /* the book's names of the arrays a trace may be given (trace's keywords x, w, dy, u) */
  var DATA_NAME = { x: "x", w: "w", dy: "\u03B4y", u: "u" };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function fmt(v) {
    if (Number.isInteger(v)) { return String(v); }
    return String(Number(v.toPrecision(3)));
  }

  /* Every frame's full state: grid definitions and values carried forward from frame 0. */
  function resolve(trace) {
    var defs = {}, vals = {}, order = [], states = [];
    trace.grids.forEach(function (g) { defs[g.id] = g; vals[g.id] = g.values; order.push(g.id); });
    trace.frames.forEach(function (f) {
      var rep = f.replace || {};
      Object.keys(rep).forEach(function (id) { defs[id] = rep[id]; vals[id] = rep[id].values; });
      var copied = {};
      (f.put || []).forEach(function (p) {
        var id = p[0];
        if (!copied[id]) {
          vals[id] = vals[id].map(function (panel) {
            return panel.map(function (row) { return row.slice(); });
          });
          copied[id] = true;
        }
        vals[id][p[1]][p[2]][p[3]] = p[4];
      });
      var s = { defs: {}, vals: {} };
      order.forEach(function (id) { s.defs[id] = defs[id]; s.vals[id] = vals[id]; });
      states.push(s);
    });
    return { order: order, states: states };
  }

  function cellKey(c) { return c[0] + ":" + c[1] + ":" + c[2]; }

  function Explorer(root, data) {
    this.root = root;
    this.data = data;
    this.preset = 0;
    this.frame = 0;
    this.timer = null;
    this.gridDom = {};
    this.build();
    this.load(0);
  }

  Explorer.prototype.build = function () {
    var self = this, root = this.root, data = this.data;
    root.textContent = "";
    root.tabIndex = 0;
    root.setAttribute("role", "group");
    root.setAttribute("aria-roledescription", "step-by-step explorer");
    root.setAttribute("aria-label", data.title + ". Arrow keys step, space plays or pauses.");
    var head = el("div", "cvx-head");
    head.appendChild(el("span", "cvx-title", data.title));
    var lab = el("label", "cvx-preset-label", "setting ");
    var sel = el("select", "cvx-preset");
    data.presets.forEach(function (p, i) {
      var o = el("option", null, p.label);
      o.value = String(i);
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { self.load(Number(sel.value)); });
    lab.appendChild(sel);
    head.appendChild(lab);
    root.appendChild(head);
    this.params = el("p", "cvx-params");
    root.appendChild(this.params);

    var ctl = el("div", "cvx-controls");
    function button(act, text, label) {
      var b = el("button", "cvx-" + act, text);
      b.type = "button";
      b.setAttribute("aria-label", label);
      b.addEventListener("click", function () { self.act(act); });
      ctl.appendChild(b);
      return b;
    }
    button("first", "|\u25C0", "first step");
    button("prev", "\u25C0 back", "step back");
    this.playBtn = button("play", "\u25B6 play", "play");
    this.playBtn.setAttribute("aria-pressed", "false");
    button("next", "step \u25B6", "step forward");
    button("last", "\u25B6|", "last step");
    var range = el("input", "cvx-scrub");
    range.type = "range";
    range.min = "0";
    range.setAttribute("aria-label", "step");
    range.addEventListener("input", function () { self.stop(); self.show(Number(range.value)); });
    ctl.appendChild(range);
    this.count = el("span", "cvx-count");
    this.count.setAttribute("aria-live", "polite");
    ctl.appendChild(this.count);
    root.appendChild(ctl);

    var body = el("div", "cvx-body");
    this.gridsEl = el("div", "cvx-grids");
    var side = el("div", "cvx-side");
    this.caption = el("p", "cvx-caption");
    this.term = el("div", "cvx-term");
    this.term.setAttribute("aria-live", "polite");
    side.appendChild(this.caption);
    side.appendChild(this.term);
    body.appendChild(this.gridsEl);
    body.appendChild(side);
    root.appendChild(body);

    var legend = el("div", "cvx-legend");
    legend.setAttribute("aria-label", "legend");
    [["data", "value of the array"], ["pad", ROLE_TEXT.pad], ["zero", ROLE_TEXT.zero],
     ["unreached", ROLE_TEXT.unreached], ["hl", "takes part in this step"],
     ["fx", "written (or scattered) now"]].forEach(function (item) {
      var s = el("span", "cvx-k-input");
      var sw = el("span", "cvx-c " + (item[0] === "hl" || item[0] === "fx"
        ? "r-data " + item[0] : "r-" + item[0]), item[0] === "data" ? "3" : "0");
      s.appendChild(sw);
      s.appendChild(document.createTextNode(item[1]));
      legend.appendChild(s);
    });
    root.appendChild(legend);

    this.select = sel;
    this.range = range;
    root.addEventListener("keydown", function (e) { self.key(e); });
  };

  Explorer.prototype.key = function (e) {
    var tag = e.target.tagName;
    if (tag === "SELECT" || tag === "INPUT") { return; }
    var map = { ArrowRight: "next", ArrowLeft: "prev", Home: "first", End: "last", " ": "play" };
    var act = map[e.key];
    if (!act) { return; }
    e.preventDefault();
    this.act(act);
  };

  Explorer.prototype.act = function (act) {
    var n = this.states.length;
    if (act === "play") { if (this.timer) { this.stop(); } else { this.play(); } return; }
    this.stop();
    if (act === "next") { this.show(Math.min(this.frame + 1, n - 1)); }
    if (act === "prev") { this.show(Math.max(this.frame - 1, 0)); }
    if (act === "first") { this.show(0); }
    if (act === "last") { this.show(n - 1); }
  };

  Explorer.prototype.play = function () {
    var self = this;
    if (this.frame >= this.states.length - 1) { this.show(0); }
    this.playBtn.textContent = "\u275A\u275A pause";
    this.playBtn.setAttribute("aria-pressed", "true");
    this.playBtn.setAttribute("aria-label", "pause");
    this.timer = window.setInterval(function () {
      if (self.frame >= self.states.length - 1) { self.stop(); return; }
      self.show(self.frame + 1);
    }, 800);
  };

  Explorer.prototype.stop = function () {
    if (this.timer) { window.clearInterval(this.timer); }
    this.timer = null;
    this.playBtn.textContent = "\u25B6 play";
    this.playBtn.setAttribute("aria-pressed", "false");
    this.playBtn.setAttribute("aria-label", "play");
  };

  Explorer.prototype.load = function (i) {
    this.stop();
    this.preset = i;
    this.select.value = String(i);
    this.trace = this.data.presets[i].trace;
    var r = resolve(this.trace);
    this.order = r.order;
    this.states = r.states;
    this.gridDom = {};
    this.gridsEl.textContent = "";
    var p = this.trace.params;
    this.params.textContent = "input " + p.input_size.join("\u00D7") + ", kernel " +
      p.kernel_size.join("\u00D7") + ", stride " + p.strides.join(",") + ", padding " +
      JSON.stringify(p.padding) + " (pads " + JSON.stringify(p.pads) + "), dilation " +
      p.dilations.join(",") + ", channels in/out " + p.channels.join("/") + ", output " +
      p.output_size.join("\u00D7") + "; values " + ((p.given || []).length
        ? "given: " + p.given.map(function (n) { return DATA_NAME[n] || n; }).join(", ")
        : "drawn at random (seed " + p.seed + ")") +
      "; checked against convlab." + this.trace.checked_against;
    this.range.max = String(this.states.length - 1);
    this.root.setAttribute("data-preset", String(i));
    this.show(0);
  };

  /* (Re)build a grid's cells when its shape, panels or roles change; keep them otherwise. */
  Explorer.prototype.gridFor = function (id, def) {
    var sig = JSON.stringify([def.label, def.panels, def.roles, def.offset, def.kind]);
    var dom = this.gridDom[id];
    if (dom && dom.sig === sig) { return dom; }
    var fig = el("figure", "cvx-grid cvx-k-" + def.kind);
    fig.setAttribute("data-grid", id);
    var cap = el("figcaption");
    cap.appendChild(el("span", "cvx-badge", KIND_TEXT[def.kind] || def.kind));
    cap.appendChild(document.createTextNode(def.label));
    fig.appendChild(cap);
    var panels = el("div", "cvx-panels"), cells = [];
    var rows = def.roles.length, cols = def.roles[0].length;
    def.panels.forEach(function (name, p) {
      var wrap = el("div", "cvx-panel");
      wrap.appendChild(el("div", "cvx-plabel", name));
      var g = el("div", "cvx-cells");
      g.style.gridTemplateColumns = "auto repeat(" + cols + ", var(--cvx-cell))";
      g.appendChild(el("span", "cvx-ix"));
      for (var q = 0; q < cols; q++) { g.appendChild(el("span", "cvx-ix", String(q + def.offset[1]))); }
      var pc = [];
      for (var r = 0; r < rows; r++) {
        g.appendChild(el("span", "cvx-ix cvx-row", String(r + def.offset[0])));
        var rc = [];
        for (var c = 0; c < cols; c++) {
          var role = def.roles[r][c];
          var cell = el("span", "cvx-c r-" + role);
          cell.title = ROLE_TEXT[role] + " (" + (r + def.offset[0]) + "," + (c + def.offset[1]) + ")";
          cell.setAttribute("data-base", "cvx-c r-" + role);
          g.appendChild(cell);
          rc.push(cell);
        }
        pc.push(rc);
      }
      cells.push(pc);
      wrap.appendChild(g);
      panels.appendChild(wrap);
    });
    fig.appendChild(panels);
    dom = { sig: sig, fig: fig, cells: cells, marked: [] };
    if (this.gridDom[id]) {
      this.gridsEl.replaceChild(fig, this.gridDom[id].fig);
    } else {
      this.gridsEl.appendChild(fig);
    }
    this.gridDom[id] = dom;
    return dom;
  };

  Explorer.prototype.show = function (k) {
    var t0 = performance.now();
    var self = this, state = this.states[k], frame = this.trace.frames[k];
    this.frame = k;
    this.order.forEach(function (id) {
      var dom = self.gridFor(id, state.defs[id]), vals = state.vals[id];
      dom.marked.forEach(function (cell) { cell.className = cell.getAttribute("data-base"); });
      dom.marked = [];
      for (var p = 0; p < dom.cells.length; p++) {
        for (var r = 0; r < dom.cells[p].length; r++) {
          for (var c = 0; c < dom.cells[p][r].length; c++) {
            var txt = fmt(vals[p][r][c]), cell = dom.cells[p][r][c];
            if (cell.textContent !== txt) { cell.textContent = txt; }
          }
        }
      }
      [["hl", (frame.hl || {})[id]], ["fx", (frame.focus || {})[id]]].forEach(function (m) {
        (m[1] || []).forEach(function (at) {
          var cell = dom.cells[at[0]][at[1]][at[2]];
          cell.classList.add(m[0]);
          dom.marked.push(cell);
        });
      });
    });
    this.caption.textContent = frame.caption;
    this.term.textContent = "";
    this.term.appendChild(el("div", "cvx-headline", frame.terms[0]));
    if (frame.terms.length > 1) {
      var ul = el("ul");
      frame.terms.slice(1).forEach(function (t) { ul.appendChild(el("li", null, t)); });
      this.term.appendChild(ul);
    }
    this.range.value = String(k);
    this.range.setAttribute("aria-valuetext", "step " + (k + 1) + " of " + this.states.length);
    this.count.textContent = "step " + (k + 1) + " / " + this.states.length;
    this.root.setAttribute("data-frame", String(k));
    this.lastRenderMs = performance.now() - t0;
  };

  var instances = {};
  window.ConvlabExplorer = {
    mount: function (id) {
      var root = document.getElementById(id);
      var script = document.getElementById(id + "-data");
      if (!root || !script || instances[id]) { return instances[id]; }
      try {
        instances[id] = new Explorer(root, JSON.parse(script.textContent));
      } catch (err) {
        root.appendChild(el("p", "cvx-err", "This explorer could not start: " + err));
        throw err;
      }
      return instances[id];
    },
    get: function (id) { return instances[id]; }
  };
})();
