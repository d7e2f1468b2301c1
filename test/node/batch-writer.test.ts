/**
 * The batch writer against a real database through the local Neon endpoint: exact counts,
 * chunking under the limits, and bisection that fails only the rows the database rejects.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING, type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { INSERT_LIMITS, insertWriter } from "../../src/db/insert-writer.ts";
import { createDbIsolate } from "../../src/db/isolate.ts";
import { database } from "../../src/db/neon.ts";
import type { EntityDef } from "../../src/entity/entity.ts";
import { settingsOf } from "../../src/env.ts";
import { writeRows } from "../../src/writer/batch.ts";
import { type ChunkWriter, SUBREQUEST_BUDGET, withBisection } from "../../src/writer/bisect.ts";
import type { RowToWrite } from "../../src/writer/rows.ts";
import { freshDatabase } from "../support/database.ts";
import { TEST_MIGRATIONS } from "../support/test-project.ts";

// A table whose CHECK the parsers know nothing about: only the database can reject these rows.
const entity = {
  name: "Reading",
  columns: ["k", "v"],
  insertSql: `INSERT INTO readings (k, v) SELECT (e->>0)::int, (e->>1)::int FROM jsonb_array_elements($1::jsonb) AS r(e) ON CONFLICT (k) DO NOTHING`,
} as unknown as EntityDef;
const rows = (values: number[], firstKey = 1): RowToWrite[] => values.map((v, i) => ({ entity, json: JSON.stringify([firstKey + i, v]), lineNumber: i + 1 }));

describe("the batch writer", () => {
  let local: LocalNeon;
  let runner: ChunkWriter;
  let statements = 0;
  let largest = 0;

  beforeAll(async () => {
    // Faults on for GET /__counters (no fault is set).
    local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_batch_writer"), migrate: false, faults: true });
    await local.db.query({ query: "CREATE TABLE readings (k int PRIMARY KEY, v int NOT NULL CHECK (v >= 0))", params: [] });
    // The service's function that finds a refused chunk's rows in one statement (the INSERT writer's findRefused).
    await local.db.query({ query: readFileSync(join(TEST_MIGRATIONS, "0005_insert_each.sql"), "utf8"), params: [] });
    const neon = insertWriter(database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url }), createDbIsolate()));
    runner = withBisection({
      ...neon,
      writeChunk(entity, chunk) {
        statements++;
        // The statement's parameter: the chunk's rows as one JSON array.
        largest = Math.max(
          largest,
          chunk.reduce((n, r) => n + r.json.length + 1, 1),
        );
        return neon.writeChunk(entity, chunk);
      },
    });
  });
  afterAll(async () => {
    await local.close();
    neonConfig.fetchEndpoint = (host) => `https://${host}/sql`;
  });
  beforeEach(async () => {
    statements = 0;
    largest = 0;
    await local.db.query({ query: "TRUNCATE readings", params: [] });
  });

  it("writes each chunk with one statement and counts inserts and duplicates exactly", async () => {
    const limits = { ...INSERT_LIMITS, maxRows: 1000 };
    const first = await writeRows(rows(Array(2500).fill(1)), runner, limits);
    expect(first).toMatchObject({ inserted: 2500, duplicates: 0, failed: [] });
    expect(statements).toBe(3);
    const again = await writeRows(rows(Array(3000).fill(1)), runner, limits);
    expect(again).toMatchObject({ inserted: 500, duplicates: 2500, byEntity: { Reading: { inserted: 500, duplicates: 2500, failed: 0 } } });
  });

  it("cuts chunks by encoded size as well as by row count", async () => {
    const result = await writeRows(rows(Array(100).fill(7)), runner, { ...INSERT_LIMITS, maxChars: 200 });
    expect(result.inserted).toBe(100);
    expect(largest).toBeLessThanOrEqual(200 + 2);
    expect(statements).toBeGreaterThanOrEqual(Math.ceil((100 * 8) / 200)); // a row is at least 8 characters: [k,7],
  });

  it("fails only the rows the database rejects, with their line numbers and the database's message", async () => {
    const values = Array(1000).fill(5);
    values[99] = -1;
    values[700] = -2;
    const result = await writeRows(rows(values), runner, { ...INSERT_LIMITS, maxRows: 1000 });
    expect(result.inserted).toBe(998);
    expect(result.failed.map((f) => f.line_number)).toEqual([100, 701]);
    expect(result.failed[0]).toMatchObject({
      entity: "Reading",
      message: expect.stringMatching(
        /^the database rejected the row: new row for relation "readings" violates check constraint "readings_v_check" \(SQLSTATE 23514\)$/,
      ),
      line: `{"k":100,"v":-1}`,
    });
    const [count] = (await local.db.query({ query: "SELECT count(*) FROM readings", params: [] })).rows;
    expect(count).toEqual(["998"]);
    // Bisection: about 2 × bad rows × log2(1000) statements, not one per row.
    expect(statements).toBeLessThanOrEqual(1 + 2 * 2 * Math.ceil(Math.log2(1000)));
  });

  it("rejects a row too large for one Neon request (413) instead of retrying it forever", async () => {
    const huge = { entity: { ...entity, name: "Note" }, json: JSON.stringify([1, 1, "x".repeat(11 * 1024 * 1024)]), lineNumber: 1 };
    const result = await writeRows([huge, ...rows([3], 2)], runner);
    expect(result.inserted).toBe(1);
    expect(result.failed).toEqual([
      expect.objectContaining({
        line_number: 1,
        message: "the database rejected the row: the row is larger than Neon's 10 MiB statement limit (SQLSTATE 413)",
      }),
    ]);
  });

  const counters = async () => (await (await fetch(local.url.replace("/sql", "/__counters"))).json()) as { http_requests: number };

  it("finds a refused chunk's rows in one more statement over HTTP: 1% refused in 10,000, existing keys counted as duplicates", async () => {
    await writeRows(rows(Array(500).fill(1), 9001), runner);
    const before = await counters();
    const writer = insertWriter(database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url }), createDbIsolate()), {
      dbSeconds: 0,
    });
    const values = Array.from({ length: 10_000 }, (_, i) => (i % 100 === 99 ? -1 : 1));
    const result = await writeRows(rows(values), withBisection(writer));
    // The chunk's INSERT, refused; then nomnom_insert_each with the same rows.
    expect([(await counters()).http_requests - before.http_requests, writer.subrequests()]).toEqual([2, 2]);
    // Keys 9001..9500 existed: 495 duplicates, and 5 refused rows (the CHECK runs before the conflict is seen).
    expect(result).toMatchObject({ inserted: 9900 - 495, duplicates: 495, byEntity: { Reading: { inserted: 9405, duplicates: 495, failed: 100 } } });
    expect(result.failed.map((f) => f.line_number)).toEqual(Array.from({ length: 100 }, (_, i) => 100 * (i + 1)));
    expect(result.failed[0]).toMatchObject({
      entity: "Reading",
      message: 'the database rejected the row: new row for relation "readings" violates check constraint "readings_v_check" (SQLSTATE 23514)',
      line: `{"k":100,"v":-1}`,
    });
    expect((await local.db.query({ query: "SELECT count(*)::int FROM readings", params: [] })).rows).toEqual([["9905"]]);
  });

  it("stops bisecting at the request's budget of 1,000 subrequests: 1% refused rows in 10,000, the rest of a refused chunk rejected with the reason", async () => {
    const before = await counters();
    const insert = insertWriter(database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url }), createDbIsolate()), {
      dbSeconds: 0,
    });
    // A writer with no statement of its own to find refused rows: each bisection step is one HTTP request.
    const writer = { ...insert, findRefused: undefined };
    // Every 100th row breaks the CHECK: over HTTP, finding all 100 would take about 1,400 statements.
    const values = Array.from({ length: 10_000 }, (_, i) => (i % 100 === 99 ? -1 : 1));
    const result = await writeRows(rows(values), withBisection(writer));
    const made = (await counters()).http_requests - before.http_requests;
    expect(made).toBe(writer.subrequests());
    expect(made).toBeLessThanOrEqual(SUBREQUEST_BUDGET);
    const found = result.failed.filter((f) => f.message.startsWith("the database rejected the row:"));
    const unsearched = result.failed.filter((f) => f.message.startsWith("not written:"));
    expect(found.length + unsearched.length).toBe(result.failed.length);
    expect(unsearched.length).toBeGreaterThan(0);
    expect(unsearched[0].message).toMatch(/budget of 1000 subrequests .*send these lines again/);
    // Every refused row is reported; no line is lost; the database holds exactly what was acknowledged.
    const reported = new Set(result.failed.map((f) => f.line_number));
    expect(values.every((v, i) => v >= 0 || reported.has(i + 1))).toBe(true);
    expect(result.inserted + result.failed.length).toBe(10_000);
    expect((await local.db.query({ query: "SELECT count(*)::int FROM readings", params: [] })).rows).toEqual([[String(result.inserted)]]);
  });

  it("reports a database that cannot be reached as unavailable (503) with what was committed", async () => {
    const down = insertWriter(
      database(
        settingsOf({ DATABASE_URL: "postgres://a:b@down.localtest.me/x", NEON_FETCH_ENDPOINT: "http://127.0.0.1:9/sql", DB_RETRY_MS: "300" }),
        createDbIsolate(),
      ),
    );
    await expect(writeRows(rows([1]), withBisection(down))).rejects.toMatchObject({
      code: "database_unavailable",
      status: 503,
      details: { committed: { inserted: 0, duplicates: 0 } },
    });
  });
});
