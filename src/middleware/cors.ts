/** CORS for the origins in CORS_ORIGINS (comma-separated); with none configured, no CORS headers at all. */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "../app.ts";
import { settingsOf } from "../env.ts";

export function corsFromSettings(): MiddlewareHandler<AppEnv> {
  return cors({
    origin: (origin, c) => {
      const allowed = settingsOf(c.env).CORS_ORIGINS.split(",").map((o) => o.trim()).filter(Boolean);
      return allowed.includes(origin) || allowed.includes("*") ? origin : null;
    },
    allowMethods: ["GET", "POST"],
    allowHeaders: ["Authorization", "Content-Type", "Content-Encoding", "X-Request-Id"],
    exposeHeaders: ["X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"],
    maxAge: 600,
  });
}
