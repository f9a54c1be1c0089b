/**
 * The hub's web status page, `GET /`: one self-contained HTML document (inline CSS and script,
 * no external resources) showing the fleet per node: each check with its status colour, the
 * first line of its output, the age of its last result and its machine state; stale nodes are
 * marked, and a summary bar counts checks per status. The script reads `/api/v1/nodes` and
 * `/api/v1/checks`, and re-reads them whenever `/api/v1/events` (live.ts) says the view changed
 * and on each heartbeat; ages tick every second in the browser.
 *
 * Every answer carries a fresh nonce and a Content-Security-Policy that allows nothing but the
 * page's own origin for fetches and that nonce for the one inline style and script.
 * @module
 */

const STYLE = `
:root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1d2330;--mut:#6b7385;--card:#fff;--line:#e2e5eb;
--ok:#1f9d55;--warning:#d69e2e;--critical:#d64545;--unknown:#8a5cd6;--maintenance:#3182ce;
--pending:#8a94a6}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--fg:#e5e8ee;--mut:#9aa3b5;--card:#1b2029;
--line:#2b313d}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);
color:var(--fg)}
header{display:flex;align-items:center;gap:12px;padding:12px 20px;border-bottom:1px solid var(--line);
background:var(--card);position:sticky;top:0}
h1{font-size:18px;margin:0}
#conn{font-size:12px;padding:2px 8px;border-radius:10px;background:var(--pending);color:#fff}
#conn.live{background:var(--ok)}
#conn.down{background:var(--critical)}
#updated{color:var(--mut);font-size:12px;margin-left:auto}
#summary{display:flex;flex-wrap:wrap;gap:8px;padding:12px 20px}
.chip{display:flex;gap:6px;align-items:baseline;padding:6px 12px;border-radius:8px;background:var(--card);
border:1px solid var(--line);border-left:6px solid var(--pending)}
.chip b{font-size:18px}
.chip.OK{border-left-color:var(--ok)}.chip.WARNING{border-left-color:var(--warning)}
.chip.CRITICAL{border-left-color:var(--critical)}.chip.UNKNOWN{border-left-color:var(--unknown)}
.chip.MAINTENANCE{border-left-color:var(--maintenance)}.chip.STALE{border-left-color:var(--mut)}
main{padding:0 20px 20px}
.node{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:12px 0;overflow:hidden}
.node h2{font-size:15px;margin:0;padding:8px 12px;display:flex;gap:10px;align-items:baseline;
border-bottom:1px solid var(--line)}
.node .meta{color:var(--mut);font-size:12px;font-weight:normal}
.node.stale{opacity:.75;border-style:dashed}
.badge{font-size:11px;padding:1px 6px;border-radius:4px;background:var(--mut);color:#fff;font-weight:bold}
table{width:100%;border-collapse:collapse}
td{padding:6px 12px;border-top:1px solid var(--line);vertical-align:top}
tr:first-child td{border-top:0}
td.st{width:110px}td.name{width:200px;font-weight:600}td.age{width:110px;color:var(--mut);text-align:right}
td.state{width:120px;color:var(--mut)}
td.out{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-word}
.pill{display:inline-block;min-width:86px;text-align:center;padding:2px 6px;border-radius:4px;color:#fff;
font-size:12px;font-weight:bold;background:var(--pending)}
.pill.OK{background:var(--ok)}.pill.WARNING{background:var(--warning)}
.pill.CRITICAL{background:var(--critical)}.pill.UNKNOWN{background:var(--unknown)}
.pill.MAINTENANCE{background:var(--maintenance)}
.empty{color:var(--mut);padding:20px}
`;

