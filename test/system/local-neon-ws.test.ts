/**
 * Conformance of the local WebSocket endpoint with Neon's (Postgres protocol over WebSocket),
 * driven by the real @neondatabase/serverless Client: the handshake and its password check, plain
 * queries, COPY FROM STDIN, and each fault's WebSocket meaning. Needs PostgreSQL (TEST_DATABASE_URL).
 */
import { Client } from "@neondatabase/serverless";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LocalNeon, localConnectionString, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";

const PASSWORD = "ws-secret";
let local: LocalNeon;

/** A client as the Worker opens it against the local endpoint (pipelined: as against real Neon). */
function client(password = PASSWORD, pipelined = false): Client {
  const c = new Client(localConnectionString(password));
  c.neonConfig.wsProxy = local.wsProxy!;
  c.neonConfig.useSecureWebSocket = false;
  c.neonConfig.pipelineConnect = pipelined ? "password" : false;
  c.on("error", () => {});
  return c;
}

async function connected(pipelined = false): Promise<Client> {
  const c = client(PASSWORD, pipelined);
  await c.connect();
  return c;
}

const errorOf = (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string; severity?: string },
  );

async function copy(c: Client, text: string): Promise<void> {
  const stream = c.query(copyFrom("COPY t (id, name) FROM STDIN"));
  await new Promise<void>((resolve, reject) => {
    stream.on("finish", resolve);
    stream.on("error", reject);
    stream.end(text);
  });
}

const fault = async (body: object) =>
  expect((await fetch(local.url.replace("/sql", "/__faults"), { method: "POST", body: JSON.stringify(body) })).status).toBe(200);
const names = async () => (await local.db.query({ query: "SELECT id, name FROM t ORDER BY id", params: [] })).rows;

beforeAll(async () => {
  local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_local_neon_ws"), migrate: false, faults: true, password: PASSWORD });
  await local.db.query({ query: "CREATE TABLE t (id int PRIMARY KEY, name text)", params: [] });
});
afterAll(() => local.close());
afterEach(async () => {
  await fault({ fault: "none" });
  await local.db.query({ query: "TRUNCATE t", params: [] });
});

