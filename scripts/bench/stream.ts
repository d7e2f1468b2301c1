/**
 * npm run bench:stream -- [--lines 500000] [--url http://localhost:8080] [--gzip] [--gc-every MS]
 * Streams a generated TPC-H-like file (~100 bytes a line) to a running `npm run dev` through
 * /ingest/stream, and prints rows/s, MB/s, the Worker isolate's V8 heap (inspector.ts: before,
 * after a GC, and its peak, polled every 50 ms) and the growth of the stack's workerd resident
 * memory (monitor.ts). Only the stack serving --url is watched, not other stacks on the machine.
 * --gc-every also forces a garbage collection every MS milliseconds and reports the live heap's
 * peak (which the forced collections lower the other figures for).
 */
import { createReadStream, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createGzip } from "node:zlib";
import { tpchLines } from "../../test/support/tpch.ts";
import { findInspector, heapLine, watchHeap } from "./inspector.ts";
import { monitor, stackOf } from "./monitor.ts";
import { streamUpload } from "./paths/stream.ts";

const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "500000" },
    url: { type: "string", default: "http://localhost:8080" },
    gzip: { type: "boolean" },
    "gc-every": { type: "string" },
  },
});
const lineCount = Number(values.lines);

const file = join(mkdtempSync(join(tmpdir(), "bench-")), "stream.txt");
// Pad comments so lines average ~100 bytes, as in the 50 MB / 500,000 lines.
writeFileSync(
  file,
  tpchLines(lineCount, Date.now() % 1000)
    .map((l) => (l.length < 100 ? l + "x".repeat(100 - l.length) : l))
    .join("\n") + "\n",
);
const bytes = statSync(file).size;

const port = Number(new URL(values.url).port || 80);
const inspector = await findInspector(port);
const heap = await watchHeap(inspector.url, values.url, { gcEveryMs: values["gc-every"] === undefined ? undefined : Number(values["gc-every"]) });
const usage = monitor({ stackPid: stackOf(inspector.proxyPid), port });
const started = performance.now();
const source = createReadStream(file);
const outcome = await streamUpload(new URL("/ingest/stream", values.url), values.gzip ? source.pipe(createGzip()) : source, {
  "Content-Type": "text/plain",
  ...(values.gzip ? { "Content-Encoding": "gzip" } : {}),
});
const seconds = (performance.now() - started) / 1000;
const { rssGrowthMb, cpuSeconds } = usage.stop();
const heapReport = await heap.stop();

console.log(`lines ${lineCount}, body ${(bytes / 1e6).toFixed(1)} MB${values.gzip ? " (sent gzip)" : ""}`);
if (outcome.event !== "summary") throw new Error(`the stream failed: ${JSON.stringify(outcome.data)}`);
const summary = outcome.data as Record<string, number>;
console.log(`summary: ${JSON.stringify({ total: summary.total, inserted: summary.inserted, duplicates: summary.duplicates, failed: summary.failed })}`);
console.log(
  `accounted: ${summary.inserted + summary.duplicates + summary.failed === lineCount ? "yes" : "NO"} (inserted + duplicates + failed = ${summary.inserted + summary.duplicates + summary.failed})`,
);
console.log(`time ${seconds.toFixed(2)} s: ${Math.round(lineCount / seconds)} rows/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`);
console.log(
  `progress events ${outcome.progressEvents}; first at ${(outcome.firstProgressMs / 1000).toFixed(2)} s, upload finished at ${(outcome.uploadDoneMs / 1000).toFixed(2)} s`,
);
console.log(`Worker isolate: ${heapLine(heapReport)}`);
console.log(
  `workerd RSS growth: worker ${rssGrowthMb.worker.toFixed(1)} MB, proxy ${rssGrowthMb.proxy.toFixed(1)} MB; CPU s: worker ${cpuSeconds.worker.toFixed(1)}, proxy ${cpuSeconds.proxy.toFixed(1)}, wrangler ${cpuSeconds.wrangler.toFixed(1)}, endpoint ${cpuSeconds.endpoint.toFixed(1)}`,
);
