/**
 * npm run bench:stream -- [--lines 500000] [--url http://localhost:8080] [--gzip]
 * Streams a generated TPC-H-like file (~100 bytes a line) to a running `npm run dev` through
 * /ingest/stream, and prints rows/s, MB/s and workerd's peak resident memory against its
 * resident memory before the upload (sampled from /proc every 50 ms).
 */
import { execSync } from "node:child_process";
import { createReadStream, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
import { tpchLines } from "../../test/support/tpch.ts";
import { streamUpload } from "./paths/stream.ts";

const { values } = parseArgs({ options: { lines: { type: "string", default: "500000" }, url: { type: "string", default: "http://localhost:8080" }, gzip: { type: "boolean" } } });
const lineCount = Number(values.lines);

const file = join(mkdtempSync(join(tmpdir(), "bench-")), "stream.txt");
// Pad comments so lines average ~100 bytes, as in the 50 MB / 500,000 lines.
writeFileSync(file, tpchLines(lineCount, Date.now() % 1000).map((l) => (l.length < 100 ? l + "x".repeat(100 - l.length) : l)).join("\n") + "\n");
const bytes = statSync(file).size;

const workerdPids = execSync("pgrep -f 'workerd serve' || true", { encoding: "utf8" }).split("\n").filter(Boolean);
const rssKb = () => workerdPids.reduce((sum, pid) => {
  try {
    return sum + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return sum;
  }
}, 0);
if (workerdPids.length === 0) throw new Error("no workerd process found: start `npm run dev` first");

const before = rssKb();
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, rssKb())), 50);
const started = performance.now();
const source = createReadStream(file);
const outcome = await streamUpload(new URL("/ingest/stream", values.url), values.gzip ? source.pipe(createGzip()) : source, {
  "Content-Type": "text/plain",
  ...(values.gzip ? { "Content-Encoding": "gzip" } : {}),
});
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);

const mb = (kb: number) => (kb / 1024).toFixed(1);
console.log(`lines ${lineCount}, body ${(bytes / 1e6).toFixed(1)} MB${values.gzip ? " (sent gzip)" : ""}`);
if (outcome.event !== "summary") throw new Error(`the stream failed: ${JSON.stringify(outcome.data)}`);
const summary = outcome.data as Record<string, number>;
console.log(`summary: ${JSON.stringify({ total: summary.total, inserted: summary.inserted, duplicates: summary.duplicates, failed: summary.failed })}`);
console.log(`accounted: ${summary.inserted + summary.duplicates + summary.failed === lineCount ? "yes" : "NO"} (inserted + duplicates + failed = ${summary.inserted + summary.duplicates + summary.failed})`);
console.log(`time ${seconds.toFixed(2)} s: ${Math.round(lineCount / seconds)} rows/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`);
console.log(`progress events ${outcome.progressEvents}; first at ${(outcome.firstProgressMs / 1000).toFixed(2)} s, upload finished at ${(outcome.uploadDoneMs / 1000).toFixed(2)} s`);
console.log(`workerd RSS: before ${mb(before)} MB, peak ${mb(peak)} MB, growth ${mb(peak - before)} MB`);
