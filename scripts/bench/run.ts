/**
 * npm run bench -- [--quick] [--lines 1000000] [--batch-size 10000] [--concurrency 4] [--messages N] [--clients 50]
 *                  [--message-rate 100] [--paced-messages N] [--stats-rounds 5] [--auth-messages N] [--port 28787]
 *                  [--memory-batch-mib 16] [--memory-stream-mb 100] [--skip-pooler] [--skip-memory]
 *                  [--senders 16] [--sender-messages N]
 * npm run bench -- --memory-only [--memory-batch-mib 16] [--memory-stream-mb 100]
 *   only the memory path: four concurrent batches and one stream in one isolate, heap capped at 128 MB
 * npm run bench -- --messages-only [--messages 2000] [--message-clients 16,50] [--paced-messages 500] [--rounds 3]
 *   only /ingest/message with every feature on against the empty Worker: our CPU a message (message-cost.ts)
 *
 * BULK_WRITER=copy|insert chooses the Worker's bulk writer (default: copy, over the local WebSocket endpoint).
 *
 * Issue 7's harness: one run measures every write path against PostgreSQL's own COPY of the same
 * rows, on a stack it starts and stops itself (a fresh database, the local Neon endpoint and
 * `wrangler dev` on --port, the on/off comparisons on the next two ports). Every path starts
 * from emptied tables and is checked afterwards: the database must hold exactly the rows sent,
 * table by table, or the run fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startPgBouncer } from "../local-neon/pgbouncer.ts";
import { localConnectionString } from "../local-neon/start.ts";
import { compareOnOff } from "./ab-compare.ts";
import { authCost, benchKey } from "./auth-cost.ts";
import { copyBaseline, writeCopyFiles } from "./copy-baseline.ts";
import { type BenchDatabase, openBenchDatabase, recreateDatabase } from "./database.ts";
import { findInspector, heapLine, watchHeap } from "./inspector.ts";
import { messageBench } from "./message-cost.ts";
import { monitor } from "./monitor.ts";
import { postBatches } from "./paths/batch.ts";
import { sendThroughClient } from "./paths/client.ts";
import { postMessages } from "./paths/message.ts";
import { parseInNode, parseInWorkerd } from "./paths/parsers.ts";
import { streamFile } from "./paths/stream.ts";
import { type Driven, machine, type PathResult, resultsTable } from "./report.ts";
import { neonEndpointOf, type Stack, startBenchWorker, startStack } from "./stack.ts";
import { type Workload, workload } from "./workload.ts";

const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/nomnom_bench";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    lines: { type: "string" },
    "batch-size": { type: "string", default: "10000" },
    concurrency: { type: "string", default: "4" },
    messages: { type: "string" },
    clients: { type: "string", default: "50" },
    "message-rate": { type: "string", default: "100" },
    "paced-messages": { type: "string" },
    "stats-rounds": { type: "string", default: "5" },
    "auth-messages": { type: "string" },
    port: { type: "string", default: "28787" },
    // The heap of four concurrent batches of this size and one stream of this size, heap capped at 128 MB.
    "memory-batch-mib": { type: "string", default: "16" },
    "memory-stream-mb": { type: "string", default: "100" },
    "skip-pooler": { type: "boolean", default: false },
    "skip-memory": { type: "boolean", default: false },
    "memory-only": { type: "boolean", default: false },
    senders: { type: "string", default: "16" },
    "sender-messages": { type: "string" },
    "messages-only": { type: "boolean", default: false },
    "message-clients": { type: "string", default: "16,50" },
    rounds: { type: "string", default: "3" },
  },
});

function integer(name: string, value: string, min: 0 | 1): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`--${name} must be ${min === 1 ? "a positive integer" : "an integer ≥ 0"}, got ${JSON.stringify(value)}`);
    process.exit(64);
  }
  return n;
}
const positive = (name: string, value: string) => integer(name, value, 1);

const lineCount = positive("lines", values.lines ?? (values.quick ? "100000" : "1000000"));
const batchSize = positive("batch-size", values["batch-size"]);
const concurrency = positive("concurrency", values.concurrency);
const messagesOnly = values["messages-only"];
const memoryOnly = values["memory-only"];
const messageCount = positive("messages", values.messages ?? (messagesOnly ? "2000" : values.quick ? "5000" : "20000"));
const clients = positive("clients", values.clients);
const messageRate = positive("message-rate", values["message-rate"]);
const pacedCount = integer("paced-messages", values["paced-messages"] ?? (messagesOnly ? "500" : values.quick ? "1000" : "3000"), 0);
const statsRounds = Number(values["stats-rounds"]);
const authMessages = Number(values["auth-messages"] ?? (values.quick ? "1200" : "3000"));
// Single records at `senders` concurrent senders: one by one to /ingest/message, then through nomnom-edge/client.
const senders = positive("senders", values.senders);
const senderCount = integer("sender-messages", values["sender-messages"] ?? (values.quick ? "2000" : "5000"), 0);
// wrangler dev's port; the on/off comparisons use the next two.
const WRANGLER_PORT = positive("port", values.port);
// After the two on/off stacks' ports.
const BENCH_WORKER_PORT = WRANGLER_PORT + 3;
const bench = benchKey();
const memoryBatchBytes = positive("memory-batch-mib", values["memory-batch-mib"]) * 2 ** 20;
const memoryStreamBytes = positive("memory-stream-mb", values["memory-stream-mb"]) * 1e6;

const log = (message: string) => console.log(`[bench] ${message}`);
const began = performance.now();
const loadAtStart = loadavg()[0];
const dir = mkdtempSync(join(tmpdir(), "nomnom-bench-"));
const stackLog = join(dir, "stack.log");

// --memory-only still needs some lines: the memory path's line length is measured on them.
const data = workload(messagesOnly ? 0 : memoryOnly ? 1000 : lineCount, 1);
if (!memoryOnly) log(`generating ${lineCount.toLocaleString("en-US")} lines and ${messageCount.toLocaleString("en-US")} messages`);
const dataFile = join(dir, "lines.txt");
writeFileSync(dataFile, data.text);
const copyFiles = writeCopyFiles(dir, data.lines);
// Seeds 2 and 4: natural keys of their own, so each message is a new row.
const messages = workload(messageCount, 2);
const pacedMessages = workload(pacedCount, 4);
const senderMessages = workload(senderCount, 5);

const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
let stack: Stack | undefined;
let db: BenchDatabase | undefined;

function checkRows(path: string, expected: Map<string, number>, found: Map<string, number>): void {
  const sum = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);
  const show = (counts: Map<string, number>) => [...counts].map(([table, n]) => `${table} ${n}`).join(", ");
  if ([...expected].some(([table, n]) => found.get(table) !== n)) {
    throw new Error(`ROW COUNT MISMATCH after ${path}: expected ${sum(expected)} rows (${show(expected)}), the database holds ${sum(found)} (${show(found)})`);
  }
}

/**
 * Empties the tables, drives one path while watching the stack (and, with `heap`, the Worker
 * isolate's V8 heap), then checks the database holds exactly its rows.
 */
