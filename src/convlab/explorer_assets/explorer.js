/* convlab explorers: the page's player over the frames of trace.js (no framework, no
   network). Each explorer is a <div class="cvx" id=... data-op=...> with its presets in
   <script type="application/json" id="...-data">; ConvlabExplorer.mount(id) brings it to
   life. Any setting entered in the form is traced here, in the page, by ConvlabTrace.

   Page contract (tests and assistive technology rely on it): the form's controls are named
   input_h ... pad_right and padding, applied on change; data-action buttons (first, prev,
   play, next, last, new); every array drawn is a <figure> with data-array (x, w, dy, y,
   dx, dw), data-shape and data-values (JSON) of the values it shows now; an impossible
   setting is said in the role="alert" element and no picture is left. */
(function () {
  "use strict";
  if (window.ConvlabExplorer) { return; }
  var T = window.ConvlabTrace;

  var ROLE_TEXT = {
    data: "value", pad: "padding (a zero added around the array)", zero: "inserted zero (stride)",
    unreached: "unreached: no window covers it"
  };
  var KIND_TEXT = { input: "INPUT", filter: "FILTER", output: "OUTPUT", work: "WORK" };
  var DATA_NAME = { x: "x", w: "w", dy: "\u03b4y", u: "u" };
  var SPEEDS = [["slow", 1600], ["normal", 800], ["fast", 400], ["fastest", 150]];
  /* the controls: name, words, lowest, highest */
  var NUMBERS = [
    ["input_h", "input height", 1, 16], ["input_w", "input width", 1, 16],
    ["kernel_h", "kernel height", 1, 5], ["kernel_w", "kernel width", 1, 5],
    ["stride_h", "stride, rows", 1, 4], ["stride_w", "stride, columns", 1, 4],
    ["dilation_h", "dilation, rows", 1, 4], ["dilation_w", "dilation, columns", 1, 4],
    ["channels_in", "channels in", 1, 3], ["channels_out", "channels out", 1, 3],
    ["pad_top", "padding on top", 0, 8], ["pad_bottom", "padding below", 0, 8],
    ["pad_left", "padding on the left", 0, 8], ["pad_right", "padding on the right", 0, 8]
  ];
  /* grid id -> the maths array it draws, for each operation */
  var ARRAYS = {
    forward: { x: "x", w: "w", y: "y" },
    d_w: { x: "x", dy: "dy", dw: "dw" },
    d_x_scatter: { dy: "dy", w: "w", dx: "dx" },
    d_x_gather: { dz: "dy", wk: "w", dx: "dx" },
    conv2d_transpose: { dy: "dy", w: "w", dx: "dx" }
  };

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
  function shapeOf(a) { var s = []; while (Array.isArray(a)) { s.push(a.length); a = a[0]; } return s; }
  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }
  function copyVals(v) {
    return v.map(function (panel) { return panel.map(function (row) { return row.slice(); }); });
  }

  /* The steps of a trace made on demand: frame k (a few kept at hand) and the grids after
     it, replayed from the nearest state kept before it (one every KEEP steps), so that a
     large setting costs nothing until its steps are shown. */
  var KEEP = 32;
  function Steps(trace) {
    this.trace = trace;
    this.length = trace.count;
    this.order = trace.grids.map(function (g) { return g.id; });
    this.frames = new Map();
    this.kept = {};
    var base = { defs: {}, vals: {} };
    trace.grids.forEach(function (g) { base.defs[g.id] = g; base.vals[g.id] = g.values; });
    this.kept[-1] = base;
    this.cur = null;
    this.curK = -2;
  }
  Steps.prototype.frame = function (k) {
    var f = this.frames.get(k);
    if (!f) {
      f = this.trace.frame(k);
      if (this.frames.size > 64) { this.frames.delete(this.frames.keys().next().value); }
      this.frames.set(k, f);
    }
    return f;
  };
  function clone(state) {
    var out = { defs: Object.assign({}, state.defs), vals: {} };
    Object.keys(state.vals).forEach(function (id) { out.vals[id] = copyVals(state.vals[id]); });
    return out;
  }
  Steps.prototype.at = function (k) {
    if (k === this.curK) { return this.cur; }
    var state, f;
    if (this.cur && k > this.curK && k - this.curK <= KEEP) {
      state = this.cur;
      f = this.curK + 1;
    } else {
      var from = Math.floor(k / KEEP) * KEEP;
      while (from >= 0 && !this.kept[from]) { from -= KEEP; }
      if (from < 0) { from = -1; }
      state = clone(this.kept[from]);
      f = from + 1;
    }
    for (; f <= k; f++) {
      var frame = this.frame(f), rep = frame.replace || {};
      Object.keys(rep).forEach(function (id) {
        state.defs[id] = rep[id];
        state.vals[id] = copyVals(rep[id].values);
      });
      (frame.put || []).forEach(function (p) { state.vals[p[0]][p[1]][p[2]][p[3]] = p[4]; });
      if (f % KEEP === 0 && !this.kept[f]) { this.kept[f] = clone(state); }
    }
    this.cur = state;
    this.curK = k;
    return state;
  };

  /* ---- the elementary products of an operation, for inspecting a cell ----
     A link is one product, out += in1 * in2, in the maths arrays' own indices (x̃ and δx̃
     padded, indexed from 0): y += x̃·w (forward), δw += x̃·δy, δx̃ += w·δy. linksOf lists
     the links a cell takes part in, straight from the indices (no search). */
  function linksOf(trace, cell) {
    var p = trace.params, op = trace.op, out = [];
    var cin = p.channels[0], cout = p.channels[1], kh = p.kernel_size[0], kw = p.kernel_size[1];
    var sh = p.strides[0], sw = p.strides[1], dh = p.dilations[0], dw = p.dilations[1];
    var oh = p.output_size[0], ow = p.output_size[1];
    function link(i, j, a, b, c, k) {
      var xt = ["xt", sh * i + dh * a, sw * j + dw * b, c], wc = ["w", a, b, c, k];
      var yc = ["dy", i, j, k];
      if (op === "forward") { out.push({ o: ["y", i, j, k], a: xt, b: wc }); }
      else if (op === "d_w") { out.push({ o: ["dw", a, b, c, k], a: xt, b: yc }); }
      else { out.push({ o: ["dxt", xt[1], xt[2], c], a: wc, b: yc }); }
    }
    /* every (i, j, a, b) with s·i + d·a = row, s·j + d·b = col */
    function through(row, col, each) {
      for (var a = 0; a < kh; a++) {
        var i = (row - dh * a) / sh;
        if (!Number.isInteger(i) || i < 0 || i >= oh) { continue; }
        for (var b = 0; b < kw; b++) {
          var j = (col - dw * b) / sw;
          if (Number.isInteger(j) && j >= 0 && j < ow) { each(i, j, a, b); }
        }
      }
    }
    var kind = cell[0], x, y2, z;
    if (kind === "xt" || kind === "dxt") {
      through(cell[1], cell[2], function (i, j, a, b) {
        for (var k = 0; k < cout; k++) { link(i, j, a, b, cell[3], k); }
      });
    } else if (kind === "y" || kind === "dy") {
      for (x = 0; x < kh; x++) {
        for (y2 = 0; y2 < kw; y2++) {
          for (z = 0; z < cin; z++) { link(cell[1], cell[2], x, y2, z, cell[3]); }
        }
      }
    } else {  /* w or dw: every window */
      for (x = 0; x < oh; x++) {
        for (y2 = 0; y2 < ow; y2++) { link(x, y2, cell[1], cell[2], cell[3], cell[4]); }
      }
    }
    return out;
  }

  function Explorer(root, data) {
    this.root = root;
    this.data = data;
    this.op = data.op;
    this.frame = 0;
    this.timer = null;
    this.gridDom = {};
    this.interval = 800;
    this.build();
    this.choose(0);
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
    var lab = el("label", "cvx-preset-label", "quick pick ");
    var sel = el("select", "cvx-preset");
    data.presets.forEach(function (p, i) {
      var o = el("option", null, p.label);
      o.value = String(i);
      sel.appendChild(o);
    });
    var custom = el("option", null, "your own setting");
    custom.value = "custom";
    custom.disabled = true;
    sel.appendChild(custom);
    sel.addEventListener("change", function () { self.choose(Number(sel.value)); });
    lab.appendChild(sel);
    head.appendChild(lab);
    root.appendChild(head);

    /* the setting: one form, every control named as in the page contract */
    var form = el("form", "cvx-form");
    form.setAttribute("aria-label", "setting");
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    this.inputs = {};
    function number(spec) {
      var inp = el("input");
      inp.type = "number";
      inp.name = spec[0];
      inp.min = String(spec[2]);
      inp.max = String(spec[3]);
      inp.step = "1";
      inp.required = true;
      inp.setAttribute("aria-label", spec[1]);
      inp.title = spec[1] + " (" + spec[2] + " to " + spec[3] + ")";
      inp.addEventListener("change", function () { self.edited(spec[0]); });
      self.inputs[spec[0]] = inp;
      return inp;
    }
    function pairRow(words, a, b, sep) {
      var row = el("span", "cvx-field");
      row.appendChild(el("span", "cvx-flabel", words));
      row.appendChild(number(a));
      row.appendChild(el("span", "cvx-sep", sep || "\u00d7"));
      row.appendChild(number(b));
      form.appendChild(row);
    }
    var spec = {};
    NUMBERS.forEach(function (s) { spec[s[0]] = s; });
    pairRow("input", spec.input_h, spec.input_w);
    pairRow("kernel", spec.kernel_h, spec.kernel_w);
    pairRow("stride", spec.stride_h, spec.stride_w, ",");
    pairRow("dilation", spec.dilation_h, spec.dilation_w, ",");
    pairRow("channels in/out", spec.channels_in, spec.channels_out, "/");
    var padRow = el("span", "cvx-field cvx-padfield");
    padRow.appendChild(el("span", "cvx-flabel", "padding"));
    var padSel = el("select");
    padSel.name = "padding";
    padSel.setAttribute("aria-label", "padding");
    ["VALID", "SAME", "EXPLICIT"].forEach(function (v) {
      var o = el("option", null, v);
      o.value = v;
      padSel.appendChild(o);
    });
    padSel.addEventListener("change", function () { self.edited("padding"); });
    this.inputs.padding = padSel;
    padRow.appendChild(padSel);
    var four = el("span", "cvx-pads");
    [["pad_top", "top"], ["pad_bottom", "bottom"], ["pad_left", "left"], ["pad_right", "right"]]
      .forEach(function (pr) {
        var l = el("label", "cvx-padlabel", pr[1] + " ");
        l.appendChild(number(spec[pr[0]]));
        four.appendChild(l);
      });
    padRow.appendChild(four);
    form.appendChild(padRow);
    var again = el("button", "cvx-new", "new numbers");
    again.type = "button";
    again.setAttribute("data-action", "new");
    again.addEventListener("click", function () { self.newNumbers(); });
    form.appendChild(again);
    root.appendChild(form);
    this.form = form;

    this.params = el("p", "cvx-params");
    root.appendChild(this.params);
    this.alert = el("div", "cvx-alert");
    this.alert.setAttribute("role", "alert");
    this.alert.hidden = true;
    root.appendChild(this.alert);

    var ctl = el("div", "cvx-controls");
    this.buttons = {};
    function button(act, text, label) {
      var b = el("button", "cvx-" + act, text);
      b.type = "button";
      b.setAttribute("aria-label", label);
      b.setAttribute("data-action", act);
      b.addEventListener("click", function () { self.act(act); });
      ctl.appendChild(b);
      self.buttons[act] = b;
      return b;
    }
    button("first", "|\u25c0", "first step");
    button("prev", "\u25c0 back", "step back");
    this.playBtn = button("play", "\u25b6 play", "play");
    this.playBtn.setAttribute("aria-pressed", "false");
    button("next", "step \u25b6", "step forward");
    button("last", "\u25b6|", "last step");
    var range = el("input", "cvx-scrub");
    range.type = "range";
    range.min = "0";
    range.setAttribute("aria-label", "step");
    range.addEventListener("input", function () { self.stop(); self.show(Number(range.value)); });
    ctl.appendChild(range);
    this.count = el("span", "cvx-count");
    ctl.appendChild(this.count);
    var speedLab = el("label", "cvx-speed", "speed ");
    var speed = el("select");
    speed.name = "speed";
    SPEEDS.forEach(function (s) {
      var o = el("option", null, s[0]);
      o.value = String(s[1]);
      speed.appendChild(o);
    });
    speed.value = "800";
    speed.addEventListener("change", function () {
      self.interval = Number(speed.value);
      if (self.timer) { self.stop(); self.play(); }
    });
    speedLab.appendChild(speed);
    ctl.appendChild(speedLab);
    root.appendChild(ctl);
    this.controls = ctl;

    var body = el("div", "cvx-body");
    this.gridsEl = el("div", "cvx-grids");
    var side = el("div", "cvx-side");
    this.caption = el("p", "cvx-caption");
    this.caption.setAttribute("aria-live", "polite");
    this.term = el("div", "cvx-term");
    this.inspect = el("div", "cvx-inspect");
    this.inspect.setAttribute("aria-live", "polite");
    side.appendChild(this.caption);
    side.appendChild(this.term);
    side.appendChild(this.inspect);
    body.appendChild(this.gridsEl);
    body.appendChild(side);
    root.appendChild(body);
    this.body = body;

    var legend = el("div", "cvx-legend");
    legend.setAttribute("aria-label", "legend");
    [["data", "value of the array"], ["pad", ROLE_TEXT.pad], ["zero", ROLE_TEXT.zero],
     ["unreached", ROLE_TEXT.unreached], ["hl", "takes part in this step"],
     ["fx", "written (or scattered) now"], ["ix-in", "inspected cell depends on it"],
     ["ix-out", "inspected cell feeds it"], ["ix-win", "in the inspected cell's window, a zero"]]
      .forEach(function (item) {
      var s = el("span", "cvx-k-input");
      var cls = /^(hl|fx|ix-)/.test(item[0]) ? "r-data " + item[0] : "r-" + item[0];
      s.appendChild(el("span", "cvx-c " + cls, item[0] === "data" ? "3" : "0"));
      s.appendChild(document.createTextNode(item[1]));
      legend.appendChild(s);
    });
    root.appendChild(legend);

    this.select = sel;
    this.range = range;
    this.speed = speed;
    root.addEventListener("keydown", function (e) { self.key(e); });
  };

  /* ---- settings ---- */
  Explorer.prototype.choose = function (i) {
    var p = this.data.presets[i].settings;
    this.preset = i;
    this.select.value = String(i);
    this.seed = p.seed || 0;
    this.given = {};
    var self = this;
    ["x", "w", "dy", "u"].forEach(function (k) { if (p[k] !== undefined) { self.given[k] = p[k]; } });
    var v = this.inputs;
    v.input_h.value = p.input_size[0]; v.input_w.value = p.input_size[1];
    v.kernel_h.value = p.kernel_size[0]; v.kernel_w.value = p.kernel_size[1];
    v.stride_h.value = p.strides[0]; v.stride_w.value = p.strides[1];
    v.dilation_h.value = p.dilations[0]; v.dilation_w.value = p.dilations[1];
    v.channels_in.value = p.channels[0]; v.channels_out.value = p.channels[1];
    if (typeof p.padding === "string") {
      v.padding.value = p.padding;
    } else {
      v.padding.value = "EXPLICIT";
      v.pad_top.value = p.padding[0][0]; v.pad_bottom.value = p.padding[0][1];
      v.pad_left.value = p.padding[1][0]; v.pad_right.value = p.padding[1][1];
    }
    this.recompute();
  };

  Explorer.prototype.edited = function (name) {
    if (/^pad_/.test(name)) { this.inputs.padding.value = "EXPLICIT"; }
    this.select.value = "custom";
    this.preset = null;
    this.recompute();
  };

  Explorer.prototype.newNumbers = function () {
    this.seed = (this.seed + 1) >>> 0;
    this.given = {};
    this.select.value = "custom";
    this.preset = null;
    this.recompute();
  };

  /* the settings in the form, as trace() takes them; or a sentence saying what is wrong */
  Explorer.prototype.settings = function () {
    var v = {}, bad = [];
    NUMBERS.forEach(function (s) { v[s[0]] = s; });
    var out = {}, self = this, explicit = this.inputs.padding.value === "EXPLICIT";
    Object.keys(v).forEach(function (name) {
      if (/^pad_/.test(name) && !explicit) { return; }
      var s = v[name], raw = self.inputs[name].value.trim(), n = Number(raw);
      if (raw === "" || !Number.isInteger(n) || n < s[2] || n > s[3]) {
        bad.push(s[1] + " must be a whole number from " + s[2] + " to " + s[3] +
                 (raw === "" ? "" : ", not " + raw));
      }
      out[name] = n;
    });
    if (bad.length) { return { error: bad.join("; ") + "." }; }
    var pad = this.inputs.padding.value;
    return {
      input_size: [out.input_h, out.input_w], kernel_size: [out.kernel_h, out.kernel_w],
      strides: [out.stride_h, out.stride_w], dilations: [out.dilation_h, out.dilation_w],
      channels: [out.channels_in, out.channels_out], seed: this.seed,
      padding: pad === "EXPLICIT" ? [[out.pad_top, out.pad_bottom], [out.pad_left, out.pad_right]]
        : pad
    };
  };

  Explorer.prototype.recompute = function () {
    var t0 = performance.now();
    this.stop();
    var o = this.settings(), trace = null, error = o.error;
    if (!error) {
      var self = this;
      /* a given array stays while its shape still fits the setting */
      var keys = Object.keys(this.given);
      for (var attempt = 0; attempt <= keys.length && !trace; attempt++) {
        var withData = Object.assign({}, o);
        Object.keys(self.given).forEach(function (k) { withData[k] = self.given[k]; });
        try {
          trace = T.lazyTrace(this.op, withData);
        } catch (err) {
          if (!(err instanceof T.TraceError)) { throw err; }
          var m = /^(x|w|dy|u) must have shape/.exec(err.message);
          if (m && self.given[m[1]] !== undefined) { delete self.given[m[1]]; continue; }
          error = err.message;
          break;
        }
      }
    }
    if (error) { this.refuse(error); return; }
    this.alert.hidden = true;
    this.alert.textContent = "";
    this.body.hidden = false;
    this.controls.hidden = false;
    this.load(trace);
    this.lastTraceMs = performance.now() - t0;
    this.root.setAttribute("data-trace-ms", this.lastTraceMs.toFixed(1));
  };

  /* an impossible setting: the reason, and no picture left from the last one */
  Explorer.prototype.refuse = function (message) {
    this.trace = null;
    this.steps = null;
    this.gridDom = {};
    this.gridsEl.textContent = "";
    this.caption.textContent = "";
    this.term.textContent = "";
    this.inspect.textContent = "";
    this.body.hidden = true;
    this.controls.hidden = true;
    this.params.textContent = "";
    this.alert.textContent = message;
    this.alert.hidden = false;
    this.root.setAttribute("data-state", "refused");
  };

  /* the resolved pads shown in the four boxes for VALID and SAME: TensorFlow's split */
  Explorer.prototype.showPads = function (pads) {
    var v = this.inputs;
    if (v.padding.value !== "EXPLICIT") {
      v.pad_top.value = pads[0][0]; v.pad_bottom.value = pads[0][1];
      v.pad_left.value = pads[1][0]; v.pad_right.value = pads[1][1];
    }
  };

  Explorer.prototype.load = function (trace) {
    this.trace = trace;
    this.steps = new Steps(trace);
    this.order = this.steps.order;
    this.gridDom = {};
    this.gridsEl.textContent = "";
    var p = trace.params;
    this.showPads(p.pads);
    this.params.textContent = "input " + p.input_size.join("\u00d7") + ", kernel " +
      p.kernel_size.join("\u00d7") + ", stride " + p.strides.join(",") + ", padding " +
      (typeof p.padding === "string" ? p.padding + " " : "") + "(pads top, bottom, left, " +
      "right: " + [p.pads[0][0], p.pads[0][1], p.pads[1][0], p.pads[1][1]].join(", ") +
      "), dilation " + p.dilations.join(",") + ", channels in/out " + p.channels.join("/") +
      ", output " + p.output_size.join("\u00d7") + "; values " + ((p.given || []).length
        ? "given: " + p.given.map(function (n) { return DATA_NAME[n] || n; }).join(", ") +
          (p.given.length < T.DATA[trace.op].length ? ", the rest drawn (seed " + p.seed + ")" : "")
        : "drawn at random (seed " + p.seed + ")") +
      "; the last step equals convlab." + trace.checked_against + ".";
    this.range.max = String(this.steps.length - 1);
    this.root.setAttribute("data-preset", this.preset === null ? "custom" : String(this.preset));
    this.root.setAttribute("data-state", "ready");
    this.show(0);
  };

  Explorer.prototype.key = function (e) {
    var tag = e.target.tagName;
    if (tag === "SELECT" || tag === "INPUT" || tag === "BUTTON" && e.key === " ") { return; }
    if (e.target.classList && e.target.classList.contains("cvx-c")) { return; }
    var map = { ArrowRight: "next", ArrowLeft: "prev", Home: "first", End: "last", " ": "play" };
    var act = map[e.key];
    if (!act || !this.trace) { return; }
    e.preventDefault();
    this.act(act);
  };

  Explorer.prototype.act = function (act) {
    var n = this.steps ? this.steps.length : 0;
    if (!n) { return; }
    if (act === "play") { if (this.timer) { this.stop(); } else { this.play(); } return; }
    this.stop();
    if (act === "next") { this.show(Math.min(this.frame + 1, n - 1)); }
    if (act === "prev") { this.show(Math.max(this.frame - 1, 0)); }
    if (act === "first") { this.show(0); }
    if (act === "last") { this.show(n - 1); }
  };

  Explorer.prototype.play = function () {
    var self = this;
    if (this.frame >= this.steps.length - 1) { this.show(0); }
    this.playBtn.textContent = "\u275a\u275a pause";
    this.playBtn.setAttribute("aria-pressed", "true");
    this.playBtn.setAttribute("aria-label", "pause");
    this.timer = window.setInterval(function () {
      if (self.frame >= self.steps.length - 1) { self.stop(); return; }
      self.show(self.frame + 1);
    }, this.interval);
  };

  Explorer.prototype.stop = function () {
    if (this.timer) { window.clearInterval(this.timer); }
    this.timer = null;
    this.playBtn.textContent = "\u25b6 play";
    this.playBtn.setAttribute("aria-pressed", "false");
    this.playBtn.setAttribute("aria-label", "play");
  };

  /* ---- drawing ---- */

  /* (Re)build a grid's cells when its shape, panels or roles change; keep them otherwise. */
  Explorer.prototype.gridFor = function (id, def, vals) {
    var sig = JSON.stringify([def.label, def.panels, def.roles, def.kind]);
    var dom = this.gridDom[id], self = this;
    if (dom && dom.sig === sig) { return dom; }
    var fig = el("figure", "cvx-grid cvx-k-" + def.kind);
    fig.setAttribute("data-grid", id);
    var name = ARRAYS[this.op][id];
    if (name) { fig.setAttribute("data-array", name); }
    var cap = el("figcaption");
    cap.appendChild(el("span", "cvx-badge", KIND_TEXT[def.kind] || def.kind));
    cap.appendChild(document.createTextNode(def.label));
    fig.appendChild(cap);
    var panels = el("div", "cvx-panels"), cells = [], boxes = [], texts = [];
    var rows = def.roles.length, cols = def.roles[0].length;
    def.panels.forEach(function (pname, p) {
      var wrap = el("div", "cvx-panel");
      wrap.appendChild(el("div", "cvx-plabel", pname));
      var g = el("div", "cvx-cells");
      g.setAttribute("role", "grid");
      g.setAttribute("aria-label", pname);
      /* one string for a panel's cells: a large grid has thousands (ids and roles are
         trace's own words, values numbers: nothing here needs escaping). Each cell is
         placed at its row and column (--r, --c) in a box of fixed size, so that a changed
         number re-lays that cell only, never the grid or the page around it. */
      g.style.setProperty("--rows", String(rows));
      g.style.setProperty("--cols", String(cols));
      var html = [], pt = [];
      for (var q = 0; q < cols; q++) {
        html.push('<span class="cvx-ix cvx-col" style="--c:' + q + '">' + q + "</span>");
      }
      for (var r = 0; r < rows; r++) {
        html.push('<span class="cvx-ix cvx-row" style="--r:' + r + '">' + r + "</span>");
        var rt = [];
        for (var c = 0; c < cols; c++) {
          var cls = "cvx-c r-" + def.roles[r][c], txt = fmt(vals[p][r][c]);
          html.push('<span class="' + cls + '" role="gridcell" style="--r:' + r + ";--c:" + c +
                    '" data-base="' + cls + '" data-at="' + id + ":" + p + ":" + r + ":" + c +
                    '" tabindex="' + (r || c ? -1 : 0) + '">' + txt + "</span>");
          rt.push(txt);
        }
        pt.push(rt);
      }
      html.push('<span class="cvx-window" hidden></span>');
      g.innerHTML = html.join("");
      var all = g.querySelectorAll(".cvx-c"), pc = [];
      for (var r2 = 0; r2 < rows; r2++) {
        pc.push(Array.prototype.slice.call(all, r2 * cols, (r2 + 1) * cols));
      }
      boxes.push(g.lastChild);
      cells.push(pc);
      texts.push(pt);
      wrap.appendChild(g);
      panels.appendChild(wrap);
    });
    fig.appendChild(panels);
    fig.addEventListener("mouseover", function (e) { self.hover(e.target); });
    fig.addEventListener("focusin", function (e) { self.hover(e.target); });
    fig.addEventListener("mouseleave", function () { if (!fig.contains(document.activeElement)) { self.unhover(); } });
    fig.addEventListener("focusout", function (e) { if (!fig.contains(e.relatedTarget)) { self.unhover(); } });
    fig.addEventListener("keydown", function (e) { self.cellKey(e, id); });
    dom = { sig: sig, fig: fig, cells: cells, texts: texts, boxes: boxes, marked: [],
            def: def, json: null };
    if (this.gridDom[id]) {
      this.gridsEl.replaceChild(fig, this.gridDom[id].fig);
    } else {
      this.gridsEl.appendChild(fig);
    }
    this.gridDom[id] = dom;
    return dom;
  };

  /* the maths array a grid draws, with the values it shows now (the page contract) */
  Explorer.prototype.arrayOf = function (id, state) {
    var name = ARRAYS[this.op][id], p = this.trace.params, data = this.trace.data;
    if (!name) { return null; }
    if (name === "x") { return data.x; }
    if (name === "w") { return data.w; }
    if (name === "dy") { return data.dy; }
    var v = state.vals[id], def = state.defs[id];
    var cin = p.channels[0], cout = p.channels[1], out = [];
    if (name === "dw") {
      for (var a = 0; a < p.kernel_size[0]; a++) {
        var row = [];
        for (var b = 0; b < p.kernel_size[1]; b++) {
          var cc = [];
          for (var c = 0; c < cin; c++) {
            var kk = [];
            for (var k = 0; k < cout; k++) { kk.push(v[c * cout + k][a][b]); }
            cc.push(kk);
          }
          row.push(cc);
        }
        out.push(row);
      }
      return out;
    }
    /* y, or dx: a padded δx̃ (before the crop) shows δx in its inner cells */
    var top = name === "dx" && this.dxPadded(state) ? p.pads[0][0] : 0;
    var left = name === "dx" && this.dxPadded(state) ? p.pads[1][0] : 0;
    var rows = name === "y" ? p.output_size[0] : p.input_size[0];
    var cols = name === "y" ? p.output_size[1] : p.input_size[1];
    for (var r = 0; r < rows; r++) {
      var rr = [];
      for (var q = 0; q < cols; q++) {
        var ch = [];
        for (var m = 0; m < v.length; m++) { ch.push(v[m][r + top][q + left]); }
        rr.push(ch);
      }
      out.push(rr);
    }
    return out;
  };

  Explorer.prototype.show = function (k) {
    var t0 = performance.now();
    var self = this, state = this.steps.at(k), frame = this.steps.frame(k);
    var moved = k !== this.frame + 1 || reducedMotion();
    this.frame = k;
    this.order.forEach(function (id) {
      var vals = state.vals[id], dom = self.gridFor(id, state.defs[id], vals);
      dom.marked.forEach(function (cell) { cell.className = cell.getAttribute("data-base"); });
      dom.marked = [];
      for (var p = 0; p < dom.cells.length; p++) {
        for (var r = 0; r < dom.cells[p].length; r++) {
          for (var c = 0; c < dom.cells[p][r].length; c++) {
            var txt = fmt(vals[p][r][c]);
            if (dom.texts[p][r][c] !== txt) {
              dom.cells[p][r][c].textContent = txt;
              dom.texts[p][r][c] = txt;
            }
          }
        }
      }
      var put = {};
      (frame.put || []).forEach(function (pt) { if (pt[0] === id) { put[pt[1] + ":" + pt[2] + ":" + pt[3]] = true; } });
      [["hl", (frame.hl || {})[id]], ["fx", (frame.focus || {})[id]]].forEach(function (m) {
        (m[1] || []).forEach(function (at) {
          var cell = dom.cells[at[0]][at[1]][at[2]];
          cell.classList.add(m[0]);
          dom.marked.push(cell);
        });
      });
      /* written cells pop; a scatter writes a whole window at once, which glides instead */
      var written = Object.keys(put);
      if (id !== "prod" && !moved && written.length <= 3) {
        written.forEach(function (key) {
          var at = key.split(":").map(Number), cell = dom.cells[at[0]][at[1]][at[2]];
          cell.classList.add("cvx-pop");
          dom.marked.push(cell);
        });
      }
      /* a window only where a step computes (not when a whole array is being prepared) */
      self.placeWindows(dom, frame.put ? (frame.hl || {})[id] : null, id, moved);
      var arr = self.arrayOf(id, state);
      if (arr) {
        var json = JSON.stringify(arr);
        if (json !== dom.json) {
          dom.fig.setAttribute("data-shape", JSON.stringify(shapeOf(arr)));
          dom.fig.setAttribute("data-values", json);
          dom.json = json;
        }
      }
    });
    this.caption.textContent = frame.caption;
    this.term.textContent = "";
    this.term.appendChild(el("div", "cvx-headline", frame.terms[0]));
    if (frame.terms.length > 1) {
      this.term.appendChild(el("div", "cvx-more", frame.terms.slice(1).join("\n")));
    }
    this.range.value = String(k);
    this.range.setAttribute("aria-valuetext", "step " + (k + 1) + " of " + this.steps.length);
    this.count.textContent = "step " + (k + 1) + " / " + this.steps.length;
    this.root.setAttribute("data-frame", String(k));
    if (this.inspected) { this.hover(this.inspected); }
    this.lastRenderMs = performance.now() - t0;
    this.root.setAttribute("data-step-ms", this.lastRenderMs.toFixed(2));
  };

  /* the window: a frame drawn around each panel's highlighted cells of an input grid,
     gliding from one step's place to the next */
  Explorer.prototype.placeWindows = function (dom, cells, id, moved) {
    var kind = dom.def.kind;
    var show = cells && cells.length && (kind === "input" || (kind === "output" && this.op !== "d_w" &&
      (this.op === "d_x_scatter" || this.op === "conv2d_transpose")));
    dom.boxes.forEach(function (box, p) {
      var mine = show ? cells.filter(function (c) { return c[0] === p; }) : [];
      if (!mine.length || mine.length === dom.cells[p].length * dom.cells[p][0].length) {
        box.hidden = true;
        return;
      }
      var r0 = Infinity, r1 = -1, c0 = Infinity, c1 = -1;
      mine.forEach(function (c) {
        r0 = Math.min(r0, c[1]); r1 = Math.max(r1, c[1]); c0 = Math.min(c0, c[2]); c1 = Math.max(c1, c[2]);
      });
      box.classList.toggle("cvx-still", moved || box.hidden);
      box.hidden = false;
      box.style.setProperty("--r", String(r0));
      box.style.setProperty("--c", String(c0));
      box.style.setProperty("--h", String(r1 - r0 + 1));
      box.style.setProperty("--w", String(c1 - c0 + 1));
    });
  };

  /* ---- inspecting a cell: what it depends on, what it feeds ---- */

  /* where a maths cell is drawn now: [grid id, panel, row, col], or null */
  Explorer.prototype.place = function (cell, state) {
    var p = this.trace.params, op = this.op, cin = p.channels[0], cout = p.channels[1];
    var kh = p.kernel_size[0], kw = p.kernel_size[1], pt = p.pads[0][0], pl = p.pads[1][0];
    var kind = cell[0];
    if (kind === "xt") { return ["x", cell[3], cell[1], cell[2]]; }
    if (kind === "y") { return ["y", cell[3], cell[1], cell[2]]; }
    if (kind === "dw") { return ["dw", cell[3] * cout + cell[4], cell[1], cell[2]]; }
    if (kind === "w") {
      var gid = op === "d_x_gather" ? "wk" : "w", stage = state.defs[gid].panels[0];
      if (op !== "d_x_gather" || /^w(\[|$)/.test(stage)) { return [gid, cell[3] * cout + cell[4], cell[1], cell[2]]; }
      if (/^rot180/.test(stage)) { return [gid, cell[3] * cout + cell[4], kh - 1 - cell[1], kw - 1 - cell[2]]; }
      return [gid, cell[4] * cin + cell[3], kh - 1 - cell[1], kw - 1 - cell[2]];
    }
    if (kind === "dy") {
      if (op !== "d_x_gather") { return ["dy", cell[3], cell[1], cell[2]]; }
      var name = state.defs.dz.panels[0], i = cell[1], j = cell[2];
      if (/^pad\(/.test(name)) {
        var fp = this.fullPads(), r = p.strides[0] * i + fp[0], c = p.strides[1] * j + fp[1];
        var rows = state.defs.dz.roles.length, cols = state.defs.dz.roles[0].length;
        return r >= 0 && r < rows && c >= 0 && c < cols ? ["dz", cell[3], r, c] : null;
      }
      if (/^\u03b4\u0177/.test(name)) { return ["dz", cell[3], p.strides[0] * i, p.strides[1] * j]; }
      return ["dz", cell[3], i, j];
    }
    /* dxt: δx̃, padded; drawn padded until the scatter crops it, the gather draws δx */
    if (this.dxPadded(state)) { return ["dx", cell[3], cell[1], cell[2]]; }
    var rr = cell[1] - pt, cc = cell[2] - pl;
    return rr >= 0 && rr < p.input_size[0] && cc >= 0 && cc < p.input_size[1]
      ? ["dx", cell[3], rr, cc] : null;
  };

  /* the maths cell a grid cell [id, panel, row, col] draws now, or null (an inserted zero,
     the gather's padding, or the products of a step) */
  Explorer.prototype.unplace = function (at, state) {
    var p = this.trace.params, op = this.op, cin = p.channels[0], cout = p.channels[1];
    var kh = p.kernel_size[0], kw = p.kernel_size[1], id = at[0];
    var n = Number(at[1]), r = Number(at[2]), c = Number(at[3]);
    if (id === "x") { return ["xt", r, c, n]; }
    if (id === "y") { return ["y", r, c, n]; }
    if (id === "dw") { return ["dw", r, c, Math.floor(n / cout), n % cout]; }
    if (id === "w" || id === "wk") {
      var stage = state.defs[id].panels[0];
      if (id === "w" || /^w(\[|$)/.test(stage)) { return ["w", r, c, Math.floor(n / cout), n % cout]; }
      if (/^rot180/.test(stage)) { return ["w", kh - 1 - r, kw - 1 - c, Math.floor(n / cout), n % cout]; }
      return ["w", kh - 1 - r, kw - 1 - c, n % cin, Math.floor(n / cin)];
    }
    if (id === "dy") { return ["dy", r, c, n]; }
    if (id === "dz") {
      var name = state.defs.dz.panels[0];
      if (/^pad\(/.test(name)) { var fp = this.fullPads(); r -= fp[0]; c -= fp[1]; }
      if (/^pad\(|^\u03b4\u0177/.test(name)) {
        if (r < 0 || c < 0 || r % p.strides[0] || c % p.strides[1]) { return null; }
        r /= p.strides[0]; c /= p.strides[1];
        if (r >= p.output_size[0] || c >= p.output_size[1]) { return null; }
      }
      return ["dy", r, c, n];
    }
    if (id === "dx") {
      return this.dxPadded(state) ? ["dxt", r, c, n] : ["dxt", r + p.pads[0][0], c + p.pads[1][0], n];
    }
    return null;
  };

  /* does the dx grid show δx̃ (ṽ) with its padding, as the scatter does before its crop? */
  Explorer.prototype.dxPadded = function (state) {
    var p = this.trace.params, def = state.defs.dx;
    var padded = p.pads[0][0] || p.pads[0][1] || p.pads[1][0] || p.pads[1][1];
    return this.op !== "d_x_gather" && padded &&
      def.roles.length === p.input_size[0] + p.pads[0][0] + p.pads[0][1] &&
      def.roles[0].length === p.input_size[1] + p.pads[1][0] + p.pads[1][1];
  };

  Explorer.prototype.fullPads = function () {
    var p = this.trace.params, out = [];
    for (var ax = 0; ax < 2; ax++) {
      var kEff = (p.kernel_size[ax] - 1) * p.dilations[ax] + 1;
      out.push(kEff - 1 - p.pads[ax][0]);
    }
    return out;
  };

  /* the book's name of a maths cell as drawn now */
  Explorer.prototype.cellName = function (cell, state) {
    var p = this.trace.params, many = p.channels[0] > 1 || p.channels[1] > 1, op = this.op;
    var ix = cell.slice(1), name = { xt: "x\u0303", w: "w", dy: op === "conv2d_transpose" ? "u" : "\u03b4y",
                                      y: "y", dw: "\u03b4w" }[cell[0]];
    if (cell[0] === "dxt") {
      var at = this.place(cell, state), v = op === "conv2d_transpose";
      if (!this.dxPadded(state) && at) { name = v ? "v" : "\u03b4x"; ix = [at[2], at[3], cell[3]]; }
      else { name = v ? "\u1e7d" : "\u03b4x\u0303"; }
    }
    if (!many) { ix = ix.slice(0, 2); }
    return name + "[" + ix.join(",") + "]";
  };

  Explorer.prototype.hover = function (target) {
    if (!target || !target.getAttribute || !target.classList.contains("cvx-c") || !this.trace) { return; }
    var at = target.getAttribute("data-at");
    if (!at) { return; }
    var self = this, state = this.steps.at(this.frame), key = at;
    this.unmark();
    this.inspected = target;
    var partOf = [], asOut = [], cell = this.unplace(at.split(":"), state);
    (cell ? linksOf(this.trace, cell) : []).forEach(function (l) {
      var o = self.place(l.o, state), a = self.place(l.a, state), b = self.place(l.b, state);
      var ko = o && o.join(":"), ka = a && a.join(":"), kb = b && b.join(":");
      if (ko === key) { asOut.push([l, a, b]); }
      else if (ka === key || kb === key) { partOf.push([l, o, ka === key ? b : a]); }
    });
    var marks = [];
    function mark(p, cls) {
      if (!p) { return; }
      var dom = self.gridDom[p[0]];
      var cell = dom && dom.cells[p[1]] && dom.cells[p[1]][p[2]] && dom.cells[p[1]][p[2]][p[3]];
      if (cell) { cell.classList.add(cls); marks.push(cell); }
    }
    target.classList.add("ix-self");
    marks.push(target);
    asOut.forEach(function (t) { mark(t[1], "ix-in"); mark(t[2], "ix-in"); });
    /* the gather's window reads zeros too (padding, inserted zeros): they are marked apart */
    var pos = at.split(":");
    if (this.op === "d_x_gather" && pos[0] === "dx" && /^pad\(/.test(state.defs.dz.panels[0])) {
      var p = this.trace.params, dz = this.gridDom.dz;
      for (var k = 0; k < p.channels[1]; k++) {
        for (var a = 0; a < p.kernel_size[0]; a++) {
          for (var b = 0; b < p.kernel_size[1]; b++) {
            var cell = dz.cells[k][Number(pos[2]) + p.dilations[0] * a][Number(pos[3]) + p.dilations[1] * b];
            if (!cell.classList.contains("ix-in")) { cell.classList.add("ix-win"); marks.push(cell); }
          }
        }
      }
    }
    partOf.forEach(function (t) { mark(t[1], "ix-out"); mark(t[2], "ix-in"); });
    this.inspectMarks = marks;
    this.inspect.textContent = "";
    var text = this.describe(target, asOut, partOf, state);
    this.inspect.appendChild(el("div", "cvx-ihead", text[0]));
    if (text.length > 1) {
      var ul = el("ul");
      text.slice(1).forEach(function (t) { ul.appendChild(el("li", null, t)); });
      this.inspect.appendChild(ul);
    }
  };

  Explorer.prototype.describe = function (target, asOut, partOf, state) {
    var self = this, at = target.getAttribute("data-at").split(":"), id = at[0];
    var p = Number(at[1]), r = Number(at[2]), c = Number(at[3]);
    var def = state.defs[id], role = def.roles[r][c], value = fmt(state.vals[id][p][r][c]);
    var where = def.panels[p] + " row " + r + ", column " + c;
    if (!asOut.length && !partOf.length) {
      return ["Inspecting " + where + " = " + value + " (" + ROLE_TEXT[role] + "): " +
              (id === "prod" ? "this step's products; inspect x\u0303, w or y instead."
                : "it takes part in no product" + (role === "pad" || role === "zero"
                  ? ", a zero the picture shows only to line the windows up." : "."))];
    }
    function isPad(cell) { return cell[0] === "xt" && self.trace.grids[0].roles[cell[1]][cell[2]] === "pad"; }
    if (asOut.length) {
      var l0 = asOut[0][0], words = [], zeros = 0;
      asOut.forEach(function (t) {
        if (isPad(t[0].a)) { zeros += 1; return; }
        words.push(self.cellName(t[0].a, state) + "\u00b7" + self.cellName(t[0].b, state));
      });
      var total = 0;
      asOut.forEach(function (t) { total += self.valueOf(t[0].a) * self.valueOf(t[0].b); });
      return [self.cellName(l0.o, state) + " = " + (words.length ? words.join(" + ") : "0") +
              (zeros ? " + " + zeros + " term" + (zeros > 1 ? "s" : "") + " on padding" : "") +
              " = " + fmt(total) + (this.frame < this.steps.length - 1 ? " (when every step is done)" : "")];
    }
    var first = partOf[0][0], placed = this.place(first.a, state);
    var mine = placed && placed.join(":") === target.getAttribute("data-at") ? first.a : first.b;
    var head = this.cellName(mine, state) + " = " + value + (role === "pad" ? " (padding)" : "") +
      " feeds " + partOf.length + " product" + (partOf.length > 1 ? "s" : "") + ":";
    return [head].concat(partOf.map(function (t) {
      var l = t[0];
      return self.cellName(l.o, state) + " += " + self.cellName(l.a, state) + "\u00b7" + self.cellName(l.b, state);
    }));
  };

  Explorer.prototype.valueOf = function (cell) {
    var d = this.trace.data, p = this.trace.params;
    if (cell[0] === "w") { return d.w[cell[1]][cell[2]][cell[3]][cell[4]]; }
    if (cell[0] === "dy") { return d.dy[cell[1]][cell[2]][cell[3]]; }
    if (cell[0] === "xt") {
      var r = cell[1] - p.pads[0][0], c = cell[2] - p.pads[1][0];
      return r >= 0 && r < p.input_size[0] && c >= 0 && c < p.input_size[1] ? d.x[r][c][cell[3]] : 0;
    }
    return 0;
  };

  Explorer.prototype.unmark = function () {
    (this.inspectMarks || []).forEach(function (cell) {
      cell.classList.remove("ix-self", "ix-in", "ix-out", "ix-win");
    });
    this.inspectMarks = [];
  };

  Explorer.prototype.unhover = function () {
    this.unmark();
    this.inspected = null;
    this.inspect.textContent = "";
    this.inspect.appendChild(el("div", "cvx-ihint", "Hover over a cell, or focus one with Tab " +
      "and move with the arrow keys, to see what it depends on and what it feeds."));
  };

  /* arrow keys move the focus from cell to cell within a panel (one tab stop per panel) */
  Explorer.prototype.cellKey = function (e, id) {
    var t = e.target, at = t.getAttribute && t.getAttribute("data-at");
    if (!at) { return; }
    var q = at.split(":").map(function (v, i) { return i ? Number(v) : v; });
    var cells = this.gridDom[id].cells[q[1]];
    var d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
    if (!d) { return; }
    e.preventDefault();
    e.stopPropagation();
    var r = Math.max(0, Math.min(cells.length - 1, q[2] + d[0]));
    var c = Math.max(0, Math.min(cells[0].length - 1, q[3] + d[1]));
    t.tabIndex = -1;
    cells[r][c].tabIndex = 0;
    cells[r][c].focus();
  };

  var instances = {};
  window.ConvlabExplorer = {
    mount: function (id) {
      var root = document.getElementById(id);
      var script = document.getElementById(id + "-data");
      if (!root || !script || instances[id]) { return instances[id]; }
      try {
        instances[id] = new Explorer(root, JSON.parse(script.textContent));
        instances[id].unhover();
      } catch (err) {
        root.appendChild(el("p", "cvx-err", "This explorer could not start: " + err));
        throw err;
      }
      return instances[id];
    },
    get: function (id) { return instances[id]; }
  };
})();
