/**
 * rateLimit(): the Workers Rate Limiting binding, per API key (per client address when anonymous).
 * 429 with Retry-After and the IETF RateLimit / RateLimit-Policy headers.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app.ts";
import { settingsOf } from "../env.ts";
import { IngestError } from "../errors.ts";

export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const limiter = c.env.RATE_LIMITER;
    if (!limiter) return next();
    const { RATE_LIMIT: limit, RATE_LIMIT_PERIOD: period } = settingsOf(c.env);
    const keyId = c.get("principal")?.keyId;
    const key = keyId ? `key:${keyId}` : `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
    const policy = `${limit};w=${period}`;
    const { success } = await limiter.limit({ key });
    if (!success) {
      c.header("Retry-After", String(period));
      c.header("RateLimit-Policy", policy);
      c.header("RateLimit", `limit=${limit}, remaining=0, reset=${period}`);
      throw new IngestError("rate_limited", `rate limit exceeded: ${limit} requests per ${period} s for ${keyId ? `key ${keyId}` : "this address"}; retry after ${period} s`);
    }
    await next();
    c.header("RateLimit-Policy", policy);
  };
}