const SCRIPT = `
"use strict";
(function () {
  var STATUSES = ["OK", "WARNING", "CRITICAL", "UNKNOWN", "MAINTENANCE", "PENDING"];
  var $ = function (id) { return document.getElementById(id); };
  var busy = false, again = false, seq = -1;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function statusOf(c) {
    if (c.state === "MAINTENANCE") return "MAINTENANCE";
    return c.status || "PENDING";
  }
  function age(ms) {
    if (ms === null || ms === undefined) return "never";
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s ago";
    if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function ticking(tag, cls, ms) {
    var e = el(tag, cls, age(ms));
    if (ms !== null && ms !== undefined) e.setAttribute("data-ts", String(ms));
    return e;
  }
  function tick() {
    var all = document.querySelectorAll("[data-ts]");
    for (var i = 0; i < all.length; i++) all[i].textContent = age(Number(all[i].getAttribute("data-ts")));
  }
  function getJson(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }

  function render(nodes, checks) {
    var counts = {}, stale = 0;
    STATUSES.forEach(function (s) { counts[s] = 0; });
    var byNode = {};
    nodes.forEach(function (n) { byNode[n.identity] = []; if (n.stale) stale++; });
    checks.forEach(function (c) {
      counts[statusOf(c)]++;
      (byNode[c.node] = byNode[c.node] || []).push(c);
    });

    var summary = $("summary");
    summary.replaceChildren();
    STATUSES.forEach(function (s) {
      var chip = el("div", "chip " + s);
      chip.setAttribute("data-status", s);
      chip.append(el("b", "n", counts[s]), el("span", "", s));
      summary.append(chip);
    });
    var nodesChip = el("div", "chip STALE");
    nodesChip.setAttribute("data-status", "STALE");
    nodesChip.append(el("b", "n", stale), el("span", "", "stale of " + nodes.length + " nodes"));
    summary.append(nodesChip);

    var main = $("nodes");
    main.replaceChildren();
    if (nodes.length === 0) main.append(el("div", "empty", "No node has reported yet."));
    nodes.forEach(function (n) {
      var sec = el("section", "node" + (n.stale ? " stale" : ""));
      sec.setAttribute("data-node", n.identity);
      sec.setAttribute("data-stale", n.stale ? "true" : "false");
      var h = el("h2", "", n.identity);
      if (n.stale) h.append(el("span", "badge", "STALE"));
      var meta = el("span", "meta", "last seen ");
      meta.append(ticking("span", "", n.lastSeenMs));
      if (n.lifecycle) meta.append(" \\u00b7 " + n.lifecycle);
      h.append(meta);
      sec.append(h);
      var table = el("table");
      (byNode[n.identity] || []).forEach(function (c) {
        var s = statusOf(c);
        var tr = el("tr");
        tr.setAttribute("data-node", c.node);
        tr.setAttribute("data-check", c.check);
        tr.setAttribute("data-status", s);
        var st = el("td", "st");
        st.append(el("span", "pill " + s, s));
        var first = String(c.output || "").split("\\n")[0];
        tr.append(st, el("td", "name", c.check), el("td", "out", first),
          el("td", "state", c.state || ""), ticking("td", "age", c.lastResultMs));
        table.append(tr);
      });
      if (table.childNodes.length === 0) {
        var tr = el("tr"), td = el("td", "empty", "no checks yet");
        tr.append(td);
        table.append(tr);
      }
      sec.append(table);
      main.append(sec);
    });
    $("updated").textContent = "updated " + new Date().toLocaleTimeString() +
      (seq >= 0 ? " \\u00b7 seq " + seq : "");
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    Promise.all([getJson("/api/v1/nodes"), getJson("/api/v1/checks")]).then(function (r) {
      render(r[0].nodes || [], r[1].checks || []);
      document.body.setAttribute("data-ready", "true");
    }).catch(function (e) {
      $("updated").textContent = "cannot load: " + e.message;
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  function onMessage(ev) {
    try { seq = JSON.parse(ev.data).seq; } catch (_) { /* keep the last one */ }
    refresh();
  }

  var conn = $("conn");
  if (window.EventSource) {
    var es = new EventSource("/api/v1/events");
    es.addEventListener("hello", onMessage);
    es.addEventListener("changed", onMessage);
    es.addEventListener("heartbeat", onMessage);
    es.onopen = function () { conn.textContent = "live"; conn.className = "live"; };
    es.onerror = function () {
      conn.textContent = es.readyState === 2 ? "disconnected" : "reconnecting";
      conn.className = "down";
    };
  } else {
    setInterval(refresh, 10000);
  }
  refresh();
  setInterval(tick, 1000);
})();
`;

/** The page with `nonce` on its inline style and script. */
export function renderPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Scout fleet</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header><h1>Scout fleet</h1><span id="conn">connecting</span><span id="updated"></span></header>
<div id="summary" aria-label="checks per status"></div>
<main id="nodes"></main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

/** The Content-Security-Policy of the page: its own origin for fetches, the nonce for inline code. */
export function pagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "connect-src 'self'",
    "img-src 'self'",
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Answers `GET /` with the page, a fresh nonce and its security headers. */
export function pageResponse(method = "GET"): Response {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const nonce = btoa(String.fromCharCode(...bytes));
  return new Response(method === "HEAD" ? null : renderPage(nonce), {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": pagePolicy(nonce),
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-frame-options": "DENY",
      "referrer-policy": "no-referrer",
    },
  });
}
