/**
 * The composition root: the one place that builds what a request needs (settings, the database,
 * the writer factory, the idempotency and quarantine stores, the queue, waitUntil, the clock) and
 * hands it to the ingest service, whose flows reach for nothing themselves. The per-isolate caches
 * live behind it: the settings (env.ts, settingsOf), db/'s (dbIsolate: the Neon clients, the schema
 * level, staged entities, the WebSocket count), the health check (below, healthCache), the API keys
 * (auth/api-keys.ts) and the stats buffer (stats/stats-client.ts).
 */
import type { Context } from "hono";
import type { AppEnv } from "./app-env.ts";
import { keyCache } from "./auth/api-keys.ts";
import { expireKeys, idempotencyStore } from "./db/idempotency.ts";
import { createDbIsolate } from "./db/isolate.ts";
import { type Database, database } from "./db/neon.ts";
import { failedHealth } from "./db/neon-answers.ts";
import { quarantineStore } from "./db/quarantine.ts";
import { explainMismatch, type SchemaState, schemaRefusal, schemaState } from "./db/schema-level.ts";
import { openWriter } from "./db/writers.ts";
import { type Settings, settingsOf } from "./env.ts";
import { type IngestError, SchemaMismatch } from "./errors.ts";
import type { IngestCall } from "./ingest/call.ts";
import { bodyFormat } from "./ingest/content-type.ts";
import { type Checked, createHealthCache } from "./ingest/database-health.ts";
import type { IngestDeps, QuarantineStore, WriterFactory } from "./ingest/ports.ts";
import { CONSUMER_RETRY_MS, type ConsumerDeps, enqueue } from "./queue/async-ingest.ts";
import { entityByName } from "./registry.ts";
import { statsBuffer } from "./stats/stats-client.ts";

/** Per isolate: db/'s Neon clients, schema level, staged entities and WebSocket count. */
const dbIsolate = createDbIsolate();
/** Per isolate: /health's remembered database check. */
const healthCache = createHealthCache<SchemaState>();
/** Per isolate, for the HTTP side: the parsed and verified API keys, and the stats not yet sent. */
export const isolateCaches = { keys: keyCache(), stats: statsBuffer() };

/** A schema mismatch is explained from a fresh read of the migration journal; anything else passes as it is. */
export async function explained(settings: Settings, error: unknown): Promise<unknown> {
  return error instanceof SchemaMismatch ? explainMismatch(database(settings, dbIsolate), dbIsolate, error) : error;
}

const writersOf =
  (settings: Settings): WriterFactory =>
  (clock, retryMs) =>
    openWriter(settings, dbIsolate, clock, retryMs);

/** The quarantine's store over the request's database. */
export const rejectionStore = (env: Env): QuarantineStore => quarantineStore(database(settingsOf(env), dbIsolate));

/** What the service needs, built once for a request (or a scheduled run: `afterAnswer` then lets work run unattended). */
export function ingestDeps(env: Env, afterAnswer: (work: Promise<unknown>) => void = (work) => void work): IngestDeps {
  const settings = settingsOf(env);
  const db = database(settings, dbIsolate);
  return {
    settings,
    openWriter: writersOf(settings),
    idempotency: idempotencyStore(db, settings.IDEMPOTENCY_TTL_HOURS),
    quarantine: quarantineStore(db),
    enqueue: (...args) => enqueue(env, ...args),
    explain: (error) => explained(settings, error),
    waitUntil: afterAnswer,
    now: () => Date.now(),
  };
}

/** Hands work to the request's waitUntil; without an execution context (a direct call in a test) it runs unattended. */
export function waitUntil(c: Context<AppEnv>, work: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    void work;
  }
}

/** One ingest request's call: ?entity=Order (or O) makes every JSON record that entity. */
export function ingestCall(c: Context<AppEnv>, entity: string | undefined): IngestCall {
  return {
    ...ingestDeps(c.env, (work) => waitUntil(c, work)),
    request: c.req.raw,
    format: bodyFormat(c.req.header("content-type")),
    principal: c.get("principal"),
    requestId: c.get("requestId"),
    meter: c.get("meter"),
    forced: entity === undefined ? undefined : entityByName(entity),
  };
}

async function checkDatabase(db: Database): Promise<Checked<SchemaState>> {
  try {
    // One query answers both questions: is the database there, and which migrations has it applied?
    const schema = await schemaState(db, dbIsolate, true);
    return { state: schema.status === "ok" ? "ok" : schema.status === "behind" ? "behind" : "misconfigured", reason: schema.message, schema };
  } catch (error) {
    return failedHealth(error);
  }
}

/** /health's database check, remembered HEALTH_CACHE_MS per isolate. */
export function databaseHealth(settings: Settings): Promise<Checked<SchemaState>> {
  const db = database(settings, dbIsolate);
  return healthCache(db, settings.HEALTH_CACHE_MS, () => checkDatabase(db));
}

/**
 * Why writes must wait (503 schema_behind / schema_ahead), or undefined. Unreadable (an outage):
 * undefined, since the write path has its own retries and fallback for that.
 */
export async function schemaRefusalFor(settings: Settings): Promise<IngestError | undefined> {
  const state = await schemaState(database(settings, dbIsolate), dbIsolate).catch(() => undefined);
  return state && schemaRefusal(state, dbIsolate);
}

/** What the queue consumer and the parked parts' re-drive write with: short retries (the queue's own are the patient ones). */
export function consumerDeps(env: Env): ConsumerDeps {
  const settings = settingsOf(env);
  const retryMs = Math.min(settings.DB_RETRY_MS, CONSUMER_RETRY_MS);
  return {
    settings,
    openWriter: (clock = { dbSeconds: 0 }) => openWriter(settings, dbIsolate, clock, retryMs),
    quarantine: quarantineStore({ ...database(settings, dbIsolate), retryMs }),
  };
}

/** Deletes Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS (the hourly Cron Trigger), and logs how many. */
export async function expireIdempotencyKeys(env: Env): Promise<void> {
  const settings = settingsOf(env);
  const expired = await expireKeys(database(settings, dbIsolate), settings.IDEMPOTENCY_TTL_HOURS);
  console.log(JSON.stringify({ event: "idempotency_expiry", older_than_hours: settings.IDEMPOTENCY_TTL_HOURS, ...expired }));
}

/** Rows a writer takes in one statement (or one COPY), for GET /limits. */
export const rowsPerStatement = (settings: Settings): number => openWriter(settings, dbIsolate).limits.maxRows;
