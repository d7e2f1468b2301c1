/**
 * The COPY writer (src/db/copy-writer.ts) against PostgreSQL through the local WebSocket and HTTP
 * endpoints: the same rows as the INSERT writer for any valid input (fast-check), exact counts when
 * rows exist already, the fallback to INSERT and its per-isolate memory, bad data, chunks in flight
 * at once, a bad password, no WebSocket at all, and the WebSocket faults. Needs PostgreSQL (TEST_DATABASE_URL).
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type LocalNeon, localConnectionString, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { copyWriter, forgetConflicts } from "../../src/db/copy-writer.ts";
import { insertWriter } from "../../src/db/insert-writer.ts";
import { database } from "../../src/db/neon.ts";
import { openWriter } from "../../src/db/writers.ts";
import { settingsOf } from "../../src/env.ts";
import { IngestError, TransientDatabaseError } from "../../src/errors.ts";
import { parseBody, type RowToWrite } from "../../src/ingest/parse-messages.ts";
import { entityByName } from "../../src/ingest/registry.ts";
import type { Writer } from "../../src/ingest/writer.ts";
import { freshDatabase } from "../support/database.ts";
import { TEST_MIGRATIONS } from "../support/test-project.ts";

const PASSWORD = "copy-secret";
const customers = entityByName("Customer")!;
let local: LocalNeon;

function settings(overrides: Record<string, string | undefined> = {}) {
  return settingsOf({
    DATABASE_URL: localConnectionString(PASSWORD),
    NEON_FETCH_ENDPOINT: local.url,
    NEON_WS_PROXY: local.wsProxy,
    DB_TIMEOUT_MS: "2000",
    DB_RETRY_MS: "1500",
    ...overrides,
  });
}

/** The INSERT writer, counting the chunks and transactions it was handed. */
function countingInsert(): Writer & { chunks: number; transactions: number } {
  const inner = insertWriter(database(settings()));
  const counting = {
    ...inner,
    chunks: 0,
    transactions: 0,
    writeChunk: (...args: Parameters<Writer["writeChunk"]>) => {
      counting.chunks++;
      return inner.writeChunk(...args);
    },
    writeTransaction: (...args: Parameters<Writer["writeTransaction"]>) => {
      counting.transactions++;
      return inner.writeTransaction(...args);
    },
  };
  return counting;
}

function copyOver(fallback: Writer, overrides: { wsProxy?: string; password?: string } = {}): Writer {
  const s = settings();
  return copyWriter({
    connectionString: localConnectionString(overrides.password ?? PASSWORD),
    wsProxy: overrides.wsProxy ?? local.wsProxy,
    fallback,
    timeoutMs: s.DB_TIMEOUT_MS,
    retryMs: s.DB_RETRY_MS,
  });
}

/** Rows as the parsers make them, from JSON records. */
function rowsOf(records: object[]): RowToWrite[] {
  const parsed = parseBody("ndjson", records.map((r) => JSON.stringify({ entity: "Customer", ...r })).join("\n"), new Set());
  expect(parsed.errors).toEqual([]);
  return parsed.rows;
}

const customer = (key: string, extra: object = {}) => ({
  customer_key: key,
  name: "Name",
  address: "x",
  nation_key: 1,
  phone: "5",
  account_balance: "1.00",
  market_segment: "A",
  comment: "b",
  ...extra,
});
const keys = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => customer(`${prefix}${from + i}`));

const sql = async (query: string) => (await local.db.query({ query, params: [] })).rows;
const table = () =>
  sql('SELECT customer_key, name, address, nation_key, phone, account_balance, market_segment, comment FROM customers ORDER BY customer_key COLLATE "C"');
/** The COPY statements the local endpoint passed on, and the queries that held them. */
const copied = async () => (await (await fetch(local.url.replace("/sql", "/__faults"))).json()) as { copies: number; copyQueries: number };
const fault = async (body: object) =>
  expect((await fetch(local.url.replace("/sql", "/__faults"), { method: "POST", body: JSON.stringify(body) })).status).toBe(200);