async function measure(
  path: string,
  work: Workload,
  drive: () => Promise<Driven>,
  options: { heap?: boolean; gcEveryMs?: number; keep?: boolean } = {},
): Promise<PathResult> {
  log(`${path}…`);
  // `keep`: the rows of the path before stay, so every row of this one is a duplicate (a replay).
  if (!options.keep) await db!.empty();
  // Started first: its garbage collection and request are not part of the path's figures.
  const heapWatch = options.heap ? await watchHeap((await findInspector(WRANGLER_PORT)).url, stack!.url, { gcEveryMs: options.gcEveryMs }) : undefined;
  const watch = monitor({ stackPid: stack!.pid, port: WRANGLER_PORT, database: new URL(databaseUrl).pathname.slice(1) });
  let driven: Driven;
  try {
    driven = await drive();
  } catch (error) {
    await heapWatch?.stop().catch(() => {}); // the path's own failure is the one to report
    throw error;
  }
  const usage = watch.stop();
  const heap = await heapWatch?.stop();
  checkRows(path, work.rowsByTable, await db!.rowsByTable());
  log(`${path}: ${driven.seconds.toFixed(2)} s, ${Math.round(work.lines.length / driven.seconds).toLocaleString("en-US")} rows/s, row counts verified`);
  return { path, rows: work.lines.length, bytes: work.bytes, usage, heap, ...driven };
}

