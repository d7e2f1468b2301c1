/**
 * The writer decorators (src/writer/), each alone around a fake Writer that fails as told: the
 * fallback writes what the primary declines and nothing else, the retries try transient failures
 * again within their budget and nothing else, bisection returns only the refused rows as
 * rejections. As PostHog tests `FallbackSink::new(primary, fallback)`.
 */
import { describe, expect, it } from "vitest";
import { TransientDatabaseError } from "../../src/errors.ts";
import { entityByName } from "../../src/registry.ts";
import { backoffMs, exponential, type RetryPolicy } from "../../src/writer/backoff.ts";
import { writeRows } from "../../src/writer/batch.ts";
import { PartlyWritten, SUBREQUEST_BUDGET, withBisection } from "../../src/writer/bisect.ts";
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

describe("withBisection", () => {
  /** Refuses any chunk holding a row whose json contains "bad", as a check constraint would; fails with `down` from call `downAt` on; counts its calls. */
  function refusing(options: { subrequests?: () => number; downAt?: number } = {}) {
    let calls = 0;
    const inner = fake("inner");
    const writer: Writer = {
      ...inner.writer,
      limits: { maxRows: 64, maxChars: 1_000_000, concurrency: 2 },
      writeChunk: async (_entity, r) => {
        calls++;
        if (options.downAt !== undefined && calls >= options.downAt) throw new TransientDatabaseError("down");
        if (r.some((row) => row.json.includes("bad"))) throw new RowsRejected("check violation", "23514");
        return r.length;
      },
      subrequests: options.subrequests ?? (() => 0),
    };
    return { writer: withBisection(writer), inner, calls: () => calls };
  }
  const many = (n: number, bad: number[]): RowToWrite[] =>
    Array.from({ length: n }, (_, i) => ({
      entity: customers,
      json: `["C${i}${bad.includes(i) ? "bad" : ""}","n","a",1,"5","1.00","A","b"]`,
      lineNumber: i + 1,
    }));

  it("returns only the refused rows as rejections, with their line numbers and the database's reason, in O(bad × log n) statements", async () => {
    const fake = refusing();
    const chunk = await fake.writer.writeRejecting(customers, many(64, [5, 40]));
    expect([chunk.written, chunk.inserted]).toEqual([62, 62]);
    expect(chunk.rejected.map((f) => [f.line_number, f.entity, f.message])).toEqual([
      [6, "Customer", "the database rejected the row: check violation (SQLSTATE 23514)"],
      [41, "Customer", "the database rejected the row: check violation (SQLSTATE 23514)"],
    ]);
    expect(fake.calls()).toBeLessThanOrEqual(1 + 2 * 2 * 6);
  });

  it("writes a chunk the database takes with one call and rejects nothing", async () => {
    const fake = refusing();
    expect(await fake.writer.writeRejecting(customers, many(64, []))).toEqual({ written: 64, inserted: 64, rejected: [] });
    expect(fake.calls()).toBe(1);
  });

  it("rejects a refused chunk whole, with the reason, once the subrequest budget is spent", async () => {
    const fake = refusing({ subrequests: () => SUBREQUEST_BUDGET });
    const chunk = await fake.writer.writeRejecting(customers, many(8, [3]));
    expect(fake.calls()).toBe(1);
    expect(chunk.written).toBe(0);
    expect(chunk.rejected).toHaveLength(8);
    expect(chunk.rejected[0].message).toMatch(/budget of 1000 subrequests .*send these lines again/);
  });

  it("passes a failure that is not the data's on, with what the chunk committed before it", async () => {
    await expect(refusing({ downAt: 1 }).writer.writeRejecting(customers, many(8, [3]))).rejects.toBeInstanceOf(TransientDatabaseError);
    // Call 1 refuses the chunk, call 2 writes its first half (rows 1-4 hold the bad row: split again), ... call 3 is down.
    const error = await refusing({ downAt: 3 })
      .writer.writeRejecting(customers, many(8, [7]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartlyWritten);
    expect((error as PartlyWritten).written).toMatchObject({ written: 4, inserted: 4, rejected: [] });
    expect((error as PartlyWritten).failure).toBeInstanceOf(TransientDatabaseError);
  });

  it("leaves the other calls to the inner writer: a refused transaction is refused whole", async () => {
    const fake = refusing();
    await expect(fake.writer.writeChunk(customers, many(2, [1]))).rejects.toBeInstanceOf(RowsRejected);
    expect((await fake.writer.writeOne(customers, rows[0].json, [])).id).toBe("inner");
    await fake.writer.close();
    expect(fake.inner.closed()).toBe(1);
  });

  it("through writeRows: counts each chunk's rejections as failed rows of their entity", async () => {
    const result = await writeRows(many(64, [5, 40]), refusing().writer);
    expect(result.failed.map((f) => f.line_number)).toEqual([6, 41]);
    expect(result).toMatchObject({ inserted: 62, duplicates: 0, byEntity: { Customer: { inserted: 62, duplicates: 0, failed: 2 } } });
  });
});
