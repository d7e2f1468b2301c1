/**
 * rateLimit(): the Workers Rate Limiting binding, per API key (per client address when anonymous).
 * 429 with Retry-After and the IETF RateLimit / RateLimit-Policy headers.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { IngestError } from "../errors.ts";

export const addressKey = (c: Context<AppEnv>) => `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;

/** Counts one request against `key`; throws the 429 when it is over the limit. */
export async function checkRateLimit(c: Context<AppEnv>, key: string, who: string): Promise<void> {
  const { RATE_LIMIT: limit, RATE_LIMIT_PERIOD: period } = c.get("settings");
  c.header("RateLimit-Policy", `${limit};w=${period}`);
  const { success } = await c.env.RATE_LIMITER.limit({ key });
  if (success) return;
  c.header("Retry-After", String(period));
  c.header("RateLimit", `limit=${limit}, remaining=0, reset=${period}`);
  throw new IngestError("rate_limited", `rate limit exceeded: ${limit} requests per ${period} s for ${who}; retry after ${period} s`);
}

export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const keyId = c.get("principal")?.keyId;
    await checkRateLimit(c, keyId ? `key:${keyId}` : addressKey(c), keyId ? `key ${keyId}` : "this address");
    await next();
  };
}
