/**
 * The Neon connection (SQL over HTTP through @neondatabase/serverless, and drizzle to build
 * statements), and what every caller shares: its deadline and its retries. How answers are
 * classified is neon-answers.ts; the one-message request, neon-http.ts.
 */
import { type NeonQueryFunction, neon, neonConfig } from "@neondatabase/serverless";
import { drizzle, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import type { Settings } from "../env.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { type RetryPolicy, retrying } from "../writer/backoff.ts";
import { RowsRejected } from "../writer/port.ts";
import { classify, logTransient } from "./neon-answers.ts";
import { type NeonHttp, preparedHttp } from "./neon-http.ts";

export interface Database {
  sql: NeonQueryFunction<true, true>;
  /** The hot path's own call to Neon's HTTP API (one message): see preparedHttp. */
  http: NeonHttp;
  orm: NeonHttpDatabase;
  timeoutMs: number;
  /** How long one statement may keep being retried after transient failures. */
  retryMs: number;
  /** Reached through a local Neon endpoint (NEON_FETCH_ENDPOINT: `npm run dev`, the tests), not Neon itself. */
  local: boolean;
}

/** Where an isolate keeps its client (DbIsolate, db/isolate.ts): the one for the last connection string. */
export interface DatabaseCache {
  database?: { key: string; db: Database };
}

/** One client per connection string and isolate; fetchEndpoint is isolate-global, set only when a dev variable asks. */
export function database(settings: Settings, isolate: DatabaseCache): Database {
  const key = `${settings.DATABASE_URL} ${settings.NEON_FETCH_ENDPOINT ?? ""}`;
  if (isolate.database?.key === key) return isolate.database.db;
  if (settings.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = settings.NEON_FETCH_ENDPOINT;
  const sql = neon(settings.DATABASE_URL, { arrayMode: true, fullResults: true });
  const db = {
    sql,
    http: preparedHttp(settings.DATABASE_URL),
    orm: drizzle({ client: neon(settings.DATABASE_URL) }),
    timeoutMs: settings.DB_TIMEOUT_MS,
    retryMs: settings.DB_RETRY_MS,
    local: settings.NEON_FETCH_ENDPOINT !== undefined,
  };
  isolate.database = { key, db };
  return db;
}

/** Every call to Neon carries a deadline (DB_TIMEOUT_MS, or less): the proxy has none, and a call nobody aborts can wait forever. */
export const deadlineSignal = (db: Pick<Database, "timeoutMs">, ms = db.timeoutMs): AbortSignal => AbortSignal.timeout(Math.min(ms, db.timeoutMs));

/** The deadline as the sql client's per-call option. */
export const withTimeout = (db: Database, ms = db.timeoutMs) => ({ fetchOptions: { signal: deadlineSignal(db, ms) } });

/**
 * Transient failures (network, 5xx, 40001, 40P01, 08xxx) retried with jittered exponential backoff
 * until db.retryMs has passed; what a writer or a store throws already classified passes as it is.
 */
export const retryPolicy = (db: Pick<Database, "retryMs">): RetryPolicy => ({
  retryMs: db.retryMs,
  classify: (error) => (error instanceof TransientDatabaseError || error instanceof RowsRejected || error instanceof IngestError ? error : classify(error)),
  transient: (failure) => failure instanceof TransientDatabaseError,
  onRetry: (failure, wait) => logTransient(`retry in ${Math.round(wait)} ms`, failure as TransientDatabaseError),
});

/**
 * Runs `attempt` again after transient failures until db.retryMs has passed. Safe for our writes:
 * ON CONFLICT DO NOTHING makes a replay of a statement that did commit insert nothing.
 */
export const withRetries = <T>(db: Pick<Database, "retryMs">, attempt: () => Promise<T>): Promise<T> => retrying(retryPolicy(db), attempt);
