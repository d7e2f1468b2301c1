/**
 * The Neon implementation behind the batch writer's seam, plus single-message writes that
 * need the row's real id. Talks SQL over HTTP through @neondatabase/serverless and drizzle.
 */
import { neon, neonConfig, NeonDbError, type NeonQueryFunction } from "@neondatabase/serverless";
import { and, eq, getTableColumns } from "drizzle-orm";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import type { Settings } from "../env.ts";
import { IngestError, SchemaMismatch, TransientDatabaseError } from "../errors.ts";
import { RowsRejected, type StatementRunner, type WriteResult } from "../ingest/batch-writer.ts";
import type { RowToWrite } from "../ingest/parse-messages.ts";
import type { EntityDef } from "../ingest/entity.ts";
import { parseJsonExact } from "../ingest/field-checks.ts";

export interface Database {
  sql: NeonQueryFunction<true, true>;
  orm: NeonHttpDatabase;
  timeoutMs: number;
  /** How long one statement may keep being retried after transient failures. */
  retryMs: number;
}

let current: { key: string; db: Database } | undefined;

/** One client per connection string and isolate; fetchEndpoint is isolate-global, set only when a dev variable asks. */
export function database(settings: Settings): Database {
  const key = `${settings.DATABASE_URL} ${settings.NEON_FETCH_ENDPOINT ?? ""}`;
  if (current?.key === key) return current.db;
  if (settings.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = settings.NEON_FETCH_ENDPOINT;
  const sql = neon(settings.DATABASE_URL, { arrayMode: true, fullResults: true });
  const db = { sql, orm: drizzle({ client: neon(settings.DATABASE_URL) }), timeoutMs: settings.DB_TIMEOUT_MS, retryMs: settings.DB_RETRY_MS };
  current = { key, db };
  return db;
}

const TRANSIENT_STATES = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "53300", "55P03"]);

/** Sorts a failure into bad data (RowsRejected), worth-retrying (Transient) or our own bug (500). */
export function classify(error: unknown): Error {
  const code = error instanceof NeonDbError ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  // Neon refuses a statement over 10 MiB: bisection narrows it to the row, which is then rejected, never retried.
  if (!code && /HTTP status 413\b/.test(message)) return new RowsRejected("the row is larger than Neon's 10 MiB statement limit", "413");
  if (!code) return new TransientDatabaseError(message);
  // Undefined table or column: the schema does not match this Worker's; no row is at fault.
  if (code === "42P01" || code === "42703") return new SchemaMismatch(error);
  // 22 data, 23 integrity, 54 limits (a key too long for its index): the row is at fault, not the database.
  if (code.startsWith("22") || code.startsWith("23") || code.startsWith("54")) return new RowsRejected(message, code);
  if (TRANSIENT_STATES.has(code) || code.startsWith("08")) return new TransientDatabaseError((error as Error).message);
  return new IngestError("database_error", `the database failed the statement (SQLSTATE ${code})`, { sqlstate: code }, error);
}

const withTimeout = (db: Database) => ({ fetchOptions: { signal: AbortSignal.timeout(db.timeoutMs) } });

/** Where a request adds up the time its statements waited on the database. */
export interface DbClock {
  dbSeconds: number;
}

async function timed<T>(clock: DbClock, work: Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work;
  } finally {
    clock.dbSeconds += (Date.now() - started) / 1000;
  }
}

/**
 * Runs `attempt` again after transient failures (network, 5xx, 40001, 40P01, 08xxx), with jittered
 * exponential backoff, until db.retryMs has passed. Safe for our writes: ON CONFLICT DO NOTHING makes
 * a replay of a statement that did commit insert nothing (its rows then count as duplicates).
 */
