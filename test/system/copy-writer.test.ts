/**
 * The COPY writer (src/db/copy-writer.ts) against PostgreSQL through the local WebSocket and HTTP
 * endpoints: the same rows as the INSERT writer for any valid input (fast-check), exact counts when
 * rows exist already, the fallback to INSERT and its per-isolate memory, bad data, chunks in flight
 * at once, a bad password, no WebSocket at all, and the WebSocket faults. Needs PostgreSQL (TEST_DATABASE_URL).
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, onTestFinished, vi } from "vitest";
import { type LocalNeon, localConnectionString, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { copyWriter } from "../../src/db/copy-writer.ts";
import { type DbClock, insertWriter } from "../../src/db/insert-writer.ts";
import { createDbIsolate } from "../../src/db/isolate.ts";
import { database } from "../../src/db/neon.ts";
import { openWriter } from "../../src/db/writers.ts";
import { settingsOf } from "../../src/env.ts";
import { IngestError, TransientDatabaseError } from "../../src/errors.ts";
import { parseBody } from "../../src/ingest/parse-messages.ts";
import { entityByName } from "../../src/registry.ts";
import { writeRows } from "../../src/writer/batch.ts";
import { withBisection } from "../../src/writer/bisect.ts";
import { withFallback } from "../../src/writer/fallback.ts";
import type { Writer } from "../../src/writer/port.ts";
import type { RowToWrite } from "../../src/writer/rows.ts";
import { customerRecord as customer } from "../support/customers.ts";
import { databaseNamed as databaseUrlOf, freshDatabase, pgbouncerClients, throughPgBouncer } from "../support/database.ts";
import { TEST_MIGRATIONS } from "../support/test-project.ts";

const PASSWORD = "copy-secret";
/** In the system-pgbouncer project the endpoints reach PostgreSQL through PgBouncer, as Neon's -pooler host does. */
const pgbouncerPort = inject("pgbouncerPort");
const DATABASE = pgbouncerPort ? "nomnom_test_copy_writer_pooled" : "nomnom_test_copy_writer";
const customers = entityByName("Customer")!;
let local: LocalNeon;
/** The isolate's memory (db/isolate.ts) these writers share, as a Worker's requests do. */
const isolate = createDbIsolate();
const isolateSockets = isolate.sockets;
const forgetConflicts = () => isolate.conflicted.clear();

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
  const inner = insertWriter(database(settings(), isolate));
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

function copyOver(fallback: Writer, overrides: { wsProxy?: string; password?: string; clock?: DbClock; timeoutMs?: number } = {}): Writer {
  const s = settings();
  const copy = copyWriter({
    clock: overrides.clock,
    connectionString: localConnectionString(overrides.password ?? PASSWORD),
    wsProxy: overrides.wsProxy ?? local.wsProxy,
    limits: fallback.limits,
    isolate,
    timeoutMs: overrides.timeoutMs ?? s.DB_TIMEOUT_MS,
    retryMs: s.DB_RETRY_MS,
  });
  return withFallback(copy, fallback);
}

