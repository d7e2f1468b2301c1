/**
 * authorize(need): Bearer API keys. Missing or wrong key: 401 with WWW-Authenticate; a key without
 * the scope: 403. Without a key, a request is anonymous only where ALLOW_ANONYMOUS is set (npm run
 * dev and the tests); a deployment with no keys and no such setting refuses writes and reads.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { ANONYMOUS, canRead, canWriteAny, findKey, isAdmin, type Principal, storedKeys } from "../auth/api-keys.ts";
import { isolateCaches } from "../compose.ts";
import { IngestError } from "../errors.ts";
import { allowedOrigins } from "./cors.ts";
import { addressKey, checkRateLimit } from "./rate-limit.ts";

/** A refused request still counts against its address's limit: guessing keys is rate-limited too. */
async function refuse(c: Context<AppEnv>, message: string): Promise<never> {
  await checkRateLimit(c, addressKey(c), "this address");
  throw new IngestError("unauthorized", message);
}

/** A refusal of a valid key counts against that key's limit, so probing scopes is rate-limited too. */
async function forbid(c: Context<AppEnv>, principal: Principal, message: string): Promise<never> {
  await checkRateLimit(c, `key:${principal.keyId}`, `key ${principal.keyId}`);
  throw new IngestError("forbidden", message);
}

/** "quarantine": a key that can write (it sees its own rejected lines) or an admin (every key's). */
/** "admin": only a key with the admin scope (parked queue parts). */
export function authorize(need: "write" | "read" | "quarantine" | "admin"): MiddlewareHandler<AppEnv> {
  return async function authorize(c, next) {
    const settings = c.get("settings");
    const header = c.req.header("authorization");
    let principal: Principal;
    if (!header) {
      if (!settings.ALLOW_ANONYMOUS) {
        const why =
          storedKeys(isolateCaches.keys, c.env.API_KEYS).length === 0
            ? "this deployment has no API keys configured and does not allow anonymous access"
            : "send Authorization: Bearer <key>";
        return refuse(c, `an API key is required: ${why}`);
      }
      principal = ANONYMOUS;
      const origin = c.req.header("origin");
      // A web page the developer happens to visit must not write to their local service: anonymous
      // access is for tools (curl, the CLI) and the service's own pages, not other origins.
      if (origin && origin !== new URL(c.req.url).origin && !allowedOrigins(settings).includes(origin)) {
        throw new IngestError("forbidden", `anonymous requests from the web origin ${origin} are refused; add it to CORS_ORIGINS to allow it`);
      }
    } else {
      // The scheme name is case-insensitive (RFC 7235).
      const token = /^Bearer +([!-~]{1,512})$/i.exec(header)?.[1];
      if (!token) return refuse(c, "the Authorization header must be: Bearer <key>");
      const key = await findKey(isolateCaches.keys, token, storedKeys(isolateCaches.keys, c.env.API_KEYS));
      if (!key) return refuse(c, "the API key is not valid");
      principal = { keyId: key.id, scopes: key.scopes };
    }
    c.set("principal", principal);
    if (need === "read" && !canRead(principal)) await forbid(c, principal, `key ${principal.keyId} may not read stats (it has no "read" scope)`);
    if (need === "write" && !canWriteAny(principal)) await forbid(c, principal, `key ${principal.keyId} may not write any entity`);
    if (need === "quarantine" && !canWriteAny(principal) && !isAdmin(principal))
      await forbid(c, principal, `key ${principal.keyId} may not see rejected lines (it has neither a write scope nor "admin")`);
    if (need === "admin" && !isAdmin(principal)) await forbid(c, principal, `key ${principal.keyId} may not manage parked parts (it has no "admin" scope)`);
    await next();
  };
}
