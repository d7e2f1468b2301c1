/** The asynchronous path: rows on a Cloudflare Queue, written by the consumer, followed by a receipt; dead letters; the fallback. */
import { createExecutionContext, createMessageBatch, createScheduledController, env, getQueueResult } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Settings } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { parseBody } from "../../src/ingest/parse-messages.ts";
import { parkedParts, REDRIVE_CRON, retryDelay } from "../../src/queue/async-ingest.ts";
import { customers } from "../support/customers.ts";
import { call, count, deployedCall, fault, type Receipt, resetDatabase, settled } from "../support/worker.ts";

/** Polls a receipt until `done` says so (or `timeoutMs` passes). */
async function settledWhere(id: string, done: (r: Receipt) => boolean, timeoutMs: number): Promise<Receipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = (await (await call(`/ingest/receipts/${id}`)).json()) as Receipt;
    if (done(receipt) || Date.now() > deadline) return receipt;
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeEach(resetDatabase);
afterEach(() => fault("none"));

describe("asynchronous ingest", () => {
  it("answers 202 once the rows are queued, and the receipt reports them written", async () => {
    const res = await call("/ingest/batch", { method: "POST", body: `${customers("Q", 40)}\nX|bad`, headers: { Prefer: "respond-async" } });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { ingest_id: string; receipt: string; queued: number; failed: number };
    expect(body).toMatchObject({ status: "accepted", queued: 40, failed: 1, errors: [{ line_number: 41 }] });
    expect(res.headers.get("location")).toBe(body.receipt);
    const receipt = await settled(body.ingest_id);
    expect(receipt).toMatchObject({ status: "done", inserted: 40, duplicates: 0, failed: 1, parts_dead: 0 });
    expect(await count("customers")).toBe(40);
  });

  it("parks a part that keeps failing, with its rows and rejections, and the scheduled re-drive writes them once the database answers", async () => {
    await fault("down");
    const res = await call("/ingest/batch?mode=async", {
      method: "POST",
      body: `${customers("D", 5)}\nX|bad one\nX|bad two`,
      bindings: { DB_TIMEOUT_MS: "300", DB_RETRY_MS: "300" },
    });
    expect(res.status).toBe(202);
    const { ingest_id, request_id } = (await res.json()) as { ingest_id: string; request_id: string };
    // Two parts: the rejected lines, then the rows; both outlast QUEUE_MAX_RETRIES (2) attempts.
    const parked = await settledWhere(ingest_id, (r) => r.parts_parked === r.parts, 60_000);
    expect(parked).toMatchObject({ status: "parked", parts: 2, parts_parked: 2, parts_dead: 0, inserted: 0 });
    expect(parked.problems.map((p) => p.status)).toEqual(["parked", "parked"]);
    expect(parked.problems[0].reason).toMatch(/^parked after 2 attempts, to be written once the database answers: the database is unavailable/);

    const listed = (await (await call("/ingest/parked")).json()) as { total: number; parts: { ingest_id: string; rows: number; rejections: number }[] };
    expect(listed.total).toBe(2);
    expect(listed.parts.map((p) => [p.ingest_id, p.rows, p.rejections])).toEqual([
      [ingest_id, 0, 2],
      [ingest_id, 5, 0],
    ]);

    // Still down: the re-drive keeps them parked, and says why it stopped.
    await worker.scheduled(createScheduledController({ cron: REDRIVE_CRON }), env);
    expect(await settled(ingest_id)).toMatchObject({ status: "parked", parts_parked: 2 });

    await fault("none");
    await worker.scheduled(createScheduledController({ cron: REDRIVE_CRON }), env);
    expect(await settled(ingest_id)).toMatchObject({ status: "done", parts_written: 2, parts_parked: 0, inserted: 5, failed: 2, problems: [] });
    expect(await count("customers")).toBe(5);
    const rejections = (await (await call(`/ingest/rejections?request_id=${request_id}`)).json()) as { rejections: { raw: string }[] };
    expect(rejections.rejections.map((r) => r.raw)).toEqual(["X|bad one", "X|bad two"]);
    expect(((await (await call("/ingest/parked")).json()) as { total: number }).total).toBe(0);
  }, 90_000);

  it("lets an admin key list and re-drive parked parts, and no other key", async () => {
    const as = deployedCall({ ops: ["ops-key-000000000001", ["admin"]], writer: ["writer-key-0000000001", ["write:*"]] });
    await fault("down");
    const res = await as("/ingest/batch?mode=async", { method: "POST", key: "writer-key-0000000001", body: customers("R", 3) });
    const { ingest_id } = (await res.json()) as { ingest_id: string };
    await settledWhere(ingest_id, (r) => r.status === "parked", 60_000);
    expect((await as("/ingest/parked", { key: "writer-key-0000000001" })).status).toBe(403);
    expect((await as("/ingest/parked/redrive", { method: "POST", key: "writer-key-0000000001" })).status).toBe(403);
    expect((await as("/ingest/parked")).status).toBe(401);
    const stillDown = await as("/ingest/parked/redrive", { method: "POST", key: "ops-key-000000000001" });
    expect(await stillDown.json()).toMatchObject({ redriven: 0, remaining: 1, stopped: expect.stringMatching(/unavailable/) });
    await fault("none");
    const redriven = await as("/ingest/parked/redrive", { method: "POST", key: "ops-key-000000000001" });
    expect(await redriven.json()).toEqual({ redriven: 1, remaining: 0 });
    expect(await settled(ingest_id)).toMatchObject({ status: "done", inserted: 3 });
    expect(await count("customers")).toBe(3);
  }, 90_000);

  it("parks what reaches the dead-letter queue instead of dropping it, and the re-drive writes it", async () => {
    const { rows } = parseBody("text", customers("DLQ", 2), new Set());
    const ingestId = crypto.randomUUID();
    const body = { ingestId, part: 0, rows: rows.map((r) => ({ entity: r.entity.name, json: r.json, line: r.lineNumber })) };
    const batch = createMessageBatch("nomnom-ingest-dlq", [{ id: "dead-1", timestamp: Date.now(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["dead-1"]);
    const listed = (await (await call("/ingest/parked")).json()) as { parts: { ingest_id: string; rows: number; reason: string }[] };
    expect(listed.parts).toContainEqual(expect.objectContaining({ ingest_id: ingestId, rows: 2, reason: expect.stringMatching(/^dead-lettered/) }));
    expect(await (await call("/ingest/parked/redrive", { method: "POST" })).json()).toMatchObject({ redriven: 1, remaining: 0 });
    expect(await count("customers")).toBe(2);
  });

  it("keeps re-driving the others when one parked part fails for a reason of its own", async () => {
    const { rows } = parseBody("text", customers("OWN", 1), new Set());
    const good = { ingestId: crypto.randomUUID(), part: 0, rows: rows.map((r) => ({ entity: r.entity.name, json: r.json, line: r.lineNumber })) };
    // A part no Worker can write (its entity is unknown here): parked first, so it is tried first.
    const poison = { ingestId: crypto.randomUUID(), part: 0, rows: [{ entity: "NoSuchEntity", json: "[]", line: 1 }] };
    for (const [i, body] of [poison, good].entries()) {
      const batch = createMessageBatch("nomnom-ingest-dlq", [{ id: `own-${i}`, timestamp: Date.now(), attempts: 1, body }]);
      await worker.queue(batch, env);
    }
    expect(await (await call("/ingest/parked/redrive", { method: "POST" })).json()).toEqual({ redriven: 1, remaining: 1 });
    expect(await count("customers")).toBe(1);
    const listed = (await (await call("/ingest/parked")).json()) as { parts: { ingest_id: string; redrives: number }[] };
    expect(listed.parts).toEqual([
      expect.objectContaining({ ingest_id: poison.ingestId, redrives: 1, reason: expect.stringContaining('entity "NoSuchEntity"') }),
    ]);
    await parkedParts(env).remove(poison.ingestId, 0);
  });

  it("backs off exponentially from QUEUE_RETRY_DELAY_S, up to the 12 hours a queue can delay", () => {
    const delays = [1, 2, 3, 4, 10, 20].map((attempt) => retryDelay({ QUEUE_RETRY_DELAY_S: 10 } as Settings, attempt));
    expect(delays).toEqual([10, 20, 40, 80, 5120, 43_200]);
  });

  it("falls back to the queue when the database stays unreachable, saying so (202, Ingest-Fallback)", async () => {
    await fault("down");
    const res = await call("/ingest/batch", {
      method: "POST",
      body: customers("F", 8),
      bindings: { DB_TIMEOUT_MS: "300", DB_RETRY_MS: "500", ASYNC_FALLBACK: "true" },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("ingest-fallback")).toBe("queued");
    const { ingest_id } = (await res.json()) as { ingest_id: string };
    await fault("none");
    expect(await settled(ingest_id)).toMatchObject({ status: "done", inserted: 8 });
    expect(await count("customers")).toBe(8);
  });

  it("answers 404 for an unknown receipt", async () => {
    expect((await call("/ingest/receipts/00000000-0000-0000-0000-000000000000")).status).toBe(404);
    expect((await call("/ingest/receipts/nope")).status).toBe(404);
  });
});
