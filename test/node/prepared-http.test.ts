/**
 * The one-message path's prepared request to Neon's HTTP API (db/neon-http.ts, preparedHttp) against the
 * real client on the local endpoint: the same rows, and for every fault the same error, read the
 * same way by neonAnswer and classified the same by classify().
 */
import { neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING, type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { createDbIsolate } from "../../src/db/isolate.ts";
import { type Database, database } from "../../src/db/neon.ts";
import { classify, neonAnswer } from "../../src/db/neon-answers.ts";
import { settingsOf } from "../../src/env.ts";
import { freshDatabase } from "../support/database.ts";

const INSERT = "INSERT INTO readings (k, v) SELECT (e->>0)::int, (e->>1)::int FROM jsonb_array_elements($1::jsonb) AS r(e) RETURNING k";

describe("the prepared Neon HTTP request", () => {
  let local: LocalNeon;
  let db: Database;
  const fault = (body: Record<string, unknown>) => fetch(new URL("/__faults", local.url), { method: "POST", body: JSON.stringify(body) });
  const count = async () => Number(Object.values((await local.db.query({ query: "SELECT count(*) FROM readings", params: [] })).rows[0] as object)[0]);
  const signal = () => AbortSignal.timeout(5000);
  /** What each way of calling threw, as the service reads it. */
  const failure = async (call: Promise<unknown>) => {
    const error = await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeDefined();
    const classified = classify(error);
    return { answer: neonAnswer(error), kind: classified.constructor.name, message: classified.message };
  };

  beforeAll(async () => {
    local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_prepared_http"), migrate: false, faults: true });
    await local.db.query({ query: "CREATE TABLE readings (k int PRIMARY KEY, v int NOT NULL CHECK (v >= 0))", params: [] });
    db = database(settingsOf({ DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local.url, DB_RETRY_MS: "0" }), createDbIsolate());
  });
  afterAll(async () => {
    await local.close();
    neonConfig.fetchEndpoint = (host) => `https://${host}/sql`;
  });
  beforeEach(async () => {
    await fault({ fault: "none" });
    await local.db.query({ query: "TRUNCATE readings", params: [] });
  });

  it("answers with the rows and counts the client gives, values as text", async () => {
    const prepared = await db.http.query(INSERT, ["[[1,10],[2,20]]"], signal());
    const client = await db.sql.query(INSERT, ["[[3,30],[4,40]]"]);
    expect(prepared.rowCount).toBe(client.rowCount);
    expect(prepared.rows).toEqual([["1"], ["2"]]);
    expect(client.rows.map((r) => [String(r[0])])).toEqual([["3"], ["4"]]);
    const [first, second] = await db.http.transaction(
      [
        { query: INSERT, params: ["[[5,1]]"] },
        { query: INSERT, params: ["[[6,1],[7,1]]"] },
      ],
      signal(),
    );
    expect([first.rowCount, second.rowCount]).toEqual([1, 2]);
    expect(await count()).toBe(7);
  });

  it("fails a statement the way the client does: a row the database refuses, a rolled back transaction", async () => {
    const bad = ["[[1,-1]]"];
    const prepared = await failure(db.http.query(INSERT, bad, signal()));
    const client = await failure(db.sql.query(INSERT, bad));
    expect(prepared).toEqual(client);
    expect(prepared.answer.code).toBe("23514");
    expect(prepared.kind).toBe("RowsRejected");
    const inTransaction = await failure(
      db.http.transaction(
        [
          { query: INSERT, params: ["[[8,1]]"] },
          { query: INSERT, params: bad },
        ],
        signal(),
      ),
    );
    expect(inTransaction.answer.code).toBe("23514");
    expect(await count()).toBe(0);
  });

  it.each([
    { fault: "500" },
    { fault: "40001" },
    { fault: "connection_lost" },
    { fault: "down" },
    { fault: "answer", answer: { message: "Too many connections to this endpoint. Please try again later." } },
    { fault: "answer", answer: { message: "password authentication failed for user 'neondb_owner'" } },
    { fault: "answer", answer: { status: 507, message: "project size limit exceeded", code: "53100" } },
  ])("reads the fault $fault $answer.message as the client's error", async (setting) => {
    await fault(setting);
    // Keys of their own: under some faults the statement runs before the answer is lost.
    const prepared = await failure(db.http.query(INSERT, ["[[1,1]]"], signal()));
    const client = await failure(db.sql.query(INSERT, ["[[2,1]]"]));
    // A failed fetch's text names the request's own socket error; the rest must be the same.
    if (setting.fault === "down") {
      expect(prepared.answer.status).toBeUndefined();
      expect(prepared.answer.message).toMatch(/^Error connecting to database: /);
      expect(prepared.kind).toBe(client.kind);
    } else expect(prepared).toEqual(client);
    expect(prepared.kind).not.toBe("Error");
  });

  it("gives up at its deadline as a transient failure", async () => {
    await fault({ fault: "slow", delayMs: 2000 });
    const slow = await failure(db.http.query(INSERT, ["[[1,1]]"], AbortSignal.timeout(200)));
    expect(slow.kind).toBe("TransientDatabaseError");
    expect(slow.answer.status).toBeUndefined();
  });
});