/** Rows as the parsers make them, from JSON records. */
function rowsOf(records: object[]): RowToWrite[] {
  const parsed = parseBody("ndjson", records.map((r) => JSON.stringify({ entity: "Customer", ...r })).join("\n"), new Set());
  expect(parsed.errors).toEqual([]);
  return parsed.rows;
}

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
  const direct = (await freshDatabase(DATABASE))!;
  local = await startLocalNeon({
    databaseUrl: pgbouncerPort ? throughPgBouncer(direct, pgbouncerPort) : direct,
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
afterEach(async () => {
  await fault({ fault: "none" });
  // Every writer was closed: the isolate's count of WebSockets is back to none.
  expect(isolateSockets.open).toBe(0);
});

describe("the COPY writer", () => {
  it("is the bulk writer when a WebSocket endpoint is configured, and INSERT over a local endpoint without one", async () => {
    const rows = rowsOf(keys("W", 3));
    const copy = openWriter(settings(), isolate);
    const insert = openWriter(settings({ NEON_WS_PROXY: undefined }), isolate);
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
        const byInsert = await outcome(insertWriter(database(settings(), isolate)));
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
    await withWriter(copyOver(insertWriter(database(settings(), isolate))), async (w) => {
      expect(await w.writeChunk(customers, rowsOf([...keys("D", 5), ...keys("D", 5)]))).toBe(5);
    });
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["5"]]);
  });

  it("throws RowsRejected for a row the database refuses, itself: the service bisects over the open WebSocket", async () => {
    // Too long for the key's index (54000) even compressed: pseudo-random characters.
    let seed = 7;
    const longKey = Array.from({ length: 3000 }, () => String.fromCharCode(33 + ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 90))).join("");
    const rows = rowsOf([...keys("E", 3), customer(longKey)]);
    const fallback = countingInsert();
    await withWriter(copyOver(fallback), async (w) => {
      const error = await w.writeChunk(customers, rows).then(
        () => undefined,
        (e: Error & { sqlState?: string }) => e,
      );
      expect(error?.sqlState).toBe("54000");
    });
    expect(fallback.chunks).toBe(0);
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["0"]]);
  });

  it("bisects 10,000 rows with 1% refused by a trigger inside one WebSocket: one subrequest, 100 rows rejected, the rest written", async () => {
    const counters = async () => (await (await fetch(local.url.replace("/sql", "/__counters"))).json()) as { http_requests: number; ws_connections: number };
    await sql(`CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.customer_key LIKE '%00' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$`);
    await sql("CREATE TRIGGER test_refuse BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION test_refuse()");
    try {
      const before = await counters();
      const fallback = countingInsert();
      const writer = copyOver(fallback, { clock: { dbSeconds: 0 } });
      const result = await withWriter(writer, (w) => writeRows(rowsOf(keys("B", 10_000, 1)), withBisection(w)));
      expect([result.inserted, result.failed.length]).toEqual([9900, 100]);
      expect(result.failed[0]).toMatchObject({ message: "the database rejected the row: refused by the test (SQLSTATE 23514)" });
      expect(writer.subrequests()).toBe(1);
      const after = await counters();
      expect([after.ws_connections - before.ws_connections, after.http_requests - before.http_requests, fallback.chunks]).toEqual([1, 0, 0]);
    } finally {
      await sql("DROP TRIGGER test_refuse ON customers");
    }
    expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["9900"]]);
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
    await withWriter(copyOver(insertWriter(database(settings(), isolate))), async (w) => {
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

  it("holds at most isolateSockets.max WebSockets in the isolate across requests: one more request writes over HTTP, counted by /__counters", async () => {
    const counters = async () => (await (await fetch(local.url.replace("/sql", "/__counters"))).json()) as { http_requests: number; ws_connections: number };
    const before = await counters();
    isolateSockets.max = 2;
    const fallbacks = [countingInsert(), countingInsert(), countingInsert()];
    const writers = fallbacks.map((fallback) => copyOver(fallback));
    try {
      // Each writer (a request) keeps its WebSocket until it is closed.
      for (const [i, writer] of writers.entries()) expect(await writer.writeChunk(customers, rowsOf(keys(`I${i}-`, 10)))).toBe(10);
      expect(isolateSockets.open).toBe(2);
      expect(fallbacks.map((f) => f.chunks)).toEqual([0, 0, 1]);
    } finally {
      isolateSockets.max = 16;
      await Promise.all(writers.map((w) => w.close()));
    }
    expect(isolateSockets.open).toBe(0);
    const after = await counters();
    expect(after.ws_connections - before.ws_connections).toBe(2);
    // The third request's chunk: one HTTP request.
    expect(after.http_requests - before.http_requests).toBe(1);
  });

  describe("prepare (a connection opened while the body is read)", () => {
    /** PostgreSQL's sessions on the test database (but the asking one); through PgBouncer, PgBouncer's clients of it. */
    const backends = async () =>
      pgbouncerPort
        ? (await pgbouncerClients(pgbouncerPort)).filter((c) => c.database === DATABASE).length
        : Number((await sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))[0][0]);
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
      const refused = copyOver(insertWriter(database(settings(), isolate)), { password: "wrong" });
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
    const error = await withWriter(copyOver(insertWriter(database(settings(), isolate)), { password: "wrong" }), (w) =>
      w.writeChunk(customers, rowsOf(keys("X", 1))),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IngestError);
    expect(error).toMatchObject({ code: "database_misconfigured" });
  });

  it("refuses a plain WebSocket (NEON_WS_PROXY) to anything but this machine: 500 misconfigured, nothing opened", async () => {
    for (const host of ["db.example.com", "10.0.0.7", "localhost.example.com"]) {
      const error = await withWriter(copyOver(countingInsert(), { wsProxy: `${host}:5432/v2` }), (w) => w.writeChunk(customers, rowsOf(keys("Z", 1)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "misconfigured", message: expect.stringContaining(`NEON_WS_PROXY points at ${host}, which is not this machine`) });
    }
    for (const host of ["127.0.0.1", "localhost", "db.localtest.me"]) {
      const port = local.wsProxy!.split(":")[1];
      await withWriter(copyOver(countingInsert(), { wsProxy: `${host}:${port}` }), async (w) =>
        expect(await w.writeChunk(customers, rowsOf(keys(`Z${host}`, 1)))).toBe(1),
      );
    }
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
      await withWriter(copyOver(insertWriter(database(settings(), isolate))), async (w) =>
        expect(await w.writeChunk(customers, rowsOf(keys("R", 50)))).toBe(0),
      );
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["50"]]);
    });

    it("40001 until the retry budget is spent: TransientDatabaseError, nothing written", async () => {
      await fault({ fault: "40001" });
      const error = await withWriter(copyOver(insertWriter(database(settings(), isolate))), (w) => w.writeChunk(customers, rowsOf(keys("S", 5)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransientDatabaseError);
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["0"]]);
    });

    it("refused at connect by the proxy (ERROR XX000, Too many connections; pipelined, at the first query): the request writes over HTTP at once", async () => {
      await fault({ fault: "answer", times: 1, answer: { message: "Too many connections to this endpoint. Please try again later." } });
      const fallback = countingInsert();
      const started = Date.now();
      const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
      onTestFinished(() => warnings.mockRestore());
      await withWriter(copyOver(fallback), async (w) => {
        expect(await w.writeChunk(customers, rowsOf(keys("T", 5)))).toBe(5);
        // The rest of the request stays on HTTP: no second try at a WebSocket.
        expect(await w.writeChunk(customers, rowsOf(keys("T", 5, 5)))).toBe(5);
      });
      expect(fallback.chunks).toBe(2);
      expect(Date.now() - started).toBeLessThan(1500);
      // Logged with Neon's full text.
      expect(warnings.mock.calls.map(([line]) => JSON.parse(String(line)))).toContainEqual({
        level: "warn",
        event: "neon_transient",
        action: "no WebSocket: this request goes on over HTTP",
        condition: "Neon's proxy refuses more connections to this endpoint",
        message: "Too many connections to this endpoint. Please try again later.",
      });
    });

    it("a group that fails for a transient reason (40001) is retried chunk by chunk, each in its own query", async () => {
      await fault({ fault: "40001", times: 1 });
      const before = await copied();
      const fallback = countingInsert();
      const chunks = Array.from({ length: 3 }, (_, i) => rowsOf(keys(`K${i}-`, 100)));
      await withWriter(copyOver(fallback), async (w) => {
        expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual([100, 100, 100]);
      });
      const after = await copied();
      // The refused group's query never reached PostgreSQL (the fault answers its BEGIN): three queries of one COPY each.
      expect([after.copies - before.copies, after.copyQueries - before.copyQueries, fallback.chunks]).toEqual([3, 3, 0]);
      expect(await sql("SELECT count(*)::int FROM customers")).toEqual([["300"]]);
    });

    it("DB_TIMEOUT_MS is per statement: a group of three 300 ms statements passes a 600 ms deadline; one 900 ms statement does not", async () => {
      await sql(`CREATE OR REPLACE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(CASE WHEN EXISTS (SELECT FROM customers WHERE customer_key = 'SLOW') THEN 0.9 ELSE 0.3 END); RETURN NULL; END $$`);
      await sql("CREATE TRIGGER test_slow AFTER INSERT ON customers FOR EACH STATEMENT EXECUTE FUNCTION test_slow()");
      try {
        const chunks = Array.from({ length: 3 }, (_, i) => rowsOf(keys(`D${i}-`, 10)));
        const before = await copied();
        await withWriter(copyOver(countingInsert(), { timeoutMs: 600 }), async (w) => {
          expect(await Promise.all(chunks.map((rows) => w.writeChunk(customers, rows)))).toEqual([10, 10, 10]);
        });
        // One query held all three.
        expect((await copied()).copyQueries - before.copyQueries).toBe(1);
        const slow = await withWriter(
          copyOver(insertWriter(database(settings({ DB_TIMEOUT_MS: "600", DB_RETRY_MS: "0" }), isolate)), { timeoutMs: 600 }),
          (w) => w.writeChunk(customers, rowsOf([customer("SLOW")])),
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(slow).toBeInstanceOf(TransientDatabaseError);
      } finally {
        await sql("DROP TRIGGER test_slow ON customers");
      }
    });

    it("connection refused: the request writes over HTTP", async () => {
      await fault({ fault: "down", times: 1 });
      const fallback = countingInsert();
      await withWriter(copyOver(fallback), async (w) => expect(await w.writeChunk(customers, rowsOf(keys("F", 5)))).toBe(5));
      expect(fallback.chunks).toBe(1);
    });
  });
});

