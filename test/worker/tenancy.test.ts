/** Tenant isolation: what one API key's requests leave behind (receipts, Idempotency-Keys) is its own. */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { customers } from "../support/customers.ts";
import { apiKeys, call, count, deployedCall, resetDatabase } from "../support/worker.ts";

const A = "nn_tenant-a";
const B = "nn_tenant-b";
const ADMIN = "nn_tenant-admin";
const callDeployed = deployedCall({ a: [A, ["write:*"]], b: [B, ["write:Customer", "write:Order"]], admin: [ADMIN, ["write:Customer", "admin"]] });

beforeEach(resetDatabase);

describe("async receipts", () => {
  it("are readable by the key that made them and by an admin key; any other key gets 404, as for an unknown id", async () => {
    const accepted = await callDeployed("/ingest/batch", { method: "POST", body: `${customers("R", 3)}\nX|bad`, headers: { Prefer: "respond-async" }, key: A });
    expect(accepted.status).toBe(202);
    const { receipt } = await accepted.json<{ receipt: string }>();
    expect((await callDeployed(receipt, { key: A })).status).toBe(200);
    expect(await (await callDeployed(receipt, { key: A })).json()).toMatchObject({ key_id: "a" });
    expect((await callDeployed(receipt, { key: ADMIN })).status).toBe(200);
    const other = await callDeployed(receipt, { key: B });
    expect(other.status).toBe(404);
    const unknown = await callDeployed("/ingest/receipts/00000000-0000-0000-0000-000000000000", { key: B });
    expect(await other.json()).toMatchObject({ code: "not_found" });
    expect(unknown.status).toBe(404);
  });
});

describe("Idempotency-Key", () => {
  it("is per API key: the same key from another API key gets its own fresh answer, not a replay", async () => {
    const first = await callDeployed("/ingest/batch", { method: "POST", body: customers("I", 4), headers: { "Idempotency-Key": "shared-1" }, key: A });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ inserted: 4, duplicates: 0 });
    const other = await callDeployed("/ingest/batch", { method: "POST", body: customers("I", 4), headers: { "Idempotency-Key": "shared-1" }, key: B });
    expect(other.status).toBe(200);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    // B's own write: the rows were already there, so they count as duplicates for B.
    expect(await other.json()).toMatchObject({ inserted: 0, duplicates: 4 });
    const replay = await callDeployed("/ingest/batch", { method: "POST", body: customers("I", 4), headers: { "Idempotency-Key": "shared-1" }, key: A });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toMatchObject({ inserted: 4, duplicates: 0 });
  });

  it("claimed first by another API key does not make a key's own request a 409", async () => {
    expect(
      (await callDeployed("/ingest/batch", { method: "POST", body: customers("N", 1), headers: { "Idempotency-Key": "nightly-2026-12-01" }, key: B })).status,
    ).toBe(200);
    const mine = await callDeployed("/ingest/batch", { method: "POST", body: customers("M", 2), headers: { "Idempotency-Key": "nightly-2026-12-01" }, key: A });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toMatchObject({ inserted: 2 });
    // The same API key with another body is still a conflict.
    expect(
      (await callDeployed("/ingest/batch", { method: "POST", body: customers("Z", 2), headers: { "Idempotency-Key": "nightly-2026-12-01" }, key: A })).status,
    ).toBe(409);
  });

  it("checks the key's scopes before replaying a stored answer", async () => {
    const body = `${customers("S", 1)}\nP|P1|part|M|B|T|1|BOX|1.00|c`;
    expect((await callDeployed("/ingest/batch", { method: "POST", body, headers: { "Idempotency-Key": "scoped-1" }, key: A })).status).toBe(200);
    // Key a loses write:Product; its replay must not answer for Product.
    const narrowed = { API_KEYS: await apiKeys({ a: [A, ["write:Customer"]] }) };
    const replay = await callDeployed("/ingest/batch", { method: "POST", body, headers: { "Idempotency-Key": "scoped-1" }, key: A, bindings: narrowed });
    expect(replay.status).toBe(403);
    expect(await replay.json()).toMatchObject({ code: "forbidden", entity: "Product" });
  });
});

describe("authentication details", () => {
  it("matches the Bearer scheme case-insensitively", async () => {
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const res = await callDeployed("/ingest/message", {
        method: "POST",
        body: `C|B${scheme}|A|x|1|5|1.00|A|b`,
        headers: { Authorization: `${scheme} ${A}` },
      });
      expect(res.status, scheme).toBe(200);
    }
    expect(await count("customers")).toBe(3);
  });

  it("counts a valid key's 403s against its rate limit", async () => {
    const strict = { RATE_LIMITER: env.STRICT_LIMITER, RATE_LIMIT: "3", RATE_LIMIT_PERIOD: "60" };
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 45_000) await scheduler.wait(60_000 - intoWindow + 250);
    const reader = { API_KEYS: await apiKeys({ probe: ["nn_probe", ["read"]] }), ...strict };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await callDeployed("/ingest/message", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", key: "nn_probe", bindings: reader })).status);
    expect(statuses).toEqual([403, 403, 403, 429]);
  });
});

describe("browsers", () => {
  const preflight = {
    method: "OPTIONS",
    headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "idempotency-key" },
  };

  it("get no CORS headers at all while CORS_ORIGINS is empty", async () => {
    for (const init of [preflight, { method: "POST", body: customers("O", 1), headers: { Origin: "https://app.example" }, key: A }]) {
      const res = await callDeployed("/ingest/batch", init);
      expect([...res.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([]);
    }
  });

  it("may send Idempotency-Key and Prefer from an allowed origin", async () => {
    const res = await callDeployed("/ingest/batch", { ...preflight, bindings: { CORS_ORIGINS: "https://app.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Idempotency-Key.*Prefer|Prefer.*Idempotency-Key/);
  });

  it("cannot write anonymously from another web origin in dev, unless CORS_ORIGINS allows it", async () => {
    const write = (origin: string, bindings: Record<string, unknown> = {}) =>
      call("/ingest/message", {
        method: "POST",
        body: "C|C9|A|x|1|5|1.00|A|b",
        headers: { Origin: origin },
        bindings: { ALLOW_ANONYMOUS: "true", ...bindings },
      });
    const foreign = await write("https://evil.example");
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ code: "forbidden", message: expect.stringContaining("https://evil.example") });
    expect(await count("customers")).toBe(0);
    expect((await write("http://nomnom.test")).status).toBe(200);
    expect((await write("https://evil.example", { CORS_ORIGINS: "https://evil.example" })).status).toBe(200);
  });
});
