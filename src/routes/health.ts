/** GET /health: the registry this Worker serves and a real SELECT 1 under a short timeout. */
import type { Context } from "hono";
import type { AppEnv } from "../app.ts";
import { database, ping } from "../db/neon.ts";
import { settingsOf } from "../env.ts";
import { ENTITIES, REGISTRY_VERSION } from "../ingest/registry.ts";

const HEALTH_TIMEOUT_MS = 2000;

export async function health(c: Context<AppEnv>) {
  const reachable = await ping(database(settingsOf(c.env)), HEALTH_TIMEOUT_MS);
  return c.json(
    {
      status: reachable ? "ok" : "degraded",
      database: reachable ? "connected" : "unreachable",
      entities: ENTITIES.map((e) => ({ name: e.name, prefix: e.prefix, table: e.table })),
      version: REGISTRY_VERSION,
    },
    reachable ? 200 : 503,
  );
}
