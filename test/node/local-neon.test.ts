/**
 * Conformance of the local endpoint with Neon's SQL-over-HTTP protocol (shared/NEON-HTTP.md),
 * driven by the real @neondatabase/serverless client and drizzle's neon-http driver,
 * over PGlite and, when TEST_DATABASE_URL is set, over PostgreSQL.
 */
import { NeonDbError, neon, neonConfig } from "@neondatabase/serverless";
import { sql as dsql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/neon-http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDatabase } from "../../scripts/local-neon/database.ts";
import { createLocalNeonServer, listen } from "../../scripts/local-neon/server.ts";
import { LOCAL_CONNECTION_STRING, type LocalNeon, localConnectionString, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";
import { faultAt } from "../support/faults.ts";

const ERROR_KEYS = [
  "code",
  "column",
  "constraint",
  "dataType",
  "detail",
  "file",
  "hint",
  "internalPosition",
  "internalQuery",
  "line",
  "message",
  "position",
  "routine",
  "schema",
  "severity",
  "table",
  "where",
];
const MiB = 1024 * 1024;

/** Neon's body for an error that is not PostgreSQL's: every key, code and severity "", the rest null. */
const proxyError = (message: string | RegExp) => ({
  ...Object.fromEntries(ERROR_KEYS.map((k) => [k, null])),
  code: "",
  severity: "",
  message: typeof message === "string" ? message : expect.stringMatching(message),
});

async function errorOf(work: Promise<unknown>): Promise<NeonDbError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NeonDbError);
  return error as NeonDbError;
}

const backends: [string, () => Promise<string | undefined>][] = [["PGlite", async () => undefined]];
if (process.env.TEST_DATABASE_URL) backends.push(["PostgreSQL", () => freshDatabase("nomnom_test_local_neon")]);

