/**
 * GET /health: the registry this Worker serves, and whether the database is reachable and at this
 * Worker's schema. Keyless, so it is rate-limited per address; why the database is unhealthy is
 * told only to a key with the read scope.
 */
import type { RouteHandler, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { canRead, findKey, storedKeys } from "../../auth/api-keys.ts";
import { databaseHealth, isolateCaches } from "../../compose.ts";
import { addressKey, checkRateLimit } from "../../middleware/rate-limit.ts";
import { ENTITIES, REGISTRY_VERSION, SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../../registry.ts";
import type { HealthResult } from "../schemas.ts";
import type { healthRoute } from "./system.routes.ts";

/**
 * Whether the caller may read why the database is unhealthy (it can name the database's role): a
 * key with the read scope, or anonymous access where it is allowed (npm run dev, the tests).
 */
async function maySeeReason(c: Context<AppEnv>): Promise<boolean> {
  const header = c.req.header("authorization");
  if (!header) return c.get("settings").ALLOW_ANONYMOUS;
  const token = /^Bearer +([!-~]{1,512})$/i.exec(header)?.[1];
  const key = token ? await findKey(isolateCaches.keys, token, storedKeys(isolateCaches.keys, c.env.API_KEYS)) : undefined;
  return key !== undefined && canRead({ keyId: key.id, scopes: key.scopes });
}

export const health: RouteHandler<typeof healthRoute, AppEnv> = async (c) => {
  await checkRateLimit(c, addressKey(c), "this address");
  const { state, reason, schema } = await databaseHealth(c.get("settings"));
  const body: z.infer<typeof HealthResult> = {
    status: state === "ok" ? "ok" : "degraded",
    database: state,
    ...(reason && (await maySeeReason(c)) ? { reason } : {}),
    schema: {
      worker: SCHEMA_LEVEL,
      worker_migration: SCHEMA_MIGRATIONS[SCHEMA_LEVEL - 1] ?? null,
      database: schema ? schema.database : null,
    },
    entities: ENTITIES.map((e) => ({ name: e.name, prefix: e.prefix, table: e.table })),
    version: REGISTRY_VERSION,
  };
  return state === "ok" ? c.json(body, 200) : c.json(body, 503);
};
