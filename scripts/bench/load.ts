/**
 * npm run load -- [--clients 50] [--seconds 60]
 * The durability load test: a fresh stack (as npm run bench starts it), `--clients` concurrent
 * clients for `--seconds`, each sending batches (and some single messages) drawn from one shared
 * pool of natural keys, so requests overlap and race. It must end with no 5xx and the database
 * holding exactly the rows the responses acknowledged as inserted.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../../test/support/free-port.ts";
import { openBenchDatabase, recreateDatabase } from "./database.ts";
import { startStack } from "./stack.ts";

const { values } = parseArgs({
  options: { clients: { type: "string", default: "50" }, seconds: { type: "string", default: "60" }, keys: { type: "string", default: "20000" } },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const keySpace = Number(values.keys);
// A free port: two load runs (or a load run beside a test run) on one machine do not collide.
const PORT = await freePort();
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/nomnom_load";

// A deterministic generator per client, so a run can be repeated.
function random(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}
const line = (key: number) => `C|LOAD${key}|Customer ${key}|street|${key % 25}|555-${key}|${key % 1000}.50|BUILDING|load`;

if (!process.env.DATABASE_URL) await recreateDatabase(databaseUrl);
const stack = await startStack(databaseUrl, PORT, join(mkdtempSync(join(tmpdir(), "nomnom-load-")), "stack.log"));
const db = await openBenchDatabase(databaseUrl);
const statuses = new Map<number, number>();
let acknowledgedInserts = 0;
let requests = 0;
const deadline = Date.now() + seconds * 1000;

async function client(id: number): Promise<void> {
  const next = random(id + 1);
  while (Date.now() < deadline) {
    const single = next() < 0.2;
    const keys = Array.from({ length: single ? 1 : 1 + Math.floor(next() * 200) }, () => Math.floor(next() * keySpace));
    const res = await fetch(`${stack.url}/ingest/${single ? "message" : "batch"}`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: keys.map(line).join("\n"),
    });
    const body = (await res.json()) as { inserted?: number; duplicate?: boolean };
    requests++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status === 200 || res.status === 207) acknowledgedInserts += single ? (body.duplicate ? 0 : 1) : (body.inserted ?? 0);
  }
}

try {
  console.log(`[load] ${clients} clients for ${seconds} s over ${keySpace.toLocaleString("en-US")} natural keys against ${stack.url}`);
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const rows = (await db.rowsByTable()).get("customers") ?? 0;
  const fiveHundreds = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  console.log(
    `[load] ${requests.toLocaleString("en-US")} requests (${(requests / seconds).toFixed(0)}/s), statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
  console.log(
    `[load] acknowledged inserts ${acknowledgedInserts.toLocaleString("en-US")}, rows in the database ${rows.toLocaleString("en-US")}, 5xx ${fiveHundreds}`,
  );
  if (fiveHundreds > 0 || rows !== acknowledgedInserts) {
    console.error("[load] FAILED: every acknowledged insert must be in the database, nothing more, and no request may get a 5xx");
    process.exitCode = 1;
  } else console.log("[load] passed: no 5xx, the database holds exactly the acknowledged inserts");
} finally {
  await db.close();
  await stack.stop();
}
