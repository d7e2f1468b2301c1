/**
 * Never lose a row: atomic batches, Idempotency-Key, and the fault matrix. The local Neon endpoint
 * fails on purpose (POST /__faults); every cell ends with the rows in the database equal to the
 * rows the responses acknowledged, and no natural key twice.
 */
import { createScheduledController, env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Fault } from "../../scripts/local-neon/faults.ts";
import worker from "../../src/index.ts";
import { REDRIVE_CRON } from "../../src/queue/async-ingest.ts";
import { customers } from "../support/customers.ts";
import { readEvents } from "../support/sse.ts";
import { call, count, fault, resetDatabase, settled, sql } from "../support/worker.ts";

// Short timeouts, so a fault that never clears ends in a 503 quickly.
const FAST = { DB_TIMEOUT_MS: "400", DB_RETRY_MS: "1500", ASYNC_FALLBACK: "false" };

const ingest = (path: string, body: string, headers: Record<string, string> = {}) => call(path, { method: "POST", body, headers, bindings: FAST });

async function distinctKeys(): Promise<number> {
  const [row] = await sql.query("SELECT count(DISTINCT customer_key)::int AS n FROM customers");
  return row.n as number;
}

beforeEach(resetDatabase);
afterEach(() => fault("none"));

describe("?atomic=true", () => {
  it("writes every line in one transaction", async () => {
    const res = await ingest("/ingest/batch?atomic=true", customers("A", 50));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "success", inserted: 50 });
    expect(await count("customers")).toBe(50);
  });

  it("writes nothing when a line is bad, and reports every error", async () => {
    const res = await ingest("/ingest/batch?atomic=true", `${customers("A", 5)}\nC|bad\nX|y`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      status: "error",
      processed: 7,
      inserted: 0,
      failed: 7,
      message: "atomic batch: nothing was written because 2 of 7 messages were rejected",
      errors: [{ line_number: 6 }, { line_number: 7 }],
    });
    expect(await count("customers")).toBe(0);
  });

  it("rolls everything back when the database rejects one row", async () => {
    let seed = 7;
    const longKey = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 90)))
      .join("")
      .replace(/[|#]/g, "x");
    const res = await ingest("/ingest/batch?atomic=true", `${customers("A", 5)}\nC|${longKey}|Name|x|1|5|1.00|A|b`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      inserted: 0,
      failed: 6,
      message: expect.stringMatching(/^atomic batch rolled back, nothing was written: the database rejected a row: .*\(SQLSTATE 54000\)$/),
    });
    expect(await count("customers")).toBe(0);
  });
});

describe("Idempotency-Key", () => {
  it("answers a replay with the stored answer and writes nothing again", async () => {
    const first = await ingest("/ingest/batch", customers("I", 20), { "Idempotency-Key": "batch-1" });
    const firstBody = await first.json();
    expect(firstBody).toMatchObject({ inserted: 20 });
    await sql.query("DELETE FROM customers WHERE customer_key = 'I0'");
    const again = await ingest("/ingest/batch", customers("I", 20), { "Idempotency-Key": "batch-1" });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(firstBody);
    expect(await count("customers")).toBe(19); // not written again
  });

  it("stores at most 16 KB of an answer: the counts, the first errors and the rejections link", async () => {
    const bad = Array.from({ length: 1000 }, (_, i) => `X|rejected line ${i} ${"y".repeat(150)}`).join("\n");
    const first = await ingest("/ingest/batch", `${customers("B", 5)}\n${bad}`, { "Idempotency-Key": "bounded-1" });
    expect(first.status).toBe(207);
    const firstBody = (await first.json()) as { errors: unknown[]; rejections: string; request_id: string };
    expect(firstBody.errors).toHaveLength(1000);
    const [row] = await sql.query("SELECT octet_length(response::text) AS n FROM ingest_idempotency_keys WHERE key = 'bounded-1'");
    expect(Number(row.n)).toBeLessThanOrEqual(16 * 1024);
    const again = await ingest("/ingest/batch", `${customers("B", 5)}\n${bad}`, { "Idempotency-Key": "bounded-1" });
    expect(again.status).toBe(207);
    const replayed = (await again.json()) as { errors: unknown[] };
    expect(replayed).toMatchObject({ inserted: 5, failed: 1000, errors_truncated: true, errors_total: 1000, rejections: firstBody.rejections });
    expect(replayed.errors.length).toBeGreaterThan(0);
    expect(replayed.errors).toEqual(firstBody.errors.slice(0, replayed.errors.length));
  });

  it("forgets a key after IDEMPOTENCY_TTL_HOURS: a reuse is a new request, and the hourly Cron Trigger deletes it", async () => {
    await ingest("/ingest/batch", customers("T", 2), { "Idempotency-Key": "ttl-1" });
    await sql.query("UPDATE ingest_idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'ttl-1'");
    const reused = await ingest("/ingest/batch", customers("U", 3), { "Idempotency-Key": "ttl-1" });
    expect(reused.status).toBe(200);
    expect(reused.headers.get("idempotent-replayed")).toBeNull();
    expect(await reused.json()).toMatchObject({ inserted: 3 });
    // The reuse claimed the key afresh: a replay of it now answers what it wrote.
    const replay = await ingest("/ingest/batch", customers("U", 3), { "Idempotency-Key": "ttl-1" });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");

    await ingest("/ingest/batch", customers("V", 1), { "Idempotency-Key": "ttl-fresh" });
    await sql.query("UPDATE ingest_idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'ttl-1'");
    await worker.scheduled(createScheduledController({ cron: "17 * * * *" }), env);
    const keys = await sql.query("SELECT key FROM ingest_idempotency_keys WHERE key IN ('ttl-1', 'ttl-fresh')");
    expect(keys.map((k) => k.key)).toEqual(["ttl-fresh"]);
  });

  it("answers 409 when the key comes back with another body", async () => {
    await ingest("/ingest/batch", customers("I", 2), { "Idempotency-Key": "batch-2" });
    const res = await ingest("/ingest/batch", customers("J", 2), { "Idempotency-Key": "batch-2" });
    expect(res.status).toBe(409);
    expect(await count("customers")).toBe(2);
  });

  it("commits the key with the rows: a lost answer is written again on replay, as duplicates", async () => {
    await fault("reset_after_commit", { times: 1, skip: 1 }); // the key lookup passes; the batch's transaction commits, then its answer is lost
    const res = await ingest("/ingest/batch", customers("K", 10), { "Idempotency-Key": "batch-3" });
    expect(await res.json()).toMatchObject({ inserted: 0, duplicates: 10 });
    expect(await count("customers")).toBe(10);
  });
});

