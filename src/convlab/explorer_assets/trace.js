/* convlab's trace engine in the page: the frames of convlab.trace, computed in JavaScript for
   any setting, so that the static explorers take any setting with no kernel.

   Python's convlab/trace.py is the reference: this file repeats it step for step, with the
   same frame format, the same words and the same numbers (tests/test_trace_js.py runs both
   on hundreds of settings and compares them frame for frame). The data are small nonzero
   integers from the same 32-bit xorshift generator, so a seed means the same numbers here.

   Notation as in the book: x input, w filter, y output, x̃ the padded input, δ a gradient
   (δy, δx, δw), δx̃ the gradient of x̃, δŷ the zero-stretched δy; conv2d_transpose keeps its
   own names u, v, ṽ. Cells are [panel, row, column]; every grid is indexed from 0. */
(function (root) {
  "use strict";

  var OPERATIONS = {
    forward: "forward: y = conv2d(x, w)",
    d_w: "\u03b4w: each filter tap gathers x\u0303\u00b7\u03b4y",
    d_x_scatter: "\u03b4x as a scatter: each \u03b4y cell spreads w\u00b7\u03b4y over its " +
      "window of \u03b4x\u0303",
    d_x_gather: "\u03b4x as a gather: the 180\u00b0-turned, channel-swapped filter slides " +
      "over \u03b4\u0177 (\u03b4y zero-stretched), padded",
    conv2d_transpose: "conv2d_transpose: v = conv2d_transpose(u, w), the scatter under its " +
      "own names"
  };
  var DATA = {
    forward: ["x", "w"], d_w: ["x", "dy"], d_x_scatter: ["w", "dy"], d_x_gather: ["w", "dy"],
    conv2d_transpose: ["u", "w"]
  };
  var MAX_CHANNELS = 3;
  var X_VALUES = [-2, -1, 1, 2, 3], W_VALUES = [-1, 1, 2], DY_VALUES = [-2, -1, 1, 2];
  var XT = "x\u0303", DX = "\u03b4x", DXT = "\u03b4x\u0303", DY = "\u03b4y", DW = "\u03b4w";
  var DYH = "\u03b4\u0177", MID = "\u00b7", NBSP = "\u00a0";

  /* ---- the generator: convlab.trace._Draw, bit for bit ---- */
  function Draw(seed) {
    var s = (Math.imul(seed >>> 0, 0x9E3779B9) + 0x6A09E667) >>> 0;
    this.state = s || 1;
    for (var n = 0; n < 4; n++) { this.next(); }
  }
  Draw.prototype.next = function () {
    var x = this.state;
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    this.state = x;
    return x;
  };
  Draw.prototype.choice = function (values, shape) {
    return build(shape, function () { return values[(this.next() >>> 8) % values.length]; }
      .bind(this));
  };

  /* ---- nested arrays ---- */
  function build(shape, fill) {  /* fill() is called in C order */
    function level(d) {
      var out = [];
      for (var i = 0; i < shape[d]; i++) { out.push(d === shape.length - 1 ? fill() : level(d + 1)); }
      return out;
    }
    return level(0);
  }
  function zeros(shape) { return build(shape, function () { return 0; }); }
  function range(n) { var r = []; for (var i = 0; i < n; i++) { r.push(i); } return r; }
  function shapeOf(a) { var s = []; while (Array.isArray(a)) { s.push(a.length); a = a[0]; } return s; }

  /* ---- words, as Python writes them ---- */
  function num(v) {  /* trace._num: ints stay ints; -0 becomes 0 */
    if (Number.isInteger(v)) { return v === 0 ? 0 : v; }
    return Math.round(v * 1e6) / 1e6;
  }
  function pyStr(v) {  /* str() of a _num */
    var n = num(v);
    return String(n);
  }
  function pyRepr(v) {  /* repr() of a str or of (nested) lists of ints */
    if (typeof v === "string") { return "'" + v + "'"; }
    if (Array.isArray(v)) { return "[" + v.map(pyRepr).join(", ") + "]"; }
    return String(v);
  }
  function plural(n, word) { return n + " " + word + (Math.abs(n) === 1 ? "" : "s"); }
  function pairText(v) { return v[0] === v[1] ? String(v[0]) : "(" + v[0] + ", " + v[1] + ")"; }
  function padWords(pads) {
    var eq = NBSP + "=" + NBSP;
    return "p_t" + eq + plural(pads[0][0], "row") + " on top, p_b" + eq + pads[0][1] +
      " below; p_l" + eq + plural(pads[1][0], "column") + " left, p_r" + eq + pads[1][1] +
      " right";
  }
  function padded(pads) { return pads[0][0] || pads[0][1] || pads[1][0] || pads[1][1]; }
  function shifted(name, pads, pname) {
    var t = pads[0][0], l = pads[1][0];
    return name + "[" + (t === 0 ? "p" : "p-" + t) + "," + (l === 0 ? "q" : "q-" + l) +
      "] = " + pname + "[p,q]";
  }
  function sumTerms(head, products, zerosN, value, on) {
    if (!products.length) { return [head + " = 0  (all " + zerosN + " terms lie on " + on + ")"]; }
    var tail = zerosN ? " + " + zerosN + " term" + (zerosN !== 1 ? "s" : "") + " on " + on : "";
    return [head + " = " + products.join(" + ") + tail + " = " + pyStr(value)];
  }

  /* x̃[p,q] or x̃[p,q,c]: channel indices only when either side has several. Each name is
     written once and kept: a large trace names the same cells tens of thousands of times. */
  function Names(s, x, w, dy) {
    this.xn = x; this.wn = w; this.dyn = dy; this.many = s.cin > 1 || s.cout > 1;
    this.memo = new Map();
  }
  Names.prototype.name = function (base, a, b, tail, key) {
    var got = this.memo.get(key);
    if (got === undefined) {
      got = base + "[" + a + "," + b + (this.many ? tail + "]" : "]");
      this.memo.set(key, got);
    }
    return got;
  };
  Names.prototype.x = function (r, q, c, name) {
    if (name) { return name + "[" + r + "," + q + (this.many ? "," + c + "]" : "]"); }
    return this.name(this.xn, r, q, "," + c, ((r * 128 + q) * 8 + c) * 4);
  };
  Names.prototype.w = function (a, b, c, k, name) {
    return this.name(name || this.wn, a, b, "," + c + "," + k,
                     (((a * 8 + b) * 8 + c) * 8 + k) * 4 + (name ? 2 : 1));
  };
  Names.prototype.dy = function (i, j, k) {
    return this.name(this.dyn, i, j, "," + k, ((i * 128 + j) * 8 + k) * 4 + 3);
  };

  /* ---- geometry: convlab.geometry.resolve_axis and TensorFlow's SAME split ---- */
  function TraceError(message) { this.name = "TraceError"; this.message = message; }
  TraceError.prototype = Object.create(Error.prototype);

  function axis(size, kernel, stride, dilation, pad) {
    var kEff = (kernel - 1) * dilation + 1, before, after;
    if (pad === "SAME") {
      var out = Math.ceil(size / stride);
      var total = Math.max((out - 1) * stride + kEff - size, 0);
      before = Math.floor(total / 2);
      after = total - before;
    } else if (pad === "VALID") {
      before = 0; after = 0;
    } else {
      before = pad[0]; after = pad[1];
    }
    var ax = { size: size, kernel: kernel, stride: stride, dilation: dilation, before: before,
               after: after, kEff: kEff, padded: size + before + after };
    if (kEff > ax.padded) {
      throw new TraceError("The window does not fit: the filter spans " + kEff + " (kernel " +
        kernel + ", dilation " + dilation + ") but the padded input is only " + ax.padded +
        " long (" + size + " + " + before + " + " + after + " padding). Use a smaller " +
        "kernel or dilation, more padding, or SAME padding.");
    }
    ax.out = Math.floor((ax.padded - kEff) / stride) + 1;
    ax.unreached = (ax.padded - kEff) % stride;
    return ax;
  }

  function intIn(name, v, lo, hi) {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new TraceError(name + " must be a whole number from " + lo + " to " + hi +
        ", got " + v);
    }
    return v;
  }
  function pair(v) { return Array.isArray(v) ? [v[0], v[1]] : [v, v]; }

  /* settings, as trace() takes them: input_size, kernel_size, strides, dilations, channels
     (an int or a pair each), padding ("VALID", "SAME", an int or [[t, b], [l, r]]), seed,
     and optional data x, w, dy, u (nested lists: (H, W, C_in), (KH, KW, C_in, C_out),
     (OH, OW, C_out)). */
  function setup(op, o) {
    var hw = pair(o.input_size === undefined ? 5 : o.input_size);
    var k = pair(o.kernel_size === undefined ? 3 : o.kernel_size);
    var st = pair(o.strides === undefined ? 1 : o.strides);
    var dl = pair(o.dilations === undefined ? 1 : o.dilations);
    var ch = pair(o.channels === undefined ? 1 : o.channels);
    var seed = o.seed === undefined ? 0 : o.seed;
    var pad = o.padding === undefined ? "VALID" : o.padding;
    if (typeof pad === "number") { pad = [[pad, pad], [pad, pad]]; }
    if (typeof pad === "string" && pad !== "VALID" && pad !== "SAME") {
      throw new TraceError("padding must be VALID, SAME or four numbers, got " + pad);
    }
    ["height", "width"].forEach(function (n, i) { intIn("input " + n, hw[i], 1, 1e6); });
    ["height", "width"].forEach(function (n, i) { intIn("kernel " + n, k[i], 1, 1e6); });
    ["height", "width"].forEach(function (n, i) { intIn("stride " + n, st[i], 1, 1e6); });
    ["height", "width"].forEach(function (n, i) { intIn("dilation " + n, dl[i], 1, 1e6); });
    intIn("channels in", ch[0], 1, MAX_CHANNELS);
    intIn("channels out", ch[1], 1, MAX_CHANNELS);
    if (typeof pad !== "string") {
      pad.forEach(function (p, i) {
        intIn(["top", "left"][i] + " padding", p[0], 0, 1e6);
        intIn(["bottom", "right"][i] + " padding", p[1], 0, 1e6);
      });
    }
    var axH = axis(hw[0], k[0], st[0], dl[0], typeof pad === "string" ? pad : pad[0]);
    var axW = axis(hw[1], k[1], st[1], dl[1], typeof pad === "string" ? pad : pad[1]);
    var cin = ch[0], cout = ch[1], oh = axH.out, ow = axW.out;
    var draw = new Draw(seed);
    var x = draw.choice(X_VALUES, [hw[0], hw[1], cin]);
    var w = draw.choice(W_VALUES, [k[0], k[1], cin, cout]);
    var dy = draw.choice(DY_VALUES, [oh, ow, cout]);
    var given = [];
    function take(name, shape) {
      var v = o[name];
      if (v === undefined || v === null) { return null; }
      var s = shapeOf(v);
      if (s.length === 2 && shape.slice(2).every(function (n) { return n === 1; })) {
        v = v.map(function (row) {
          return row.map(function (e) { return shape.length === 3 ? [e] : [[e]]; });
        });
        s = shapeOf(v);
      }
      if (JSON.stringify(s) !== JSON.stringify(shape)) {
        throw new TraceError(name + " must have shape " + JSON.stringify(shape) + ", got " +
          JSON.stringify(s));
      }
      given.push(name);
      return v;
    }
    var reads = DATA[op];
    ["x", "w", "dy", "u"].forEach(function (name) {
      var own = reads.indexOf(name) >= 0 || (name === "dy" && op === "conv2d_transpose");
      if (!own && o[name] !== undefined && o[name] !== null) {
        throw new TraceError(name + " is not used by " + op + ", which reads " + reads.join(" and "));
      }
    });
    var gx = reads.indexOf("x") >= 0 ? take("x", [hw[0], hw[1], cin]) : null;
    var gw = reads.indexOf("w") >= 0 ? take("w", [k[0], k[1], cin, cout]) : null;
    /* conv2d_transpose's input is u; dy may name it too, as in trace() */
    var dyName = op === "conv2d_transpose" && (o.u !== undefined && o.u !== null) ? "u" : "dy";
    var gdy = op !== "forward" ? take(dyName, [oh, ow, cout]) : null;
    if (gdy && op === "conv2d_transpose") { given[given.length - 1] = "u"; }
    if (gx) { x = gx; }
    if (gw) { w = gw; }
    if (gdy) { dy = gdy; }
    var pads = [[axH.before, axH.after], [axW.before, axW.after]];
    var params = {
      input_size: hw, kernel_size: k, strides: st,
      padding: typeof pad === "string" ? pad : pads.map(function (p) { return p.slice(); }),
      pads: pads, dilations: dl, channels: [cin, cout], output_size: [oh, ow], seed: seed,
      given: ["x", "w", "dy", "u"].filter(function (n) { return given.indexOf(n) >= 0; })
    };
    return { h: axH, w: axW, x: x, wt: w, dy: dy, cin: cin, cout: cout, kh: k[0], kw: k[1],
             pads: pads, strides: st, dilations: dl, params: params };
  }

  /* ---- grids ---- */
  function roleGrid(rows, cols, role) {
    return build([rows, cols], function () { return role; });
  }
  function xRoles(s) {
    var H = s.h, W = s.w;
    var reachH = (H.out - 1) * H.stride + H.kEff, reachW = (W.out - 1) * W.stride + W.kEff;
    var roles = [];
    for (var p = 0; p < H.padded; p++) {
      var row = [];
      for (var q = 0; q < W.padded; q++) {
        var inside = p >= H.before && p < H.before + H.size && q >= W.before &&
          q < W.before + W.size;
        row.push(!inside ? "pad" : (p >= reachH || q >= reachW) ? "unreached" : "data");
      }
      roles.push(row);
    }
    return roles;
  }
  function cropRoles(roles, top, left, h, w) {
    return roles.slice(top, top + h).map(function (r) { return r.slice(left, left + w); });
  }
  function channelPanels(name, count) {
    return count > 1 ? range(count).map(function (c) { return name + "[:,:," + c + "]"; }) : [name];
  }
  function filterPanels(name, cin, cout, swapped) {
    if (cin === 1 && cout === 1) { return [name]; }
    var out = [];
    if (swapped) {
      for (var k = 0; k < cout; k++) { for (var c = 0; c < cin; c++) { out.push(name + "[:,:," + k + "," + c + "]"); } }
    } else {
      for (var c2 = 0; c2 < cin; c2++) { for (var k2 = 0; k2 < cout; k2++) { out.push(name + "[:,:," + c2 + "," + k2 + "]"); } }
    }
    return out;
  }
  function grid(id, label, kind, values, roles, panels) {
    return { id: id, label: label, kind: kind, panels: panels, values: values, roles: roles,
             offset: [0, 0] };
  }
  function filterGrid(id, label, w, name, swapped) {  /* panels w[:,:,i,j], i-major */
    var s = shapeOf(w), panels = [];
    for (var i = 0; i < s[2]; i++) {
      for (var j = 0; j < s[3]; j++) {
        panels.push(w.map(function (row) { return row.map(function (e) { return num(e[i][j]); }); }));
      }
    }
    var cin = swapped ? s[3] : s[2], cout = swapped ? s[2] : s[3];
    return grid(id, label, "filter", panels, roleGrid(s[0], s[1], "data"),
                filterPanels(name, cin, cout, swapped));
  }
  function imageGrid(id, label, kind, a, name, roles) {  /* (H, W, C) as C panels */
    var s = shapeOf(a);
    var panels = range(s[2]).map(function (c) {
      return a.map(function (row) { return row.map(function (e) { return num(e[c]); }); });
    });
    return grid(id, label, kind, panels, roles || roleGrid(s[0], s[1], "data"),
                channelPanels(name, s[2]));
  }
  function paddedX(s) {
    var H = s.h, W = s.w;
    return build([H.padded, W.padded, s.cin], function () { return 0; }).map(function (row, p) {
      return row.map(function (cell, q) {
        var r = p - H.before, c = q - W.before;
        return (r >= 0 && r < H.size && c >= 0 && c < W.size) ? s.x[r][c].slice() : cell;
      });
    });
  }
  function windows(s) {
    var out = [];
    for (var i = 0; i < s.h.out; i++) { for (var j = 0; j < s.w.out; j++) { out.push([i, j]); } }
    return out;
  }
  function taps(s) {
    var out = [];
    for (var a = 0; a < s.kh; a++) { for (var b = 0; b < s.kw; b++) { out.push([a, b]); } }
    return out;
  }
  function where(roles, role, panels) {
    var cells = [];
    for (var p = 0; p < panels; p++) {
      roles.forEach(function (row, r) {
        row.forEach(function (x, c) { if (x === role) { cells.push([p, r, c]); } });
      });
    }
    return cells;
  }
  function allCells(s) {
    var out = [];
    for (var p = 0; p < s.cin * s.cout; p++) {
      taps(s).forEach(function (t) { out.push([p, t[0], t[1]]); });
    }
    return out;
  }
  function xGrid(s) {
    var label = padded(s.pads) ? "x\u0303 = x padded: " + padWords(s.pads) : "x\u0303 = x (no padding)";
    return imageGrid("x", label, "input", paddedX(s), XT, xRoles(s));
  }
  function xCaption(s) {
    if (!padded(s.pads)) { return "x\u0303 is x itself (no padding), indexed from 0."; }
    return "x\u0303 is x with the padding added (" + padWords(s.pads) + "), indexed from 0: " +
      shifted("x", s.pads, XT) + ", and the border holds zeros.";
  }
  function frame(caption, terms, o) {
    var f = { caption: caption, terms: terms };
    o = o || {};
    if (o.hl) { f.hl = o.hl; }
    if (o.focus) { f.focus = o.focus; }
    if (o.put && o.put.length) { f.put = o.put; }
    if (o.replace) { f.replace = o.replace; }
    return f;
  }
  function inX(s, p, q) {
    return p - s.pads[0][0] >= 0 && p - s.pads[0][0] < s.h.size &&
      q - s.pads[1][0] >= 0 && q - s.pads[1][0] < s.w.size;
  }

  /* ---- the five traces ---- */
  /* Each builder works out the numbers first, then makes any frame on demand: frame(f)
     returns frame f, so that a page draws a large setting without making every frame, and
     trace() makes them all (for the test against Python). */
  function forward(s) {
    var n = new Names(s, XT, "w", "y"), sh = s.strides[0], sw = s.strides[1];
    var dh = s.dilations[0], dw = s.dilations[1], xp = paddedX(s);
    var y = zeros([s.h.out, s.w.out, s.cout]);
    var prodGrid = imageGrid("prod", "products x\u0303" + MID + "w in the window", "work",
                             zeros([s.kh, s.kw, s.cin * s.cout]), XT + MID + "w");
    prodGrid.panels = filterPanels(XT + MID + "w", s.cin, s.cout);
    var grids = [xGrid(s), filterGrid("w", "filter w", s.wt, "w"), prodGrid,
                 imageGrid("y", "output y", "output", y, "y")];
    var tp = taps(s), wins = windows(s), nt = tp.length, panels = s.cin * s.cout;
    var nw = wins.length, count = s.cout * nw + 2;
    /* a window's cells and a channel's taps are the same in many frames: made once, shared */
    var winCells = wins.map(function (ij) {
      var out = [];
      for (var c = 0; c < s.cin; c++) {
        tp.forEach(function (ab) { out.push([c, sh * ij[0] + dh * ab[0], sw * ij[1] + dw * ab[1]]); });
      }
      return out;
    });
    var wCells = range(s.cout).map(function (k) {
      var out = [];
      for (var c = 0; c < s.cin; c++) { tp.forEach(function (ab) { out.push([c * s.cout + k, ab[0], ab[1]]); }); }
      return out;
    });
    /* the numbers: each step's products (panel-major, then taps) and its sum */
    var prods = new Float64Array(s.cout * nw * panels * nt), totals = new Float64Array(s.cout * nw);
    for (var k = 0; k < s.cout; k++) {
      for (var wi = 0; wi < nw; wi++) {
        var step = k * nw + wi, base = step * panels * nt, total = 0;
        for (var c = 0; c < s.cin; c++) {
          for (var t = 0; t < nt; t++) {
            var p = sh * wins[wi][0] + dh * tp[t][0], q = sw * wins[wi][1] + dw * tp[t][1];
            prods[base + (c * s.cout + k) * nt + t] = xp[p][q][c] * s.wt[tp[t][0]][tp[t][1]][c][k];
          }
        }
        for (var e = 0; e < panels * nt; e++) { total += prods[base + e]; }
        totals[step] = total;
        y[wins[wi][0]][wins[wi][1]][k] = total;
      }
    }
    function at(f) {
      if (f === 0) {
        return frame(
          xCaption(s) + " The filter w (" + s.kh + "x" + s.kw + ", dilation " +
          pairText(s.dilations) + ") slides over x\u0303 with stride " + pairText(s.strides) +
          ": y[i,j] = \u03a3 x\u0303[" + sh + MID + "i + " + dh + MID + "a, " + sw + MID + "j + " +
          dw + MID + "b]" + MID + "w[a,b].",
          ["y = conv2d(x, w, strides=" + pyRepr(s.strides) + ", padding=" +
           pyRepr(s.params.padding) + ", dilations=" + pyRepr(s.dilations) + ")"]);
      }
      if (f === count - 1) {
        return frame("Every output cell is filled: y equals convlab.conv2d (and tf.nn.conv2d).",
                     ["y == convlab.conv2d(x, w, ...)  \u2713"]);
      }
      var step = f - 1, k = Math.floor(step / nw), wi = step % nw;
      var i = wins[wi][0], j = wins[wi][1], base = step * panels * nt;
      var words = [], zerosN = 0;
      for (var c = 0; c < s.cin; c++) {
        for (var t = 0; t < nt; t++) {
          var a = tp[t][0], b = tp[t][1], p = sh * i + dh * a, q = sw * j + dw * b;
          if (inX(s, p, q)) { words.push(n.x(p, q, c) + MID + n.w(a, b, c, k)); } else { zerosN += 1; }
        }
      }
      var put = [["y", k, i, j, num(totals[step])]];
      for (var pn = 0; pn < panels; pn++) {
        for (var t2 = 0; t2 < nt; t2++) {
          put.push(["prod", pn, tp[t2][0], tp[t2][1], num(prods[base + pn * nt + t2])]);
        }
      }
      return frame(
        "Window (" + i + "," + j + ") starts at x\u0303[" + sh * i + "," + sw * j +
        "]: multiply each tap by the cell of x\u0303 under it and add the products" +
        (zerosN ? " (" + zerosN + " taps lie on padding and add 0)" : "") + ".",
        sumTerms(n.dy(i, j, k), words, zerosN, totals[step], "padding"),
        { hl: { x: winCells[wi], w: wCells[k], prod: wCells[k] },
          focus: { y: [[k, i, j]] }, put: put });
    }
    return { grids: grids, count: count, frame: at, result: y, ref: "conv2d" };
  }

  function dW(s) {
    var n = new Names(s, XT, "w", DY), sh = s.strides[0], sw = s.strides[1];
    var dh = s.dilations[0], dw = s.dilations[1], xp = paddedX(s);
    var dwt = zeros([s.kh, s.kw, s.cin, s.cout]);
    var out = filterGrid("dw", "\u03b4w, the gradient of the filter w (result)", dwt, DW);
    out.kind = "output";
    var grids = [xGrid(s), imageGrid("dy", "\u03b4y, the gradient of the output y", "input", s.dy, DY), out];
    var wins = windows(s), tp = taps(s), nt = tp.length, count = s.cin * s.cout * nt + 2;
    var dyCells = range(s.cout).map(function (k) {
      return wins.map(function (ij) { return [k, ij[0], ij[1]]; });
    });
    var totals = new Float64Array(s.cin * s.cout * nt);
    for (var c = 0; c < s.cin; c++) {
      for (var k = 0; k < s.cout; k++) {
        for (var t = 0; t < nt; t++) {
          var a = tp[t][0], b = tp[t][1], total = 0;
          for (var wi = 0; wi < wins.length; wi++) {
            var i = wins[wi][0], j = wins[wi][1];
            total += xp[sh * i + dh * a][sw * j + dw * b][c] * s.dy[i][j][k];
          }
          totals[(c * s.cout + k) * nt + t] = total;
          dwt[a][b][c][k] = total;
        }
      }
    }
    function at(f) {
      if (f === 0) {
        return frame(
          xCaption(s) + " \u03b4w[a,b,c,k] adds x\u0303" + MID + "\u03b4y over every output " +
          "position: tap (a,b) met x\u0303[" + sh + MID + "i + " + dh + MID + "a, " + sw + MID +
          "j + " + dw + MID + "b] in the forward pass. With stride and dilation trading places, " +
          "that is a conv2d of x\u0303 with \u03b4y as the filter.",
          ["\u03b4w = conv2d_backprop_filter(x, w.shape, \u03b4y, ...)"]);
      }
      if (f === count - 1) {
        return frame("Every tap is done: \u03b4w equals convlab.conv2d_backprop_filter.",
                     ["\u03b4w == convlab.conv2d_backprop_filter(x, w.shape, \u03b4y, ...)  \u2713"]);
      }
      var step = f - 1, t = step % nt, panel = Math.floor(step / nt);
      var c = Math.floor(panel / s.cout), k = panel % s.cout, a = tp[t][0], b = tp[t][1];
      var words = [], cells = [], zerosN = 0;
      wins.forEach(function (ij) {
        var i = ij[0], j = ij[1], p = sh * i + dh * a, q = sw * j + dw * b;
        cells.push([c, p, q]);
        if (inX(s, p, q)) { words.push(n.x(p, q, c) + MID + n.dy(i, j, k)); } else { zerosN += 1; }
      });
      return frame(
        "Tap (" + a + "," + b + ") gathers: every output position (i,j) pairs \u03b4y[i,j] " +
        "with x\u0303[" + sh + MID + "i + " + dh * a + ", " + sw + MID + "j + " + dw * b +
        "], the cell this tap multiplied in the forward pass" +
        (zerosN ? " (" + zerosN + " of them on padding)" : "") + ".",
        sumTerms(n.w(a, b, c, k, DW), words, zerosN, totals[step], "padding"),
        { hl: { x: cells, dy: dyCells[k] },
          focus: { dw: [[panel, a, b]] }, put: [["dw", panel, a, b, num(totals[step])]] });
    }
    return { grids: grids, count: count, frame: at, result: dwt, ref: "conv2d_backprop_filter" };
  }

  function scatter(s, transpose) {
    var accN, outN, wn, dyn, dyLabel, wLabel, accLabel, call;
    if (transpose) {
      accN = "\u1e7d"; outN = "v"; wn = "w"; dyn = "u";
      dyLabel = "u, the input (shaped like the forward y)";
      wLabel = "filters w, shape (KH, KW, v's channels, u's channels)";
      accLabel = padded(s.pads) ? "\u1e7d = v before its padding is cropped: " + padWords(s.pads)
        : "\u1e7d = v (no padding)";
      call = "v = conv2d_transpose(u, w, output_shape, ...)";
    } else {
      accN = DXT; outN = DX; wn = "w"; dyn = DY;
      dyLabel = "\u03b4y, the gradient of the output y";
      wLabel = "filter w";
      accLabel = padded(s.pads) ? "\u03b4x\u0303, the gradient of x\u0303 = x padded: " + padWords(s.pads)
        : "\u03b4x\u0303 = \u03b4x, the gradient of x\u0303 = x (no padding)";
      call = "\u03b4x = conv2d_backprop_input(x.shape, w, \u03b4y, ...)";
    }
    var n = new Names(s, accN, wn, dyn), pt = s.pads[0][0], pl = s.pads[1][0];
    var sh = s.strides[0], sw = s.strides[1], dh = s.dilations[0], dw = s.dilations[1];
    var acc = zeros([s.h.padded, s.w.padded, s.cin]), roles = xRoles(s);
    var grids = [imageGrid("dy", dyLabel, "input", s.dy, dyn), filterGrid("w", wLabel, s.wt, wn),
                 imageGrid("dx", accLabel, "output", acc, accN, roles)];
    var cropped = !padded(s.pads) ? "" : " The padding is cropped off at the end: " +
      shifted(outN, s.pads, accN) + ".";
    var tp = taps(s), nt = tp.length, wins = windows(s), nw = wins.length;
    var count = s.cout * nw + 2;
    var wCells = range(s.cout).map(function (k) {
      var out = [];
      for (var c = 0; c < s.cin; c++) { tp.forEach(function (ab) { out.push([c * s.cout + k, ab[0], ab[1]]); }); }
      return out;
    });
    var winCells = wins.map(function (ij) {
      var out = [];
      for (var c = 0; c < s.cin; c++) {
        tp.forEach(function (ab) { out.push([c, sh * ij[0] + dh * ab[0], sw * ij[1] + dw * ab[1]]); });
      }
      return out;
    });
    /* the numbers: the value each step leaves in each cell it adds to */
    var after = new Float64Array(s.cout * nw * s.cin * nt);
    for (var k = 0; k < s.cout; k++) {
      for (var wi = 0; wi < nw; wi++) {
        var i = wins[wi][0], j = wins[wi][1], d = s.dy[i][j][k], base = (k * nw + wi) * s.cin * nt;
        for (var c = 0; c < s.cin; c++) {
          for (var t = 0; t < nt; t++) {
            var cellAcc = acc[sh * i + dh * tp[t][0]][sw * j + dw * tp[t][1]];
            cellAcc[c] += s.wt[tp[t][0]][tp[t][1]][c][k] * d;
            after[base + c * nt + t] = cellAcc[c];
          }
        }
      }
    }
    var h = s.h.size, w = s.w.size;
    var result = acc.slice(pt, pt + h).map(function (r) { return r.slice(pl, pl + w); });
    var ref, check, finalLabel;
    if (transpose) {
      ref = "conv2d_transpose"; check = "v == convlab.conv2d_transpose(u, w, ...)  \u2713";
      finalLabel = "v, the output: \u1e7d cropped, " + shifted("v", s.pads, "\u1e7d");
    } else {
      ref = "conv2d_backprop_input";
      check = "\u03b4x == convlab.conv2d_backprop_input(x.shape, w, \u03b4y, ...)  \u2713";
      finalLabel = "\u03b4x, the gradient of x (result): \u03b4x\u0303 cropped, " +
        shifted(DX, s.pads, DXT);
    }
    var fin = imageGrid("dx", finalLabel, "output", result, outN, cropRoles(roles, pt, pl, h, w));
    var crop = padded(s.pads) ? "Crop the padding: " + outN + " is " + accN + " without its " +
      "padded border, indexed from 0 at its first real cell, " + accN + "[" + pt + "," + pl + "]."
      : "No padding to crop: " + outN + " is " + accN + ".";
    var last = frame(crop + " " + outN + " equals convlab." + ref + ".",
                     [check, shifted(outN, s.pads, accN)], { replace: { dx: fin } });
    function at(f) {
      if (f === 0) {
        return frame(
          "Each " + dyn + " cell (i,j) spreads " + wn + MID + dyn + "[i,j] over the window of " +
          accN + " it came from in the forward pass, " + accN + "[" + sh + MID + "i + " + dh + MID +
          "a, " + sw + MID + "j + " + dw + MID + "b] (indexed from 0, like x\u0303); overlapping " +
          "windows add up." + cropped, [call]);
      }
      if (f === count - 1) { return last; }
      var step = f - 1, k = Math.floor(step / nw), wi = step % nw;
      var i = wins[wi][0], j = wins[wi][1], base = step * s.cin * nt;
      var terms = [], puts = [], dyName = n.dy(i, j, k);
      for (var c = 0; c < s.cin; c++) {
        for (var t = 0; t < nt; t++) {
          var a = tp[t][0], b = tp[t][1], p = sh * i + dh * a, q = sw * j + dw * b;
          puts.push(["dx", c, p, q, num(after[base + c * nt + t])]);
          terms.push(n.x(p, q, c) + " += " + n.w(a, b, c, k) + MID + dyName +
                     (inX(s, p, q) ? "" : "  (padding: cropped)"));
        }
      }
      var v = pyStr(s.dy[i][j][k]);
      return frame(
        dyn + "[" + i + "," + j + "] = " + v + " scatters " + wn + MID + "(" + v + ") into the " +
        "window of " + accN + " that starts at " + accN + "[" + sh * i + "," + sw * j + "].",
        terms, { hl: { dx: winCells[wi], w: wCells[k] }, focus: { dy: [[k, i, j]] }, put: puts });
    }
    return { grids: grids, count: count, frame: at, result: result, ref: ref };
  }

  /* pad (or, for a negative amount, crop) rows and columns of an (H, W, C) array with fill */
  function padOrCrop(a, pads, fill) {
    var s = shapeOf(a), t = pads[0][0], b = pads[0][1], l = pads[1][0], r = pads[1][1];
    var H = s[0] + Math.max(t, 0) + Math.max(b, 0), W = s[1] + Math.max(l, 0) + Math.max(r, 0);
    var full = [];
    for (var p = 0; p < H; p++) {
      var row = [];
      for (var q = 0; q < W; q++) {
        var i = p - Math.max(t, 0), j = q - Math.max(l, 0);
        row.push(i >= 0 && i < s[0] && j >= 0 && j < s[1] ? a[i][j].slice()
          : build([s[2]], function () { return fill; }));
      }
      full.push(row);
    }
    return full.slice(Math.max(-t, 0), H - Math.max(-b, 0))
      .map(function (row) { return row.slice(Math.max(-l, 0), W - Math.max(-r, 0)); });
  }

  function gather(s) {
    var n = new Names(s, DX, "w", DY), kh = s.kh, kw = s.kw;
    var dh = s.dilations[0], dw = s.dilations[1], sh = s.strides[0], sw = s.strides[1];
    var h = s.h.size, w = s.w.size, oh = s.h.out, ow = s.w.out;
    var pads = [s.h, s.w].map(function (ax) {
      return [ax.kEff - 1 - ax.before, ax.kEff - 1 - ax.after + ax.unreached];
    });
    var SH = sh * (oh - 1) + 1, SW = sw * (ow - 1) + 1;
    var stretched = zeros([SH, SW, s.cout]), marks = zeros([SH, SW, 1]);
    for (var i = 0; i < oh; i++) {
      for (var j = 0; j < ow; j++) {
        stretched[sh * i][sw * j] = s.dy[i][j].slice();
        marks[sh * i][sw * j] = [i * ow + j + 1];
      }
    }
    var paddedMarks = padOrCrop(marks, pads, -1);  /* -1 padding, 0 inserted zero, m + 1 δy[m] */
    var paddedDy = padOrCrop(stretched, pads, 0);
    var stretchedRoles = marks.map(function (r) { return r.map(function (m) { return m[0] > 0 ? "data" : "zero"; }); });
    var paddedRoles = paddedMarks.map(function (r) {
      return r.map(function (m) { return m[0] > 0 ? "data" : m[0] === 0 ? "zero" : "pad"; });
    });
    var rot = build([kh, kw, s.cin, s.cout], function () { return 0; });
    var swapped = build([kh, kw, s.cout, s.cin], function () { return 0; });
    for (var a = 0; a < kh; a++) {
      for (var b = 0; b < kw; b++) {
        for (var c = 0; c < s.cin; c++) {
          for (var k = 0; k < s.cout; k++) {
            rot[a][b][c][k] = s.wt[kh - 1 - a][kw - 1 - b][c][k];
            swapped[a][b][k][c] = rot[a][b][c][k];
          }
        }
      }
    }
    var topX = s.pads[0][0], leftX = s.pads[1][0];
    var dx = zeros([h, w, s.cin]);
    function side(amount, unit, whereText) {
      if (amount >= 0) { return unit ? plural(amount, unit) + " " + whereText : amount + " " + whereText; }
      return -amount + " " + (unit ? unit + " " : "") + "cropped " + whereText;
    }
    var padText = side(pads[0][0], "row", "on top") + ", " + side(pads[0][1], "", "below") + "; " +
      side(pads[1][0], "column", "left") + ", " + side(pads[1][1], "", "right");
    var grids = [
      imageGrid("dz", "\u03b4y, the gradient of the output y", "input", s.dy, DY),
      filterGrid("wk", "filter w", s.wt, "w"),
      imageGrid("dx", "\u03b4x, the gradient of x (result)", "output", dx, DX,
                cropRoles(xRoles(s), topX, leftX, h, w))
    ];
    var wAll = allCells(s);
    var intro = [
      frame("\u03b4x as one stride-1 conv2d. Start from \u03b4y and the filter w.",
            ["\u03b4x = conv2d(pad(\u03b4\u0177), w', stride 1),  \u03b4\u0177 = insert_zeros(\u03b4y),  " +
             "w' = swap_in_out(rot180(w))"]),
      frame("Insert s - 1 = " + (sh - 1) + " (rows), " + (sw - 1) + " (columns) zeros between " +
            "neighbouring \u03b4y values: \u03b4\u0177, indexed from 0, holds \u03b4y[i,j] at " +
            "\u03b4\u0177[" + sh + MID + "i, " + sw + MID + "j]. Only every s-th row of x\u0303 " +
            "started a window.",
            ["\u03b4\u0177 = insert_zeros(\u03b4y, strides=" + pyRepr(s.strides) + ")"],
            { hl: { dz: where(stretchedRoles, "zero", s.cout) },
              focus: { dz: where(stretchedRoles, "data", s.cout) },
              replace: { dz: imageGrid("dz", "\u03b4\u0177 = \u03b4y zero-stretched: " +
                plural(sh - 1, "zero") + " between rows, " + (sw - 1) + " between columns",
                "input", stretched, DYH, stretchedRoles) } }),
      frame("Pad \u03b4\u0177: " + padText + " (k_eff - 1 - p_t on top, k_eff - 1 - p_b below " +
            "plus the rows no window reached, and the same for columns; a negative amount " +
            "crops), so that every \u03b4x cell sees every tap that touched it. " +
            "pad(\u03b4\u0177) is indexed from 0.",
            ["full_padding = " + pyRepr(pads)],
            { hl: { dz: where(paddedRoles, "pad", s.cout) },
              replace: { dz: imageGrid("dz", "pad(\u03b4\u0177) = \u03b4\u0177 padded: " + padText,
                                       "input", paddedDy, "pad(\u03b4\u0177)", paddedRoles) } }),
      frame("Turn the filter 180\u00b0: tap (a,b) moves to (KH-1-a, KW-1-b).",
            ["rot180(w)[a,b] = w[KH-1-a, KW-1-b]"],
            { hl: { wk: wAll }, replace: { wk: filterGrid("wk", "rot180(w), the filter turned 180\u00b0",
                                                          rot, "rot180(w)") } }),
      frame("Swap its in/out channel axes: the gather runs from \u03b4y's channels back to x's." +
            (s.cin === 1 && s.cout === 1 ? " With one channel each way the swap changes " +
             "nothing, but it is still there." : ""),
            ["w' = swap_in_out(rot180(w)):  w'[a,b,k,c] = w[KH-1-a, KW-1-b, c, k]"],
            { hl: { wk: wAll.map(function (c) { return c.slice(); }) },
              replace: { wk: filterGrid("wk", "w' = rot180(w), in/out channels swapped", swapped,
                                        "w'", true) } })
    ];
    var tp = taps(s), nt = tp.length, cells = [];
    /* a δx cell's window in pad(δŷ) is the same for every channel c: made once, shared */
    for (var p0 = 0; p0 < h; p0++) {
      for (var q0 = 0; q0 < w; q0++) {
        var win = [];
        for (var k0 = 0; k0 < s.cout; k0++) {
          for (var t0 = 0; t0 < nt; t0++) { win.push([k0, p0 + dh * tp[t0][0], q0 + dw * tp[t0][1]]); }
        }
        cells.push(win);
      }
    }
    var tCells = range(s.cin).map(function (c) {
      var out = [];
      for (var k = 0; k < s.cout; k++) { tp.forEach(function (ab) { out.push([k * s.cin + c, ab[0], ab[1]]); }); }
      return out;
    });
    for (var c1 = 0; c1 < s.cin; c1++) {
      for (var p1 = 0; p1 < h; p1++) {
        for (var q1 = 0; q1 < w; q1++) {
          var total = 0;
          for (var k1 = 0; k1 < s.cout; k1++) {
            for (var t1 = 0; t1 < nt; t1++) {
              total += paddedDy[p1 + dh * tp[t1][0]][q1 + dw * tp[t1][1]][k1] * swapped[tp[t1][0]][tp[t1][1]][k1][c1];
            }
          }
          dx[p1][q1][c1] = total;
        }
      }
    }
    var count = intro.length + s.cin * h * w + 1;
    function at(f) {
      if (f < intro.length) { return intro[f]; }
      if (f === count - 1) {
        return frame("Every \u03b4x cell is done: the gather gives the scatter's numbers, " +
                     "convlab.conv2d_backprop_input.",
                     ["\u03b4x == convlab.conv2d_backprop_input(x.shape, w, \u03b4y, ...)  \u2713"]);
      }
      var step = f - intro.length, c = Math.floor(step / (h * w)), p = Math.floor(step / w) % h;
      var q = step % w, words = [], zerosN = 0;
      for (var k = 0; k < s.cout; k++) {
        for (var t = 0; t < nt; t++) {
          var ta = tp[t][0], tb = tp[t][1], m = paddedMarks[p + dh * ta][q + dw * tb][0];
          if (m > 0) {
            var ii = Math.floor((m - 1) / ow), jj = (m - 1) % ow;
            words.push(n.dy(ii, jj, k) + MID + n.w(kh - 1 - ta, kw - 1 - tb, c, k));
          } else {
            zerosN += 1;
          }
        }
      }
      return frame(
        "\u03b4x[" + p + "," + q + "]: the stride-1 window at pad(\u03b4\u0177)[" + p + "," + q +
        "] multiplies w' with the stretched, padded \u03b4y; only real \u03b4y values count, " +
        "the same terms as in the scatter.",
        sumTerms(n.x(p, q, c), words, zerosN, dx[p][q][c], "zeros (padding or inserted)"),
        { hl: { dz: cells[p * w + q], wk: tCells[c] }, focus: { dx: [[c, p, q]] },
          put: [["dx", c, p, q, num(dx[p][q][c])]] });
    }
    return { grids: grids, count: count, frame: at, result: dx, ref: "conv2d_backprop_input" };
  }

  var BUILDERS = {
    forward: forward, d_w: dW, d_x_gather: gather,
    d_x_scatter: function (s) { return scatter(s, false); },
    conv2d_transpose: function (s) { return scatter(s, true); }
  };

  /* The trace of op for the settings o: {op, title, params, checked_against, grids, frames}
     (Trace.to_json's format), plus data (x, w, dy: the arrays used) and result. Throws a
     TraceError with a sentence for a reader when the setting is impossible. */
  function lazyTrace(op, o) {
    if (!BUILDERS[op]) { throw new TraceError("op must be one of " + Object.keys(OPERATIONS).join(", ")); }
    var s = setup(op, o || {});
    var r = BUILDERS[op](s);
    return { op: op, title: OPERATIONS[op], params: s.params, checked_against: r.ref,
             grids: r.grids, count: r.count, frame: r.frame, result: r.result,
             data: { x: s.x, w: s.wt, dy: s.dy } };
  }

  function trace(op, o) {
    var t = lazyTrace(op, o), frames = [];
    for (var f = 0; f < t.count; f++) { frames.push(t.frame(f)); }
    return { op: t.op, title: t.title, params: t.params, checked_against: t.checked_against,
             grids: t.grids, frames: frames, result: t.result, data: t.data };
  }

  var api = { trace: trace, lazyTrace: lazyTrace, OPERATIONS: OPERATIONS, DATA: DATA, MAX_CHANNELS: MAX_CHANNELS,
              TraceError: TraceError, Draw: Draw, axis: axis, num: num };
  if (typeof module !== "undefined" && module.exports) { module.exports = api; }
  root.ConvlabTrace = api;
})(typeof window !== "undefined" ? window : globalThis);