async function withWriter<T>(writer: Writer, work: (w: Writer) => Promise<T>): Promise<T> {
  try {
    return await work(writer);
  } finally {
    await writer.close();
  }
}

beforeAll(async () => {
  local = await startLocalNeon({
    databaseUrl: await freshDatabase("nomnom_test_copy_writer"),
    faults: true,
    password: PASSWORD,
    migrationsDir: TEST_MIGRATIONS,
  });
});
afterAll(() => local.close());
beforeEach(async () => {
  forgetConflicts();
  await sql("TRUNCATE customers RESTART IDENTITY");
});
afterEach(() => fault({ fault: "none" }));

describe("the COPY writer", () => {
  it("is the bulk writer when a WebSocket endpoint is configured, and INSERT over a local endpoint without one", async () => {
    const rows = rowsOf(keys("W", 3));
    const copy = openWriter(settings());
    const insert = openWriter(settings({ NEON_WS_PROXY: undefined }));
    expect(copy).not.toEqual(insert);
    await withWriter(copy, (w) => w.writeChunk(customers, rows));
    expect(await sql("SELECT count(*)::int AS n FROM customers")).toEqual([["3"]]);
  });

  it("writes the same rows as the INSERT writer, for any valid records (escapes, unicode, NULLs), copied and staged", async () => {
    // NUL is refused by the parsers (never valid input).
    const tricky = fc.constantFrom("\\", "\t", "\n", "\r", "\\N", "\\.", '"', "'", "\u0001", "\u007f", "é", "😀", "|", ",", " ", "{}", "[1]");
    const text = fc
      .array(
        fc.oneof(
          { weight: 10, arbitrary: tricky },
          { weight: 10, arbitrary: fc.string({ maxLength: 8, unit: "binary" }) },
          { weight: 1, arbitrary: fc.constant("\ud800") },
        ),
        { maxLength: 6 },
      )
      .map((parts) => parts.join("").replaceAll("\u0000", ""));
    const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
    const record = fc.record({
      name: text.filter((s) => s.length > 0),
      address: optional(text),
      nation_key: optional(fc.integer({ min: -2147483648, max: 2147483647 })),
      phone: optional(text),
      account_balance: fc.tuple(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.nat({ max: 99 })).map(([i, f]) => `${i}.${String(f).padStart(2, "0")}`),
      market_segment: optional(text),
      comment: optional(text),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 40 }), async (records) => {
        const rows = rowsOf(records.map((r, i) => ({ customer_key: `P${i}`, ...r })));
        // Written to an empty table, then again once every other key is gone (a COPY writer stages that).
        const outcome = async (writer: Writer) => {
          await sql("TRUNCATE customers");
          const write = () =>
            withWriter(writer, (w) => w.writeChunk(customers, rows)).then(
              (n) => ({ n }),
              (e: Error) => ({ error: e.constructor.name, message: e.message }),
            );
          const written = await write();
          await sql("DELETE FROM customers WHERE right(customer_key, 1) IN ('0', '2', '4', '6', '8')");
          const rewritten = await write();
          return { written, rewritten, table: await table() };
        };
        const byInsert = await outcome(insertWriter(database(settings())));
        forgetConflicts();
        const fallback = countingInsert();
        expect(await outcome(copyOver(fallback))).toEqual(byInsert);
        // COPY itself took them both times, unless a lone surrogate (which jsonb refuses) sent the chunk to INSERT.
        const wellFormed = records.every((r) => Object.values(r).every((v) => typeof v !== "string" || v.isWellFormed()));
        expect(fallback.chunks).toBe(wellFormed ? 0 : 2);
      }),
      { numRuns: 60 },
    );
  });

  it("copies new rows; rows that exist are staged with exact counts, and the entity stays staged until a chunk is all new", async () => {
    const fallback = countingInsert();
    const before = await copied();
    const copiesSince = async () => (await copied()).copies - before.copies;
    await withWriter(copyOver(fallback), async (w) => {
      expect(await w.writeChunk(customers, rowsOf(keys("A", 100)))).toBe(100);
      expect(await copiesSince()).toBe(1);
      expect(await w.writeChunk(customers, rowsOf(keys("A", 150)))).toBe(50); // COPY fails (23505), the staged COPY counts
      expect(await copiesSince()).toBe(3);
      expect(await w.writeChunk(customers, rowsOf(keys("A", 150)))).toBe(0); // a replay: staged at once
      expect(await copiesSince()).toBe(4);
      expect(await w.writeChunk(customers, rowsOf(keys("B", 10)))).toBe(10); // still staged, and all new: straight COPY next time
      expect(await copiesSince()).toBe(5);
      expect(await w.writeChunk(customers, rowsOf([...keys("C", 10), customer("B0")]))).toBe(10); // straight COPY fails, staged
      expect(await copiesSince()).toBe(7);
    });
    expect(fallback.chunks).toBe(0);
    expect(await sql("SELECT count(*)::int, count(DISTINCT customer_key)::int FROM customers")).toEqual([["170", "170"]]);
  });

  it("stages two chunks of one entity in one query, each in its own staging table", async () => {
    const fallback = countingInsert();
    await withWriter(copyOver(fallback), async (w) => {
      expect(await w.writeChunk(customers, rowsOf(keys("S", 4)))).toBe(4);
      expect(await w.writeChunk(customers, rowsOf(keys("S", 4)))).toBe(0);
      const before = await copied();
      expect(await Promise.all([w.writeChunk(customers, rowsOf(keys("S", 6))), w.writeChunk(customers, rowsOf(keys("S", 3, 6)))])).toEqual([2, 3]);
      const after = await copied();
      expect([after.copies - before.copies, after.copyQueries - before.copyQueries]).toEqual([2, 1]);
    });
    expect(fallback.chunks).toBe(0);
    expect(await sql("SELECT count(*)::int, count(DISTINCT customer_key)::int FROM customers")).toEqual([["9", "9"]]);
  });

  it("keeps one row of each natural key that comes twice in one chunk", async () => {
    await withWriter(copyOver(insertWriter(database(settings()))), async (w) => {
      expect(await w.writeChunk(customers, rowsOf([...keys("D", 5), ...keys("D", 5)]))).toBe(5);
    });
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["5"]]);
  });

  it("throws the INSERT writer's RowsRejected for a row the database refuses, so the service can bisect", async () => {
    // Too long for the key's index (54000) even compressed: pseudo-random characters.
    let seed = 7;
    const longKey = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 90))).join("");
    const rows = rowsOf([...keys("E", 3), customer(longKey)]);
    await withWriter(copyOver(insertWriter(database(settings()))), async (w) => {
      const error = await w.writeChunk(customers, rows).then(
        () => undefined,
        (e: Error & { sqlState?: string }) => e,
      );
      expect(error?.sqlState).toBe("54000");
    });
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["0"]]);
  });

  it("writes a transaction's rows and extra statements together, and stages them with exact counts when rows exist", async () => {
    const claim = (key: string) => ({
      query: "INSERT INTO ingest_idempotency_keys (key_id, key, request_sha256, status, response) VALUES ('', $1, 'h', 0, '{}') ON CONFLICT DO NOTHING",
      params: [key],
    });
    const fallback = countingInsert();
    await withWriter(copyOver(fallback), async (w) => {
      expect(await w.writeTransaction(rowsOf(keys("T", 20)), [claim("k1")])).toEqual({
        inserted: 20,
        duplicates: 0,
        failed: [],
        byEntity: { Customer: { inserted: 20, duplicates: 0, failed: 0 } },
      });
      expect(fallback.transactions).toBe(0);
      expect(await w.writeTransaction(rowsOf(keys("T", 30)), [claim("k2")])).toEqual({
        inserted: 10,
        duplicates: 20,
        failed: [],
        byEntity: { Customer: { inserted: 10, duplicates: 20, failed: 0 } },
      });
      // Remembered: staged at once.
      expect(await w.writeTransaction(rowsOf(keys("T", 30)), [claim("k3")])).toMatchObject({ inserted: 0, duplicates: 30 });
    });
    expect(fallback.transactions).toBe(0);
    expect(await sql("SELECT key FROM ingest_idempotency_keys ORDER BY key")).toEqual([["k1"], ["k2"], ["k3"]]);
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["30"]]);
  });

  it("hands an atomic transaction with a refused row to the INSERT writer, which rolls it all back", async () => {
    let seed = 7;
    const longKey = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 90))).join("");
    const fallback = countingInsert();
    const error = await withWriter(copyOver(fallback), (w) => w.writeTransaction(rowsOf([...keys("U", 3), customer(longKey)]), [])).then(
      () => undefined,
      (e: Error & { sqlState?: string }) => e,
    );
    expect(error?.sqlState).toBe("54000");
    expect(fallback.transactions).toBe(1);
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["0"]]);
  });

  it("writes chunks in flight at once over a few connections, and all of them over HTTP when no WebSocket opens", async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => rowsOf(keys(`M${i}-`, 200)));
    await withWriter(copyOver(insertWriter(database(settings()))), async (w) => {
      expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual(Array(8).fill(200));
      // A replay at once: a failed COPY hands its connection back to the next chunk.
      forgetConflicts();
      expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual(Array(8).fill(0));
    });
    await sql("TRUNCATE customers");
    const fallback = countingInsert();
    await withWriter(copyOver(fallback, { wsProxy: "127.0.0.1:9/v2" }), async (w) => {
      expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual(Array(8).fill(200));
    });
    expect(fallback.chunks).toBe(8);
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["1600"]]);
  });

  it("sends the chunks waiting for the connection together, in one query, and tries a refused group chunk by chunk", async () => {
    const before = await copied();
    const fallback = countingInsert();
    const chunks = Array.from({ length: 3 }, (_, i) => rowsOf(keys(`G${i}-`, 100)));
    await withWriter(copyOver(fallback), async (w) => {
      expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual([100, 100, 100]);
    });
    const after = await copied();
    expect([after.copies - before.copies, after.copyQueries - before.copyQueries]).toEqual([3, 1]);
    expect(fallback.chunks).toBe(0);
    // One chunk of existing rows among new ones: the group is refused, each chunk is copied alone, the existing rows staged.
    forgetConflicts();
    const mixed = [rowsOf(keys("G0-", 100)), rowsOf(keys("G3-", 100)), rowsOf(keys("G4-", 100))];
    await withWriter(copyOver(fallback), async (w) => {
      expect(await Promise.all(mixed.map((rows) => w.writeChunk(customers, rows)))).toEqual([0, 100, 100]);
    });
    expect(fallback.chunks).toBe(0);
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["500"]]);
  });

  describe("prepare (a connection opened while the body is read)", () => {
    const backends = async () =>
      Number((await sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))[0][0]);
    async function until(what: string, check: () => Promise<boolean>): Promise<void> {
      for (let deadline = Date.now() + 5000; !(await check()); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      }
    }

    it("opens the connection ahead; the first chunk uses it, and close ends it", async () => {
      const before = await backends();
      const fallback = countingInsert();
      const writer = copyOver(fallback);
      writer.prepare();
      await until("the prepared backend", async () => (await backends()) === before + 1);
      await withWriter(writer, async (w) => {
        expect(await w.writeChunk(customers, rowsOf(keys("P", 20)))).toBe(20);
        expect(await w.writeChunk(customers, rowsOf(keys("P", 20, 20)))).toBe(20);
        expect(await backends()).toBe(before + 1);
      });
      expect(fallback.chunks).toBe(0);
      await until("the backend to end", async () => (await backends()) === before);
    });

    it("closes a prepared connection no row used, even one still opening", async () => {
      const before = await backends();
      const writer = copyOver(countingInsert());
      writer.prepare();
      await writer.close();
      // Long enough for a connection left opening to have opened.
      await new Promise((r) => setTimeout(r, 500));
      await until("the backend to end", async () => (await backends()) === before);
    });

    it("opens the connection ahead during a replay too (its chunks are staged)", async () => {
      await withWriter(copyOver(countingInsert()), (w) => w.writeChunk(customers, rowsOf(keys("D", 5))));
      await withWriter(copyOver(countingInsert()), (w) => w.writeChunk(customers, rowsOf(keys("D", 5))));
      const before = await backends();
      const writer = copyOver(countingInsert());
      writer.prepare();
      await until("the prepared backend", async () => (await backends()) === before + 1);
      await writer.close();
    });

    it("gives a prepared connection's failure to the first chunk: a bad password is the answer, no WebSocket means INSERT", async () => {
      const refused = copyOver(insertWriter(database(settings())), { password: "wrong" });
      refused.prepare();
      const error = await withWriter(refused, (w) => w.writeChunk(customers, rowsOf(keys("Q", 1)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(IngestError);
      expect((error as IngestError).code).toBe("database_misconfigured");

      await fault({ fault: "down", times: 1 });
      const fallback = countingInsert();
      const unreachable = copyOver(fallback);
      unreachable.prepare();
      await withWriter(unreachable, async (w) => expect(await w.writeChunk(customers, rowsOf(keys("Q", 5)))).toBe(5));
      expect(fallback.chunks).toBe(1);
    });
  });

  it("answers a bad password as a misconfiguration, not an outage", async () => {
    const error = await withWriter(copyOver(insertWriter(database(settings())), { password: "wrong" }), (w) =>
      w.writeChunk(customers, rowsOf(keys("X", 1))),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IngestError);
    expect(error).toMatchObject({ code: "database_misconfigured" });
  });

  it("writes over HTTP when no WebSocket can be opened", async () => {
    const fallback = countingInsert();
    await withWriter(copyOver(fallback, { wsProxy: "127.0.0.1:9/v2" }), async (w) => {
      expect(await w.writeChunk(customers, rowsOf(keys("H", 5)))).toBe(5);
      expect(await w.writeChunk(customers, rowsOf(keys("H", 5, 5)))).toBe(5);
    });
    expect(fallback.chunks).toBe(2);
  });

  describe("WebSocket faults", () => {
    it("connection closed mid-COPY: retried on a new connection, every row once", async () => {
      await fault({ fault: "connection_lost", times: 1 });
      const fallback = countingInsert();
      await withWriter(copyOver(fallback), async (w) => expect(await w.writeChunk(customers, rowsOf(keys("L", 50)))).toBe(50));
      expect(fallback.chunks).toBe(0);
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["50"]]);
    });

    it("error after COPY (committed, answer lost): the retry finds the rows and counts them as duplicates", async () => {
      await fault({ fault: "reset_after_commit", times: 1 });
      await withWriter(copyOver(insertWriter(database(settings()))), async (w) => expect(await w.writeChunk(customers, rowsOf(keys("R", 50)))).toBe(0));
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["50"]]);
    });

    it("40001 until the retry budget is spent: TransientDatabaseError, nothing written", async () => {
      await fault({ fault: "40001" });
      const error = await withWriter(copyOver(insertWriter(database(settings()))), (w) => w.writeChunk(customers, rowsOf(keys("S", 5)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransientDatabaseError);
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["0"]]);
    });

    it("connection refused: the request writes over HTTP", async () => {
      await fault({ fault: "down", times: 1 });
      const fallback = countingInsert();
      await withWriter(copyOver(fallback), async (w) => expect(await w.writeChunk(customers, rowsOf(keys("F", 5)))).toBe(5));
      expect(fallback.chunks).toBe(1);
    });
  });
});