export async function withRetries<T>(db: Database, attempt: () => Promise<T>): Promise<T> {
  // With retryMs 0 the first wait already passes the deadline: one attempt, no retries.
  const deadline = Date.now() + db.retryMs;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const failure = error instanceof TransientDatabaseError || error instanceof RowsRejected || error instanceof IngestError ? error : classify(error);
      const wait = Math.min(2000, 100 * 2 ** n) * (0.5 + Math.random());
      if (!(failure instanceof TransientDatabaseError) || Date.now() + wait > deadline) throw failure;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export function neonRunner(db: Database, clock: DbClock = { dbSeconds: 0 }): StatementRunner {
  return {
    async insert(sql, rowsJson) {
      const result = await withRetries(db, () => timed(clock, db.sql.query(sql, [rowsJson], withTimeout(db))));
      return result.rowCount ?? 0;
    },
  };
}

/** Rows of one transaction: a little under Neon's 10 MiB request, like one chunk (see WriteLimits.maxChars). */
const TRANSACTION_MAX_CHARS = 3 * 1024 * 1024;

/**
 * Writes all rows, plus `extra` statements, in one Neon transaction: everything commits or nothing.
 * Retried whole after transient failures (a rolled-back or replayed transaction cannot duplicate rows).
 */
export async function writeTransaction(db: Database, rows: RowToWrite[], extra: { query: string; params: string[] }[] = [], clock: DbClock = { dbSeconds: 0 }): Promise<WriteResult> {
  const groups = new Map<EntityDef, string[]>();
  let chars = 0;
  for (const r of rows) {
    if (!groups.has(r.entity)) groups.set(r.entity, []);
    groups.get(r.entity)!.push(r.json);
    chars += r.json.length + 1;
  }
  if (chars > TRANSACTION_MAX_CHARS) {
    throw new IngestError("body_too_large", `an atomic or idempotent batch is written in one Neon request (at most 10 MiB); this one's rows take about ${(chars / 1024 / 1024).toFixed(1)} Mi characters, over ${TRANSACTION_MAX_CHARS / 1024 / 1024}: split it`, { limit_chars: TRANSACTION_MAX_CHARS });
  }
  const entities = [...groups];
  return withRetries(db, async () => {
    const queries = [
      ...entities.map(([entity, json]) => db.sql.query(entity.insertSql, [`[${json.join(",")}]`])),
      ...extra.map((e) => db.sql.query(e.query, e.params)),
    ];
    const results = await timed(clock, db.sql.transaction(queries, withTimeout(db)));
    const written: WriteResult = { inserted: 0, duplicates: 0, failed: [], byEntity: {} };
    entities.forEach(([entity, json], i) => {
      const inserted = results[i].rowCount ?? 0;
      written.byEntity[entity.name] = { inserted, duplicates: json.length - inserted, failed: 0 };
      written.inserted += inserted;
      written.duplicates += json.length - inserted;
    });
    return written;
  });
}

export interface SingleWrite {
  id: number | string;
  duplicate: boolean;
  /** Derived rows written with it, per entity: inserted and duplicates. */
  children: Record<string, { inserted: number; duplicates: number }>;
}

const asId = (text: string) => (Number.isSafeInteger(Number(text)) ? Number(text) : text);

/** The id of the row already holding this natural key (the row as its JSON array, raw numbers kept exact). */
async function existingId(db: Database, entity: EntityDef, json: string): Promise<number | string> {
  const row = parseJsonExact(json) as unknown[];
  const columns = getTableColumns(entity.drizzleTable);
  const keyValue = (column: string) => {
    const value = row[entity.columns.indexOf(column)];
    return JSON.isRawJSON(value) ? value.rawJSON : value;
  };
  const found = await db.orm
    .select({ id: columns[entity.idColumn] })
    .from(entity.drizzleTable)
    .where(and(...entity.naturalKey.map((k) => eq(columns[k], keyValue(k)))))
    .limit(1);
  if (found.length === 0) throw new TransientDatabaseError("the conflicting row disappeared; retry");
  return asId(String(found[0].id));
}

/** Writes one record (as its JSON) and its derived children in one transaction and returns the record's real id. */
export async function writeOne(db: Database, entity: EntityDef, json: string, children: { entity: EntityDef; rows: string[] }[], clock: DbClock = { dbSeconds: 0 }): Promise<SingleWrite> {
  const results = await withRetries(db, () => {
    const parent = db.sql.query(entity.insertReturningIdSql, [`[${json}]`], withTimeout(db));
    const childQueries = children.map((c) => db.sql.query(c.entity.insertSql, [`[${c.rows.join(",")}]`]));
    return timed(clock, childQueries.length === 0 ? Promise.all([parent]) : db.sql.transaction([parent, ...childQueries], withTimeout(db)));
  });
  const childCounts: SingleWrite["children"] = {};
  children.forEach((c, i) => {
    const inserted = results[i + 1].rowCount ?? 0;
    childCounts[c.entity.name] = { inserted, duplicates: c.rows.length - inserted };
  });
  const inserted = results[0].rows[0]?.[0] as string | undefined;
  if (inserted !== undefined) return { id: asId(inserted), duplicate: false, children: childCounts };
  return { id: await withRetries(db, () => timed(clock, deadline(existingId(db, entity, json), db.timeoutMs))), duplicate: true, children: childCounts };
}

/** drizzle's client takes no per-query signal: bound the wait instead. */
function deadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TransientDatabaseError(`no answer within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** SELECT 1 under a short timeout, for /health. */
export async function ping(db: Database, timeoutMs: number): Promise<boolean> {
  try {
    await db.sql.query("SELECT 1", [], { fetchOptions: { signal: AbortSignal.timeout(timeoutMs) } });
    return true;
  } catch {
    return false;
  }
}
