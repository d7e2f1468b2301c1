/** GET /health: the registry this Worker serves, and whether the database is reachable and at this Worker's schema. */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { database } from "../db/neon.ts";
import { type SchemaState, schemaState } from "../db/schema-level.ts";
import { settingsOf } from "../env.ts";
import { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../ingest/registry.ts";

/** What /health's `database` says; anything but ok is a 503. */
type DatabaseHealth = "ok" | "unreachable" | "misconfigured" | "behind";

export async function health(c: Context<AppEnv>) {
  // One query answers both questions: is the database there, and which migrations has it applied?
  const schema: SchemaState | undefined = await schemaState(database(settingsOf(c.env)), true).catch(() => undefined);
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
