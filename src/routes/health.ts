/**
 * GET /health: the registry this Worker serves, and whether the database is reachable and at this
 * Worker's schema. Keyless, so it is rate-limited per address, and its database check is remembered
 * for HEALTH_CACHE_MS per isolate: a burst of probes costs one round trip, not one each.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { type Database, database } from "../db/neon.ts";
import { addressKey, checkRateLimit } from "../middleware/rate-limit.ts";
import { type SchemaState, schemaState } from "../db/schema-level.ts";
import { settingsOf } from "../env.ts";
import { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../ingest/registry.ts";

/** What /health's `database` says; anything but ok is a 503. */
type DatabaseHealth = "ok" | "unreachable" | "misconfigured" | "behind";

let last: { db: Database; at: number; schema: SchemaState | undefined } | undefined;

async function check(db: Database, maxAgeMs: number): Promise<SchemaState | undefined> {
  if (last?.db === db && Date.now() - last.at < maxAgeMs) return last.schema;
  // One query answers both questions: is the database there, and which migrations has it applied?
  const schema = await schemaState(db, true).catch(() => undefined);
  last = { db, at: Date.now(), schema };
  return schema;
}

export async function health(c: Context<AppEnv>) {
  await checkRateLimit(c, addressKey(c), "this address");
  const settings = settingsOf(c.env);
  const schema = await check(database(settings), settings.HEALTH_CACHE_MS);
  const state: DatabaseHealth = !schema ? "unreachable" : schema.status === "ok" ? "ok" : schema.status === "behind" ? "behind" : "misconfigured";
  return c.json(
    {
      status: state === "ok" ? "ok" : "degraded",
      database: state,
      ...(schema?.message ? { reason: schema.message } : {}),
      schema: {
        worker: SCHEMA_LEVEL,
        worker_migration: SCHEMA_MIGRATIONS[SCHEMA_LEVEL - 1] ?? null,
        database: schema ? schema.database : null,
      },
      entities: ENTITIES.map((e) => ({ name: e.name, prefix: e.prefix, table: e.table })),
      version: REGISTRY_VERSION,
    },
    state === "ok" ? 200 : 503,
  );
}