for (const [name, databaseUrl] of backends) {
  describe(`the local Neon endpoint over ${name}`, () => {
    let local: LocalNeon;
    let url: string | undefined;
    const sql = neon(LOCAL_CONNECTION_STRING);
    // What @neondatabase/serverless sends, unless a test says otherwise.
    const raw = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(local.url, {
        method: "POST",
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: { "Neon-Connection-String": LOCAL_CONNECTION_STRING, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true", ...headers },
      });

    beforeAll(async () => {
      url = await databaseUrl();
      local = await startLocalNeon({ databaseUrl: url, migrate: false, faults: true });
      neonConfig.fetchEndpoint = local.url;
      await sql.query("CREATE TABLE t (id int PRIMARY KEY, name text, tags text[], price numeric CHECK (price >= 0))");
    });
    afterAll(() => local.close());

    it("binds parameters as text and returns typed values through the client's parsers", async () => {
      const rows = await sql.query("SELECT $1::int + 1 AS n, $2::text AS s, $3::numeric AS d, $4::bool AS b, $5::text AS nothing", [
        41,
        "it's",
        "1.10",
        true,
        null,
      ]);
      expect(rows).toEqual([{ n: 42, s: "it's", d: "1.10", b: true, nothing: null }]);
    });

    it("passes JS arrays as Postgres array parameters, quotes and NULLs included", async () => {
      await sql.query("INSERT INTO t (id, name) SELECT * FROM unnest($1::int[], $2::text[])", [
        [1, 2],
        ['a "q"', null],
      ]);
      await sql.query("UPDATE t SET tags = $1::text[]", [["x,y", "{z}", null]]);
      const rows = await sql.query("SELECT id, name, tags FROM t ORDER BY id");
      expect(rows).toEqual([
        { id: 1, name: 'a "q"', tags: ["x,y", "{z}", null] },
        { id: 2, name: null, tags: ["x,y", "{z}", null] },
      ]);
    });

    it("answers with Neon's response shape: fields, raw text rows, command and rowCount", async () => {
      const res = await raw({ query: "SELECT id, name FROM t WHERE id = $1", params: ["1"] });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("neon-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      const body = (await res.json()) as { fields: unknown[] };
      expect(body).toMatchObject({ command: "SELECT", rowCount: 1, rowAsArray: true, rows: [["1", 'a "q"']] });
      expect(body.fields[0]).toEqual({
        name: "id",
        dataTypeID: 23,
        tableID: expect.any(Number),
        columnID: 1,
        dataTypeSize: 4,
        dataTypeModifier: -1,
        format: "text",
      });
      const ddl = await (await raw({ query: "CREATE TEMP VIEW v AS SELECT 1", params: [] })).json();
      expect(ddl).toMatchObject({ command: "CREATE", rowCount: null, fields: [], rows: [] });
    });

    // Neon's proxy sends each answer as one Full<Bytes> body (serverless/http_util.rs, json_response): a Content-Length, never chunked.
    it("answers with a Content-Length, never chunked, as Neon's proxy does (errors too)", async () => {
      for (const res of [await raw({ query: "SELECT 1 AS one", params: [] }), await raw({ query: "SELECT 1/0", params: [] })]) {
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.headers.get("transfer-encoding")).toBeNull();
        expect(Number(res.headers.get("content-length"))).toBe(body.byteLength);
        expect(JSON.parse(body.toString("utf8"))).toBeTypeOf("object");
      }
    });

    it("runs transaction([...]) all or nothing, and a failed one surfaces the error's code", async () => {
      const [a, b] = await sql.transaction([sql.query("INSERT INTO t (id) VALUES (10) RETURNING id"), sql.query("SELECT count(*)::int AS n FROM t")]);
      expect(a).toEqual([{ id: 10 }]);
      expect(b).toEqual([{ n: 3 }]);
      const failing = sql.transaction([sql.query("INSERT INTO t (id) VALUES (11)"), sql.query("INSERT INTO t (id) VALUES (10)")]);
      await expect(failing).rejects.toBeInstanceOf(NeonDbError);
      await expect(failing).rejects.toMatchObject({ code: "23505", constraint: "t_pkey", table: "t" });
      expect(await sql.query("SELECT id FROM t WHERE id = 11")).toEqual([]);
    });

    it("reports a unique violation as a NeonDbError with code 23505 and its detail", async () => {
      const error = await sql.query("INSERT INTO t (id) VALUES (1)").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NeonDbError);
      expect(error).toMatchObject({ code: "23505", severity: "ERROR", detail: "Key (id)=(1) already exists." });
    });

    it("sends every error key, absent ones as null", async () => {
      const res = await raw({ query: "INSERT INTO t (id, price) VALUES (99, -1)", params: [] });
      expect(res.status).toBe(400);
      const body = (await res.json()) as object;
      expect(Object.keys(body).sort()).toEqual(ERROR_KEYS);
      expect(body).toMatchObject({ code: "23514", constraint: "t_price_check", hint: null });
    });

    it("rejects multi-statement SQL with 42601, as the extended protocol does", async () => {
      await expect(sql.query("SELECT 1; SELECT 2")).rejects.toMatchObject({ code: "42601" });
    });

    it("answers 413 for a request over 10 MiB, with every error key", async () => {
      const res = await raw({ query: "SELECT $1::text", params: ["x".repeat(10 * MiB)] });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual(proxyError("request is too large (max is 10485760 bytes)"));
      await expect(sql.query("SELECT length($1)", ["x".repeat(10 * MiB)])).rejects.toThrow(/HTTP status 413/);
    });

    it("checks the response size before each row: one 11 MiB row is a 200, a fourth 4 MiB row a 507 with every error key", async () => {
      const [row] = await sql.query("SELECT repeat('x', 11 * 1024 * 1024) AS big");
      expect((row.big as string).length).toBe(11 * MiB);
      const res = await raw({ query: "SELECT repeat('x', 4 * 1024 * 1024) FROM generate_series(1, 4)", params: [] });
      expect(res.status).toBe(507);
      expect(await res.json()).toEqual(proxyError("response is too large (max is 10485760 bytes)"));
      await expect(sql.query("SELECT repeat('x', 4 * 1024 * 1024) FROM generate_series(1, 4)")).rejects.toThrow(/^Server error \(HTTP status 507\)/);
    });

    it("raises a batch's 507 before COMMIT, so the batch rolls back", async () => {
      const batch = sql.transaction([
        sql.query("INSERT INTO t (id) VALUES (700)"),
        sql.query("SELECT repeat('x', 4 * 1024 * 1024) FROM generate_series(1, 4)"),
      ]);
      await expect(batch).rejects.toThrow(/HTTP status 507/);
      expect(await sql.query("SELECT id FROM t WHERE id = 700")).toEqual([]);
    });

    it("answers 400 with Neon's messages and every error key for a bad connection string, bad JSON and other paths", async () => {
      const post = (headers: Record<string, string>, path = "/sql") =>
        fetch(local.url.replace("/sql", path), { method: "POST", body: "{}", headers: { "Neon-Raw-Text-Output": "true", ...headers } });
      const cases: [Record<string, string>, string][] = [
        [{}, "invalid header: neon-connection-string"],
        [{ "Neon-Connection-String": "mysql://app:x@db.localtest.me/main" }, "incorrect scheme"],
        [{ "Neon-Connection-String": "postgres://app:x@db.localtest.me" }, "missing database name"],
        [{ "Neon-Connection-String": "postgres://db.localtest.me/main" }, "missing username"],
        [{ "Neon-Connection-String": "postgres://app@db.localtest.me/main" }, "missing authentication credentials: required password"],
      ];
      for (const [headers, message] of cases) {
        const res = await post(headers);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual(proxyError(message));
      }
      const ipHost = await post({ "Neon-Connection-String": "postgres://app:x@127.0.0.1/main" });
      expect(await ipHost.json()).toEqual(proxyError(/^invalid hostname: .*host must be a name/));
      const badJson = await raw("{not json");
      expect(badJson.status).toBe(400);
      expect(await badJson.json()).toEqual(proxyError(/^could not parse the request body as JSON/));
      const otherPath = await post({ "Neon-Connection-String": LOCAL_CONNECTION_STRING }, "/other");
      expect([otherPath.status, await otherPath.json()]).toEqual([400, proxyError("query is not supported")]);
      expect((await fetch(local.url, { method: "OPTIONS" })).status).toBe(200);
    });

    it("refuses what @neondatabase/serverless never sends: typed output, per-query arrayMode, non-string params", async () => {
      const typed = await raw({ query: "SELECT 1", params: [] }, { "Neon-Raw-Text-Output": "false" });
      expect([typed.status, await typed.json()]).toEqual([400, proxyError(/^typed output is not supported by the local endpoint/)]);
      const perQuery = await raw({ queries: [{ query: "SELECT 1", params: [], arrayMode: false }] });
      expect([perQuery.status, await perQuery.json()]).toEqual([400, proxyError(/^"arrayMode" of queries\[0\] is not supported/)]);
      const number = await raw({ query: "SELECT $1::int", params: [1] });
      expect([number.status, await number.json()]).toEqual([400, proxyError(/^params\[0\] is a number: the local endpoint takes strings and nulls only/)]);
      const array = await raw({ query: "SELECT $1::int[]", params: [["1"]] });
      expect(((await array.json()) as { message: string }).message).toMatch(/^params\[0\] is a array/);
    });

    it("answers a connection lost mid-query with a 400 and an empty code, and serves the next request", async () => {
      await faultAt(local.url, "connection_lost", { times: 1 });
      const error = await errorOf(sql.query("SELECT 1"));
      expect(error).toMatchObject({ message: "connection closed", code: "", severity: "" });
      expect(await sql.query("SELECT 2 AS n")).toEqual([{ n: 2 }]);
      await faultAt(local.url, "connection_lost", { times: 1 });
      await expect(sql.transaction([sql.query("INSERT INTO t (id) VALUES (900)"), sql.query("SELECT 1")])).rejects.toMatchObject({
        message: "connection closed",
        code: "",
      });
      expect(await sql.query("SELECT id FROM t WHERE id = 900")).toEqual([]);
    });

    it("begins the session reset with ROLLBACK: a lone BEGIN does not leak into the next request", async () => {
      await sql.query("BEGIN");
      await expect(sql.query("SELECT 1 / 0")).rejects.toMatchObject({ code: "22012" });
      // Inside a leaked transaction this would be 25P02 (current transaction is aborted).
      expect(await sql.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
      await sql.query("BEGIN");
      await sql.query("INSERT INTO t (id) VALUES (800)");
      await sql.query("ROLLBACK").catch(() => {}); // a leaked transaction would roll the row back here
      expect(await sql.query("SELECT id FROM t WHERE id = 800")).toEqual([{ id: 800 }]);
    });

    it("never commits a batch whose client went away", async () => {
      const batch = sql.transaction(
        [
          sql.query("INSERT INTO t (id) VALUES (1000)"),
          sql.query("SELECT pg_sleep(0.3)"),
          sql.query("SELECT pg_sleep(0.3)"),
          sql.query("SELECT pg_sleep(0.3)"),
        ],
        { fetchOptions: { signal: AbortSignal.timeout(150) } },
      );
      await expect(batch).rejects.toThrow(/Error connecting to database: .*(abort|timeout)/i);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // past the batch's own end, had it gone on
      expect(await sql.query("SELECT id FROM t WHERE id = 1000")).toEqual([]);
    });

    if (name === "PostgreSQL") {
      it("cancels the running query when the client goes away", async () => {
        const started = Date.now();
        await expect(sql.query("SELECT pg_sleep(30), 'local-neon-cancel-probe'", [], { fetchOptions: { signal: AbortSignal.timeout(300) } })).rejects.toThrow(
          /Error connecting to database/,
        );
        const direct = new pg.Client({ connectionString: url });
        await direct.connect();
        try {
          let running = 1;
          while (running > 0 && Date.now() - started < 5000) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            const { rows } = await direct.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%local-neon-cancel-probe%' AND pid <> pg_backend_pid() AND state = 'active'",
            );
            running = rows[0].n;
          }
          expect(running).toBe(0);
          expect(Date.now() - started).toBeLessThan(5000);
        } finally {
          await direct.end();
        }
      });
    }

    it("works for drizzle's neon-http driver, including db.batch as one transaction", async () => {
      const db = drizzle({ client: sql });
      const [first, second] = await db.batch([db.execute(dsql`SELECT 1 AS one`), db.execute(dsql`SELECT ${"two"}::text AS two`)]);
      expect(first.rows).toEqual([{ one: 1 }]);
      expect(second.rows).toEqual([{ two: "two" }]);
    });

    it("keeps no session state between requests: settings and temp tables are gone", async () => {
      await sql.query("SELECT set_config('application_name', 'changed', false)");
      expect(await sql.query("SELECT current_setting('application_name') AS name")).not.toEqual([{ name: "changed" }]);
      await sql.query("CREATE TEMP TABLE scratch (a int)");
      await expect(sql.query("SELECT * FROM scratch")).rejects.toMatchObject({ code: "42P01" });
    });
  });
}

