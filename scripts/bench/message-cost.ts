/**
 * `npm run bench -- --messages-only`: what one message costs our own code, issue 29's measure.
 *
 * The stack runs with every feature on (API keys, the rate limiter, stats, the schema gate, the log
 * line) and the bench's empty Worker beside it under its own `wrangler dev`, doing what `wrangler
 * dev` charges ours for: the same body read, the same log line and the same rate-limiter call
 * (`/?log=1&limit=1`). Both get the same messages, 10% of them invalid (ours must answer those
 * 400), from the same client, in interleaved rounds. Our CPU a message is the Worker's total minus
 * the empty Worker's, each read from /proc in the same round; the figures are medians over rounds.
 * The empty Worker also runs the messages with one request to the local Neon endpoint added
 * (`&neon=1`): what the subrequest every message needs costs under wrangler dev, apart from our code.
 */
import { ENTITIES, entityByPrefix } from "../../src/registry.ts";
import type { BenchDatabase } from "./database.ts";
import { monitor } from "./monitor.ts";
import { postMessages } from "./paths/message.ts";
import { median } from "./report.ts";
import type { Stack } from "./stack.ts";
import { type Workload, workload } from "./workload.ts";

export interface MessageBenchSetup {
  stack: Stack;
  stackPort: number;
  worker: Stack;
  workerPort: number;
  db: BenchDatabase;
  key: string;
  messages: number;
  clientCounts: readonly number[];
  pacedMessages: number;
  rate: number;
  rounds: number;
  log(message: string): void;
}

/** Every tenth message is invalid: its first date, or else its first decimal, spoiled (a 400 naming the field, and a quarantined line). */
const INVALID_EVERY = 10;
export const isInvalid = (index: number) => index % INVALID_EVERY === INVALID_EVERY - 1;
const spoil = (line: string) =>
  /\|\d{4}-\d\d-\d\d\|/.test(line) ? line.replace(/\|\d{4}-\d\d-\d\d\|/, "|1996-13-45|") : line.replace(/\|-?\d+\.\d+\|/, "|12.3.4|");

/** The lines with every tenth spoiled, and the rows the valid ones leave. */
export function mixed(count: number, seed: number): Workload {
  const clean = workload(count, seed);
  const rowsByTable = new Map(ENTITIES.map((e) => [e.table, 0]));
  clean.lines.forEach((line, i) => {
    if (isInvalid(i)) return;
    const table = entityByPrefix(line.slice(0, line.indexOf("|")))!.table;
    rowsByTable.set(table, rowsByTable.get(table)! + 1);
  });
  return { lines: clean.lines.map((line, i) => (isInvalid(i) ? spoil(line) : line)), text: "", bytes: 0, rowsByTable };
}

interface Run {
  perSecond: number;
  p50: number;
  p99: number;
  cpuMs: number;
}

/** The empty Worker's two paths: what wrangler dev charges ours for, and that plus one request to the local Neon endpoint. */
export const EMPTY_PATHS = { empty: "/?log=1&limit=1", subrequest: "/?log=1&limit=1&neon=1" } as const;

