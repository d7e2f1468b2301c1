/**
 * schemaGate(): writes wait for nothing and write nothing while the database's schema does not match
 * this Worker's (503 schema_behind / schema_ahead with Retry-After), instead of a 500 per row.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app.ts";
import { database } from "../db/neon.ts";
import { schemaRefusal, schemaState } from "../db/schema-level.ts";
import { settingsOf } from "../env.ts";

export function schemaGate(): MiddlewareHandler<AppEnv> {
  return async function schemaGate(c, next) {
    const state = await schemaState(database(settingsOf(c.env))).catch(() => undefined);
    // Unreadable (an outage): the write path has its own retries and fallback for that.
    const refusal = state && schemaRefusal(state);
    if (refusal) throw refusal;
    await next();
  };
}
