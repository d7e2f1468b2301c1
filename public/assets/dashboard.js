// The dashboard's script (GET /dashboard): polls /stats and /metrics, fills the cards and table,
// and draws the last minutes with uPlot. Plain browser JavaScript, served as a static asset.
// biome-ignore lint/suspicious/noRedundantUseStrict: a classic <script>, not a module: strict mode is not implied.
"use strict";
const POLL_MS = 2000;
const WINDOW_S = 300; // the charts show the last 5 minutes
const HISTORY_POINTS = WINDOW_S / (POLL_MS / 1000);
const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const ms = (s) => (s === null ? "–" : (s * 1000 < 10 ? (s * 1000).toFixed(1) : Math.round(s * 1000)) + " ms");
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** The error rate's colour: green at 0, amber below 1 %, red from 1 %. */
function level(rate) {
  if (rate === null) return "";
  return rate === 0 ? "ok" : rate < 1 ? "warn" : "bad";
}

/** Cumulative histogram buckets [[le, count]] of ingestion_duration_seconds from the Prometheus text. */
function durationBuckets(text) {
  const buckets = [];
  for (const line of text.split("\n")) {
    const m = /^ingestion_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
    if (m) buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return buckets;
}

/** The q-quantile of cumulative buckets, interpolated inside its bucket (as Prometheus' histogram_quantile). */
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / Math.max(count - below, 1);
    lower = le;
    below = count;
  }
  return lower;
}

const history = { t: [], mps: [], errorRate: [], p50: [], p99: [] };
let charts = null;

function makeCharts() {
  const width = $("chart-throughput").clientWidth - 16;
  const axis = (label, unit) => ({
    label,
    stroke: css("--muted"),
    grid: { stroke: css("--grid"), width: 1 },
    ticks: { stroke: css("--grid"), width: 1 },
    size: 70,
    values: (_u, splits) => splits.map((v) => fmt(v) + unit),
  });
  const timeAxis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
  const chart = (id, title, yLabel, unit, series, range) =>
    new uPlot(
      {
        title,
        width,
        height: 170,
        cursor: { sync: { key: "nomnom" } },
        scales: { x: { time: true, range: (_u, _min, max) => [max - WINDOW_S, max] }, y: { range } },
        axes: [timeAxis, axis(yLabel, unit)],
        series: [
          { label: "time" },
          ...series.map(([label, stroke, dash]) => ({
            label,
            stroke,
            width: 2,
            dash,
            spanGaps: false,
            value: (_u, v) => (v === null ? "–" : fmt(Math.round(v * 100) / 100) + unit),
          })),
        ],
      },
      [[]].concat(series.map(() => [])),
      $(id),
    );
  const from0 = (_u, _min, max) => [0, Math.max(max, 1)];
  charts = {
    throughput: chart("chart-throughput", "Throughput", "messages/s", "", [["messages/s", css("--accent")]], from0),
    errors: chart("chart-errors", "Error rate", "failed %", " %", [["failed / messages", css("--bad")]], (_u, _min, max) => [0, Math.max(max, 1)]),
    latency: chart(
      "chart-latency",
      "Request duration",
      "ms",
      " ms",
      [
        ["p50", css("--ok")],
        ["p99", css("--warn"), [6, 4]],
      ],
      from0,
    ),
  };
}

function draw() {
  if (!charts) makeCharts();
  charts.throughput.setData([history.t, history.mps]);
  charts.errors.setData([history.t, history.errorRate]);
  charts.latency.setData([history.t, history.p50, history.p99]);
}

let previous = null;

async function read(path, key) {
  const res = await fetch(path, { cache: "no-store", headers: key ? { Authorization: "Bearer " + key } : {} });
  if (res.status === 401 || res.status === 403) {
    $("key-form").hidden = false;
    throw new Error((await res.json()).message);
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res;
}

async function refresh() {
  try {
    const key = sessionStorage.getItem("nomnom-key");
    const [s, metrics] = await Promise.all([read("/stats", key).then((r) => r.json()), read("/metrics", key).then((r) => r.text())]);
    const now = Date.now();
    const o = s.messages_by_outcome;
    const total = s.total_messages_processed;
    const rate = total ? (100 * o.failed) / total : 0;
    $("total").textContent = fmt(total);
    $("inserted").textContent = fmt(o.inserted);
    $("duplicates").textContent = fmt(o.duplicates);
    $("failed").textContent = fmt(o.failed);
    $("failed-card").dataset.level = o.failed > 0 ? "bad" : "ok";
    $("error-rate").textContent = rate.toFixed(2) + " %";
    $("error-rate-card").dataset.level = level(rate);
    $("mps").textContent = fmt(Math.round(s.messages_per_second * 10) / 10);
    $("rps").textContent = fmt(Math.round(s.requests_per_second * 100) / 100);
    $("percentiles").textContent = [s.duration_seconds.p50, s.duration_seconds.p95, s.duration_seconds.p99].map(ms).join(" · ");

    const buckets = durationBuckets(metrics);
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    const rows = Object.entries(s.entities)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, c]) => {
        const before = previous?.stats.entities[name];
        const count = c.inserted + c.duplicates + c.failed;
        const perSecond = before && seconds > 0 ? (count - before.inserted - before.duplicates - before.failed) / seconds : 0;
        const cells = [name, fmt(Math.round(perSecond)), fmt(c.inserted), fmt(c.duplicates), fmt(c.failed)];
        const tr = document.createElement("tr");
        tr.dataset.entity = name;
        for (const text of cells) tr.appendChild(document.createElement("td")).textContent = text;
        return tr;
      });
    $("entities").replaceChildren(...rows);

    if (!previous) {
      // The minute before the page opened, from the server's per-second message counts (throughput only).
      const current = Math.floor(now / 1000);
      const perSecond = new Map(s.recent.map((r) => [r.second, r.messages]));
      for (let second = current - 60; second < current; second++) {
        history.t.push(second + 1);
        history.mps.push(perSecond.get(second) || 0);
        history.errorRate.push(null);
        history.p50.push(null);
        history.p99.push(null);
      }
      draw();
    } else if (seconds > 0) {
      const messages = total - previous.stats.total_messages_processed;
      const failed = o.failed - previous.stats.messages_by_outcome.failed;
      // This interval's requests: the difference of two cumulative histograms.
      const interval = buckets.map(([le, count], i) => [le, count - (previous.buckets[i] ? previous.buckets[i][1] : 0)]);
      const p = (q) => {
        const v = quantile(interval, q);
        return v === null ? null : v * 1000;
      };
      history.t.push(now / 1000);
      history.mps.push(messages / seconds);
      history.errorRate.push(messages > 0 ? (100 * failed) / messages : null);
      history.p50.push(p(0.5));
      history.p99.push(p(0.99));
      for (const series of Object.values(history)) if (series.length > HISTORY_POINTS) series.shift();
      draw();
    }
    $("status").textContent = "updated " + new Date(now).toLocaleTimeString() + " · up " + fmt(s.uptime_seconds) + " s · " + s.shards + " shard(s)";
    previous = { at: now, stats: s, buckets };
  } catch (error) {
    $("status").textContent = "cannot read /stats: " + error.message;
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("nomnom-key", $("key").value);
  $("key-form").hidden = true;
  refresh();
});
window.addEventListener("resize", () => {
  if (!charts) return;
  const width = $("chart-throughput").clientWidth - 16;
  for (const chart of Object.values(charts)) chart.setSize({ width, height: 170 });
});
refresh();
setInterval(refresh, POLL_MS);
