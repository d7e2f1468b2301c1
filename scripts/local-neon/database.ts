/**
 * The database behind the local Neon endpoint: a node-postgres pool over a real PostgreSQL
 * (DATABASE_URL) or over embedded PGlite through PGlite's own node-postgres adapter.
 * Either way each statement runs through the extended protocol with text parameters and
 * text results, as Neon's proxy runs it.
 */
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { createPgConfig } from "@electric-sql/pglite/node-postgres";
import pg from "pg";
import type { PgliteLease } from "./pglite-wire.ts";

export interface Statement {
  query: string;
  params: (string | null)[];
}

export interface RawResult {
  fields: { name: string; dataTypeID: number; tableID: number; columnID: number; dataTypeSize: number; dataTypeModifier: number; format: string }[];
  rows: (string | null)[][];
  command: string;
  rowCount: number | null;
}

export interface BatchOptions {
  isolationLevel?: string;
  readOnly?: boolean;
  deferrable?: boolean;
}

/** What one request may ask of the database besides its statements. */
export interface RunOptions {
  /** Aborted when the client disconnects: the running query is cancelled (PostgreSQL) and a batch rolled back. */
  signal?: AbortSignal;
  /** Test-only (faults.ts): the connection to the database breaks while the first statement runs. */
  loseConnection?: boolean;
}

export interface Database {
  /** "postgres" or "pglite": what the endpoint serves. */
  kind: string;
  query(statement: Statement, options?: RunOptions): Promise<RawResult>;
  /** All statements in one transaction: all commit or none. */
  transaction(statements: Statement[], batch: BatchOptions, options?: RunOptions): Promise<RawResult[]>;
  /** PGlite only: its single session, held until released (the HTTP endpoint's requests wait meanwhile). */
  lease?: () => Promise<PgliteLease>;
  close(): Promise<void>;
}

/** Neon's response limit (sql_over_http.rs, query_to_json). */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** The response would pass MAX_RESPONSE_BYTES: 507 (sql_over_http.rs, SqlOverHttpError::ResponseTooLarge). */
export class ResponseTooLarge extends Error {
  constructor() {
    super(`response is too large (max is ${MAX_RESPONSE_BYTES} bytes)`);
  }
}

/**
 * The connection to the database broke mid-query: a Postgres error without a DbError, which Neon
 * answers 400 with an empty code, in tokio-postgres2's words (libs/proxy/tokio-postgres2/src/error/mod.rs, Kind::Closed).
 */
export class ConnectionLost extends Error {
  constructor() {
    super("connection closed");
  }
}

/** The client went away: Neon cancels the query and never commits (sql_over_http.rs, SqlOverHttpCancel). */
export class Cancelled extends Error {
  constructor() {
    super("query was cancelled");
  }
}

/** PostgreSQL refused the connection itself (its ErrorResponse at startup, or no answer): a connect-time error. */
export class ConnectRefused extends Error {
  readonly refusal: unknown;
  constructor(refusal: unknown) {
    super(refusal instanceof Error ? refusal.message : String(refusal));
    this.refusal = refusal;
  }
}

/** A PostgreSQL error: it carries a SQLSTATE. */
export const isSqlError = (error: unknown): error is Error & Record<string, unknown> =>
  error instanceof Error && /^[0-9A-Z]{5}$/.test(String((error as { code?: unknown }).code));

/** Results stay the server's text, as Neon's raw text output mode sends them. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** The bytes of the answer so far, shared by a batch's statements. */
interface Budget {
  bytes: number;
}

/** Test-only (RunOptions.loseConnection): breaks the connection while its query runs; "after" loses only the answer. */
type Breaker = ((client: pg.PoolClient) => void) | "after";

async function run(client: pg.PoolClient, { query, params }: Statement, budget: Budget, breakConnection?: Breaker): Promise<RawResult> {
  const pending = client.query({
    text: query,
    values: params,
    rowMode: "array",
    // Extended protocol even without parameters, as Neon: multi-statement text fails with 42601.
    queryMode: "extended",
  } as pg.QueryArrayConfig);
  if (typeof breakConnection === "function") breakConnection(client);
  let result: Awaited<typeof pending>;
  try {
    result = await pending;
  } catch (error) {
    throw isSqlError(error) ? error : new ConnectionLost();
  }
  if (breakConnection === "after") throw new ConnectionLost();
  const fields = result.fields.map((f) => ({
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: "text",
  }));
  budget.bytes += JSON.stringify(fields).length + 64;
  // Neon checks the answer's size before appending each row, so a single huge row still fits (sql_over_http.rs, query_to_json).
  for (const row of result.rows as (string | null)[][]) {
    if (budget.bytes > MAX_RESPONSE_BYTES) throw new ResponseTooLarge();
    budget.bytes += Buffer.byteLength(JSON.stringify(row)) + 1;
  }
  return { fields, rows: result.rows as (string | null)[][], command: result.command ?? "", rowCount: result.rowCount };
}

const ISOLATION: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

function startTransaction({ isolationLevel, readOnly, deferrable }: BatchOptions): string {
  const modes: string[] = [];
  if (isolationLevel) modes.push(`ISOLATION LEVEL ${ISOLATION[isolationLevel]}`);
  if (readOnly) modes.push("READ ONLY");
  if (deferrable) modes.push("DEFERRABLE");
  return `START TRANSACTION${modes.length ? ` ${modes.join(", ")}` : ""}`;
}

