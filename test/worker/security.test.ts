import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { count, deployedCall, resetDatabase } from "../support/worker.ts";

const LOADER = "nn_loader-secret";
const READER = "nn_reader-secret";
const callDeployed = deployedCall({ loader: [LOADER, ["write:Customer", "write:Order"]], reader: [READER, ["read"]] });

beforeEach(resetDatabase);

describe("API keys", () => {
  it("answers 401 with WWW-Authenticate when the key is missing, wrong or malformed", async () => {
    for (const init of [{}, { key: "nn_wrong" }, { headers: { Authorization: "Basic abc" } }]) {
      const res = await callDeployed("/ingest/message", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", ...init });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="nomnom-edge"');
      expect(await res.json()).toMatchObject({ status: "error", message: expect.stringMatching(/API key|Authorization/) });
    }
    expect(await count("customers")).toBe(0);
  });

  it("stops admitting a key removed from API_KEYS although its digest was remembered, and admits it again once restored", async () => {
    const line = (n: number) => ({ method: "POST", body: `C|C${n}|A|x|1|5|1.00|A|b`, key: LOADER });
    expect((await callDeployed("/ingest/message", line(1))).status).toBe(200);
    expect((await callDeployed("/ingest/message", line(2))).status).toBe(200);
    const readerOnly = deployedCall({ reader: [READER, ["read"]] });
    expect((await readerOnly("/ingest/message", line(3))).status).toBe(401);
    expect((await callDeployed("/ingest/message", line(4))).status).toBe(200);
    expect(await count("customers")).toBe(3);
  });

  it("writes with a valid key, and answers 403 naming an entity outside the key's scope", async () => {
    expect((await callDeployed("/ingest/message", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", key: LOADER })).status).toBe(200);
    const res = await callDeployed("/ingest/message", { method: "POST", body: "P|P1|part|M|B|T|1|BOX|1.00|c", key: LOADER });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ entity: "Product", message: "key loader may not write entity Product (its scopes: write:Customer, write:Order)" });
    expect(await count("products")).toBe(0);
  });

  it("rejects the out-of-scope lines of a batch as rejected lines and writes the rest", async () => {
    const body = ["C|C1|A|x|1|5|1.00|A|b", "P|P1|part|M|B|T|1|BOX|1.00|c", "O|1|100|O|1.00|1996-01-02"].join("\n");
    const res = await callDeployed("/ingest/batch", { method: "POST", body, key: LOADER });
    expect(res.status).toBe(207);
    expect(await res.json()).toMatchObject({
      inserted: 2,
      failed: 1,
      errors: [{ line_number: 2, entity: "Product", message: expect.stringContaining("may not write entity Product") }],
    });
  });

  it("refuses a nested order when the key may not write its line items", async () => {
    const order = {
      order_key: "O1",
      customer_key: "C1",
      order_status: "O",
      total_price: 1,
      order_date: "2025-01-15",
      line_items: [
        {
          line_number: 1,
          part_key: "P",
          supplier_key: "S",
          quantity: 1,
          extended_price: 1,
          discount: 0,
          tax: 0,
          return_flag: "N",
          line_status: "O",
          ship_date: "2025-01-20",
          commit_date: "2025-01-18",
        },
      ],
    };
    const res = await callDeployed("/ingest/batch", {
      method: "POST",
      body: JSON.stringify([order]),
      headers: { "Content-Type": "application/json" },
      key: LOADER,
    });
    expect(await res.json()).toMatchObject({
      inserted: 0,
      failed: 1,
      errors: [{ entity: "OrderLineItem", message: expect.stringContaining("line_items: key loader may not write entity OrderLineItem") }],
    });
  });

  it("guards /stats and /metrics with the read scope and leaves /health, /limits and /docs public", async () => {
    expect((await callDeployed("/stats")).status).toBe(401);
    expect((await callDeployed("/stats", { key: LOADER })).status).toBe(403);
    expect((await callDeployed("/stats", { key: READER })).status).toBe(200);
    expect((await callDeployed("/metrics", { key: READER })).status).toBe(200);
    expect((await callDeployed("/ingest/batch", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", key: READER })).status).toBe(403);
    for (const path of ["/health", "/limits", "/docs", "/openapi.json", "/dashboard"]) expect((await callDeployed(path)).status, path).toBe(200);
  });

  it("puts the key id, never the key, in the metrics", async () => {
    await callDeployed("/ingest/message", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", key: LOADER });
    const text = await (await callDeployed("/metrics", { key: READER })).text();
    expect(text).toMatch(/^http_requests_by_key_total\{key_id="loader"\} \d+$/m);
    expect(text).not.toContain(LOADER);
  });

  it("refuses writes on a deployment with no keys and no anonymous access (the production settings)", async () => {
    const bare = { API_KEYS: undefined };
    const res = await callDeployed("/ingest/message", { method: "POST", body: "C|C1|A|x|1|5|1.00|A|b", bindings: bare });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      message: "an API key is required: this deployment has no API keys configured and does not allow anonymous access",
    });
    expect(await count("customers")).toBe(0);
  });
});

describe("rate limits", () => {
  it("answers 429 with Retry-After and the RateLimit headers once a key is over its limit", async () => {
    const strict = { RATE_LIMITER: env.STRICT_LIMITER, RATE_LIMIT: "3", RATE_LIMIT_PERIOD: "60" };
    // The local limiter counts in windows aligned to the wall clock (every minute on the minute):
    // five requests that straddle a boundary would find a fresh window. Start well inside one.
    const intoWindow = Date.now() % 60_000;
    if (intoWindow > 45_000) await scheduler.wait(60_000 - intoWindow + 250);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await callDeployed("/ingest/message", { method: "POST", body: `C|RL${i}|A|x|1|5|1.00|A|b`, key: LOADER, bindings: strict });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(last!.headers.get("retry-after")).toBe("60");
    expect(last!.headers.get("ratelimit-policy")).toBe("3;w=60");
    expect(last!.headers.get("ratelimit")).toBe("limit=3, remaining=0, reset=60");
    expect(await last!.json()).toMatchObject({ status: "error", message: expect.stringContaining("rate limit exceeded: 3 requests per 60 s for key loader") });
  });
});

describe("size limits", () => {
  it("answers 413 naming MAX_LINE_BYTES for a single message, MAX_BATCH_BYTES for a batch and MAX_BODY_BYTES for a stream", async () => {
    const big = "C|C1|" + "x".repeat(5000);
    const cases = [
      ["/ingest/message", { MAX_LINE_BYTES: "1000" }, "MAX_LINE_BYTES"],
      ["/ingest/batch", { MAX_BATCH_BYTES: "1000" }, "MAX_BATCH_BYTES"],
      ["/ingest/batch", { MAX_BODY_BYTES: "1000" }, "MAX_BODY_BYTES"],
    ] as const;
    for (const [path, limits, setting] of cases) {
      const res = await callDeployed(path, { method: "POST", body: big, key: LOADER, bindings: limits });
      expect(res.status, setting).toBe(413);
      expect(await res.json()).toMatchObject({ message: expect.stringContaining(`larger than the limit of 1000 bytes (${setting})`), limit_bytes: 1000 });
    }
  });

  it("answers 413 naming MAX_BATCH_ITEMS and writes nothing of that batch", async () => {
    const body = Array.from({ length: 6 }, (_, i) => `C|B${i}|A|x|1|5|1.00|A|b`).join("\n");
    const res = await callDeployed("/ingest/batch", { method: "POST", body, key: LOADER, bindings: { MAX_BATCH_ITEMS: "5" } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      message: "the batch holds more than 5 messages (MAX_BATCH_ITEMS); nothing was written: split it, or use /ingest/stream",
      limit_items: 5,
    });
    expect(await count("customers")).toBe(0);
  });

  it("publishes the limits at /limits", async () => {
    expect(await (await callDeployed("/limits")).json()).toMatchObject({
      max_body_bytes: 104857600,
      max_line_bytes: 1048576,
      max_batch_items: 10000,
      rate_limit: { requests: 10000, period_seconds: 10 },
    });
  });
});

describe("CORS", () => {
  it("is off by default and answers preflights for the configured origins", async () => {
    const preflight = { method: "OPTIONS", headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST" } };
    const off = await callDeployed("/ingest/batch", preflight);
    expect(off.headers.get("access-control-allow-origin")).toBeNull();
    const on = await callDeployed("/ingest/batch", { ...preflight, bindings: { CORS_ORIGINS: "https://app.example" } });
    expect(on.status).toBe(204);
    expect(on.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(on.headers.get("access-control-allow-headers")).toContain("Authorization");
  });
});