/**
 * On the bench Worker, under its own wrangler dev: the parsers inside workerd, then the same
 * messages, clients and client against a route that does nothing (the floor under /ingest/message).
 */
async function benchWorkerPaths(
  parserLines: readonly string[],
  lines: readonly string[],
  pacedLines: readonly string[],
): Promise<{ floor: { perSecond: number; text: string }; pacedFloor: string; parsers: PathResult }> {
  log("the bench Worker under wrangler dev: the parsers in workerd, then the floor under /ingest/message…");
  const worker = await startBenchWorker(BENCH_WORKER_PORT, join(dir, "bench-worker.log"));
  try {
    // The parsers first, on a fresh process, so that they do not depend on what ran before: after
    // 5,000 messages through wrangler dev the stack's Worker process held ~300 MB more memory.
    const parsed = await parseInWorkerd(worker, BENCH_WORKER_PORT, parserLines);
    await postMessages(worker.url, lines.slice(0, 200), clients, {}, "/"); // warm-up, as the stack had the other paths
    // Watched like the stack's own message paths: the sampler's reads of /proc pause this client too.
    const floorRun = async (rate?: number, path = "/") => {
      const watch = monitor({ stackPid: worker.pid, port: BENCH_WORKER_PORT });
      const started = performance.now();
      const run = await postMessages(worker.url, rate === undefined ? lines : pacedLines, clients, {}, path, rate).catch((error: unknown) => {
        watch.stop();
        throw error;
      });
      const usage = watch.stop();
      const seconds = (performance.now() - started) / 1000;
      return {
        text: `p50 ${run.p50.toFixed(1)} ms, p99 ${run.p99.toFixed(1)} ms`,
        perSecond: lines.length / seconds,
        cpuMs: (usage.cpuSeconds.worker * 1000) / lines.length,
      };
    };
    const floor = await floorRun();
    const pacedFloor = pacedLines.length > 0 ? (await floorRun(messageRate)).text : "";
    // What wrangler dev itself adds to a request that logs a line and asks the rate limiter, as ours do.
    const logged = await floorRun(undefined, "/?log=1");
    const limited = await floorRun(undefined, "/?limit=1");
    const ms = (n: number) => `${n.toFixed(2)} ms`;
    return {
      floor: {
        perSecond: floor.perSecond,
        text:
          `an empty Worker under the same wrangler dev: ${Math.round(floor.perSecond)}/s, ${floor.text}, Worker CPU ${ms(floor.cpuMs)} a message; ` +
          `on it, wrangler dev's log forwarding (one console.log line) adds ${ms(logged.cpuMs - floor.cpuMs)} of Worker CPU a message, ` +
          `its local rate limiter ${ms(limited.cpuMs - floor.cpuMs)}`,
      },
      pacedFloor: `the empty Worker at the same pace: ${pacedFloor}`,
      parsers: { path: "parsers (workerd)", bytes: (data.bytes / data.lines.length) * parsed.rows, ...parsed },
    };
  } finally {
    await worker.stop();
  }
}

/** Replaces the stack with one started with `databaseUrl` and `extraEnv` (same port: `measure` watches it there). */
async function restartStack(databaseUrlForWorker: string, extraEnv: Record<string, string> = {}): Promise<void> {
  await stack?.stop();
  stack = undefined;
  stack = await startStack(databaseUrlForWorker, WRANGLER_PORT, stackLog, { API_KEYS: bench.apiKeys, ...extraEnv });
}

/**
 * /ingest/batch and /ingest/stream again through PgBouncer in transaction mode, as Neon's -pooler
 * host (scripts/local-neon/pgbouncer.ts), the local endpoints connecting through it: the table gives
 * their ratio to COPY (psql) in the same run, the notes to the same path straight to PostgreSQL.
 */