export const isIsolationLevel = (value: string) => value in ISOLATION;

/**
 * Neon's reset before a connection is reused (libs/proxy/tokio-postgres2/src/client.rs, reset_session_background,
 * called from serverless/conn_pool_lib.rs): ROLLBACK first, so a lone BEGIN cannot leak into the next request.
 */
const RESET =
  "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES";

async function release(client: pg.PoolClient, broken: boolean): Promise<void> {
  if (broken) return client.release(true);
  try {
    await client.query(RESET);
    client.release();
  } catch (error) {
    client.release(error as Error);
  }
}

/**
 * Runs `work` on a pooled connection. When `options.signal` aborts (the client went away), `cancel`
 * stops the running query, as Neon's proxy does (sql_over_http.rs, QueryData::process: cancel_query).
 */
async function withClient<T>(
  pool: pg.Pool,
  options: RunOptions,
  cancel: ((client: pg.PoolClient) => Promise<void>) | undefined,
  keepLost: boolean,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new ConnectRefused(error);
  }
  const onAbort = () => void cancel?.(client).catch(() => {});
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let broken = false;
  try {
    return await work(client);
  } catch (error) {
    broken = error instanceof ConnectionLost && !keepLost;
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    // Not waited for, as Neon sends its reset without awaiting it (client.rs, reset_session_background):
    // the answer does not wait, and the connection goes back to the pool only once reset.
    void release(client, broken);
  }
}

interface Backend {
  kind: string;
  /** Stops the query running on this connection (none for PGlite). */
  cancel?: (client: pg.PoolClient) => Promise<void>;
  breakConnection: Breaker;
  closeExtra?: () => Promise<void>;
}

/** node-postgres's Connection, whose events the Client listens to. */
const connectionOf = (client: pg.PoolClient) => (client as unknown as { connection: { stream: { destroy(): void } } }).connection;

function fromPool(pool: pg.Pool, { kind, cancel, breakConnection, closeExtra = async () => {} }: Backend): Database {
  // A broken idle connection must not crash the endpoint; the next checkout reconnects.
  pool.on("error", () => {});
  // A connection that replaces a broken one starts with the reset too: PGlite's single session outlives its connections.
  pool.on("connect", (client) => {
    // A connection lost while checked out is reported by its query (ConnectionLost); the event must not crash the endpoint.
    client.on("error", () => {});
    void client.query(RESET).catch(() => {});
  });
  return {
    kind,
    query(statement, options = {}) {
      return withClient(pool, options, cancel, breakConnection === "after", (client) =>
        run(client, statement, { bytes: 0 }, options.loseConnection ? breakConnection : undefined),
      );
    },
    transaction(statements, batch, options = {}) {
      return withClient(pool, options, cancel, breakConnection === "after", async (client) => {
        const gone = async () => {
          // Let pending I/O in first: PGlite runs statements without returning to the event loop, so a disconnect would go unseen.
          await new Promise((resolve) => setImmediate(resolve));
          if (options.signal?.aborted) throw new Cancelled();
        };
        await client.query(startTransaction(batch));
        let committed = false;
        try {
          const budget = { bytes: 0 };
          const results: RawResult[] = [];
          for (const [i, statement] of statements.entries()) {
            // Neon stops a batch between statements once the client is gone (sql_over_http.rs, query_batch).
            await gone();
            results.push(await run(client, statement, budget, options.loseConnection && i === 0 ? breakConnection : undefined));
          }
          // Never COMMIT for a client that went away: the batch rolls back (sql_over_http.rs, BatchQueryData::process).
          await gone();
          await client.query("COMMIT");
          committed = true;
          return results;
        } finally {
          if (!committed) await client.query("ROLLBACK").catch(() => {});
        }
      });
    },
    async close() {
      await pool.end();
      await closeExtra();
    },
  };
}

/** A real PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test. */
export function postgresDatabase(url: string): Database {
  const pool = new pg.Pool({ connectionString: url, max: 10, types: RAW_TEXT });
  // pg_cancel_backend over another connection: what a cancel request does (the client's processID is its backend's pid).
  const cancel = async (client: pg.PoolClient) => {
    const pid = (client as unknown as { processID: number }).processID;
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await other.query("SELECT pg_cancel_backend($1)", [pid]);
    } finally {
      await other.end();
    }
  };
  // The socket really closes: node-postgres reports "Connection terminated unexpectedly", without a SQLSTATE.
  return fromPool(pool, { kind: "postgres", cancel, breakConnection: (client) => connectionOf(client).stream.destroy() });
}

/** Embedded PGlite: one session, so a pool of one serialises every request. */
export async function pgliteDatabase(dataDir?: string): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  // idleTimeoutMillis 0: the single PGlite connection is never closed and reopened.
  const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1, idleTimeoutMillis: 0, types: RAW_TEXT } as pg.PoolConfig);
  // One in-process session runs one statement at a time and cannot be interrupted: no cancel, only the rollback before COMMIT.
  // PGlite's in-process connection has no socket to close (closing it mid-query wedges the adapter): the statement runs, its answer is lost.
  const db = fromPool(pool, { kind: "pglite", breakConnection: "after", closeExtra: () => pglite.close() });
  // The pool's one connection is the session: holding it keeps the HTTP endpoint's requests out.
  const lease = async (): Promise<PgliteLease> => {
    const client = await pool.connect();
    return { pglite, release: async () => client.release() };
  };
  return { ...db, lease };
}
