// The autoresearch dashboard: renders the data inlined in the page and, on a live page,
// follows the server's event stream. Everything from the logs goes into the page as text
// (textContent, SVG attributes): never as markup.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var TABLE_ROWS = 500;  // rows drawn before "show all"
  var TAIL_LINES = 20;   // of each worker's log in "Now"
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var rows = data.rows;  // oldest first
  var summary = data.summary;
  var live = data.live;
  var liveReceived = Date.now();
  var details = data.details || {};  // sha -> {diff, log}: inlined (static) or fetched
  var filter = "all";
  var opened = null;  // the experiment number whose details are open
  var showAll = false;
  var token = new URLSearchParams(location.search).get("token");

  // -- helpers -----------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function api(path, params) {
    var query = new URLSearchParams(params);
    if (token) query.set("token", token);
    return path + "?" + query.toString();
  }

  function value(v) {
    return v === null || v === undefined ? "—" : String(parseFloat(Number(v).toPrecision(6)));
  }

  function signed(v) {
    if (v === null || v === undefined) return "";
    return (v > 0 ? "+" : "") + value(v);
  }

  function duration(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return s.toFixed(1) + "s";
    var m = Math.floor(s / 60), sec = Math.round(s % 60);
    if (m < 60) return m + "m" + (sec < 10 ? "0" : "") + sec + "s";
    var mm = m % 60;
    return Math.floor(m / 60) + "h" + (mm < 10 ? "0" : "") + mm + "m";
  }

  function lowerIsBetter() { return summary.direction !== "higher_is_better"; }

  function runningBest() {
    var best = null, out = [];
    rows.forEach(function (r) {
      if (r.status === "keep" && r.value !== null) {
        best = best === null ? r.value
          : (lowerIsBetter() ? Math.min(best, r.value) : Math.max(best, r.value));
      }
      out.push(best);
    });
    return out;
  }

  function line(r) {
    return "#" + r.n + " " + r.status + " " + (r.status === "crash" ? "" : value(r.value) + " ")
      + "— " + r.description;
  }

  // -- header and summary ------------------------------------------------------------------
  function renderHeader() {
    document.getElementById("tag").textContent = data.tag || "";
    document.title = "autoresearch " + (data.tag || "");
    var words = lowerIsBetter() ? "lower is better" : "higher is better";
    document.getElementById("metric").textContent =
      (summary.metric || "metric") + " (" + words + ")";
    var select = clear(document.getElementById("tags"));
    data.tags.forEach(function (t) {
      var option = el("option", null, t);
      option.value = t;
      option.selected = t === data.tag;
      select.appendChild(option);
    });
    document.getElementById("tags-label").hidden = data.tags.length < 2;
    select.disabled = data.mode !== "live";
    select.onchange = function () { location.search = api("", {tag: select.value}).slice(1); };
  }

  function card(label, text, className) {
    var node = el("div", "card" + (className === "wide" ? " wide" : ""));
    node.title = text;
    node.appendChild(el("div", "label", label));
    node.appendChild(el("div", "value " + (className || ""), text));
    return node;
  }

  function renderSummary() {
    var box = clear(document.getElementById("summary"));
    var s = summary;
    var progress = s.baseline === null ? "no baseline yet" : value(s.baseline) + " → " + value(s.best);
    var change = s.change_pct === null ? "" : " (" + (s.change_pct > 0 ? "+" : "")
      + s.change_pct.toFixed(2) + "%)";
    box.appendChild(card("baseline → best", progress + change,
      s.change_pct === null || s.change_pct === 0 ? "" : (s.improved ? "better" : "worse")));
    box.appendChild(card("experiments", s.experiments + " (" + s.kept + " kept, " + s.discarded
      + " discarded, " + s.crashed + " crashed)"));
    box.appendChild(card("keep rate", s.keep_rate === null ? "—" : (100 * s.keep_rate).toFixed(1) + "%"));
    box.appendChild(card("per hour", s.per_hour === null ? "—" : s.per_hour.toFixed(1)));
    box.appendChild(card("agent cost", s.cost_usd === null ? "—" : "$" + s.cost_usd.toFixed(2)));
    if (s.best_commit) {
      box.appendChild(card("best commit", s.best_commit + " " + s.best_description, "wide"));
    }
  }

  // -- what is happening now -----------------------------------------------------------------
  function renderLive() {
    var box = clear(document.getElementById("workers"));
    if (data.mode !== "live") {
      box.appendChild(el("p", "muted", "A report written " + data.written + "."));
      return;
    }
    if (!live) { box.appendChild(el("p", "muted", "No loop is running.")); return; }
    if (!live.workers.length) {
      box.appendChild(el("p", "muted", "A loop is starting (pid " + live.pid + ")."));
    }
    if (live.stale) {
      box.appendChild(el("p", "muted", "No loop is running (the one that wrote live.json, pid "
        + live.pid + ", is gone)."));
      return;
    }
    var elapsedNow = (Date.now() - liveReceived) / 1000 + (live.now || 0);
    live.workers.forEach(function (w) {
      var node = el("div", "worker");
      node.dataset.worker = w.worker;
      var elapsed = w.started === null ? null : Math.max(0, elapsedNow - w.started);
      var limit = w.limit_s ? " / " + duration(w.limit_s) : "";
      var parts = ["worker " + w.worker, w.phase, w.commit, w.description].filter(Boolean);
      node.appendChild(el("div", "what", parts.join(" · ")));
      node.appendChild(el("div", "elapsed muted", elapsed === null ? "" : duration(elapsed) + limit));
      if (w.limit_s && elapsed !== null) {
        var bar = el("div", "bar" + (elapsed > w.limit_s ? " over" : ""));
        var fill = el("div");
        fill.style.width = Math.min(100, 100 * elapsed / w.limit_s) + "%";
        bar.appendChild(fill);
        node.appendChild(bar);
      }
      if (w.tail) node.appendChild(el("pre", "tail", w.tail.split("\n").slice(-TAIL_LINES).join("\n")));
      box.appendChild(node);
    });
  }

  // -- the chart -------------------------------------------------------------------------------
  var W = 900, H = 260, PAD = {left: 64, right: 12, top: 12, bottom: 28};

  function scale(lo, hi, a, b) {
    var span = hi - lo || 1;
    return function (v) { return a + (v - lo) / span * (b - a); };
  }

  // About ``count`` round values (steps of 1, 2 or 5 times a power of ten) from lo to hi.
  function ticks(lo, hi, count) {
    var raw = (hi - lo) / count || 1;
    var step = Math.pow(10, Math.floor(Math.log10(raw)));
    var ratio = raw / step;
    step *= ratio >= 7.5 ? 10 : ratio >= 3.5 ? 5 : ratio >= 1.5 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      out.push(parseFloat(v.toPrecision(12)));
    }
    return out;
  }

  function renderChart() {
    var box = clear(document.getElementById("chart"));
    var chart = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                            "aria-label": "every experiment's value and the running best"});
    var values = rows.filter(function (r) { return r.value !== null; }).map(function (r) { return r.value; });
    var ns = rows.map(function (r) { return r.n; });
    var xmin = Math.min.apply(null, ns.concat([1])), xmax = Math.max.apply(null, ns.concat([2]));
    var ymin = values.length ? Math.min.apply(null, values) : 0;
    var ymax = values.length ? Math.max.apply(null, values) : 1;
    var pad = (ymax - ymin) * 0.05 || Math.abs(ymax) * 0.05 || 1;
    ymin -= pad; ymax += pad;
    var x = scale(xmin, xmax, PAD.left, W - PAD.right);
    var y = scale(ymin, ymax, H - PAD.bottom, PAD.top);
    chart.appendChild(svg("line", {class: "axis", x1: PAD.left, y1: H - PAD.bottom,
                                   x2: W - PAD.right, y2: H - PAD.bottom}));
    chart.appendChild(svg("line", {class: "axis", x1: PAD.left, y1: PAD.top,
                                   x2: PAD.left, y2: H - PAD.bottom}));
    ticks(ymin, ymax, 4).forEach(function (yv) {
      chart.appendChild(svg("text", {class: "tick", x: PAD.left - 6, y: y(yv) + 4,
                                     "text-anchor": "end"}, value(yv)));
    });
    ticks(xmin, xmax, 6).filter(Number.isInteger).forEach(function (xv) {
      chart.appendChild(svg("text", {class: "tick", x: x(xv), y: H - 8, "text-anchor": "middle"}, xv));
    });
    var best = runningBest(), path = "";
    rows.forEach(function (r, k) {
      if (best[k] === null) return;
      var px = x(r.n), py = y(best[k]);
      path += path ? " H" + px + " V" + py : "M" + px + " " + py;
    });
    if (path) chart.appendChild(svg("path", {class: "best", d: path}));
    rows.forEach(function (r) {
      var crashed = r.value === null;
      var point = svg("circle", {
        class: "point " + r.status + (r.n === opened ? " selected" : ""),
        cx: x(r.n), cy: crashed ? H - PAD.bottom : y(r.value), r: r.status === "keep" ? 5 : 3.5,
        "data-n": r.n});
      point.appendChild(svg("title", {}, line(r)));
      point.addEventListener("click", function () { openExperiment(r.n, true); });
      chart.appendChild(point);
    });
    box.appendChild(chart);
  }

  // -- the table -------------------------------------------------------------------------------
  function renderFilters() {
    var box = clear(document.getElementById("filters"));
    ["all", "keep", "discard", "crash"].forEach(function (status) {
      var count = status === "all" ? rows.length
        : rows.filter(function (r) { return r.status === status; }).length;
      var button = el("button", null, status + " (" + count + ")");
      button.type = "button";
      button.dataset.status = status;
      button.setAttribute("aria-pressed", String(filter === status));
      button.onclick = function () { filter = status; renderFilters(); renderTable(); };
      box.appendChild(button);
    });
  }

  function cell(text, className) { return el("td", className, text); }

  function renderTable() {
    var body = clear(document.querySelector("#experiments tbody"));
    var chosen = rows.filter(function (r) { return filter === "all" || r.status === filter; });
    chosen.reverse();
    var shown = showAll ? chosen : chosen.slice(0, TABLE_ROWS);
    shown.forEach(function (r) {
      var tr = el("tr", "experiment " + r.status);
      tr.dataset.n = r.n;
      if (r.sha) tr.dataset.commit = r.sha;
      tr.appendChild(cell(r.n, "num"));
      tr.appendChild(cell(r.commit, "commit"));
      tr.appendChild(cell(r.status === "crash" ? "—" : value(r.value), "num"));
      tr.appendChild(cell(r.status === "crash" ? "" : signed(r.delta), "num"));
      tr.appendChild(cell(r.reason ? r.status + " (" + r.reason + ")" : r.status, "status"));
      tr.appendChild(cell(duration(r.seconds), "num"));
      tr.appendChild(cell(r.description, "description"));
      tr.onclick = function () { openExperiment(r.n === opened ? null : r.n, false); };
      body.appendChild(tr);
      if (r.n === opened) body.appendChild(detailRow(r));
    });
    var more = clear(document.getElementById("more"));
    if (shown.length < chosen.length) {
      var button = el("button", null, "show all " + chosen.length);
      button.type = "button";
      button.onclick = function () { showAll = true; renderTable(); };
      more.appendChild(button);
    }
  }

  function diffView(text) {
    var pre = el("pre", "diff");
    text.split("\n").forEach(function (l) {
      var kind = l.charAt(0) === "+" && l.slice(0, 3) !== "+++" ? "add"
        : l.charAt(0) === "-" && l.slice(0, 3) !== "---" ? "del"
        : l.slice(0, 2) === "@@" ? "hunk" : "";
      pre.appendChild(el("span", kind, l + "\n"));
    });
    return pre;
  }

  function detailRow(r) {
    var tr = el("tr", "detail");
    var td = el("td");
    td.colSpan = 7;
    td.appendChild(el("div", "muted", line(r) + (r.time ? " · " + r.time : "")
      + (r.cost !== null ? " · agent $" + r.cost.toFixed(2) : "")
      + (r.worker !== null ? " · worker " + r.worker : "")));
    if (r.error) {
      td.appendChild(el("h2", null, "cause"));
      td.appendChild(el("pre", "error", r.error));
    }
    var d = r.sha ? details[r.sha] : {diff: "no commit: the candidate was rejected before it was committed", log: ""};
    if (!d) {
      td.appendChild(el("p", "muted", data.mode === "live" ? "loading…"
        : "not in this report: git show " + r.sha));
    } else {
      if (d.log) {
        td.appendChild(el("h2", null, "run log (tail)"));
        td.appendChild(el("pre", "log", d.log));
      }
      td.appendChild(el("h2", null, "diff"));
      td.appendChild(diffView(d.diff));
    }
    tr.appendChild(td);
    return tr;
  }

  function openExperiment(n, fromChart) {
    opened = n;
    var r = rows.find(function (row) { return row.n === n; });
    document.getElementById("caption").textContent = r ? line(r) : "";
    if (r && fromChart && filter !== "all" && filter !== r.status) { filter = "all"; renderFilters(); }
    if (r && fromChart && !showAll) showAll = true;
    renderTable();
    renderChart();
    if (r && r.sha && !details[r.sha] && data.mode === "live") fetchDetails(r);
    var tr = r && document.querySelector('tr.experiment[data-n="' + r.n + '"]');
    if (tr && fromChart) tr.scrollIntoView({block: "center"});
  }

  function fetchDetails(r) {
    fetch(api("experiment", {commit: r.sha})).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    }).then(function (d) {
      details[r.sha] = d;
    }).catch(function (error) {
      details[r.sha] = {diff: "could not load the details: " + error.message, log: ""};
    }).then(function () { if (opened === r.n) renderTable(); });
  }

  // -- live updates ----------------------------------------------------------------------------
  function renderAll() {
    renderHeader(); renderSummary(); renderLive(); renderChart(); renderFilters(); renderTable();
  }

  function connect() {
    var status = document.getElementById("connection");
    var source = new EventSource(api("events", {tag: data.tag || "", since: rows.length,
                                                follow: data.follow ? "1" : "0"}));
    source.onopen = function () { status.textContent = "live"; status.className = "live"; };
    source.onerror = function () { status.textContent = "reconnecting…"; status.className = "lost"; };
    source.addEventListener("experiments", function (event) {
      var message = JSON.parse(event.data);
      if (message.tag !== data.tag) {  // a tag set up since: the page follows the newest
        data.tag = message.tag;
        if (message.tag && data.tags.indexOf(message.tag) < 0) data.tags.push(message.tag);
      }
      rows = rows.slice(0, message.start).concat(message.rows);
      summary = message.summary;
      renderHeader(); renderSummary(); renderChart(); renderFilters(); renderTable();
    });
    source.addEventListener("live", function (event) {
      live = JSON.parse(event.data);
      liveReceived = Date.now();
      renderLive();
    });
    setInterval(function () { if (live && !live.stale) renderLive(); }, 1000);
  }

  renderAll();
  if (data.mode === "live") connect();
})();
