import { createExecutionContext, env, evictDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index.ts";
import { post, resetDatabase } from "../support/worker.ts";

type Stats = {
  total_messages_processed: number;
  messages_by_entity: Record<string, number>;
  errors: number;
  uptime_seconds: number;
  requests_per_second: number;
  messages_by_outcome: { inserted: number; duplicates: number; failed: number };
  entities: Record<string, { inserted: number; duplicates: number; failed: number }>;
  requests: Record<string, Record<string, number>>;
  bytes_received: number;
  duration_seconds: { count: number; p50: number | null; p99: number | null };
  shards: number;
};

/**
 * Calls the Worker directly. Its stats delta waits in the isolate for the next flush (here right
 * after the request, unless a test sets STATS_FLUSH_MS); a read (/stats, /metrics) sends pending
 * deltas first; so, unlike `call` (test/support/worker.ts), this waits for waitUntil work only when asked to.
 */
async function send(request: Request, bindings: Record<string, unknown> = {}, waitForFlush = false): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, STATS_FLUSH_MS: "0", ...bindings }, ctx);
  await res.clone().arrayBuffer();
  if (waitForFlush) await waitOnExecutionContext(ctx);
  return res;
}

const stats = async (bindings: Record<string, unknown> = {}) => (await (await send(new Request("http://nomnom.test/stats"), bindings)).json()) as Stats;
const batch = (body: string, bindings: Record<string, unknown> = {}, waitForFlush = false) =>
  send(new Request("http://nomnom.test/ingest/batch", { method: "POST", body, headers: { "Content-Type": "text/plain" } }), bindings, waitForFlush);

const LINES = ["O|1|100|O|1.00|1996-01-02", "O|2|100|O|1.00|1996-01-02", "C|C1|Ann|x|1|5|1.00|A|b", "X|bad"].join("\n");

beforeEach(resetDatabase);