describe("the local Neon endpoint with LOCAL_NEON_PASSWORD", () => {
  let local: LocalNeon;
  beforeAll(async () => {
    local = await startLocalNeon({ migrate: false, password: "right" });
    neonConfig.fetchEndpoint = local.url;
  });
  afterAll(() => local.close());

  it("accepts the right password", async () => {
    expect(local.connectionString).toBe("postgres://app:right@db.localtest.me:5432/main");
    expect(await neon(local.connectionString).query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  it("refuses another as Neon's proxy does: 400, empty code, Neon's message, every error key", async () => {
    const error = await errorOf(neon(localConnectionString("wrong")).query("SELECT 1"));
    expect(error).toMatchObject({ message: "password authentication failed for user 'app'", code: "", severity: "" });
    const res = await fetch(local.url, {
      method: "POST",
      body: JSON.stringify({ query: "SELECT 1", params: [] }),
      headers: { "Neon-Connection-String": "postgres://someone:wrong@db.localtest.me/main", "Neon-Raw-Text-Output": "true" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(proxyError("password authentication failed for user 'someone'"));
  });
});

describe("the local Neon endpoint when PostgreSQL cannot be reached", () => {
  it("answers 500 without a code, which the client reports as a server error", async () => {
    const server = createLocalNeonServer(postgresDatabase("postgres://nobody@127.0.0.1:9/none"));
    neonConfig.fetchEndpoint = await listen(server, 0);
    try {
      const error = await neon(LOCAL_CONNECTION_STRING)
        .query("SELECT 1")
        .catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/^Server error \(HTTP status 500\): .*database unreachable/);
      expect(JSON.parse((error as Error).message.replace(/^[^{]*/, ""))).toMatchObject({ code: "", severity: "", detail: null });
      expect((error as NeonDbError).code).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