describe("the fault matrix", () => {
  const paths = {
    message: async (tag: string) => {
      const res = await ingest("/ingest/message", `C|${tag}0|Name|x|1|5|1.00|A|b`);
      await res.arrayBuffer();
      return { status: res.status, acknowledged: res.status === 200 ? 1 : 0, receipt: undefined };
    },
    batch: async (tag: string) => {
      const res = await ingest("/ingest/batch", customers(tag, 30));
      const body = (await res.json()) as { inserted?: number; duplicates?: number };
      return { status: res.status, acknowledged: (body.inserted ?? 0) + (body.duplicates ?? 0), receipt: undefined };
    },
    "atomic batch": async (tag: string) => {
      const res = await ingest("/ingest/batch?atomic=true", customers(tag, 30));
      const body = (await res.json()) as { inserted?: number; duplicates?: number };
      return { status: res.status, acknowledged: (body.inserted ?? 0) + (body.duplicates ?? 0), receipt: undefined };
    },
    // Acknowledged here means: in the receipt as written, once the receipt settled (done, or parked and then re-driven).
    async: async (tag: string) => {
      const res = await ingest("/ingest/batch?mode=async", customers(tag, 30));
      const { ingest_id } = (await res.json()) as { ingest_id: string };
      let receipt = await settled(ingest_id, 60_000);
      const status = receipt.status;
      if (status === "parked") {
        // The database comes back: the scheduled re-drive writes the parked part.
        await fault("none");
        await worker.scheduled(createScheduledController({ cron: REDRIVE_CRON }), env);
        receipt = await settled(ingest_id);
        expect(receipt.status).toBe("done");
      }
      return { status: res.status, acknowledged: receipt.inserted + receipt.duplicates, receipt: status };
    },
    stream: async (tag: string) => {
      const res = await ingest("/ingest/stream", customers(tag, 30));
      const last = (await readEvents(res.body!)).at(-1)!;
      const status = last.event === "summary" ? 200 : (last.data.http_status as number);
      const acknowledged = last.event === "summary" ? last.data.inserted + last.data.duplicates : last.data.committed.inserted + last.data.committed.duplicates;
      return { status, acknowledged, receipt: undefined };
    },
  };
  // fault, how many requests it hits, the delay for "slow", and the status every path must answer (async: always 202).
  const faults: [Fault, number | undefined, number, number][] = [
    ["down", 2, 0, 200],
    ["500", 2, 0, 200],
    ["40001", 2, 0, 200],
    ["slow", 1, 1500, 200],
    ["reset_after_commit", 1, 0, 200],
    ["down", undefined, 0, 503],
    ["500", undefined, 0, 503],
    ["40001", undefined, 0, 503],
  ];
  for (const [name, times, delayMs, expected] of faults) {
    for (const [path, drive] of Object.entries(paths)) {
      it(`${name}${times ? ` ×${times}` : " (until the retry budget is spent)"} on ${path}: ${path === "async" ? `202, receipt ${expected === 200 ? "done" : "parked, then written by the re-drive"}` : expected}, and the database holds exactly what was acknowledged`, async () => {
        await fault(name, { times, delayMs });
        const { status, acknowledged, receipt } = await drive(`${path.replace(/\W/g, "")}${name.replace(/\W/g, "")}`);
        await fault("none");
        await new Promise((r) => setTimeout(r, delayMs)); // let a slow statement the client gave up on finish, if it ran
        if (path === "async") {
          expect(status).toBe(202);
          expect(receipt).toBe(expected === 200 ? "done" : "parked");
        } else expect(status).toBe(expected);
        expect(await count("customers")).toBe(acknowledged);
        expect(await distinctKeys()).toBe(await count("customers"));
      });
    }
  }
});