async function throughPgBouncer(directBatch: PathResult, directStream: PathResult): Promise<PathResult[]> {
  log("PgBouncer (pool_mode=transaction, like Neon's -pooler host) in front of the database…");
  const bouncer = await startPgBouncer(databaseUrl);
  try {
    await restartStack(bouncer.url(databaseUrl));
    const batch = await measure("/ingest/batch, through PgBouncer", data, () => postBatches(stack!.url, data.lines, batchSize, concurrency));
    const stream = await measure("/ingest/stream, through PgBouncer", data, () => streamFile(stack!.url, dataFile, lineCount));
    batch.notes += `; ${(directBatch.seconds / batch.seconds).toFixed(3)}× the direct path's rows/s in this run`;
    stream.notes += `; ${(directStream.seconds / stream.seconds).toFixed(3)}× the direct path's rows/s in this run`;
    return [batch, stream];
  } finally {
    await restartStack(databaseUrl).finally(() => bouncer.stop());
  }
}

/**
 * Four concurrent batches of --memory-batch-mib and one stream of --memory-stream-mb at once, in
 * one isolate with its V8 heap capped at 128 MB (workerd's flag, as a Worker's isolate is capped):
 * the rows must all arrive and the heap's peak is reported.
 */
async function memoryUnderCap(): Promise<PathResult> {
  const perLine = data.bytes / data.lines.length;
  // Lines vary in length, so a batch aims 3% under the size asked: at 16 MiB it must stay within MAX_BATCH_BYTES.
  const batchLines = Math.max(1, Math.floor((memoryBatchBytes * 0.97) / perLine));
  const streamLines = Math.max(1, Math.floor(memoryStreamBytes / perLine));
  log(`4 × ${(memoryBatchBytes / 2 ** 20).toFixed(1)} MiB batches + a ${(memoryStreamBytes / 1e6).toFixed(1)} MB stream, heap capped at 128 MB: generating…`);
  // Seeds 5 and 6: keys of their own.
  const batches = workload(batchLines * 4, 5);
  const streamed = workload(streamLines, 6);
  const streamFileName = join(dir, "memory-stream.txt");
  writeFileSync(streamFileName, streamed.text);
  const both: Workload = {
    lines: [...batches.lines, ...streamed.lines],
    text: "",
    bytes: batches.bytes + streamed.bytes,
    rowsByTable: new Map([...batches.rowsByTable].map(([table, n]) => [table, n + (streamed.rowsByTable.get(table) ?? 0)])),
  };
  // TPC-H-like lines are ~130 bytes: a 16 MiB batch holds more lines than MAX_BATCH_ITEMS' default 10,000.
  await restartStack(databaseUrl, { MINIFLARE_WORKERD_V8_FLAGS: "--max-heap-size=128", MAX_BATCH_ITEMS: String(batchLines) });
  const result = await measure(
    "4 batches + 1 stream at once, heap capped at 128 MB",
    both,
    async () => {
      const started = performance.now();
      const [batch, stream] = await Promise.all([postBatches(stack!.url, batches.lines, batchLines, 4), streamFile(stack!.url, streamFileName, streamLines)]);
      return { seconds: (performance.now() - started) / 1000, notes: `${batch.notes}; the stream: ${stream.notes}` };
    },
    // A collection forced every second: what the isolate holds live (the cap makes V8 collect before it runs out).
    { heap: true, gcEveryMs: 1000 },
  );
  result.notes += `; ${heapLine(result.heap!)}`;
  return result;
}

