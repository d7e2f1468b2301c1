/**
 * schemaGate(): writes wait for nothing and write nothing while the database's schema does not match
 * this Worker's (503 schema_behind / schema_ahead with Retry-After), instead of a 500 per row.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { schemaRefusalFor } from "../compose.ts";
import { settingsOf } from "../env.ts";

export function schemaGate(): MiddlewareHandler<AppEnv> {
  return async function schemaGate(c, next) {
    const refusal = await schemaRefusalFor(settingsOf(c.env));
    if (refusal) throw refusal;
    await next();
  };
}
