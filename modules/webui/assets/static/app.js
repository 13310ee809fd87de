// sipht web UI: the live traffic chart and the overview's refresh (no
// dependencies, no build step). The chart polls /ui/api/stats, which
// returns rate points computed from the server's Prometheus counters, and
// draws them as SVG polylines; every few seconds the uptime, tables, pike
// and DMQ sections are replaced by those of a freshly rendered overview.
"use strict";

(function () {
  var body = document.body;
  if (!body || body.getAttribute("data-page") !== "dashboard") {
    return;
  }
  var svg = document.getElementById("chart");
  if (!svg) {
    return;
  }
  var NS = "http://www.w3.org/2000/svg";
  var W = 800, H = 200, PAD_L = 44, PAD_B = 18, PAD_T = 8;
  var MIN_WINDOW_MS = 60 * 1000, MAX_WINDOW_MS = 5 * 60 * 1000;
  var poll = parseInt(body.getAttribute("data-poll"), 10) || 1000;
  var series = [
    { key: "rps", cls: "s-req", now: "now-rps" },
    { key: "r4xx", cls: "s-4xx", now: "now-r4xx" },
    { key: "r429", cls: "s-429", now: "now-r429" }
  ];
  var note = document.getElementById("chart-note");
  var timer = null;

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) {
      e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  }

  function fmt(v) {
    if (v >= 100) return v.toFixed(0);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  // niceMax rounds the largest value up to 1, 2 or 5 times a power of ten.
  function niceMax(v) {
    if (v <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function draw(points) {
    while (svg.firstChild) {
      svg.removeChild(svg.firstChild);
    }
    var end = points.length ? points[points.length - 1].t : Date.now();
    // the time axis grows with the data, from one minute to five
    var span = points.length ? end - points[0].t : 0;
    var WINDOW_MS = span <= MIN_WINDOW_MS ? MIN_WINDOW_MS : MAX_WINDOW_MS;
    var start = end - WINDOW_MS;
    var top = 0;
    points.forEach(function (p) {
      series.forEach(function (s) { top = Math.max(top, p[s.key]); });
    });
    top = niceMax(top);
    var plotW = W - PAD_L, plotH = H - PAD_B - PAD_T;
    function x(t) { return PAD_L + (t - start) / WINDOW_MS * plotW; }
    function y(v) { return PAD_T + plotH - v / top * plotH; }
    for (var i = 0; i <= 4; i++) {
      var v = top * i / 4, yy = y(v);
      svg.appendChild(el("line", { x1: PAD_L, x2: W, y1: yy, y2: yy, "class": "grid" }));
      svg.appendChild(el("text", { x: PAD_L - 6, y: yy + 4, "text-anchor": "end", "class": "axis" }, fmt(v)));
    }
    var ticks = WINDOW_MS === MIN_WINDOW_MS ? [60, 45, 30, 15, 0] : [300, 240, 180, 120, 60, 0];
    ticks.forEach(function (s) {
      var label = s === 0 ? "now" : s % 60 === 0 ? "-" + s / 60 + " min" : "-" + s + " s";
      svg.appendChild(el("text", { x: x(end - s * 1000), y: H - 4, "text-anchor": s === 0 ? "end" : "middle", "class": "axis" }, label));
    });
    series.forEach(function (s) {
      var pts = [];
      points.forEach(function (p) {
        if (p.t >= start) pts.push(x(p.t).toFixed(1) + "," + y(p[s.key]).toFixed(1));
      });
      if (pts.length > 1) {
        svg.appendChild(el("polyline", { points: pts.join(" "), "class": "line " + s.cls }));
      }
      var last = points.length ? points[points.length - 1][s.key] : null;
      var out = document.getElementById(s.now);
      if (out) out.textContent = last === null ? "–" : fmt(last);
    });
  }

  function tick() {
    timer = null;
    fetch("/ui/api/stats", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        draw(d.points || []);
        if (note && d.error) note.textContent = "Metrics unavailable: " + d.error;
      })
      .catch(function (e) {
        if (note) note.textContent = "Chart paused: " + e.message;
      })
      .then(schedule);
  }

  function schedule() {
    if (timer === null && !document.hidden) {
      timer = setTimeout(tick, poll);
    }
  }

  // refresh re-renders the overview on the server and swaps its sections.
  var REFRESH_MS = 5000, SECTIONS = ["meta", "tables", "pike", "dmq"], refreshTimer = null;
  function refresh() {
    refreshTimer = null;
    fetch("/ui/", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        SECTIONS.forEach(function (id) {
          var now = document.getElementById(id), fresh = doc.getElementById(id);
          if (now && fresh) now.replaceChildren.apply(now, Array.prototype.slice.call(fresh.childNodes));
        });
      })
      .catch(function () {})
      .then(scheduleRefresh);
  }
  function scheduleRefresh() {
    if (refreshTimer === null && !document.hidden) {
      refreshTimer = setTimeout(refresh, REFRESH_MS);
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer === null) tick();
    if (!document.hidden) scheduleRefresh();
  });
  draw([]);
  tick();
  scheduleRefresh();
})();
