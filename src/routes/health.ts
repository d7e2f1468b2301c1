/** GET /health: the registry this Worker serves and a real SELECT 1 under a short timeout. */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { database, databaseHealth } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { ENTITIES, REGISTRY_VERSION } from "../ingest/registry.ts";

const HEALTH_TIMEOUT_MS = 2000;

export async function health(c: Context<AppEnv>) {
  const { state, reason } = await databaseHealth(database(settingsOf(c.env)), HEALTH_TIMEOUT_MS);
  return c.json(
    {
      status: state === "ok" ? "ok" : "degraded",
      database: state,
      ...(reason ? { reason } : {}),
      entities: ENTITIES.map((e) => ({ name: e.name, prefix: e.prefix, table: e.table })),
      version: REGISTRY_VERSION,
    },
    state === "ok" ? 200 : 503,
  );
}
