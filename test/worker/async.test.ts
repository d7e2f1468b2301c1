/** The asynchronous path: rows on a Cloudflare Queue, written by the consumer, followed by a receipt; dead letters; the fallback. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { customers } from "../support/customers.ts";
import { call, count, fault, resetDatabase, settled } from "../support/worker.ts";

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

  it("sends a part that keeps failing to the dead-letter queue, and its receipt says why", async () => {
    await fault("down");
    const res = await call("/ingest/batch?mode=async", { method: "POST", body: customers("D", 5), bindings: { DB_TIMEOUT_MS: "300", DB_RETRY_MS: "300" } });
    const { ingest_id } = (await res.json()) as { ingest_id: string };
    const receipt = await settled(ingest_id, 60_000);
    expect(receipt).toMatchObject({ status: "failed", parts_dead: 1, failed: 5, inserted: 0 });
    expect(receipt.problems[0]).toMatchObject({
      dead: true,
      reason: expect.stringMatching(/^dead-lettered after \d+ attempts: the database is unavailable; retry/),
    });
    await fault("none");
    expect(await count("customers")).toBe(0);
  }, 90_000);

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
