/* pgolf dashboard: plain JS, no dependencies, nothing loaded from anywhere.
 * Reads the JSON embedded in <script id="pgolf-data"> and draws every section into the page.
 * Untrusted text (descriptions, titles) only ever goes through textContent / setAttribute. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var DATA = JSON.parse(document.getElementById("pgolf-data").textContent);
  var COLORS = { local: "#2b6cb0", runpod: "#c05621", baseline: "#555555", sota: "#2f855a",
                 floor: "#c53030", cost: "#dd6b20", fit: "#1a202c", accent: "#4a5568" };

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function sv(tag, attrs, children) {
    var node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, String(v));
    });
  }
  function append(node, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
  }
  function $(id) { return document.getElementById(id); }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function fmt(v, d) { return isNum(v) ? v.toFixed(d === undefined ? 4 : d) : "n/a"; }
  function money(v) { return isNum(v) ? "$" + v.toFixed(2) : "n/a"; }
  function bytes(v) { return isNum(v) ? v.toLocaleString("en-US") : "n/a"; }
  function safeUrl(u) { return typeof u === "string" && /^https?:\/\//i.test(u) ? u : null; }
  function link(href, text) {
    var u = safeUrl(href);
    return u ? el("a", { href: u, rel: "noopener noreferrer", target: "_blank", text: text }) : document.createTextNode(text);
  }

  // ------------------------------------------------------------------ chart scaffolding
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) { var c = isNum(lo) ? lo : 0; lo = c - 1; hi = c + 1; }
    var span = hi - lo, step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = (n * step) / span;
    if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
    var ticks = [], t = Math.ceil(lo / step) * step;
    for (; t <= hi + step * 1e-9; t += step) ticks.push(+t.toFixed(12));
    return { ticks: ticks, step: step };
  }
  function extent(values, pad) {
    var vs = values.filter(isNum);
    if (!vs.length) return [0, 1];
    var lo = Math.min.apply(null, vs), hi = Math.max.apply(null, vs);
    if (hi === lo) { var d = Math.abs(lo) * 0.01 || 0.5; lo -= d; hi += d; }
    var p = (hi - lo) * (pad === undefined ? 0.05 : pad);
    return [lo - p, hi + p];
  }
  function integerTicks(lo, hi) {
    return niceTicks(lo, Math.max(hi, lo + 1), 8).ticks.filter(function (t) { return t === Math.round(t) && t >= lo && t <= hi; })
      .map(function (t) { return { v: t, label: String(t) }; });
  }
  function decimalsFor(step) { return Math.max(0, Math.min(6, -Math.floor(Math.log10(step)))); }

  /* A chart frame: returns {svg, x(v), y(v), plot} with axes, ticks, grid and labels drawn. */
  function frame(opts) {
    var W = 640, H = 320, m = { l: 62, r: opts.right ? 56 : 16, t: 14, b: 40 };
    var svg = sv("svg", { "class": "chart", viewBox: "0 0 " + W + " " + H, role: "img",
                          "aria-label": opts.title, "data-chart": opts.id });
    svg.appendChild(sv("title", { text: opts.title }));
    var xd = opts.xDomain, yd = opts.yDomain;
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    function x(v) { return m.l + ((v - xd[0]) / (xd[1] - xd[0])) * pw; }
    function y(v) { return m.t + ph - ((v - yd[0]) / (yd[1] - yd[0])) * ph; }
    var axis = sv("g", { "class": "axis" });
    var yt = niceTicks(yd[0], yd[1], 6), yDec = decimalsFor(yt.step);
    yt.ticks.forEach(function (t) {
      if (t < yd[0] || t > yd[1]) return;
      axis.appendChild(sv("line", { "class": "gridline", x1: m.l, x2: m.l + pw, y1: y(t), y2: y(t) }));
      axis.appendChild(sv("text", { x: m.l - 6, y: y(t) + 4, "text-anchor": "end", text: t.toFixed(yDec) }));
    });
    var xt = opts.xTicks || niceTicks(xd[0], xd[1], 8).ticks.map(function (t) { return { v: t, label: String(+t.toFixed(6)) }; });
    xt.forEach(function (t) {
      if (t.v < xd[0] || t.v > xd[1]) return;
      axis.appendChild(sv("line", { x1: x(t.v), x2: x(t.v), y1: m.t + ph, y2: m.t + ph + 4 }));
      axis.appendChild(sv("text", { x: x(t.v), y: m.t + ph + 16, "text-anchor": "middle", text: t.label }));
    });
    axis.appendChild(sv("path", { d: "M" + m.l + "," + m.t + "V" + (m.t + ph) + "H" + (m.l + pw), fill: "none" }));
    axis.appendChild(sv("text", { x: m.l + pw / 2, y: H - 6, "text-anchor": "middle", text: opts.xLabel }));
    axis.appendChild(sv("text", { x: 14, y: m.t + ph / 2, "text-anchor": "middle",
                                  transform: "rotate(-90 14 " + (m.t + ph / 2) + ")", text: opts.yLabel }));
    svg.appendChild(axis);
    var plot = sv("g", { "class": "marks" });
    svg.appendChild(plot);
    return { svg: svg, x: x, y: y, plot: plot, m: m, pw: pw, ph: ph, W: W, H: H };
  }
  function emptyChart(id, title, message) {
    var svg = sv("svg", { "class": "chart", viewBox: "0 0 640 160", role: "img", "aria-label": title,
                          "data-chart": id, "data-empty": "true" });
    svg.appendChild(sv("title", { text: title }));
    svg.appendChild(sv("rect", { x: 1, y: 1, width: 638, height: 158, fill: "#f7fafc", stroke: "#e2e8f0" }));
    svg.appendChild(sv("text", { "class": "empty", x: 320, y: 84, "text-anchor": "middle", text: message }));
    return svg;
  }
  function hline(f, value, color, dash, label) {
    if (!isNum(value)) return;
    var yy = f.y(value);
    if (yy < f.m.t || yy > f.m.t + f.ph) return;
    f.plot.appendChild(sv("line", { x1: f.m.l, x2: f.m.l + f.pw, y1: yy, y2: yy, stroke: color,
                                    "stroke-width": 1.2, "stroke-dasharray": dash, "data-line": label }));
    f.plot.appendChild(sv("text", { x: f.m.l + f.pw - 4, y: yy - 4, "text-anchor": "end", fill: color, text: label }));
  }
  function legend(items) {
    return el("div", { "class": "legend" }, items.map(function (it) {
      return el("span", null, [el("i", { style: "background:" + it.color }), it.label]);
    }));
  }
  function stepPath(f, pts) {
    if (!pts.length) return "";
    var d = "M" + f.x(pts[0][0]) + "," + f.y(pts[0][1]);
    for (var i = 1; i < pts.length; i++) d += "H" + f.x(pts[i][0]) + "V" + f.y(pts[i][1]);
    return d + "H" + (f.m.l + f.pw);
  }
  function bestSoFar(pts) {
    var out = [], best = null;
    pts.forEach(function (p) {
      if (best === null || p[1] < best) { best = p[1]; out.push([p[0], best]); }
    });
    return out;
  }

  // ------------------------------------------------------------------ summary cards
  function card(k, v, s) { return el("div", { "class": "card" }, [el("div", { "class": "k", text: k }), el("div", { "class": "v", text: v }), s ? el("div", { "class": "s", text: s }) : null]); }
  function renderSummary() {
    var b = DATA.budget, br = DATA.best_runpod, bl = DATA.best_local;
    var cards = [
      card("Best RunPod val_bpb", br ? fmt(br.val_bpb) : "—", br ? br.commit.slice(0, 10) + " " + br.description : "no Tier 2 result yet"),
      card("Best local val_bpb", bl ? fmt(bl.val_bpb) : "—", bl ? bl.commit.slice(0, 10) + " " + bl.description : "no Tier 1 result yet"),
      card("Running local baseline", isNum(DATA.running_local_baseline) ? fmt(DATA.running_local_baseline) : "—",
           isNum(DATA.noise_floor) ? "noise floor ±" + (DATA.noise_floor * 100).toFixed(2) + " %" : "noise floor not measured"),
      card("SOTA", isNum(DATA.sota_bpb) ? fmt(DATA.sota_bpb) : "—", DATA.sota_source || "unknown"),
      card("Upstream baseline", fmt(DATA.baseline_bpb), "naive baseline (8×H100)"),
      card("Experiments", String(DATA.counts.rows), Object.keys(DATA.counts.tiers).map(function (k) { return k + " " + DATA.counts.tiers[k]; }).join(" · ") || "none yet"),
      card("Budget left", b.available ? money(b.remaining) : "n/a", b.available ? money(b.spent) + " spent · floor " + money(b.reserve_floor) : "budget.json unreadable"),
      card("Tier correlation", DATA.correlation.pairs + " pair(s)", isNum(DATA.correlation.pearson_r) ? "Pearson r " + DATA.correlation.pearson_r.toFixed(3) : "r needs ≥ 3 pairs")
    ];
    append($("summary-cards"), cards);
    if (DATA.warnings.length) {
      var sec = $("warnings");
      sec.hidden = false;
      append(sec, el("ul", null, DATA.warnings.map(function (w) { return el("li", { text: w }); })));
    }
  }

  // ------------------------------------------------------------------ experiments table
  var COLUMNS = [
    { key: "index", label: "#", num: true },
    { key: "commit", label: "commit" },
    { key: "pr", label: "PR", num: true },
    { key: "tier", label: "tier" },
    { key: "val_bpb", label: "val_bpb", num: true },
    { key: "delta", label: "Δ", num: true },
    { key: "artifact_bytes", label: "artifact bytes", num: true },
    { key: "cost_usd", label: "cost", num: true },
    { key: "status", label: "status" },
    { key: "promoted", label: "promoted" },
    { key: "description", label: "description" }
  ];
  var tableState = { key: "index", dir: 1 };

  function cellFor(r, col) {
    var repo = DATA.repo_url;
    switch (col.key) {
      case "commit":
        return el("td", { "class": "mono", title: r.commit }, repo && /^[0-9a-f]{7,40}$/i.test(r.commit)
          ? link(repo + "/commit/" + r.commit, r.commit.slice(0, 10)) : r.commit.slice(0, 10));
      case "pr":
        if (!isNum(r.pr)) return el("td", { "class": "num" }, "");
        return el("td", { "class": "num" }, repo ? link(repo + "/pull/" + r.pr, "#" + r.pr) : "#" + r.pr);
      case "tier": return el("td", null, el("span", { "class": "tag " + r.tier, text: r.tier || "?" }));
      case "status": return el("td", null, el("span", { "class": "tag " + r.status, text: r.status || "?" }));
      case "val_bpb": return el("td", { "class": "num", text: fmt(r.val_bpb) });
      case "delta":
        if (!isNum(r.delta)) return el("td", { "class": "num", text: r.baseline ? "baseline" : "" });
        var txt = r.delta_unit === "%" ? (r.delta >= 0 ? "+" : "") + r.delta.toFixed(2) + " %" : (r.delta >= 0 ? "+" : "") + r.delta.toFixed(4);
        return el("td", { "class": "num " + (r.delta < 0 ? "better" : r.delta > 0 ? "worse" : ""), text: txt,
                          title: r.delta_unit === "%" ? "vs the running local baseline" : "vs the best RunPod result before it" });
      case "artifact_bytes": return el("td", { "class": "num", text: bytes(r.artifact_bytes) });
      case "cost_usd": return el("td", { "class": "num", text: money(r.cost_usd) });
      case "index": return el("td", { "class": "num", text: String(r.index) });
      default: return el("td", { text: r[col.key] === null || r[col.key] === undefined ? "" : String(r[col.key]) });
    }
  }
  function compare(a, b, col) {
    var va = a[col.key], vb = b[col.key];
    if (col.num) {
      var na = isNum(va), nb = isNum(vb);
      if (!na && !nb) return a.index - b.index;
      if (!na) return 1; // missing values always last
      if (!nb) return -1;
      return (va - vb) * tableState.dir || a.index - b.index;
    }
    va = va === null || va === undefined ? "" : String(va).toLowerCase();
    vb = vb === null || vb === undefined ? "" : String(vb).toLowerCase();
    return (va < vb ? -1 : va > vb ? 1 : 0) * tableState.dir || a.index - b.index;
  }
  function visibleRows() {
    var tier = $("f-tier").value, status = $("f-status").value, q = $("f-text").value.trim().toLowerCase();
    var rows = DATA.experiments.filter(function (r) {
      if (tier && r.tier !== tier) return false;
      if (status && r.status !== status) return false;
      if (q && (r.description + " " + r.commit).toLowerCase().indexOf(q) < 0) return false;
      return true;
    });
    var col = COLUMNS.filter(function (c) { return c.key === tableState.key; })[0];
    return rows.sort(function (a, b) { return compare(a, b, col); });
  }
  function renderRows() {
    var tbody = $("exp-body");
    var rows = visibleRows();
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = el("tr", { "data-index": r.index, "class": r.baseline ? "baseline" : null });
      COLUMNS.forEach(function (c) { tr.appendChild(cellFor(r, c)); });
      frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
    if (!rows.length) {
      tbody.appendChild(el("tr", null, el("td", { colspan: COLUMNS.length, "class": "note",
        text: DATA.experiments.length ? "No row matches the filters." : "No experiments yet: the ledger (results.tsv) is empty. Run `pgolf train baseline` or open an experiment PR." })));
    }
    $("exp-count").textContent = rows.length + " of " + DATA.experiments.length + " row(s)";
    Array.prototype.forEach.call(document.querySelectorAll("#exp-table th"), function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-key") === tableState.key ? (tableState.dir > 0 ? "ascending" : "descending") : "none");
    });
  }
  function renderTable() {
    var head = $("exp-head");
    var tr = el("tr");
    COLUMNS.forEach(function (c) {
      var th = el("th", { "class": "sortable", "data-key": c.key, scope: "col", tabindex: 0, text: c.label });
      function go() {
        if (tableState.key === c.key) tableState.dir = -tableState.dir;
        else { tableState.key = c.key; tableState.dir = 1; }
        renderRows();
      }
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
      tr.appendChild(th);
    });
    head.appendChild(tr);
    function options(select, values) {
      values.forEach(function (v) { select.appendChild(el("option", { value: v, text: v })); });
    }
    var tiers = {}, statuses = {};
    DATA.experiments.forEach(function (r) { tiers[r.tier] = 1; statuses[r.status] = 1; });
    options($("f-tier"), Object.keys(tiers).sort());
    options($("f-status"), Object.keys(statuses).sort());
    ["f-tier", "f-status"].forEach(function (id) { $(id).addEventListener("change", renderRows); });
    $("f-text").addEventListener("input", renderRows);
    renderRows();
  }

  // ------------------------------------------------------------------ val_bpb over time
  /* One panel per tier (their scales differ: a 500-step local run is far from an 8×H100 run),
   * on a shared x axis (ledger order). */
  function renderBpbChart() {
    var host = $("chart-bpb");
    var rows = DATA.experiments.filter(function (r) { return isNum(r.val_bpb) && r.status !== "crash"; });
    var n = DATA.experiments.length;
    var gate = isNum(DATA.running_local_baseline) ? DATA.running_local_baseline * (1 - DATA.gate_pct / 100) : null;
    var panels = [
      { tier: "local", title: "Tier 1 (local)", lines: [
        [DATA.running_local_baseline, COLORS.baseline, "6 4", "running local baseline " + fmt(DATA.running_local_baseline)],
        [gate, COLORS.sota, "2 3", "promotion gate (−" + DATA.gate_pct + " %) " + fmt(gate)]] },
      { tier: "runpod", title: "Tier 2 (RunPod 8×H100)", lines: [
        [DATA.baseline_bpb, COLORS.baseline, "6 4", "upstream baseline " + fmt(DATA.baseline_bpb)],
        [DATA.sota_bpb, COLORS.sota, "2 3", "SOTA " + fmt(DATA.sota_bpb)]] }
    ];
    panels.forEach(function (pn) {
      var id = "val_bpb_" + pn.tier;
      var mine = rows.filter(function (r) { return r.tier === pn.tier; });
      host.appendChild(el("h3", { text: pn.title }));
      if (!mine.length) {
        host.appendChild(emptyChart(id, "val_bpb over time, " + pn.title, n ? "No " + pn.tier + " results yet." : "No val_bpb results yet — the ledger is empty."));
        return;
      }
      var ys = mine.map(function (r) { return r.val_bpb; });
      pn.lines.forEach(function (l) { if (isNum(l[0])) ys.push(l[0]); });
      var f = frame({ id: id, title: "val_bpb over time, " + pn.title, xLabel: "experiment # (ledger order)",
                      yLabel: "val_bpb (lower is better)", xDomain: [0.5, n + 0.5], yDomain: extent(ys, 0.08),
                      xTicks: integerTicks(1, n) });
      pn.lines.forEach(function (l) { hline(f, l[0], l[1], l[2], l[3]); });
      var rad = mine.length > 300 ? 1.8 : 3.2;
      var g = sv("g", { "data-series": pn.tier });
      mine.forEach(function (r) {
        var c = sv("circle", { cx: f.x(r.index).toFixed(1), cy: f.y(r.val_bpb).toFixed(1), r: rad, fill: COLORS[pn.tier],
                               "fill-opacity": r.status === "keep" ? 0.8 : 0.3 });
        c.appendChild(sv("title", { text: "#" + r.index + " " + r.commit.slice(0, 10) + " " + fmt(r.val_bpb) + " " + r.status + " — " + r.description }));
        g.appendChild(c);
      });
      f.plot.appendChild(g);
      var best = bestSoFar(mine.filter(function (r) { return r.status === "keep"; }).map(function (r) { return [r.index, r.val_bpb]; }));
      if (best.length) {
        f.plot.appendChild(sv("path", { d: stepPath(f, best), fill: "none", stroke: COLORS[pn.tier], "stroke-width": 2,
                                        "data-series": pn.tier + "-best" }));
      }
      host.appendChild(f.svg);
    });
    host.appendChild(legend([
      { color: COLORS.local, label: "local run (faint: discarded) — line: best kept so far" },
      { color: COLORS.runpod, label: "RunPod run — line: best kept so far" },
      { color: COLORS.baseline, label: "baseline" },
      { color: COLORS.sota, label: "SOTA / gate" }
    ]));
  }

  // ------------------------------------------------------------------ tier correlation
  function renderScatter() {
    var host = $("chart-corr"), c = DATA.correlation;
    $("corr-summary").textContent = DATA.correlation_summary;
    if (!c.points.length) {
      host.appendChild(emptyChart("tier_correlation", "local vs RunPod", "No commit has both a local and a RunPod result yet."));
      return;
    }
    var xs = c.points.map(function (p) { return p[1]; }), ys = c.points.map(function (p) { return p[2]; });
    var f = frame({ id: "tier_correlation", title: "local vs RunPod val_bpb", xLabel: "local val_bpb (Tier 1)",
                    yLabel: "RunPod val_bpb (Tier 2)", xDomain: extent(xs, 0.1), yDomain: extent(ys, 0.1) });
    if (isNum(c.slope) && isNum(c.intercept)) {
      var dom = extent(xs, 0.1);
      f.plot.appendChild(sv("line", { x1: f.x(dom[0]), y1: f.y(c.slope * dom[0] + c.intercept), x2: f.x(dom[1]),
                                      y2: f.y(c.slope * dom[1] + c.intercept), stroke: COLORS.fit, "stroke-width": 1.4,
                                      "data-line": "fit" }));
    }
    c.points.forEach(function (p) {
      var dot = sv("circle", { cx: f.x(p[1]).toFixed(1), cy: f.y(p[2]).toFixed(1), r: 4, fill: COLORS.runpod, "fill-opacity": 0.8 });
      dot.appendChild(sv("title", { text: p[0].slice(0, 10) + ": local " + fmt(p[1]) + " → RunPod " + fmt(p[2]) }));
      f.plot.appendChild(dot);
    });
    host.appendChild(f.svg);
    host.appendChild(legend([{ color: COLORS.runpod, label: "commit" }, { color: COLORS.fit, label: "least-squares fit" }]));
  }

  // ------------------------------------------------------------------ budget burn-down
  function renderBudget() {
    var host = $("chart-budget"), b = DATA.budget;
    if (!b.available) {
      host.appendChild(emptyChart("budget", "budget burn-down", "budget.json could not be read: " + (b.error || "")));
      return;
    }
    var pts = b.points;
    $("budget-summary").textContent = "Total " + money(b.total_credits) + " · spent " + money(b.spent) + " · remaining " +
      money(b.remaining) + " · open reservations " + money(b.reserved) + " · reserve floor " + money(b.reserve_floor) +
      " · free above the floor " + money(b.free_above_floor) + (b.exists ? "" : " (no budget.json yet: configured defaults)");
    var maxCost = Math.max.apply(null, [0].concat(pts.map(function (p) { return p.cost; })));
    var n = pts.length;
    var f = frame({ id: "budget", title: "budget burn-down", xLabel: "run # (budget.json order)", yLabel: "remaining credits ($)",
                    xDomain: [-0.5, Math.max(n - 0.5, 1.5)], yDomain: [0, Math.max(b.total_credits, b.reserve_floor, 1) * 1.05],
                    right: true,
                    xTicks: integerTicks(0, Math.max(n - 1, 0)).map(function (t) { return { v: t.v, label: t.v === 0 ? "start" : t.label }; }) });
    // cost bars on a right-hand axis
    if (maxCost > 0) {
      var barW = Math.max(2, Math.min(24, (f.pw / n) * 0.6));
      var top = maxCost * 1.1;
      var bars = sv("g", { "data-series": "cost" });
      pts.forEach(function (p, i) {
        if (!(p.cost > 0)) return;
        var h = (p.cost / top) * f.ph;
        var r = sv("rect", { x: (f.x(i) - barW / 2).toFixed(1), y: (f.m.t + f.ph - h).toFixed(1), width: barW.toFixed(1),
                             height: h.toFixed(1), fill: COLORS.cost, "fill-opacity": p.kind === "orphan" ? 0.9 : 0.45 });
        r.appendChild(sv("title", { text: (p.run_id || "") + " " + (p.kind || "") + " " + money(p.cost) + (p.pr ? " PR #" + p.pr : "") + " " + (p.label || "") }));
        bars.appendChild(r);
      });
      f.plot.appendChild(bars);
      var rt = niceTicks(0, top, 4);
      rt.ticks.forEach(function (t) {
        if (t > top) return;
        f.plot.appendChild(sv("text", { x: f.m.l + f.pw + 6, y: f.m.t + f.ph - (t / top) * f.ph + 4, text: "$" + t.toFixed(decimalsFor(rt.step)) }));
      });
    }
    hline(f, b.reserve_floor, COLORS.floor, "6 4", "reserve floor " + money(b.reserve_floor));
    var d = pts.map(function (p, i) { return (i ? "L" : "M") + f.x(i).toFixed(1) + "," + f.y(p.remaining).toFixed(1); }).join("");
    f.plot.appendChild(sv("path", { d: d, fill: "none", stroke: COLORS.local, "stroke-width": 2, "data-series": "remaining" }));
    pts.forEach(function (p, i) {
      var c = sv("circle", { cx: f.x(i).toFixed(1), cy: f.y(p.remaining).toFixed(1), r: n > 200 ? 1.5 : 3, fill: COLORS.local });
      c.appendChild(sv("title", { text: (i ? "run " + i + " (" + (p.run_id || "") + ")" : "start") + ": " + money(p.remaining) + " left" }));
      f.plot.appendChild(c);
    });
    if (n === 1) f.plot.appendChild(sv("text", { "class": "empty", x: f.m.l + f.pw / 2, y: f.m.t + f.ph / 2, "text-anchor": "middle", text: "No RunPod run yet" }));
    host.appendChild(f.svg);
    host.appendChild(legend([{ color: COLORS.local, label: "remaining credits" }, { color: COLORS.cost, label: "cost of each run (right axis; darker: orphan pod)" },
                             { color: COLORS.floor, label: "reserve floor" }]));
    if (b.runs.length) {
      var t = el("table", null, [el("thead", null, el("tr", null, ["run", "kind", "PR", "sha", "start", "seconds", "GPUs", "$/h (8 GPUs)", "cost", "left after"].map(function (h) { return el("th", { text: h }); }))),
        el("tbody", null, b.runs.slice().reverse().slice(0, 50).map(function (r) {
          return el("tr", null, [el("td", { "class": "mono", text: r.run_id }), el("td", { text: r.kind }),
            el("td", null, isNum(r.pr) ? (DATA.repo_url ? link(DATA.repo_url + "/pull/" + r.pr, "#" + r.pr) : "#" + r.pr) : ""),
            el("td", { "class": "mono", text: (r.sha || "").slice(0, 10) }), el("td", { text: r.start }),
            el("td", { "class": "num", text: fmt(r.seconds, 0) }), el("td", { "class": "num", text: String(r.gpu_count) }),
            el("td", { "class": "num", text: money(r.hourly_rate) }), el("td", { "class": "num", text: money(r.cost_usd) }),
            el("td", { "class": "num", text: money(r.remaining_after) })]);
        }))]);
      host.appendChild(el("div", { "class": "tablewrap" }, t));
      if (b.runs.length > 50) host.appendChild(el("p", { "class": "note", text: "Newest 50 of " + b.runs.length + " runs shown." }));
    }
  }

  // ------------------------------------------------------------------ research funnel
  function funnelBars(id, f, title) {
    var stages = [["items fetched", f.items], ["graded", f.graded], ["tier A", f.tiers.A], ["tier B", f.tiers.B],
                  ["tier C", f.tiers.C], ["ungradable", f.tiers.ungradable], ["verified", f.verified]];
    var srcs = Object.keys(f.per_source);
    var rows = srcs.map(function (s) { return ["source: " + s, f.per_source[s], "#718096"]; })
      .concat(stages.map(function (s, i) { return [s[0], s[1], i < 2 ? "#4a5568" : i === 6 ? COLORS.sota : "#805ad5"]; }));
    var W = 640, rowH = 20, m = { l: 170, r: 50, t: 8 }, H = m.t + rows.length * rowH + 8;
    var max = Math.max.apply(null, [1].concat(rows.map(function (r) { return r[1]; })));
    var svg = sv("svg", { "class": "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title, "data-chart": id });
    svg.appendChild(sv("title", { text: title }));
    var g = sv("g", { "class": "marks" });
    rows.forEach(function (r, i) {
      var y = m.t + i * rowH, w = (r[1] / max) * (W - m.l - m.r);
      g.appendChild(sv("text", { x: m.l - 6, y: y + 14, "text-anchor": "end", text: r[0] }));
      var rect = sv("rect", { x: m.l, y: y + 3, width: Math.max(w, r[1] ? 2 : 0).toFixed(1), height: rowH - 6, fill: r[2] });
      rect.appendChild(sv("title", { text: r[0] + ": " + r[1] }));
      g.appendChild(rect);
      g.appendChild(sv("text", { x: m.l + w + 4, y: y + 14, text: String(r[1]) }));
    });
    svg.appendChild(g);
    return svg;
  }
  function renderFunnel() {
    var host = $("chart-funnel"), F = DATA.funnel;
    if (F.note) host.appendChild(el("p", { "class": "note", text: F.note }));
    if (!F.overall.items && !F.overall.graded) {
      host.appendChild(emptyChart("funnel", "research funnel", "No research items yet — run `pgolf research fetch`."));
    } else {
      var latest = F.per_cycle ? F.cycles[F.cycles.length - 1] : null;
      host.appendChild(el("h3", { text: latest ? "Latest cycle: " + latest.cycle : "All research so far" }));
      host.appendChild(funnelBars("funnel", latest || F.overall, "research funnel"));
    }
    if (F.per_cycle) {
      host.appendChild(el("h3", { text: "Per cycle (newest first)" }));
      simpleTable("chart-funnel", ["cycle", "items", "per source", "graded", "A", "B", "C", "ungradable", "verified", "commit"],
        F.cycles.slice().reverse().map(function (c) {
          return [c.cycle, String(c.items), Object.keys(c.per_source).map(function (k) { return k + " " + c.per_source[k]; }).join(", "),
                  String(c.graded), String(c.tiers.A), String(c.tiers.B), String(c.tiers.C), String(c.tiers.ungradable), String(c.verified),
                  commitCell(c.commit)];
        }).concat([["all cycles", String(F.overall.items), "", String(F.overall.graded), String(F.overall.tiers.A),
                    String(F.overall.tiers.B), String(F.overall.tiers.C), String(F.overall.tiers.ungradable), String(F.overall.verified), ""]]), "");
    }
    renderResearchHistory(host);
    if (F.top_graded.length) {
      host.appendChild(el("h3", { text: "Best graded items" }));
      host.appendChild(el("div", { "class": "tablewrap" }, el("table", null, [
        el("thead", null, el("tr", null, ["tier", "score", "title", "category", "grader"].map(function (h) { return el("th", { text: h }); }))),
        el("tbody", null, F.top_graded.map(function (g) {
          return el("tr", null, [el("td", { text: g.tier }), el("td", { "class": "num", text: g.total + "/" + g.max_total }),
            el("td", null, link(g.url, g.title)), el("td", { text: g.category }), el("td", { text: g.grader })]);
        }))])));
    }
  }

  // one research commit: its subject (linked to the commit) and its review PR
  function commitCell(c) {
    if (!c) return el("span", { "class": "note", text: "not committed yet" });
    var parts = [link(c.url, c.subject || (c.sha || "").slice(0, 10))];
    if (isNum(c.pr)) { parts.push(" · "); parts.push(link(c.pr_url, "PR #" + c.pr)); }
    return el("span", { "class": "research-commit" }, parts);
  }
  function renderResearchHistory(host) {
    var R = DATA.research_review || {}, commits = DATA.research_commits || [];
    if (R.action) {
      var line = [el("strong", { text: "Research PR: " }), R.action + " — " + (R.reason || "")];
      if (isNum(R.pr)) { line.push(" "); line.push(link(R.pr_url, "#" + R.pr)); }
      host.appendChild(el("p", { "class": "note", id: "research-review" }, line));
    }
    if (!commits.length) return;
    host.appendChild(el("h3", { text: "Research commits (newest first): what each run changed in program.md" }));
    host.appendChild(el("ul", { id: "research-commits", "class": "research-commits" }, commits.map(function (c) {
      var head = el("summary", null, [(c.date || "").slice(0, 16).replace("T", " ") + " ", commitCell(c)]);
      return el("li", null, el("details", null, [head, el("pre", { text: (c.summary || []).join("\n") })]));
    })));
  }

  // ------------------------------------------------------------------ competitors, frontier
  function simpleTable(hostId, headers, rows, emptyText) {
    var host = $(hostId);
    if (!rows.length) { host.appendChild(el("p", { "class": "note", text: emptyText })); return; }
    host.appendChild(el("div", { "class": "tablewrap" }, el("table", null, [
      el("thead", null, el("tr", null, headers.map(function (h) { return el("th", { text: h }); }))),
      el("tbody", null, rows.map(function (cells) {
        return el("tr", null, cells.map(function (c) { return c && c.nodeType ? el("td", null, c) : el("td", { text: c === null || c === undefined ? "" : String(c) }); }));
      }))])));
  }
  function renderCompetitors() {
    simpleTable("competitors", ["#", "val_bpb", "Δ vs baseline", "name", "author", "date", "PR", "seeds", "bytes", "track"],
      DATA.competitors.map(function (s, i) {
        return [String(i + 1), fmt(s.val_bpb), isNum(s.val_bpb) ? (s.val_bpb - DATA.baseline_bpb).toFixed(4) : "",
                link(s.url, s.name), s.author, (s.date || "").slice(0, 10), isNum(s.pr) ? "#" + s.pr : "",
                isNum(s.seeds) ? String(s.seeds) : "", bytes(s.bytes_total), s.track];
      }), "No competitor scores yet — run `pgolf competitors refresh`.");
    if (DATA.speedrun.length) {
      $("speedrun").appendChild(el("h3", { text: "modded-nanogpt speedrun records" }));
      simpleTable("speedrun", ["minutes", "record", "date"], DATA.speedrun.slice(0, 20).map(function (s) {
        return [fmt(s.record_minutes, 2), link(s.url, s.name), (s.date || "").slice(0, 10)];
      }), "");
    }
  }
  function renderFrontier() {
    var F = DATA.frontier, host = $("frontier");
    if (!F.available) { host.appendChild(el("p", { "class": "note", text: "Technique frontier not available: " + F.reason })); return; }
    if (F.rules) host.appendChild(el("p", { "class": "note", text: "Selection bonus: " + F.rules + ". Sorted by bonus: the most neglected directions first." }));
    var keys = [];
    F.rows.forEach(function (r) { Object.keys(r).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    simpleTable("frontier", keys, F.rows.map(function (r) {
      return keys.map(function (k) { var v = r[k]; return k === "selection bonus" && isNum(v) ? (v > 0 ? "+" : "") + v : v; });
    }), "The frontier is empty.");
  }

  // ------------------------------------------------------------------ boot
  function boot() {
    var t0 = performance.now();
    renderSummary();
    renderTable();
    renderBpbChart();
    renderScatter();
    renderBudget();
    renderFunnel();
    renderCompetitors();
    renderFrontier();
    document.body.setAttribute("data-render-ms", String(Math.round(performance.now() - t0)));
    document.body.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
