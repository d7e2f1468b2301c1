import { env, SELF } from "cloudflare:test";
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { REGISTRY_VERSION } from "../../src/generated/registry.ts";

describe("GET /health", () => {
  // fetchEndpoint is isolate-global: put it back for the other tests after pointing it nowhere.
  afterAll(() => {
    neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT!;
  });

  it("reports the registry version, the entities and a reachable database", async () => {
    const res = await SELF.fetch("http://nomnom.test/health");
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; database: string; version: string; entities: { name: string }[] }>();
    expect(body).toMatchObject({ status: "ok", database: "ok", version: REGISTRY_VERSION });
    expect(body.entities.map((e) => e.name)).toEqual(["Customer", "Order", "OrderLineItem", "Product"]);
  });

  it("answers 503 with database unreachable when the database does not answer", async () => {
    const unreachable = { ...env, DATABASE_URL: "postgres://app:x@nowhere.localtest.me/main", NEON_FETCH_ENDPOINT: "http://127.0.0.1:9/sql" };
    const res = await worker.fetch(new Request("http://nomnom.test/health"), unreachable);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", database: "unreachable" });
  });

  it("answers 503 with database misconfigured, and why, when the database refuses the password", async () => {
    const refused = { ...env, DATABASE_URL: env.DATABASE_URL.replace(/:[^:@/]*@/, ":not-the-password@") };
    const started = Date.now();
    const res = await worker.fetch(new Request("http://nomnom.test/health"), refused);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(503);
    const body = await res.json<{ reason: string }>();
    expect(body).toMatchObject({ status: "degraded", database: "misconfigured", reason: expect.stringMatching(/^the database refused the password for user app\b/) });
    expect(JSON.stringify(body)).not.toContain("not-the-password");
  });
});
