/**
 * npm run bench:copy -- [--lines 300000] [--rounds 3]
 *
 * The database side of the COPY writer's choices, through the local WebSocket endpoint and the real
 * @neondatabase/serverless Client from Node (no Worker): the same TPC-H-like rows, 10,000-row chunks,
 * one transaction each, written three ways, on new rows and on a replay (every row a duplicate):
 *   optimistic  COPY into the table; a chunk that meets existing keys (23505) is rolled back and written
 *               again by INSERT or through the staging table, and, "remembered", the entity's next
 *               chunks go that way at once until one is all new (the COPY writer: staging, remembered)
 *   staging     COPY into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING
 *   insert      the INSERT writer's INSERT … SELECT FROM jsonb_array_elements($1) ON CONFLICT DO NOTHING
 * Each figure is the median of --rounds, interleaved; the rows are checked after each write.
 */

import { parseArgs } from "node:util";
import { Client } from "@neondatabase/serverless";
import { from as copyFrom } from "pg-copy-streams";
import { copyText } from "../../src/db/copy-text.ts";
import type { EntityDef } from "../../src/entity/entity.ts";
import { parseBody } from "../../src/ingest/parse-messages.ts";
import type { RowToWrite } from "../../src/writer/rows.ts";
import { startLocalNeon } from "../local-neon/start.ts";
import { openBenchDatabase, recreateDatabase } from "./database.ts";
import { median } from "./report.ts";
import { workload } from "./workload.ts";

const { values } = parseArgs({ options: { lines: { type: "string", default: "300000" }, rounds: { type: "string", default: "3" } } });
const lineCount = Number(values.lines);
const rounds = Number(values.rounds);
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/nomnom_bench_copy";

const CHUNK = 10_000;
const data = workload(lineCount, 1);
const parsed = parseBody("text", data.text, new Set());
const chunks: { entity: EntityDef; rows: RowToWrite[] }[] = [];
const open = new Map<EntityDef, RowToWrite[]>();
for (const row of parsed.rows) {
  let rows = open.get(row.entity);
  if (!rows || rows.length >= CHUNK) {
    rows = [];
    open.set(row.entity, rows);
    chunks.push({ entity: row.entity, rows });
  }
  rows.push(row);
}

async function copyInto(client: Client, table: string, entity: EntityDef, rows: RowToWrite[]): Promise<void> {
  const text = copyText(rows.map((r) => r.json))!;
  const stream = client.query(copyFrom(`COPY ${table} (${entity.columns.map((c) => `"${c}"`).join(", ")}) FROM STDIN`));
  await new Promise<void>((resolve, reject) => {
    stream.on("finish", resolve);
    stream.on("error", reject);
    stream.end(text);
  });
}

const insertJson = (client: Client, entity: EntityDef, rows: RowToWrite[]) => client.query(entity.insertSql, [`[${rows.map((r) => r.json).join(",")}]`]);

type Strategy = (client: Client, entity: EntityDef, rows: RowToWrite[], conflicted: Set<EntityDef>) => Promise<unknown>;

async function optimistic(client: Client, entity: EntityDef, rows: RowToWrite[], conflicted: Set<EntityDef> | undefined, onConflict: Strategy): Promise<void> {
  if (conflicted?.has(entity)) {
    const inserted = await onConflict(client, entity, rows, conflicted);
    if (inserted === rows.length) conflicted.delete(entity);
    return;
  }
  await client.query("BEGIN");
  try {
    await copyInto(client, `"${entity.table}"`, entity, rows);
    await client.query("COMMIT");
  } catch (error) {
    if ((error as { code?: string }).code !== "23505") throw error;
    await client.query("ROLLBACK");
    conflicted?.add(entity);
    await onConflict(client, entity, rows, conflicted ?? new Set());
  }
}

async function insert(client: Client, entity: EntityDef, rows: RowToWrite[]): Promise<number> {
  return (await insertJson(client, entity, rows)).rowCount ?? 0;
}

