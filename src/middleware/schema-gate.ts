/**
 * schemaGate(): writes wait for nothing and write nothing while the database's schema does not match
 * this Worker's (503 schema_behind / schema_ahead with Retry-After), instead of a 500 per row.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import type { Settings } from "../env.ts";
import type { IngestError } from "../errors.ts";

/** `refusalFor` says why writes must wait, or undefined: handed in, so middleware/ needs nothing of the service or the database. */
export function schemaGate(refusalFor: (settings: Settings) => Promise<IngestError | undefined>): MiddlewareHandler<AppEnv> {
  return async function schemaGate(c, next) {
    const refusal = await refusalFor(c.get("settings"));
    if (refusal) throw refusal;
    await next();
  };
}
