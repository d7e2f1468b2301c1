/**
 * The INSERT writer: rows go to Neon's HTTP API as one JSON array parameter of the entity's
 * `INSERT … SELECT FROM jsonb_array_elements($1) ON CONFLICT DO NOTHING`. Each call is one HTTP
 * request, so it holds no connection and nothing to close.
 */
import { and, eq, getTableColumns } from "drizzle-orm";
import { type EntityDef, groupRows } from "../entity/entity.ts";
import { parseJsonExact } from "../entity/field-checks.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { addWritten, emptyResult, type SingleWrite, type Statement, type WriteLimits, type WriteResult, type Writer } from "../writer/port.ts";
import { withWriteRetries } from "../writer/retries.ts";
import type { RowToWrite } from "../writer/rows.ts";
import { type Database, deadlineSignal, retryPolicy, withTimeout } from "./neon.ts";

/** Where a request adds up the time its statements waited on the database, and the subrequests they cost. */
export interface DbClock {
  dbSeconds: number;
  /** Fetches and WebSockets opened to Neon: Workers count each against the request's subrequest limit. */
  subrequests?: number;
}

/** One subrequest more on the request's count. */
export const countSubrequest = (clock: DbClock) => void (clock.subrequests = (clock.subrequests ?? 0) + 1);

/** Each call is one HTTP request to Neon: one subrequest, retries included (each goes through here). */
async function timed<T>(clock: DbClock, work: Promise<T>): Promise<T> {
  countSubrequest(clock);
  const started = Date.now();
  try {
    return await work;
  } finally {
    clock.dbSeconds += (Date.now() - started) / 1000;
  }
}

/**
 * 10,000-row statements, so a flush (≤ 10,000 rows) is one statement per entity: against 5,000,
 * PostgreSQL spent ~10% less CPU on the same rows (docs/benchmarks.md). 3 Mi UTF-16 units of row
 * JSON stay under Neon's 10 MiB request once the body JSON-encodes them again (a char becomes at
 * most 3 bytes). 4 statements in flight hide network round trips in production (Workers allow 6).
 */
export const INSERT_LIMITS: WriteLimits = { maxRows: 10_000, maxChars: 3 * 1024 * 1024, concurrency: 4 };

const jsonArray = (rows: readonly string[]) => `[${rows.join(",")}]`;

/** Rows of one transaction: a little under Neon's 10 MiB request, like one chunk. */
const TRANSACTION_MAX_CHARS = INSERT_LIMITS.maxChars;

const asId = (text: string) => (Number.isSafeInteger(Number(text)) ? Number(text) : text);

/** The id of the row already holding this natural key (the row as its JSON array, raw numbers kept exact). */
async function existingId(db: Database, entity: EntityDef, json: string): Promise<number | string> {
  const row = parseJsonExact(json) as unknown[];
  const columns = getTableColumns(entity.drizzleTable);
  const keyValue = (column: string) => {
    const value = row[entity.columns.indexOf(column)];
    return JSON.isRawJSON(value) ? value.rawJSON : value;
  };
  // drizzle builds the statement; the sql client runs it, because only it takes a per-call abort signal.
  const query = db.orm
    .select({ id: columns[entity.idColumn] })
    .from(entity.drizzleTable)
    .where(and(...entity.naturalKey.map((k) => eq(columns[k], keyValue(k)))))
    .limit(1)
    .toSQL();
  const { rows } = await db.sql.query(query.sql, query.params, withTimeout(db));
  if (rows.length === 0) throw new TransientDatabaseError("the conflicting row disappeared; retry");
  return asId(String(rows[0][0]));
}

/** The INSERT writer as requests use it: each call retried after transient failures within db.retryMs. */
export const insertWriter = (db: Database, clock: DbClock = { dbSeconds: 0 }): Writer => withWriteRetries(insertAttempts(db, clock), retryPolicy(db));

/** One attempt per call (raw Neon errors: the retry decorator classifies them). */
function insertAttempts(db: Database, clock: DbClock): Writer {
  return {
    limits: INSERT_LIMITS,

    async writeChunk(entity, rows) {
      const json = jsonArray(rows.map((r) => r.json));
      const result = await timed(clock, db.sql.query(entity.insertSql, [json], withTimeout(db)));
      return result.rowCount ?? 0;
    },

    /** One Neon transaction request (retried whole by the decorator: a rolled-back or replayed transaction cannot duplicate rows). */
    async writeTransaction(rows: RowToWrite[], extra: Statement[]): Promise<WriteResult> {
      const chars = rows.reduce((n, r) => n + r.json.length + 1, 0);
      if (chars > TRANSACTION_MAX_CHARS) {
        throw new IngestError(
          "body_too_large",
          `an atomic or idempotent batch is written in one Neon request (at most 10 MiB); this one's rows take about ${(chars / 1024 / 1024).toFixed(1)} Mi characters, over ${TRANSACTION_MAX_CHARS / 1024 / 1024}: split it`,
          { limit_chars: TRANSACTION_MAX_CHARS },
        );
      }
      const entities = [...groupRows(rows)];
      const queries = [
        ...entities.map(([entity, json]) => db.sql.query(entity.insertSql, [jsonArray(json)])),
        ...extra.map((e) => db.sql.query(e.query, e.params)),
      ];
      const results = await timed(clock, db.sql.transaction(queries, withTimeout(db)));
      const written = emptyResult();
      for (const [i, [entity, json]] of entities.entries()) addWritten(written, entity.name, json.length, results[i].rowCount ?? 0);
      return written;
    },

    async writeOne(entity, json, children): Promise<SingleWrite> {
      // The prepared request (neon-http.ts, preparedHttp): the message path's one statement is most of its Neon client cost.
      const parent = { query: entity.insertReturningIdSql, params: [`[${json}]`] };
      const signal = deadlineSignal(db);
      const childQueries = children.map((c) => ({ query: c.entity.insertSql, params: [jsonArray(c.rows)] }));
      const results = await timed(
        clock,
        children.length === 0 ? db.http.query(parent.query, parent.params, signal).then((r) => [r]) : db.http.transaction([parent, ...childQueries], signal),
      );
      const childCounts: SingleWrite["children"] = {};
      children.forEach((c, i) => {
        const inserted = results[i + 1].rowCount ?? 0;
        childCounts[c.entity.name] = { inserted, duplicates: c.rows.length - inserted };
      });
      const inserted = results[0].rows[0]?.[0] as string | undefined;
      if (inserted !== undefined) return { id: asId(inserted), duplicate: false, children: childCounts };
      // A transient failure here retries the whole message (the decorator): its insert, a duplicate, inserts nothing again.
      return { id: await timed(clock, existingId(db, entity, json)), duplicate: true, children: childCounts };
    },

    subrequests: () => clock.subrequests ?? 0,

    // Each statement is one HTTP request: nothing to open ahead.
    prepare() {},
    async close() {},
  };
}
