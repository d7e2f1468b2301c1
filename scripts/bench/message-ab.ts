/**
 * npm run bench:message-ab -- <tree>[,<tree>…] [--rounds 5] [--messages 2000] [--clients 50] [--rate N] [--port 39700]
 *
 * What a change buys /ingest/message, finer than one `--messages-only` run can tell: the stacks of
 * several checkouts of this repository (`git worktree add ../before <commit>`; each with its
 * node_modules) run side by side with the bench's empty Worker, each on a database of its own, and
 * take message-cost.ts's messages (every tenth spoiled) in interleaved rounds, the
 * order turned every round, so the machine's drift falls on all of them alike. Printed: each
 * tree's Worker CPU a message, messages/s and p99 latency per round and their medians, and each
 * tree's CPU minus the empty Worker's. With `--rate`, the messages are paced at N a second (latency
 * counted from when each was due, as message-cost.ts paces them). A tree may carry `:NAME=VALUE` settings for its stack
 * (e.g. `../main:STATS_ENABLED=false`).
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchKey } from "./auth-cost.ts";
import { type BenchDatabase, openBenchDatabase, recreateDatabase } from "./database.ts";
import { EMPTY_PATHS, isInvalid, mixed } from "./message-cost.ts";
import { monitor } from "./monitor.ts";
import { postMessages } from "./paths/message.ts";
import { median } from "./report.ts";
import { type Stack, startBenchWorker } from "./stack.ts";
import { workload } from "./workload.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "5" },
    messages: { type: "string", default: "2000" },
    clients: { type: "string", default: "50" },
    port: { type: "string", default: "39700" },
    rate: { type: "string" },
    database: { type: "string", default: "postgres://postgres@127.0.0.1:5432/nomnom_ab" },
  },
});
if (positionals.length !== 1) throw new Error("give the trees to compare, comma-separated: npm run bench:message-ab -- ../before,.");

const rounds = Number(values.rounds);
const clients = Number(values.clients);
const rate = values.rate === undefined ? undefined : Number(values.rate);
const basePort = Number(values.port);
const { key, apiKeys } = benchKey();
const auth = { Authorization: `Bearer ${key}` };
const { lines } = mixed(Number(values.messages), 2);
const expected = (i: number) => (isInvalid(i) ? 400 : 200);
const EMPTY_PATH = EMPTY_PATHS.empty;

interface Side {
  name: string;
  stack: Stack;
  port: number;
  db?: BenchDatabase;
  cpuMs: number[];
  perSecond: number[];
  p99: number[];
}

const sides: Side[] = [];
try {
  for (const [i, spec] of positionals[0].split(",").entries()) {
    const [tree, ...settings] = spec.split(":");
    // Each tree's own stack.ts: its scripts/dev.ts, its wrangler.toml, its src/.
    const { startStack } = (await import(join(resolve(tree), "scripts/bench/stack.ts"))) as typeof import("./stack.ts");
    const url = `${values.database}_${i}`;
    await recreateDatabase(url);
    const port = basePort + i * 10;
    const env = { API_KEYS: apiKeys, ALLOW_ANONYMOUS: "false", STATS_ENABLED: "true", ...Object.fromEntries(settings.map((s) => s.split("="))) };
    const stack = await startStack(url, port, `/tmp/nomnom-ab-${port}.log`, env);
    sides.push({ name: spec, stack, port, db: await openBenchDatabase(url), cpuMs: [], perSecond: [], p99: [] });
  }
  const emptyPort = basePort + 90;
  sides.push({
    name: "the empty Worker",
    stack: await startBenchWorker(emptyPort, `/tmp/nomnom-ab-${emptyPort}.log`),
    port: emptyPort,
    cpuMs: [],
    perSecond: [],
    p99: [],
  });
  // Warm-up, not counted: the first requests compile the code and open the Durable Objects.
  for (const side of sides) await postMessages(side.stack.url, workload(300, 9).lines, 16, auth, side.db ? "/ingest/message" : EMPTY_PATH);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      await side.db?.empty();
      const watch = monitor({ stackPid: side.stack.pid, port: side.port });
      const started = performance.now();
      const run = await postMessages(side.stack.url, lines, clients, auth, side.db ? "/ingest/message" : EMPTY_PATH, rate, side.db ? expected : () => 200);
      const seconds = (performance.now() - started) / 1000;
      side.cpuMs.push((watch.stop().cpuSeconds.worker * 1000) / lines.length);
      side.perSecond.push(lines.length / seconds);
      side.p99.push(run.p99);
      console.log(
        `round ${round + 1}, ${side.name}: ${side.cpuMs.at(-1)!.toFixed(2)} ms a message, ${side.perSecond.at(-1)!.toFixed(0)}/s, p99 ${run.p99.toFixed(1)} ms`,
      );
    }
  }
  const empty = sides.at(-1)!;
  const pace = rate === undefined ? "" : `, paced at ${rate}/s`;
  console.log(`\n${lines.length} messages, ${clients} clients${pace}, ${rounds} interleaved rounds: Worker CPU a message, median (rounds)`);
  for (const side of sides) {
    const over = side === empty ? "" : `; − the empty Worker: ${median(side.cpuMs.map((v, i) => v - empty.cpuMs[i])).toFixed(2)} ms`;
    console.log(
      `  ${side.name}: ${median(side.cpuMs).toFixed(2)} ms (${side.cpuMs.map((v) => v.toFixed(2)).join(" / ")}), ${median(side.perSecond).toFixed(0)}/s, p99 ${median(side.p99).toFixed(1)} ms (${side.p99.map((v) => v.toFixed(0)).join(" / ")})${over}`,
    );
  }
} finally {
  for (const side of sides) {
    await side.stack.stop();
    await side.db?.close();
  }
}
