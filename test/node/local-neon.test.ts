/**
 * Conformance of the local endpoint with Neon's SQL-over-HTTP protocol (shared/NEON-HTTP.md),
 * driven by the real @neondatabase/serverless client and drizzle's neon-http driver,
 * over PGlite and, when TEST_DATABASE_URL is set, over PostgreSQL.
 */
import { neon, neonConfig, NeonDbError } from "@neondatabase/serverless";
import { sql as dsql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/neon-http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresDatabase } from "../../scripts/local-neon/database.ts";
import { createLocalNeonServer, listen } from "../../scripts/local-neon/server.ts";
import { LOCAL_CONNECTION_STRING, startLocalNeon, type LocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";

const backends: [string, () => Promise<string | undefined>][] = [["PGlite", async () => undefined]];
if (process.env.TEST_DATABASE_URL) backends.push(["PostgreSQL", () => freshDatabase("nomnom_test_local_neon")]);

for (const [name, databaseUrl] of backends) {
  describe(`the local Neon endpoint over ${name}`, () => {
    let local: LocalNeon;
    const sql = neon(LOCAL_CONNECTION_STRING);
    const raw = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(local.url, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "Neon-Connection-String": LOCAL_CONNECTION_STRING, ...headers } });

    beforeAll(async () => {
      local = await startLocalNeon({ databaseUrl: await databaseUrl(), migrate: false });
      neonConfig.fetchEndpoint = local.url;
      await sql.query("CREATE TABLE t (id int PRIMARY KEY, name text, tags text[], price numeric CHECK (price >= 0))");
    });
    afterAll(() => local.close());

    it("binds parameters as text and returns typed values through the client's parsers", async () => {
      const rows = await sql.query("SELECT $1::int + 1 AS n, $2::text AS s, $3::numeric AS d, $4::bool AS b, $5::text AS nothing", [41, "it's", "1.10", true, null]);
      expect(rows).toEqual([{ n: 42, s: "it's", d: "1.10", b: true, nothing: null }]);
    });

    it("passes JS arrays as Postgres array parameters, quotes and NULLs included", async () => {
      await sql.query("INSERT INTO t (id, name) SELECT * FROM unnest($1::int[], $2::text[])", [[1, 2], ['a "q"', null]]);
      await sql.query("UPDATE t SET tags = $1::text[]", [["x,y", "{z}", null]]);
      const rows = await sql.query("SELECT id, name, tags FROM t ORDER BY id");
      expect(rows).toEqual([
        { id: 1, name: 'a "q"', tags: ["x,y", "{z}", null] },
        { id: 2, name: null, tags: ["x,y", "{z}", null] },
      ]);
    });

    it("answers with Neon's response shape: fields, raw text rows, command and rowCount", async () => {
      const res = await raw({ query: "SELECT id, name FROM t WHERE id = $1", params: ["1"] }, { "Neon-Array-Mode": "true", "Neon-Raw-Text-Output": "true" });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      expect(res.headers.get("neon-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      const body = (await res.json()) as { fields: unknown[] };
      expect(body).toMatchObject({ command: "SELECT", rowCount: 1, rowAsArray: true, rows: [["1", 'a "q"']] });
      expect(body.fields[0]).toEqual({ name: "id", dataTypeID: 23, tableID: expect.any(Number), columnID: 1, dataTypeSize: 4, dataTypeModifier: -1, format: "text" });
      const ddl = await (await raw({ query: "CREATE TEMP VIEW v AS SELECT 1", params: [] })).json();
      expect(ddl).toMatchObject({ command: "CREATE", rowCount: null, fields: [], rows: [] });
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
      expect(Object.keys(body).sort()).toEqual(["code", "column", "constraint", "dataType", "detail", "file", "hint", "internalPosition", "internalQuery", "line", "message", "position", "routine", "schema", "severity", "table", "where"]);
      expect(body).toMatchObject({ code: "23514", constraint: "t_price_check", hint: null });
    });

    it("rejects multi-statement SQL with 42601, as the extended protocol does", async () => {
      await expect(sql.query("SELECT 1; SELECT 2")).rejects.toMatchObject({ code: "42601" });
    });

    it("answers 413 for a request over 10 MiB", async () => {
      const res = await raw({ query: "SELECT $1::text", params: ["x".repeat(10 * 1024 * 1024)] });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ message: "request is too large (max is 10485760 bytes)" });
      await expect(sql.query("SELECT length($1)", ["x".repeat(10 * 1024 * 1024)])).rejects.toThrow(/HTTP status 413/);
    });

    it("answers 507 for a response over 10 MiB", async () => {
      const res = await raw({ query: "SELECT repeat('x', 11 * 1024 * 1024)", params: [] });
      expect(res.status).toBe(507);
      expect(await res.json()).toEqual({ message: "response is too large (max is 10485760 bytes)" });
    });

    it("answers 400 for a missing or malformed connection string, bad JSON and other paths", async () => {
      const post = (init: RequestInit, path = "/sql") => fetch(local.url.replace("/sql", path), { method: "POST", ...init });
      expect(await (await post({ body: "{}" })).json()).toEqual({ message: "missing connection string: set the Neon-Connection-String header" });
      const noPassword = await post({ body: "{}", headers: { "Neon-Connection-String": "postgres://app@db.localtest.me/main" } });
      expect(noPassword.status).toBe(400);
      const ipHost = await post({ body: "{}", headers: { "Neon-Connection-String": "postgres://app:x@127.0.0.1/main" } });
      expect(((await ipHost.json()) as { message: string }).message).toMatch(/host must be a name/);
      const badJson = await raw("{not json");
      expect(badJson.status).toBe(400);
      expect((await post({ body: "{}" }, "/other")).status).toBe(400);
      expect((await fetch(local.url, { method: "OPTIONS" })).status).toBe(200);
    });

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

describe("the local Neon endpoint when PostgreSQL cannot be reached", () => {
  it("answers 500 without a code, which the client reports as a server error", async () => {
    const server = createLocalNeonServer(postgresDatabase("postgres://nobody@127.0.0.1:9/none"));
    neonConfig.fetchEndpoint = await listen(server, 0);
    try {
      const error = await neon(LOCAL_CONNECTION_STRING).query("SELECT 1").catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/^Server error \(HTTP status 500\): .*database unreachable/);
      expect((error as NeonDbError).code).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