// Directly, in both projects: PgBouncer would answer from server connections it opened earlier.
describe("PostgreSQL refusing connections (ALTER DATABASE … ALLOW_CONNECTIONS false: 55000)", () => {
  const admin = () => new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  let fresh: LocalNeon;
  let adminClient: pg.Client;
  beforeAll(async () => {
    // An endpoint of its own: its pool has no connection yet, so each request opens one and meets the refusal.
    fresh = await startLocalNeon({ databaseUrl: databaseUrlOf(DATABASE), migrate: false, password: PASSWORD });
    adminClient = admin();
    await adminClient.connect();
    await adminClient.query(`ALTER DATABASE "${DATABASE}" ALLOW_CONNECTIONS false`);
  });
  afterAll(async () => {
    await adminClient.query(`ALTER DATABASE "${DATABASE}" ALLOW_CONNECTIONS true`);
    await adminClient.end();
    await fresh.close();
  });

  it("the HTTP endpoint answers as Neon's proxy: 500 with PostgreSQL's code and text", async () => {
    const res = await fetch(fresh.url, {
      method: "POST",
      body: JSON.stringify({ query: "SELECT 1", params: [] }),
      headers: { "Neon-Connection-String": fresh.connectionString, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" },
    });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: "55000", message: `database "${DATABASE}" is not currently accepting connections` });
  });

  for (const kind of ["copy", "insert"] as const) {
    it(`the ${kind} writer retries it, then gives up with a TransientDatabaseError (a 503), never a database_error`, async () => {
      const s = settingsOf({
        DATABASE_URL: fresh.connectionString,
        NEON_FETCH_ENDPOINT: fresh.url,
        NEON_WS_PROXY: fresh.wsProxy,
        DB_TIMEOUT_MS: "2000",
        DB_RETRY_MS: "500",
        BULK_WRITER: kind,
      });
      const error = await withWriter(openWriter(s, isolate), (w) => w.writeChunk(customers, rowsOf(keys("N", 5)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransientDatabaseError);
      expect((error as TransientDatabaseError).condition).toBe("the database is not accepting connections (SQLSTATE 55000)");
    });
  }
});
