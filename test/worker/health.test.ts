import { env, SELF } from "cloudflare:test";
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { REGISTRY_VERSION, SCHEMA_LEVEL } from "../project/src/generated/registry.ts";
import { apiKeys } from "../support/worker.ts";

describe("GET /health", () => {
  // fetchEndpoint is isolate-global: put it back for the other tests after pointing it nowhere.
  afterAll(() => {
    neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT!;
  });

  it("reports the registry version, the entities and a reachable database", async () => {
    const res = await SELF.fetch("http://nomnom.test/health");
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; database: string; version: string; schema: object; entities: { name: string }[] }>();
    expect(body).toMatchObject({ status: "ok", database: "ok", version: REGISTRY_VERSION, schema: { worker: SCHEMA_LEVEL, database: SCHEMA_LEVEL } });
    expect(body.entities.map((e) => e.name)).toEqual(["Customer", "Order", "OrderLineItem", "Product"]);
  });

  it("answers 503 with database unreachable when the database does not answer", async () => {
    const unreachable = { ...env, DATABASE_URL: "postgres://app:x@nowhere.localtest.me/main", NEON_FETCH_ENDPOINT: "http://127.0.0.1:9/sql" };
    const res = await worker.fetch(new Request("http://nomnom.test/health"), unreachable);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", database: "unreachable", reason: "no answer: the request failed or passed DB_TIMEOUT_MS" });
  });

  it("remembers its database check for HEALTH_CACHE_MS, so a burst of probes costs one round trip", async () => {
    const cached = { ...env, HEALTH_CACHE_MS: "5000" };
    expect((await worker.fetch(new Request("http://nomnom.test/health"), cached)).status).toBe(200);
    await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "down" }) });
    try {
      // The database is gone, but the check a moment ago still stands.
      expect((await worker.fetch(new Request("http://nomnom.test/health"), cached)).status).toBe(200);
      expect((await worker.fetch(new Request("http://nomnom.test/health"), env)).status).toBe(503);
    } finally {
      await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "none" }) });
    }
  });

  // After the cache test, whose cached check would otherwise answer for this one.
  it("says which condition makes the database unreachable, in its own words: never the server's text or a role name", async () => {
    const answer = { status: 500, code: "55000", message: 'database "main" is not currently accepting connections for role "app"' };
    await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "answer", answer }) });
    try {
      const res = await worker.fetch(new Request("http://nomnom.test/health"), { ...env, DB_RETRY_MS: "0" });
      expect(res.status).toBe(503);
      const body = await res.json<{ reason: string }>();
      expect(body).toMatchObject({ database: "unreachable", reason: "the database is not accepting connections (SQLSTATE 55000)" });
      expect(JSON.stringify(body)).not.toContain("app");
    } finally {
      await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "none" }) });
    }
  });

  it("runs one database check for concurrent probes (single flight), so they all get its answer", async () => {
    // The first SQL request fails: a probe that made a check of its own would find the database back.
    await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "down", times: 1 }) });
    try {
      const statuses = await Promise.all(Array.from({ length: 32 }, async () => (await worker.fetch(new Request("http://nomnom.test/health"), env)).status));
      expect(statuses).toEqual(Array(32).fill(503));
      expect((await worker.fetch(new Request("http://nomnom.test/health"), env)).status).toBe(200);
    } finally {
      await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: "none" }) });
    }
  });

  it("tells why the database is unhealthy only to a key with the read scope", async () => {
    const deployed = {
      ...env,
      ALLOW_ANONYMOUS: "false",
      API_KEYS: await apiKeys({ ops: ["nn_ops-reader", ["read"]], loader: ["nn_loader-only", ["write:*"]] }),
      DATABASE_URL: env.DATABASE_URL.replace(/:[^:@/]*@/, ":not-the-password@"),
    };
    const probe = async (key?: string) => {
      const res = await worker.fetch(new Request("http://nomnom.test/health", { headers: key ? { Authorization: `Bearer ${key}` } : {} }), deployed);
      expect(res.status).toBe(503);
      return res.json<{ database: string; reason?: string }>();
    };
    for (const body of [await probe(), await probe("nn_loader-only"), await probe("nn_wrong-key")]) {
      expect(body).toMatchObject({ status: "degraded", database: "misconfigured" });
      expect(body.reason).toBeUndefined();
    }
    expect((await probe("nn_ops-reader")).reason).toMatch(/^the database refused the password for user app\b/);
  });

  it("is rate-limited per client address", async () => {
    const strict = { ...env, RATE_LIMITER: env.STRICT_LIMITER, RATE_LIMIT: "3", RATE_LIMIT_PERIOD: "60" };
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 45_000) await scheduler.wait(60_000 - intoWindow + 250);
    const probe = (ip: string) => worker.fetch(new Request("http://nomnom.test/health", { headers: { "CF-Connecting-IP": ip } }), strict);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await probe("203.0.113.7")).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await probe("203.0.113.8")).status).toBe(200);
  });

  it("answers 503 with database misconfigured, and why, when the database refuses the password", async () => {
    const refused = { ...env, DATABASE_URL: env.DATABASE_URL.replace(/:[^:@/]*@/, ":not-the-password@") };
    const started = Date.now();
    const res = await worker.fetch(new Request("http://nomnom.test/health"), refused);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(503);
    const body = await res.json<{ reason: string }>();
    expect(body).toMatchObject({
      status: "degraded",
      database: "misconfigured",
      reason: expect.stringMatching(/^the database refused the password for user app\b/),
    });
    expect(JSON.stringify(body)).not.toContain("not-the-password");
  });
});
