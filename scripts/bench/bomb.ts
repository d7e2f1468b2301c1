/**
 * npm run bench:bomb -- [--items 8000000] [--element 0] [--url http://localhost:8080] [--route batch|stream]
 * A gzipped JSON array of --items copies of --element (8 million zeros: about 15 KB on the wire,
 * 16 MB inflated) sent to a running `npm run dev`: how long the refusal takes (it should come at
 * the 10,001st element, MAX_BATCH_ITEMS), the Worker isolate's V8 heap meanwhile (inspector.ts),
 * and how long one single message sent alongside waits for its answer.
 */
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { findInspector, heapLine, watchHeap } from "./inspector.ts";

const { values } = parseArgs({
  options: {
    items: { type: "string", default: "8000000" },
    element: { type: "string", default: "0" },
    url: { type: "string", default: "http://localhost:8080" },
    route: { type: "string", default: "batch" },
  },
});
const items = Number(values.items);
if (!Number.isSafeInteger(items) || items < 1) throw new Error(`--items must be a positive integer, got ${values.items}`);
if (values.route !== "batch" && values.route !== "stream") throw new Error(`--route must be batch or stream, got ${values.route}`);

const inflated = Buffer.from(`[${`${values.element},`.repeat(items - 1)}${values.element}]`);
const body = gzipSync(inflated, { level: 9 });
const port = Number(new URL(values.url).port || 80);
const heap = await watchHeap((await findInspector(port)).url, values.url);

const started = performance.now();
const bomb = fetch(new URL(`/ingest/${values.route}`, values.url), {
  method: "POST",
  body,
  headers: { "Content-Type": "application/json", "Content-Encoding": "gzip" },
}).then(async (res) => ({ status: res.status, text: (await res.text()).slice(-300), ms: performance.now() - started }));
// One single message alongside, a moment later: how long another client waits meanwhile.
await new Promise((r) => setTimeout(r, 20));
const messageStarted = performance.now();
const message = await fetch(new URL("/ingest/message", values.url), {
  method: "POST",
  body: `C|bomb-bench-${Date.now()}|Name|x|1|5|1.00|A|b`,
  headers: { "Content-Type": "text/plain" },
}).then((res) => ({ status: res.status, ms: performance.now() - messageStarted }));
const answer = await bomb;
const report = await heap.stop();

console.log(
  `body: ${items} × ${JSON.stringify(values.element)}, ${(inflated.length / 1e6).toFixed(1)} MB inflated, ${(body.length / 1e3).toFixed(1)} KB gzip, to /ingest/${values.route}`,
);
console.log(`answer: ${answer.status} in ${(answer.ms / 1000).toFixed(2)} s: ${answer.text.replace(/\s+/g, " ")}`);
console.log(`a single message alongside: ${message.status} in ${(message.ms / 1000).toFixed(2)} s`);
console.log(`Worker isolate: ${heapLine(report)}`);
