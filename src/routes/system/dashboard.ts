/**
 * GET /dashboard: one page that polls /stats and /metrics every 2 s and shows totals, the error
 * rate, duration percentiles and charts of the last minutes. Its script (public/assets/dashboard.js)
 * and the chart library (uPlot, public/assets/uplot/) are the Worker's own static assets: no CDN.
 * It also lists the most recent rejected lines from /ingest/rejections.
 */
import type { Context } from "hono";

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nomnom-edge · dashboard</title>
<link rel="stylesheet" href="/assets/uplot/uPlot.min.css">
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --card: #f4f6fa; --grid: #dde2ea; --accent: #2f6fed; --ok: #1f8a4c; --warn: #b7791f; --bad: #d33c3c; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9f0; --muted: #9aa3b5; --card: #1c212b; --grid: #2a3140; } body { background: #12161d; } }
  body { font: 15px/1.4 system-ui, sans-serif; color: var(--fg); margin: 2rem auto; max-width: 1000px; padding: 0 1rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; } .muted { color: var(--muted); font-size: .85rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .75rem; margin: 1.2rem 0; }
  .card { background: var(--card); border-radius: 10px; padding: .8rem 1rem; border-left: 4px solid transparent; }
  .card b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  .card[data-level=ok] { border-left-color: var(--ok); } .card[data-level=ok] b { color: var(--ok); }
  .card[data-level=warn] { border-left-color: var(--warn); } .card[data-level=warn] b { color: var(--warn); }
  .card[data-level=bad] { border-left-color: var(--bad); } .card[data-level=bad] b { color: var(--bad); }
  .card.wide { grid-column: span 2; }
  .chart { background: var(--card); border-radius: 10px; padding: .5rem; margin-bottom: .75rem; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: .4rem .6rem; border-bottom: 1px solid var(--card); } th:first-child, td:first-child { text-align: left; }
</style>
</head>
<body>
<h1>nomnom-edge</h1>
<div class="muted">Live from <code>/stats</code> and <code>/metrics</code>, every 2 s · <span id="status">connecting…</span></div>
<form id="key-form" hidden><label>API key with the read scope: <input id="key" type="password" autocomplete="off"></label> <button>Use</button></form>
<div class="cards">
  <div class="card"><span>Messages</span><b id="total">–</b></div>
  <div class="card"><span>Inserted</span><b id="inserted">–</b></div>
  <div class="card"><span>Duplicates</span><b id="duplicates">–</b></div>
  <div class="card" id="failed-card"><span>Failed</span><b id="failed">–</b></div>
  <div class="card" id="error-rate-card"><span>Error rate</span><b id="error-rate">–</b></div>
  <div class="card"><span>Messages/s (60 s)</span><b id="mps">–</b></div>
  <div class="card"><span>Requests/s (60 s)</span><b id="rps">–</b></div>
  <div class="card wide"><span>Request duration p50 · p95 · p99 (since start)</span><b id="percentiles">–</b></div>
</div>
<h2>Last minutes <span class="muted">(5 minutes; each point covers the 2 s before it, and the minute before the page opened shows throughput per second)</span></h2>
<div class="chart" id="chart-throughput"></div>
<div class="chart" id="chart-errors"></div>
<div class="chart" id="chart-latency"></div>
<h2>By entity</h2>
<table><thead><tr><th>Entity</th><th>Now (msg/s)</th><th>Inserted</th><th>Duplicates</th><th>Failed</th></tr></thead><tbody id="entities"></tbody></table>
<section id="quarantine">
<style>
  #quarantine th, #quarantine td { text-align: left; vertical-align: top; } #quarantine td.raw { font-family: ui-monospace, monospace; word-break: break-all; }
</style>
<h2 class="muted">Recent rejections (<a href="/ingest/rejections?order=newest">all</a>)</h2>
<div class="muted" id="rejections-status"></div>
<table><thead><tr><th>Received</th><th>Key</th><th>Entity</th><th>Line</th><th>Why</th><th>Raw</th></tr></thead><tbody id="rejections"></tbody></table>
<script>
// The newest rejected lines (docs/quarantine.md). Cells are set with textContent: a stored line is shown as text, never as markup.
async function refreshRejections() {
  const status = document.getElementById("rejections-status");
  try {
    const key = sessionStorage.getItem("nomnom-key");
    const res = await fetch("/ingest/rejections?order=newest&limit=20", { cache: "no-store", headers: key ? { Authorization: "Bearer " + key } : {} });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || "HTTP " + res.status);
    const rows = body.rejections.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.rejection = String(r.id);
      for (const [text, cls] of [[r.received_at.slice(0, 19).replace("T", " "), ""], [r.key || "(anonymous)", ""], [r.entity || "–", ""], [String(r.line_number), ""], [r.message, ""], [r.raw + (r.raw_truncated ? " …" : ""), "raw"]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    document.getElementById("rejections").replaceChildren(...rows);
    status.textContent = rows.length === 0 ? "none kept" : "";
  } catch (error) {
    status.textContent = "cannot read /ingest/rejections: " + error.message;
  }
}
refreshRejections();
setInterval(refreshRejections, 5000);
</script>
</section>
<script src="/assets/uplot/uPlot.iife.min.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>`;

export const dashboard = (c: Context) => c.html(PAGE);