describe("the local WebSocket endpoint", () => {
  it("is started beside the HTTP endpoint over PostgreSQL, and not over PGlite", async () => {
    expect(local.wsProxy).toMatch(/^127\.0\.0\.1:\d+\/v2$/);
    const pglite = await startLocalNeon({ migrate: false });
    try {
      expect(pglite.wsProxy).toBeUndefined();
    } finally {
      await pglite.close();
    }
  });

  for (const pipelined of [false, true]) {
    it(`runs queries in the configured database, whatever database the client named${pipelined ? " (pipelined connect, as against Neon)" : ""}`, async () => {
      const c = await connected(pipelined);
      try {
        const { rows } = await c.query("SELECT $1::int + 1 AS n, current_database() AS db", [41]);
        expect(rows).toEqual([{ n: 42, db: "nomnom_test_local_neon_ws" }]);
      } finally {
        await c.end();
      }
    });
  }

  it("takes COPY FROM STDIN in a transaction: text format escapes and NULL arrive exact", async () => {
    const c = await connected();
    try {
      await c.query("BEGIN");
      await copy(c, "1\ta\\tb\\\\c\\nd\n2\t\\N\n3\t\\\\N\n");
      await c.query("COMMIT");
    } finally {
      await c.end();
    }
    expect(await names()).toEqual([
      ["1", "a\tb\\c\nd"],
      ["2", null],
      ["3", "\\N"],
    ]);
  });

  it("reports a duplicate key in COPY as 23505 and leaves the session usable after ROLLBACK", async () => {
    const c = await connected();
    try {
      await c.query("BEGIN");
      await copy(c, "1\ta\n");
      await c.query("COMMIT");
      await c.query("BEGIN");
      expect(await errorOf(copy(c, "2\tb\n1\tagain\n"))).toMatchObject({ code: "23505" });
      await c.query("ROLLBACK");
      expect((await c.query("SELECT count(*)::int AS n FROM t")).rows).toEqual([{ n: 1 }]);
    } finally {
      await c.end();
    }
  });

  for (const pipelined of [false, true]) {
    it(`refuses a wrong password as Neon's proxy does: ERROR XX000, password authentication failed for user '<user>'${pipelined ? " (pipelined: at the first query)" : ""}`, async () => {
      const c = client("wrong", pipelined);
      // Pipelined, connect() resolves at once and the proxy's answer comes to the first query.
      const error = await errorOf(c.connect().then(() => c.query("SELECT 1")));
      expect(error).toMatchObject({ code: "XX000", severity: "ERROR", message: "password authentication failed for user 'app'" });
    });
  }

  it("passes PostgreSQL's own refusal at connect on as Neon does: ERROR XX000 with PostgreSQL's text (55000 here)", async () => {
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query('ALTER DATABASE "nomnom_test_local_neon_ws" ALLOW_CONNECTIONS false');
      const error = await errorOf(client().connect());
      expect(error).toMatchObject({ code: "XX000", severity: "ERROR", message: 'database "nomnom_test_local_neon_ws" is not currently accepting connections' });
    } finally {
      await admin.query('ALTER DATABASE "nomnom_test_local_neon_ws" ALLOW_CONNECTIONS true');
      await admin.end();
    }
  });

  describe("faults, with their WebSocket meanings", () => {
    it('"down": the connection is refused (the WebSocket never opens)', async () => {
      await fault({ fault: "down", times: 1 });
      // The client reports the WebSocket's own error event: no SQLSTATE, nothing from PostgreSQL.
      expect(await errorOf(client().connect())).toMatchObject({ type: "error" });
      const c = await connected(); // only once
      await c.end();
    });

    it('"500": PostgreSQL unreachable, the session ends after the password with the proxy\'s ERROR XX000', async () => {
      await fault({ fault: "500", times: 1 });
      const error = await errorOf(client().connect());
      expect(error).toMatchObject({ message: "injected fault: PostgreSQL unreachable", severity: "ERROR", code: "XX000" });
    });

    it('"answer": Neon\'s own answer at connect, e.g. too many connections, as ERROR XX000 whatever its SQLSTATE over HTTP', async () => {
      await fault({ fault: "answer", times: 1, answer: { message: "Too many connections to this endpoint. Please try again later." } });
      expect(await errorOf(client().connect())).toMatchObject({
        message: "Too many connections to this endpoint. Please try again later.",
        severity: "ERROR",
        code: "XX000",
      });
      await fault({ fault: "answer", times: 1, answer: { status: 400, code: "3D000", message: 'database "nope" does not exist' } });
      expect(await errorOf(client().connect())).toMatchObject({ message: 'database "nope" does not exist', code: "XX000" });
    });

    it('"40001": a transaction\'s BEGIN fails with a serialization failure; the session stays usable', async () => {
      const c = await connected();
      try {
        await fault({ fault: "40001", times: 1 });
        expect(await errorOf(c.query("BEGIN"))).toMatchObject({ code: "40001" });
        await c.query("BEGIN");
        await copy(c, "1\ta\n");
        await c.query("COMMIT");
      } finally {
        await c.end();
      }
      expect(await names()).toEqual([["1", "a"]]);
    });

    it('"connection_lost": the connection closes mid-COPY and nothing is written', async () => {
      const c = await connected();
      await fault({ fault: "connection_lost", times: 1 });
      await c.query("BEGIN");
      const error = await errorOf(copy(c, "1\ta\n"));
      expect(error).toBeInstanceOf(Error);
      expect(error?.code).toBeUndefined();
      // end() never settles once the connection is gone (the writer does not wait for it either).
      void c.end().catch(() => {});
      expect(await names()).toEqual([]);
    });

    it('"reset_after_commit": the COPY commits, then the connection closes before COMMIT\'s answer', async () => {
      const c = await connected();
      await fault({ fault: "reset_after_commit", times: 1 });
      await c.query("BEGIN");
      await copy(c, "1\ta\n");
      const error = await errorOf(c.query("COMMIT"));
      expect(error).toBeInstanceOf(Error);
      expect(error?.code).toBeUndefined();
      void c.end().catch(() => {});
      expect(await names()).toEqual([["1", "a"]]);
    });

    it('"slow": the session waits before it reaches PostgreSQL', async () => {
      await fault({ fault: "slow", times: 1, delayMs: 300 });
      const started = Date.now();
      const c = await connected();
      await c.end();
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    });
  });
});