/** --messages-only: the stack with API keys required and the empty Worker beside it, nothing else. */
async function messagesOnlyRun(): Promise<void> {
  const clientCounts = values["message-clients"].split(",").map((n) => positive("message-clients", n));
  log(`starting the stack (wrangler dev on :${WRANGLER_PORT}, API keys required; log ${stackLog}) and the empty Worker on :${BENCH_WORKER_PORT}`);
  stack = await startStack(databaseUrl, WRANGLER_PORT, stackLog, { API_KEYS: bench.apiKeys, ALLOW_ANONYMOUS: "false", STATS_ENABLED: "true" });
  db = await openBenchDatabase(databaseUrl);
  const worker = await startBenchWorker(BENCH_WORKER_PORT, join(dir, "bench-worker.log"), {
    endpoint: neonEndpointOf(stackLog),
    databaseUrl: localConnectionString(),
  });
  try {
    const report = await messageBench({
      stack,
      stackPort: WRANGLER_PORT,
      worker,
      workerPort: BENCH_WORKER_PORT,
      db,
      key: bench.key,
      messages: messageCount,
      clientCounts,
      pacedMessages: pacedCount,
      rate: messageRate,
      rounds: positive("rounds", values.rounds),
      log,
    });
    console.log(`\n${report}\n`);
    console.log(`machine: ${machine(await db.version(), loadAtStart)}`);
  } finally {
    await worker.stop();
  }
}