export async function messageBench(setup: MessageBenchSetup): Promise<string> {
  const { stack, worker, db, key, log } = setup;
  const auth = { Authorization: `Bearer ${key}` };
  const work = mixed(setup.messages, 2);
  const paced = mixed(setup.pacedMessages, 4);
  const expected = (i: number) => (isInvalid(i) ? 400 : 200);

  const drive = async (target: "ours" | keyof typeof EMPTY_PATHS, lines: readonly string[], clients: number, rate?: number): Promise<Run> => {
    const ours = target === "ours";
    const watch = ours ? monitor({ stackPid: stack.pid, port: setup.stackPort }) : monitor({ stackPid: worker.pid, port: setup.workerPort });
    const started = performance.now();
    const run = await postMessages(
      ours ? stack.url : worker.url,
      lines,
      clients,
      auth,
      ours ? "/ingest/message" : EMPTY_PATHS[target],
      rate,
      ours ? expected : () => 200,
    ).finally(() => watch.stop());
    const seconds = (performance.now() - started) / 1000;
    const usage = watch.stop();
    return { perSecond: lines.length / seconds, p50: run.p50, p99: run.p99, cpuMs: (usage.cpuSeconds.worker * 1000) / lines.length };
  };
  const ourRun = async (w: Workload, clients: number, rate?: number) => {
    await db.empty();
    const run = await drive("ours", w.lines, clients, rate);
    const found = await db.rowsByTable();
    for (const [table, n] of w.rowsByTable) {
      if (found.get(table) !== n) throw new Error(`ROW COUNT MISMATCH after /ingest/message: ${table} holds ${found.get(table)}, expected ${n}`);
    }
    return run;
  };

  // Warm-up, not counted: the first requests compile the code and open the Durable Objects.
  const warm = mixed(200, 9);
  await db.empty();
  await postMessages(stack.url, warm.lines, 16, auth, "/ingest/message", undefined, expected);
  await postMessages(worker.url, warm.lines, 16, auth, EMPTY_PATHS.subrequest);

  const results = new Map<string, Run[]>();
  const keep = (name: string, run: Run) => results.set(name, [...(results.get(name) ?? []), run]);
  for (let round = 1; round <= setup.rounds; round++) {
    for (const clients of setup.clientCounts) {
      log(`round ${round}/${setup.rounds}, ${clients} clients: ours, then the empty Worker, then it with one Neon request…`);
      keep(`ours ${clients}`, await ourRun(work, clients));
      keep(`empty ${clients}`, await drive("empty", work.lines, clients));
      keep(`subrequest ${clients}`, await drive("subrequest", work.lines, clients));
    }
    if (setup.pacedMessages > 0) {
      log(`round ${round}/${setup.rounds}, paced at ${setup.rate}/s: ours, then the empty Worker…`);
      keep("ours paced", await ourRun(paced, 50, setup.rate));
      keep("empty paced", await drive("empty", paced.lines, 50, setup.rate));
    }
  }

  const of = (name: string, pick: (r: Run) => number) => results.get(name)!.map(pick);
  const show = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${values.map((v) => v.toFixed(digits)).join(" / ")})`;
  const lines = [
    `/ingest/message, every feature on (API key, rate limiter, stats, schema gate, log line), 10% invalid messages, ${setup.rounds} interleaved rounds: medians (the rounds)`,
    "against the bench's empty Worker reading the body, calling the rate limiter and logging one line (/?log=1&limit=1) under its own wrangler dev, same client and messages:",
  ];
  for (const clients of setup.clientCounts) {
    const ours = results.get(`ours ${clients}`)!;
    const empty = results.get(`empty ${clients}`)!;
    const ratio = ours.map((r, i) => r.perSecond / empty[i].perSecond);
    const cpuOurs = ours.map((r, i) => r.cpuMs - empty[i].cpuMs);
    const subrequest = results.get(`subrequest ${clients}`)!;
    const cpuSubrequest = subrequest.map((r, i) => r.cpuMs - empty[i].cpuMs);
    const cpuBeyond = ours.map((r, i) => r.cpuMs - subrequest[i].cpuMs);
    lines.push(
      `  ${clients} clients, ${setup.messages} messages: ours ${show(
        of(`ours ${clients}`, (r) => r.perSecond),
        0,
      )}/s, p50 ${show(
        of(`ours ${clients}`, (r) => r.p50),
        1,
      )} ms, p99 ${show(
        of(`ours ${clients}`, (r) => r.p99),
        1,
      )} ms`,
      `      the empty Worker ${show(
        of(`empty ${clients}`, (r) => r.perSecond),
        0,
      )}/s, p50 ${show(
        of(`empty ${clients}`, (r) => r.p50),
        1,
      )} ms, p99 ${show(
        of(`empty ${clients}`, (r) => r.p99),
        1,
      )} ms`,
      `      throughput ratio ${show(ratio, 2)}× (target ≥ 0.70×)`,
      `      Worker CPU a message: total ${show(
        of(`ours ${clients}`, (r) => r.cpuMs),
        2,
      )} ms, the empty Worker ${show(
        of(`empty ${clients}`, (r) => r.cpuMs),
        2,
      )} ms, ours ${show(cpuOurs, 2)} ms (target ≤ 1.00 ms)`,
      `      of which one request to the local Neon endpoint, made by the empty Worker (/?log=1&limit=1&neon=1: ${show(
        of(`subrequest ${clients}`, (r) => r.cpuMs),
        2,
      )} ms a request, ${show(
        of(`subrequest ${clients}`, (r) => r.perSecond),
        0,
      )}/s): ${show(cpuSubrequest, 2)} ms; ours beyond it ${show(cpuBeyond, 2)} ms`,
    );
  }
  if (setup.pacedMessages > 0) {
    const p99 = of("ours paced", (r) => r.p99).map((v, i) => v - results.get("empty paced")![i].p99);
    lines.push(
      `  paced at ${setup.rate}/s, 50 clients, ${setup.pacedMessages} messages: ours p50 ${show(
        of("ours paced", (r) => r.p50),
        1,
      )} ms, p99 ${show(
        of("ours paced", (r) => r.p99),
        1,
      )} ms; ` +
        `the empty Worker p50 ${show(
          of("empty paced", (r) => r.p50),
          1,
        )} ms, p99 ${show(
          of("empty paced", (r) => r.p99),
          1,
        )} ms; ours − empty p99 ${show(p99, 1)} ms (target ≤ 20 ms)`,
    );
  }
  return lines.join("\n");
}
