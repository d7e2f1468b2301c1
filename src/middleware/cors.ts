/** CORS for the origins in CORS_ORIGINS (comma-separated); with none configured, no CORS headers at all. */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../app-env.ts";
import type { Settings } from "../env.ts";

/** The parsed list per settings object (settings are parsed once per isolate, env.ts): every request asks. */
const parsedOrigins = new WeakMap<Settings, string[]>();

export function allowedOrigins(settings: Settings): string[] {
  let origins = parsedOrigins.get(settings);
  if (!origins) {
    origins = settings.CORS_ORIGINS.split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    parsedOrigins.set(settings, origins);
  }
  return origins;
}

const withCors = cors({
  origin: (origin, c) => {
    const allowed = allowedOrigins(c.get("settings"));
    return allowed.includes(origin) || allowed.includes("*") ? origin : null;
  },
  allowMethods: ["GET", "POST", "DELETE"],
  allowHeaders: ["Authorization", "Content-Type", "Content-Encoding", "Idempotency-Key", "Prefer"],
  exposeHeaders: ["X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location", "Idempotent-Replayed", "Ingest-Fallback"],
  maxAge: 600,
});

export function corsFromSettings(): MiddlewareHandler<AppEnv> {
  return async function corsFromSettings(c, next) {
    if (allowedOrigins(c.get("settings")).length === 0) return next();
    return withCors(c, next);
  };
}
