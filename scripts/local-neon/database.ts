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

export interface Database {
  /** "postgres" or "pglite": what the endpoint serves. */
  kind: string;
  query(statement: Statement): Promise<RawResult>;
  /** All statements in one transaction: all commit or none. */
  transaction(statements: Statement[], options: BatchOptions): Promise<RawResult[]>;
  close(): Promise<void>;
}

/** Results stay the server's text, as Neon's raw text output mode sends them. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

async function run(client: pg.PoolClient, { query, params }: Statement): Promise<RawResult> {
  const result = await client.query({
    text: query,
    values: params,
    rowMode: "array",
    // Extended protocol even without parameters, as Neon: multi-statement text fails with 42601.
    queryMode: "extended",
  } as pg.QueryArrayConfig);
  return {
    fields: result.fields.map((f) => ({
      name: f.name, dataTypeID: f.dataTypeID, tableID: f.tableID, columnID: f.columnID,
      dataTypeSize: f.dataTypeSize, dataTypeModifier: f.dataTypeModifier, format: "text",
    })),
    rows: result.rows as (string | null)[][],
    command: result.command ?? "",
    rowCount: result.rowCount,
  };
}

const ISOLATION: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED", ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ", Serializable: "SERIALIZABLE",
};

function startTransaction({ isolationLevel, readOnly, deferrable }: BatchOptions): string {
  const modes: string[] = [];
  if (isolationLevel) modes.push(`ISOLATION LEVEL ${ISOLATION[isolationLevel]}`);
  if (readOnly) modes.push("READ ONLY");
  if (deferrable) modes.push("DEFERRABLE");
  return `START TRANSACTION${modes.length ? ` ${modes.join(", ")}` : ""}`;
}

export const isIsolationLevel = (value: string) => value in ISOLATION;

/** Neon resets a connection before reuse: no SET, temp table or open transaction leaks into the next request. */
async function release(client: pg.PoolClient): Promise<void> {
  try {
    await client.query("DISCARD ALL");
    client.release();
  } catch (error) {
    client.release(error as Error);
  }
}

function fromPool(pool: pg.Pool, kind: string, closeExtra: () => Promise<void> = async () => {}): Database {
  // A broken idle connection must not crash the endpoint; the next checkout reconnects.
  pool.on("error", () => {});
  return {
    kind,
    async query(statement) {
      const client = await pool.connect();
      try {
        return await run(client, statement);
      } finally {
        await release(client);
      }
    },
    async transaction(statements, options) {
      const client = await pool.connect();
      let done = false;
      try {
        await client.query(startTransaction(options));
        const results: RawResult[] = [];
        for (const statement of statements) results.push(await run(client, statement));
        await client.query("COMMIT");
        done = true;
        return results;
      } finally {
        if (!done) await client.query("ROLLBACK").catch(() => {});
        await release(client);
      }
    },
    async close() {
      await pool.end();
      await closeExtra();
    },
  };
}

/** A real PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test. */
export function postgresDatabase(url: string): Database {
  return fromPool(new pg.Pool({ connectionString: url, max: 10, types: RAW_TEXT }), "postgres");
}

/** Embedded PGlite: one session, so a pool of one serialises every request. */
export async function pgliteDatabase(dataDir?: string): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir);
  // idleTimeoutMillis 0: the single PGlite connection is never closed and reopened.
  const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1, idleTimeoutMillis: 0, types: RAW_TEXT } as pg.PoolConfig);
  return fromPool(pool, "pglite", () => pglite.close());
}
