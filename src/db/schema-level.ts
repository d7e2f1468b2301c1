/**
 * Does the database's schema match this Worker's code? The migrator records each applied migration
 * in nomnom_migrations; the registry records the migrations this code needs. Read at most once per
 * isolate per minute, so a request pays for it only when the minute is up.
 */
import { NeonDbError } from "@neondatabase/serverless";
import { IngestError, type SchemaMismatch } from "../errors.ts";
import { SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../registry.ts";
import { type Database, withTimeout } from "./neon.ts";

export interface SchemaState {
  status: "ok" | "behind" | "ahead";
  /** The last migration this Worker's code needs, and the last one the database applied (0: none). */
  worker: number;
  database: number;
  /** For people: what is wrong and what to run. */
  message?: string;
}

const CHECK_EVERY_MS = 60_000;
const CHECK_TIMEOUT_MS = 2000;

/** Where an isolate keeps the level last read (DbIsolate, db/isolate.ts): for which client, and when. */
export interface SchemaCache {
  schema?: { db: Database; state: SchemaState; at: number };
}

const name = (level: number) => (level === 0 ? "none" : (SCHEMA_MIGRATIONS[level - 1] ?? `number ${level}`));

async function readState(db: Database): Promise<SchemaState> {
  let database = 0;
  let breaking = 0;
  try {
    const { rows } = await db.sql.query(
      "SELECT coalesce(max(id), 0), coalesce(min(id) FILTER (WHERE breaks_older_workers AND id > $1), 0) FROM nomnom_migrations",
      [String(SCHEMA_LEVEL)],
      withTimeout(db, CHECK_TIMEOUT_MS),
    );
    [database, breaking] = (rows[0] as unknown[]).map(Number);
  } catch (error) {
    // No journal table: nothing was ever migrated.
    if (!(error instanceof NeonDbError && error.code === "42P01")) throw error;
  }
  const worker = SCHEMA_LEVEL;
  if (database < worker) {
    return {
      status: "behind",
      worker,
      database,
      // Under `npm run dev` the step is a restart: it applies pending migrations when it starts (migrate wants DATABASE_URL).
      message: `the database is at migration ${name(database)}, and this Worker needs ${name(worker)}: apply it with \`npm run migrate\`${db.local ? " (under `npm run dev`: restart it, it applies pending migrations when it starts)" : ""}`,
    };
  }
  if (breaking > 0) {
    return {
      status: "ahead",
      worker,
      database,
      message: `the database applied migration number ${breaking}, which renames what this Worker (built for ${name(worker)}) writes: deploy the current Worker`,
    };
  }
  return { status: "ok", worker, database };
}

/** The cached state, read again when older than a minute (or now, with fresh). Throws when the database cannot be read. */
export async function schemaState(db: Database, isolate: SchemaCache, fresh = false): Promise<SchemaState> {
  const cached = isolate.schema;
  if (!fresh && cached?.db === db && Date.now() - cached.at < CHECK_EVERY_MS) return cached.state;
  const state = await readState(db);
  isolate.schema = { db, state, at: Date.now() };
  return state;
}

/** The answer for a Worker whose database does not match it: 503 schema_behind or schema_ahead. */
export function schemaRefusal(state: SchemaState, isolate: SchemaCache): IngestError | undefined {
  if (state.status === "ok") return undefined;
  const retryAfter = Math.max(1, Math.ceil((CHECK_EVERY_MS - (Date.now() - (isolate.schema?.at ?? 0))) / 1000));
  const error = new IngestError(state.status === "behind" ? "schema_behind" : "schema_ahead", state.message!, {
    schema: { worker: state.worker, database: state.database },
  });
  error.retryAfterSeconds = retryAfter;
  return error;
}

/**
 * A write failed with 42703/42P01: the table or a column is not what this Worker expects. Reads the
 * journal again and names the side that is behind; if the journal says they match, the schema was
 * changed by hand, and the answer says that.
 */
export async function explainMismatch(db: Database, isolate: SchemaCache, mismatch: SchemaMismatch): Promise<IngestError> {
  let state: SchemaState;
  try {
    state = await schemaState(db, isolate, true);
  } catch {
    return mismatch;
  }
  return schemaRefusal(state, isolate) ?? mismatch;
}