/** --memory-only: the memory path alone (four concurrent batches and a stream, heap capped at 128 MB). */
async function memoryOnlyRun(): Promise<void> {
  db = await openBenchDatabase(databaseUrl);
  const result = await memoryUnderCap();
  // No COPY baseline in this run: no ratio.
  const cpu = Object.entries(result.usage!.cpuSeconds).map(([role, seconds]) => `${role} ${seconds.toFixed(1)}`);
  console.log(`\n${result.path}: ${result.rows.toLocaleString("en-US")} rows in ${result.seconds.toFixed(2)} s; CPU s: ${cpu.join(", ")}`);
  console.log(`${result.notes}\n`);
  console.log(`machine: ${machine(await db.version(), loadAtStart)}`);
  console.log(`bulk writer: ${process.env.BULK_WRITER ?? "copy"} (BULK_WRITER)`);
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) await recreateDatabase(databaseUrl);
  if (messagesOnly) return messagesOnlyRun();
  if (memoryOnly) return memoryOnlyRun();
  log(`starting the stack (${databaseUrl.replace(/:[^:@/]*@/, ":***@")}, wrangler dev on :${WRANGLER_PORT}; log ${stackLog})`);
  stack = await startStack(databaseUrl, WRANGLER_PORT, stackLog, { API_KEYS: bench.apiKeys });
  db = await openBenchDatabase(databaseUrl);
  const results = [
    await measure("COPY (psql)", data, () => copyBaseline(databaseUrl, copyFiles)),
    await measure("/ingest/batch", data, () => postBatches(stack!.url, data.lines, batchSize, concurrency)),
    await measure("/ingest/batch, replay (all duplicates)", data, () => postBatches(stack!.url, data.lines, batchSize, concurrency, true), { keep: true }),
    await measure("/ingest/stream", data, () => streamFile(stack!.url, dataFile, lineCount)),
  ];
  // The heap comes from a second, untimed pass: polling the inspector costs the proxy and wrangler
  // CPU on the same cores, and slowed a 300,000-line stream by 5–43% (three interleaved pairs).
  // Before the messages: after 20,000 of them, wrangler's inspector proxy once refused the connection.
  const watched = await measure("/ingest/stream, heap watched", data, () => streamFile(stack!.url, dataFile, lineCount), { heap: true });
  results[3].heap = watched.heap;
  results[3].notes += `; heap from a second pass watched through the inspector (${watched.seconds.toFixed(2)} s)`;
  const saturated = await measure("/ingest/message", messages, () => postMessages(stack!.url, messages.lines, clients));
  results.push(saturated);
  // The same clients at a pace the stack keeps up with: latency without the queue of a saturated server.
  const paced =
    pacedCount > 0
      ? await measure(`/ingest/message, ${messageRate}/s`, pacedMessages, () =>
          postMessages(stack!.url, pacedMessages.lines, clients, {}, "/ingest/message", messageRate),
        )
      : undefined;
  if (paced) results.push(paced);
  if (senderCount > 0) {
    results.push(await measure(`/ingest/message, ${senders} clients`, senderMessages, () => postMessages(stack!.url, senderMessages.lines, senders)));
    results.push(await measure(`nomnom-edge/client, ${senders} senders`, senderMessages, () => sendThroughClient(stack!.url, senderMessages.lines, senders)));
  }
  const benchWorker = await benchWorkerPaths(data.lines, messages.lines, pacedMessages.lines);
  const perSecond = messages.lines.length / saturated.seconds;
  saturated.notes +=
    `; ${Math.round(perSecond)}/s (${(perSecond / benchWorker.floor.perSecond).toFixed(2)}× the empty Worker's), ` +
    `Worker CPU ${((saturated.usage!.cpuSeconds.worker * 1000) / messages.lines.length).toFixed(2)} ms a message; ${benchWorker.floor.text}`;
  if (paced) paced.notes += `; ${benchWorker.pacedFloor}`;
  if (statsRounds > 0) {
    log(`/ingest/batch with stats, then retries, on and off: ${statsRounds} rounds each, interleaved…`);
    const batchRun = (url: string) => measure("/ingest/batch", data, () => postBatches(url, data.lines, batchSize, concurrency));
    const compare = (feature: string, on: Record<string, string>, off: Record<string, string>) =>
      compareOnOff({
        feature,
        on,
        off,
        databaseUrl,
        ports: [WRANGLER_PORT + 1, WRANGLER_PORT + 2],
        logFile: (side) => join(dir, `stack-${feature.split(" ")[1]}-${side}.log`),
        rounds: statsRounds,
        run: batchRun,
      });
    console.log(`\n${await compare("the Stats Durable Object (target ≥ 0.95×)", { STATS_ENABLED: "true" }, { STATS_ENABLED: "false" })}`);
    console.log(`\n${await compare("the retry layer", { DB_RETRY_MS: "15000" }, { DB_RETRY_MS: "0" })}`);
  }
  if (authMessages > 0) {
    log("/ingest/message with and without an API key, interleaved…");
    await db!.empty();
    console.log(`\n${await authCost(stack!.url, bench.key, workload(authMessages, 3).lines, 1)}`);
  }
  if (!values["skip-pooler"]) results.push(...(await throughPgBouncer(results[1], results[3])));
  if (!values["skip-memory"]) results.push(await memoryUnderCap());
  results.push(benchWorker.parsers);
  log("parsers (Node V8)…");
  results.push({ path: "parsers (Node V8)", rows: lineCount, bytes: data.bytes, ...parseInNode(data.lines) });
  const postgresVersion = await db.version();
  console.log(`\n${resultsTable(results)}\n`);
  console.log(`machine: ${machine(postgresVersion, loadAtStart)}`);
  console.log(`bulk writer: ${process.env.BULK_WRITER ?? "copy"} (BULK_WRITER)`);
  console.log(
    `data: ${lineCount.toLocaleString("en-US")} TPC-H-like pipe lines, ${(data.bytes / 1e6).toFixed(1)} MB; /ingest/message: ${messageCount.toLocaleString("en-US")} lines of their own` +
      (pacedCount > 0 ? `, then ${pacedCount.toLocaleString("en-US")} more paced at ${messageRate} a second (latency counted from when each was due)` : "") +
      (senderCount > 0
        ? `; ${senderCount.toLocaleString("en-US")} more at ${senders} concurrent senders, one request each, then through nomnom-edge/client (batched)`
        : ""),
  );
  console.log(
    "roles: worker = the Worker's workerd; proxy = wrangler dev's workerd in front of it (not in production); wrangler = its node and esbuild processes;",
  );
  console.log(
    "       endpoint = the local Neon endpoint (node; production: Neon's proxy); postgres = backends of the bench database; client = this process and psql",
  );
  console.log(
    "heap: the Worker isolate's V8 heap (stream path, a second pass), used after a GC before the path, then the peaks polled every 50 ms (garbage not yet collected included)",
  );
}

async function shutDown(): Promise<void> {
  await db?.close().catch(() => {});
  await stack?.stop();
}

process.once("SIGINT", () => {
  log("interrupted: stopping the stack");
  void shutDown().finally(() => process.exit(130));
});

try {
  await main();
} catch (error) {
  console.error(`\n[bench] FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
await shutDown();
if (process.exitCode === 1) console.error(`[bench] files and the stack's log are kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
log(`total ${((performance.now() - began) / 1000).toFixed(1)} s`);
