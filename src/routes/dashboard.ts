/**
 * GET /dashboard: one self-contained page (no build step, no external assets) that polls /stats
 * and shows throughput by entity, error rate, duration percentiles and totals; and the most recent
 * rejected lines from /ingest/rejections.
 */
import type { Context } from "hono";

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nomnom-edge · dashboard</title>
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --card: #f4f6fa; --accent: #2f6fed; --bad: #d33c3c; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9f0; --muted: #9aa3b5; --card: #1c212b; } body { background: #12161d; } }
  body { font: 15px/1.4 system-ui, sans-serif; color: var(--fg); margin: 2rem auto; max-width: 960px; padding: 0 1rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } .muted { color: var(--muted); font-size: .85rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .75rem; margin: 1.2rem 0; }
  .card { background: var(--card); border-radius: 10px; padding: .8rem 1rem; }
  .card b { display: block; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  .card.bad b { color: var(--bad); } .card.wide { grid-column: span 2; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: .4rem .6rem; border-bottom: 1px solid var(--card); } th:first-child, td:first-child { text-align: left; }
  svg { width: 100%; height: 80px; background: var(--card); border-radius: 10px; }
</style>
</head>
<body>
<h1>nomnom-edge</h1>
<div class="muted">Live from <code>/stats</code>, every 2 s · <span id="status">connecting…</span></div>
<form id="key-form" hidden><label>API key with the read scope: <input id="key" type="password" autocomplete="off"></label> <button>Use</button></form>
<div class="cards">
  <div class="card"><span>Messages</span><b id="total">–</b></div>
  <div class="card"><span>Inserted</span><b id="inserted">–</b></div>
  <div class="card"><span>Duplicates</span><b id="duplicates">–</b></div>
  <div class="card bad"><span>Failed</span><b id="failed">–</b></div>
  <div class="card bad"><span>Error rate</span><b id="error-rate">–</b></div>
  <div class="card"><span>Messages/s (60 s)</span><b id="mps">–</b></div>
  <div class="card"><span>Requests/s (60 s)</span><b id="rps">–</b></div>
  <div class="card wide"><span>Request duration p50 · p95 · p99</span><b id="percentiles">–</b></div>
</div>
<svg id="spark" viewBox="0 0 600 80" preserveAspectRatio="none" aria-label="messages per second, last 60 s"><polyline id="line" fill="none" stroke="var(--accent)" stroke-width="2" points=""/></svg>
<h2 class="muted">By entity</h2>
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
<script>
const $ = (id) => document.getElementById(id);
const fmt = (n) => n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
const ms = (s) => s === null ? "–" : (s * 1000 < 10 ? (s * 1000).toFixed(1) : Math.round(s * 1000)) + " ms";
let previous = null;
$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("nomnom-key", $("key").value);
  $("key-form").hidden = true;
  refresh();
});
async function refresh() {
  try {
    const key = sessionStorage.getItem("nomnom-key");
    const res = await fetch("/stats", { cache: "no-store", headers: key ? { Authorization: "Bearer " + key } : {} });
    if (res.status === 401 || res.status === 403) {
      $("key-form").hidden = false;
      throw new Error((await res.json()).message);
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    const s = await res.json();
    const now = Date.now();
    const o = s.messages_by_outcome;
    $("total").textContent = fmt(s.total_messages_processed);
    $("inserted").textContent = fmt(o.inserted);
    $("duplicates").textContent = fmt(o.duplicates);
    $("failed").textContent = fmt(o.failed);
    $("error-rate").textContent = s.total_messages_processed ? (100 * o.failed / s.total_messages_processed).toFixed(2) + " %" : "0 %";
    $("mps").textContent = fmt(Math.round(s.messages_per_second * 10) / 10);
    $("rps").textContent = fmt(Math.round(s.requests_per_second * 100) / 100);
    $("percentiles").textContent = [s.duration_seconds.p50, s.duration_seconds.p95, s.duration_seconds.p99].map(ms).join(" · ");
    const rows = Object.entries(s.entities).sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => {
      const before = previous && previous.stats.entities[name];
      const seconds = previous ? (now - previous.at) / 1000 : 0;
      const total = c.inserted + c.duplicates + c.failed;
      const rate = before && seconds > 0 ? (total - before.inserted - before.duplicates - before.failed) / seconds : 0;
      return "<tr data-entity=\\"" + name + "\\"><td>" + name + "</td><td>" + fmt(Math.round(rate)) + "</td><td>" + fmt(c.inserted) + "</td><td>" + fmt(c.duplicates) + "</td><td>" + fmt(c.failed) + "</td></tr>";
    });
    $("entities").innerHTML = rows.join("");
    const last = Math.floor(now / 1000), perSecond = new Map(s.recent.map((r) => [r.second, r.messages]));
    const points = Array.from({ length: 60 }, (_, i) => perSecond.get(last - 59 + i) || 0);
    const top = Math.max(1, ...points);
    $("line").setAttribute("points", points.map((v, i) => (i * 600 / 59).toFixed(1) + "," + (78 - 74 * v / top).toFixed(1)).join(" "));
    $("status").textContent = "updated " + new Date(now).toLocaleTimeString() + " · up " + fmt(s.uptime_seconds) + " s · " + s.shards + " shard(s)";
    previous = { at: now, stats: s };
  } catch (error) {
    $("status").textContent = "cannot read /stats: " + error.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>`;

export const dashboard = (c: Context) => c.html(PAGE);
