/**
 * GET /health: the registry this Worker serves, and whether the database is reachable and at this
 * Worker's schema. Keyless, so it is rate-limited per address, and its database check is remembered
 * for HEALTH_CACHE_MS per isolate: a burst of probes costs one round trip, not one each.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { type Database, database, failedHealth } from "../db/neon.ts";
import { type SchemaState, schemaState } from "../db/schema-level.ts";
import { settingsOf } from "../env.ts";
import { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../ingest/registry.ts";
import { addressKey, checkRateLimit } from "../middleware/rate-limit.ts";

/** What /health's `database` says; anything but ok is a 503. */
type DatabaseHealth = "ok" | "unreachable" | "misconfigured" | "behind";

interface Checked {
  state: DatabaseHealth;
  reason?: string;
  schema?: SchemaState;
}

let last: { db: Database; at: number; checked: Checked } | undefined;

async function check(db: Database, maxAgeMs: number): Promise<Checked> {
  if (last?.db === db && Date.now() - last.at < maxAgeMs) return last.checked;
  let checked: Checked;
  try {
    // One query answers both questions: is the database there, and which migrations has it applied?
    const schema = await schemaState(db, true);
    checked = { state: schema.status === "ok" ? "ok" : schema.status === "behind" ? "behind" : "misconfigured", reason: schema.message, schema };
  } catch (error) {
    checked = failedHealth(error);
  }
  last = { db, at: Date.now(), checked };
  return checked;
}

export async function health(c: Context<AppEnv>) {
  await checkRateLimit(c, addressKey(c), "this address");
  const settings = settingsOf(c.env);
  const { state, reason, schema } = await check(database(settings), settings.HEALTH_CACHE_MS);
  return c.json(
    {
      status: state === "ok" ? "ok" : "degraded",
      database: state,
      ...(reason ? { reason } : {}),
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
