/**
 * npm run bench:profile -- [--path message|batch] [--messages 5000] [--clients 16] [--port 28900] [--out profile.cpuprofile]
 *
 * Where the Worker's CPU goes: a V8 CPU profile of the Worker isolate (through wrangler dev's
 * inspector) while `--messages` authenticated messages are posted to /ingest/message (or, with
 * `--path batch`, to /ingest/batch in bodies of `--batch-size` lines), summed by source file
 * (self time) and by the project's own functions, per message. The
 * profile is also written whole (`--out`), for Chrome DevTools. Runs its own stack on a database
 * of its own (nomnom_profile), like npm run bench.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchKey } from "./auth-cost.ts";
import { recreateDatabase } from "./database.ts";
import { findInspector, Inspector } from "./inspector.ts";
import { monitor } from "./monitor.ts";
import { postBatches } from "./paths/batch.ts";
import { postMessages } from "./paths/message.ts";
import { startStack } from "./stack.ts";
import { workload } from "./workload.ts";

const { values } = parseArgs({
  options: {
    path: { type: "string", default: "message" },
    messages: { type: "string", default: "5000" },
    "batch-size": { type: "string", default: "10000" },
    clients: { type: "string", default: "16" },
    port: { type: "string", default: "28900" },
    out: { type: "string" },
    database: { type: "string", default: "postgres://postgres@127.0.0.1:5432/nomnom_profile" },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const messages = Number(values.messages);
const clients = Number(values.clients);
const port = Number(values.port);
const dir = mkdtempSync(join(tmpdir(), "nomnom-profile-"));
const { key, apiKeys } = benchKey();
await recreateDatabase(values.database);
const stack = await startStack(values.database, port, join(dir, "stack.log"), {
  API_KEYS: apiKeys,
  ALLOW_ANONYMOUS: "false",
  STATS_ENABLED: "true",
  DEV_MINIFY: "false",
});
try {
  const lines = workload(messages + 200, 7).lines;
  const auth = { Authorization: `Bearer ${key}` };
  // Warm up: the first requests compile the code and open the Durable Objects.
  await postMessages(stack.url, lines.slice(0, 200), clients, auth);
  const drive = (rest: string[]) =>
    values.path === "batch" ? postBatches(stack.url, rest, Number(values["batch-size"]), clients, false, auth) : postMessages(stack.url, rest, clients, auth);
  const { url } = await findInspector(port);
  const inspector = await Inspector.open(url);
  await inspector.call("Profiler.enable");
  await inspector.call("Profiler.setSamplingInterval", { interval: 100 });
  const watched = monitor({ stackPid: stack.pid, port });
  await inspector.call("Profiler.start");
  const started = performance.now();
  const driven = await drive(lines.slice(200));
  const seconds = (performance.now() - started) / 1000;
  const { profile } = await inspector.call<{ profile: Profile }>("Profiler.stop", {}, 60_000);
  const usage = watched.stop();
  inspector.close();
  if (values.out) writeFileSync(values.out, JSON.stringify(profile));

  // Self time per node from the samples.
  const micros = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    micros.set(id, (micros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const byFile = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = micros.get(node.id) ?? 0;
    if (node.callFrame.functionName === "(idle)") continue;
    total += us;
    const file = node.callFrame.url.replace(/^.*?\/(src|node_modules)\//, "$1/") || `(${node.callFrame.functionName || "native"})`;
    byFile.set(file, (byFile.get(file) ?? 0) + us);
    const fn = `${node.callFrame.functionName || "(anonymous)"} ${file}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const n = messages;
  const perMessage = (us: number) => `${(us / n).toFixed(1)} µs`;
  console.log(`${n} messages, ${clients} clients, ${seconds.toFixed(1)} s (${(n / seconds).toFixed(0)}/s); ${driven.notes}`);
  console.log(
    `CPU per message from /proc: worker ${((usage.cpuSeconds.worker * 1000) / n).toFixed(2)} ms, proxy ${((usage.cpuSeconds.proxy * 1000) / n).toFixed(2)} ms, wrangler ${((usage.cpuSeconds.wrangler * 1000) / n).toFixed(2)} ms`,
  );
  console.log(`JavaScript sampled in the Worker isolate: ${perMessage(total)} per message`);
  console.log("\nby file (self time per message):");
  for (const [file, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${perMessage(us).padStart(10)}  ${file}`);
  console.log("\nby function (self time per message):");
  for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`  ${perMessage(us).padStart(10)}  ${fn}`);
} finally {
  await stack.stop();
}