async function staging(client: Client, entity: EntityDef, rows: RowToWrite[]): Promise<number> {
  const columns = entity.columns.map((c) => `"${c}"`).join(", ");
  await client.query("BEGIN");
  // As src/db/copy-writer.ts: the entity's columns and types only, kept for the session, emptied at commit.
  const table = `"nomnom_staging_${entity.table}"`;
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${table} ON COMMIT DELETE ROWS AS SELECT ${columns} FROM "${entity.table}" WITH NO DATA`);
  await copyInto(client, table, entity, rows);
  const order = entity.naturalKey.map((k) => `"${k}"`).join(", ");
  const { rowCount } = await client.query(
    `INSERT INTO "${entity.table}" (${columns}) SELECT ${columns} FROM ${table} ORDER BY ${order} ON CONFLICT (${order}) DO NOTHING`,
  );
  await client.query("COMMIT");
  return rowCount ?? 0;
}

const strategies: Record<string, Strategy> = {
  /** Every chunk tries COPY first; a conflict's chunk is INSERTed. */
  "optimistic, then INSERT": (client, entity, rows) => optimistic(client, entity, rows, undefined, insert),
  /** After a conflict, the entity's chunks are INSERTed until one is all new. */
  "optimistic, then INSERT, remembered": (client, entity, rows, conflicted) => optimistic(client, entity, rows, conflicted, insert),
  /** What src/db/copy-writer.ts does: after a conflict, the entity's chunks are staged until one is all new. */
  "optimistic, then staging, remembered (the COPY writer)": (client, entity, rows, conflicted) => optimistic(client, entity, rows, conflicted, staging),
  staging,
  insert,
};

async function run(client: Client, strategy: Strategy): Promise<number> {
  const started = performance.now();
  const conflicted = new Set<EntityDef>();
  for (const chunk of chunks) await strategy(client, chunk.entity, chunk.rows, conflicted);
  return (performance.now() - started) / 1000;
}

if (!process.env.DATABASE_URL) await recreateDatabase(databaseUrl);
const local = await startLocalNeon({ databaseUrl });
const db = await openBenchDatabase(databaseUrl);
const client = new Client(local.connectionString);
client.neonConfig.wsProxy = local.wsProxy!;
client.neonConfig.useSecureWebSocket = false;
client.neonConfig.pipelineConnect = false;
await client.connect();
const times: Record<string, { fresh: number[]; replay: number[] }> = Object.fromEntries(Object.keys(strategies).map((s) => [s, { fresh: [], replay: [] }]));
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, strategy] of Object.entries(strategies)) {
      await db.empty();
      times[name].fresh.push(await run(client, strategy));
      times[name].replay.push(await run(client, strategy));
      const found = await db.rowsByTable();
      for (const [table, n] of data.rowsByTable) if (found.get(table) !== n) throw new Error(`${name}: ${table} holds ${found.get(table)} rows, expected ${n}`);
      console.log(
        `[bench:copy] round ${round + 1} ${name}: new rows ${times[name].fresh.at(-1)!.toFixed(2)} s, replay ${times[name].replay.at(-1)!.toFixed(2)} s`,
      );
    }
  }
  console.log(
    `\n${lineCount.toLocaleString("en-US")} lines, ${chunks.length} chunks of ≤ ${CHUNK.toLocaleString("en-US")} rows, one connection, medians of ${rounds}:`,
  );
  console.log("| strategy | new rows: s | rows/s | replay (all duplicates): s | rows/s |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, t] of Object.entries(times)) {
    const f = median(t.fresh);
    const r = median(t.replay);
    console.log(
      `| ${name} | ${f.toFixed(2)} | ${Math.round(lineCount / f).toLocaleString("en-US")} | ${r.toFixed(2)} | ${Math.round(lineCount / r).toLocaleString("en-US")} |`,
    );
  }
} finally {
  await client.end();
  await db.close();
  await local.close();
}