describe("the Stats Durable Object behind /stats", () => {
  it("counts exactly what known batches did, by entity and outcome, and the requests by route and status", async () => {
    const before = await stats();
    expect((await batch(LINES)).status).toBe(207);
    expect((await batch(LINES)).status).toBe(207);
    const after = await stats();
    expect(after.total_messages_processed - before.total_messages_processed).toBe(8);
    expect(after.messages_by_outcome.inserted - before.messages_by_outcome.inserted).toBe(3);
    expect(after.messages_by_outcome.duplicates - before.messages_by_outcome.duplicates).toBe(3);
    expect(after.errors - before.errors).toBe(2);
    expect(after.entities.Order.inserted - (before.entities.Order?.inserted ?? 0)).toBe(2);
    expect(after.entities.Customer.duplicates - (before.entities.Customer?.duplicates ?? 0)).toBe(1);
    expect(after.requests["/ingest/batch"]["207"] - (before.requests["/ingest/batch"]?.["207"] ?? 0)).toBe(2);
    expect(after.bytes_received - before.bytes_received).toBe(2 * LINES.length);
    expect(after.duration_seconds.count - before.duration_seconds.count).toBe(3); // 2 batches + the first /stats
    expect(after.uptime_seconds).toBeGreaterThanOrEqual(0);
    expect(after.requests_per_second).toBeGreaterThan(0);
  });

  it("keeps its counts when the object is evicted and restarted", async () => {
    await batch(LINES);
    const before = await stats();
    await evictDurableObject(env.STATS.get(env.STATS.idFromName("stats-shard-0")));
    const after = await stats();
    expect(after.total_messages_processed).toBe(before.total_messages_processed);
    expect(after.entities).toEqual(before.entities);
  });

  it("spreads writes over two shards and merges them on read to the same counts", async () => {
    // Each request's delta is sent on its own (flush after each request), to a shard picked at random.
    const two = { STATS_SHARDS: "2" };
    const before = await stats(two);
    for (let i = 0; i < 20; i++) await batch(`C|S${i}|Ann|x|1|5|1.00|A|b`, two, true);
    const after = await stats(two);
    expect(after.shards).toBe(2);
    expect(after.entities.Customer.inserted - (before.entities.Customer?.inserted ?? 0)).toBe(20);
    const shardZeroOnly = await stats();
    expect(shardZeroOnly.entities.Customer.inserted).toBeLessThan(after.entities.Customer.inserted);
  });

  it("sums an isolate's deltas and sends them once per STATS_FLUSH_MS, without waiting for a read", async () => {
    const shardZero = () => env.STATS.get(env.STATS.idFromName("stats-shard-0")).snapshot();
    const inserted = (s: { counters: Record<string, number> }) => s.counters["messages|Customer|inserted"] ?? 0;
    // Send what earlier requests left pending, and this read's own delta, so no flush is scheduled.
    await send(new Request("http://nomnom.test/stats"), {}, true);
    const before = inserted(await shardZero());
    const window = { STATS_FLUSH_MS: "1000" };
    const ctx = createExecutionContext();
    const first = await worker.fetch(
      new Request("http://nomnom.test/ingest/batch", { method: "POST", body: "C|F0|Ann|x|1|5|1.00|A|b", headers: { "Content-Type": "text/plain" } }),
      { ...env, ...window },
      ctx,
    );
    expect(first.status).toBe(200);
    for (let i = 1; i < 5; i++) expect((await batch(`C|F${i}|Ann|x|1|5|1.00|A|b`, window)).status).toBe(200);
    expect(inserted(await shardZero())).toBe(before); // nothing sent yet: the window is still open
    await waitOnExecutionContext(ctx); // the first request scheduled the flush and keeps it alive
    expect(inserted(await shardZero())).toBe(before + 5);
  });

  it("records nothing when stats are off", async () => {
    const before = await stats();
    await batch(LINES, { STATS_ENABLED: "false" });
    const after = await stats();
    expect(after.total_messages_processed).toBe(before.total_messages_processed);
  });

  it("counts single messages and their derived line items", async () => {
    const before = await stats();
    await send(new Request("http://nomnom.test/ingest/message", { method: "POST", body: "INVALID|MESSAGE", headers: { "Content-Type": "text/plain" } }));
    await send(
      new Request("http://nomnom.test/ingest/message", { method: "POST", body: "O|9|100|O|1.00|1996-01-02", headers: { "Content-Type": "text/plain" } }),
    );
    const after = await stats();
    expect(after.messages_by_outcome.failed - before.messages_by_outcome.failed).toBe(1);
    expect(after.entities.Order.inserted - (before.entities.Order?.inserted ?? 0)).toBe(1);
    expect(after.requests["/ingest/message"]["400"] - (before.requests["/ingest/message"]?.["400"] ?? 0)).toBe(1);
  });
});

describe("GET /metrics", () => {
  it("exposes the same counts in Prometheus text format with HELP and TYPE lines", async () => {
    await batch(LINES);
    const s = await stats();
    const res = await send(new Request("http://nomnom.test/metrics"));
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain("# TYPE ingestion_messages_total counter");
    expect(text).toContain(`ingestion_messages_total{entity="Order",status="inserted"} ${s.entities.Order.inserted}`);
    expect(text).toContain(`ingestion_messages_total{entity="(unknown)",status="failed"} ${s.entities["(unknown)"].failed}`);
    expect(text).toContain("# TYPE ingestion_duration_seconds histogram");
    expect(text).toMatch(/^ingestion_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^http_requests_total\{route="\/ingest\/batch",code="207"\} \d+$/m);
    expect(text).toMatch(/^ingestion_database_seconds_total [\d.e-]+$/m);
  });
});

describe("request ids", () => {
  it("answers every response with an X-Request-Id of its own, and logs the caller's as client_request_id", async () => {
    const generated = await SELF.fetch("http://nomnom.test/health");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const log = vi.spyOn(console, "log");
    try {
      const res = await post("/ingest/message", "bad", "text/plain", { "X-Request-Id": "trace-42" });
      const id = res.headers.get("x-request-id");
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await res.json()).toMatchObject({ code: "invalid_message", request_id: id });
      await vi.waitFor(() => {
        const line = log.mock.calls.map(([text]) => String(text)).find((text) => text.includes(`"request_id":"${id}"`));
        expect(JSON.parse(line!)).toMatchObject({ request_id: id, client_request_id: "trace-42", status: 400 });
      });
    } finally {
      log.mockRestore();
    }
  });
});
