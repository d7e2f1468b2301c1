/**
 * The writer decorators (src/writer/), each alone around a fake Writer that fails as told: the
 * fallback writes what the primary declines and nothing else, the retries try transient failures
 * again within their budget and nothing else, bisection fails only the refused rows. As PostHog tests `FallbackSink::new(primary, fallback)`.
 */
import { describe, expect, it } from "vitest";
import { TransientDatabaseError } from "../../src/errors.ts";
import { entityByName } from "../../src/registry.ts";
import { backoffMs, exponential, type RetryPolicy } from "../../src/writer/backoff.ts";
import { writeRows } from "../../src/writer/batch.ts";
import { type ChunkWriter, SUBREQUEST_BUDGET } from "../../src/writer/bisect.ts";
import { Declined, withFallback } from "../../src/writer/fallback.ts";
import { RowsRejected, type Writer } from "../../src/writer/port.ts";
import { withWriteRetries } from "../../src/writer/retries.ts";
import type { RowToWrite } from "../../src/writer/rows.ts";

const customers = entityByName("Customer")!;
const rows: RowToWrite[] = [{ entity: customers, json: '["C1","n","a",1,"5","1.00","A","b"]', lineNumber: 1 }];

/** A fake writer: each call runs `fail` first (which may throw), then answers as if every row were new. */
function fake(name: string, fail: (call: number) => void = () => {}) {
  const calls: string[] = [];
  let closed = 0;
  const run = <T>(what: string, answer: T) => {
    calls.push(what);
    try {
      fail(calls.length);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(answer);
  };
  const writer: Writer = {
    limits: { maxRows: 10, maxChars: 100, concurrency: 1 },
    writeChunk: (_entity, r) => run("chunk", r.length),
    writeTransaction: (r) => run("transaction", { inserted: r.length, duplicates: 0, failed: [], byEntity: {} }),
    writeOne: () => run("one", { id: name, duplicate: false, children: {} }),
    subrequests: () => calls.length,
    prepare: () => void calls.push("prepare"),
    close: async () => void closed++,
  };
  return { writer, calls, closed: () => closed };
}

describe("withFallback", () => {
  it("writes through the primary while it takes the rows; the fallback is not called", async () => {
    const primary = fake("primary");
    const fallback = fake("fallback");
    const w = withFallback(primary.writer, fallback.writer);
    expect(await w.writeChunk(customers, rows)).toBe(1);
    expect((await w.writeOne(customers, rows[0].json, [])).id).toBe("primary");
    expect(fallback.calls).toEqual([]);
  });

  it("hands what the primary declines to the fallback, and tells the primary what it wrote", async () => {
    const heard: unknown[] = [];
    const primary = fake("primary", () => {
      throw new Declined("no WebSocket", (written) => heard.push(written));
    });
    const fallback = fake("fallback");
    const w = withFallback(primary.writer, fallback.writer);
    expect(await w.writeChunk(customers, rows)).toBe(1);
    expect(await w.writeTransaction(rows, [])).toMatchObject({ inserted: 1 });
    expect((await w.writeOne(customers, rows[0].json, [])).id).toBe("fallback");
    expect(fallback.calls).toEqual(["chunk", "transaction", "one"]);
    expect(heard[0]).toBe(1);
  });

  it("passes any other failure on: a refused row is bisected, not rewritten elsewhere", async () => {
    const primary = fake("primary", () => {
      throw new RowsRejected("check violation", "23514");
    });
    const fallback = fake("fallback");
    await expect(withFallback(primary.writer, fallback.writer).writeChunk(customers, rows)).rejects.toBeInstanceOf(RowsRejected);
    expect(fallback.calls).toEqual([]);
  });

  it("prepares the primary, counts its subrequests and closes both", async () => {
    const primary = fake("primary");
    const fallback = fake("fallback");
    const w = withFallback(primary.writer, fallback.writer);
    w.prepare();
    expect(w.subrequests()).toBe(1);
    await w.close();
    expect([primary.closed(), fallback.closed()]).toEqual([1, 1]);
  });
});

const policy = (retryMs: number): RetryPolicy => ({
  retryMs,
  classify: (error) => error as Error,
  transient: (failure) => failure instanceof TransientDatabaseError,
});

describe("withWriteRetries", () => {
  it("tries a transient failure again until a call succeeds", async () => {
    const inner = fake("inner", (n) => {
      if (n <= 2) throw new TransientDatabaseError("connection reset");
    });
    expect(await withWriteRetries(inner.writer, policy(10_000)).writeChunk(customers, rows)).toBe(1);
    expect(inner.calls).toEqual(["chunk", "chunk", "chunk"]);
  });

  it("never retries what no retry changes", async () => {
    const inner = fake("inner", () => {
      throw new RowsRejected("check violation", "23514");
    });
    await expect(withWriteRetries(inner.writer, policy(10_000)).writeTransaction(rows, [])).rejects.toBeInstanceOf(RowsRejected);
    expect(inner.calls).toEqual(["transaction"]);
  });

  it("gives up with the last failure once the next wait would pass the budget; 0: one attempt", async () => {
    const inner = fake("inner", () => {
      throw new TransientDatabaseError("still down");
    });
    await expect(withWriteRetries(inner.writer, policy(0)).writeOne(customers, rows[0].json, [])).rejects.toThrow("still down");
    expect(inner.calls).toEqual(["one"]);
    const started = Date.now();
    await expect(withWriteRetries(inner.writer, policy(300)).writeChunk(customers, rows)).rejects.toThrow("still down");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("classifies raw failures with the policy before deciding", async () => {
    const inner = fake("inner", (n) => {
      if (n === 1) throw new Error("raw");
    });
    const classified = {
      ...policy(10_000),
      classify: (e: unknown) => (e instanceof Error && e.message === "raw" ? new TransientDatabaseError("raw") : (e as Error)),
    };
    expect(await withWriteRetries(inner.writer, classified).writeChunk(customers, rows)).toBe(1);
  });
});

describe("backoff", () => {
  it("doubles from its base up to its cap, jittered ±50% for the database's retries", () => {
    expect([0, 1, 2, 5].map((n) => exponential(30, n, 100))).toEqual([30, 60, 100, 100]);
    for (let n = 0; n < 8; n++) {
      const wait = backoffMs(n);
      expect(wait).toBeGreaterThanOrEqual(exponential(100, n, 2000) * 0.5);
      expect(wait).toBeLessThan(exponential(100, n, 2000) * 1.5);
    }
  });
});

describe("bisection (writeRows)", () => {
  /** Refuses any chunk holding a row whose json contains "bad", as a check constraint would; counts its calls. */
  function refusing(subrequests?: () => number) {
    let calls = 0;
    const writer: ChunkWriter = {
      limits: { maxRows: 64, maxChars: 1_000_000, concurrency: 2 },
      writeChunk: async (_entity, r) => {
        calls++;
        if (r.some((row) => row.json.includes("bad"))) throw new RowsRejected("check violation", "23514");
        return r.length;
      },
      subrequests,
    };
    return { writer, calls: () => calls };
  }
  const many = (n: number, bad: number[]): RowToWrite[] =>
    Array.from({ length: n }, (_, i) => ({
      entity: customers,
      json: `["C${i}${bad.includes(i) ? "bad" : ""}","n","a",1,"5","1.00","A","b"]`,
      lineNumber: i + 1,
    }));

  it("fails only the refused rows, with their line numbers, in O(bad × log n) statements", async () => {
    const fake = refusing();
    const result = await writeRows(many(64, [5, 40]), fake.writer);
    expect(result.failed.map((f) => f.line_number)).toEqual([6, 41]);
    expect(result).toMatchObject({ inserted: 62, duplicates: 0, byEntity: { Customer: { inserted: 62, duplicates: 0, failed: 2 } } });
    expect(fake.calls()).toBeLessThanOrEqual(1 + 2 * 2 * 6);
  });

  it("rejects a refused chunk whole, with the reason, once the subrequest budget is spent", async () => {
    const fake = refusing(() => SUBREQUEST_BUDGET);
    const result = await writeRows(many(8, [3]), fake.writer);
    expect(fake.calls()).toBe(1);
    expect(result.failed).toHaveLength(8);
    expect(result.failed[0].message).toMatch(/budget of 1000 subrequests/);
  });
});
