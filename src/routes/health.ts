/**
 * GET /health: the registry this Worker serves, and whether the database is reachable and at this
 * Worker's schema. Keyless, so it is rate-limited per address.
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { settingsOf } from "../env.ts";
import { databaseHealth } from "../ingest/database-health.ts";
import { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../ingest/registry.ts";
import { addressKey, checkRateLimit } from "../middleware/rate-limit.ts";

export async function health(c: Context<AppEnv>) {
  await checkRateLimit(c, addressKey(c), "this address");
  const { state, reason, schema } = await databaseHealth(settingsOf(c.env));
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
