/**
 * How the Worker answers each kind of Neon answer (src/db/neon-answers.ts, NEON_ANSWERS; docs/neon-errors.md):
 * a misconfiguration at once (500, no retry, no queue fallback), storage full as 507, and transient
 * answers retried. Real answers where the local endpoint or PostgreSQL can give them (a refused
 * password, a SQLSTATE raised by a trigger, a lost connection); Neon-cloud-only answers through the
 * endpoint's "answer" fault, in Neon's exact words.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { customerLine, customers } from "../support/customers.ts";
import { readEvents } from "../support/sse.ts";
import { count, fault, resetDatabase, sql } from "../support/worker.ts";

/**
 * Production's retry budget (wrangler.toml: DB_RETRY_MS 15 s) and queue fallback on: neither may apply to a misconfiguration.
 * Not `call`: this times the answer alone, before the request's waitUntil work.
 */
async function timedPost(path: string, body: string, bindings: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const started = Date.now();
  const res = await worker.fetch(
    new Request(`http://nomnom.test${path}`, { method: "POST", body, headers: { "Content-Type": "text/plain", ...headers } }),
    { ...env, ASYNC_FALLBACK: "true", ...bindings },
    ctx,
  );
  const copy = new Response(await res.arrayBuffer(), res);
  const ms = Date.now() - started;
  await waitOnExecutionContext(ctx);
  return { res: copy, ms, body: (await copy.clone().json()) as Record<string, unknown> };
}

const WRONG_PASSWORD = { DATABASE_URL: env.DATABASE_URL.replace(/:[^:@/]*@/, ":rotated-secret@") };

beforeEach(resetDatabase);
afterEach(() => fault("none"));

describe("a misconfigured database", () => {
  for (const [path, text, headers] of [
    ["/ingest/message", customerLine("M1"), {}],
    ["/ingest/batch", `${customerLine("B1")}\n${customerLine("B2")}`, {}],
    ["/ingest/batch?atomic=true", `${customerLine("A1")}\n${customerLine("A2")}`, {}],
    ["/ingest/batch", customerLine("K1"), { "Idempotency-Key": "misconfigured-1" }],
  ] as [string, string, Record<string, string>][]) {
    it(`${path}${headers["Idempotency-Key"] ? " with Idempotency-Key" : ""}: a refused password is a 500 database_misconfigured within 2 s, naming the reason, not the secret; no Retry-After, no queue`, async () => {
      const { res, ms, body } = await timedPost(path, text, WRONG_PASSWORD, headers);
      expect(ms).toBeLessThan(2000);
      expect(res.status).toBe(500);
      expect(body).toMatchObject({
        status: "error",
        code: "database_misconfigured",
        request_id: expect.any(String),
        message: expect.stringMatching(/^the database refused the password for user app\b/),
      });
      expect(JSON.stringify(body)).not.toContain("rotated-secret");
      expect(res.headers.get("retry-after")).toBeNull();
      expect(res.headers.get("ingest-fallback")).toBeNull();
      expect(await count("customers")).toBe(0);
    });
  }

  // Control-plane failures are 500s over HTTP (the endpoint's default for their text); over the
  // WebSocket every one is the proxy's ERROR XX000 with the same text (the fault strikes both).
  const proxyAnswers: [string, { status?: number; message: string; code?: string }, RegExp][] = [
    [
      "an IP address not allowed",
      {
        message:
          "This IP address 203.0.113.7 is not allowed to connect to this endpoint. Please add it to the allowed list in the Neon console. Make sure to check for IPv4 or IPv6 addresses.",
      },
      /IP address 203\.0\.113\.7/,
    ],
    ["an endpoint that cannot be found", { message: "Control plane request failed: endpoint cannot be found" }, /endpoint .* cannot be found/],
    ["a disabled endpoint", { message: "Control plane request failed: endpoint is disabled" }, /is disabled/],
    [
      "an endpoint over its quota",
      { message: "Control plane request failed: endpoint is temporarily unavailable. Check your quotas and/or contact our support." },
      /quotas/,
    ],
    [
      "a database that does not exist (3D000)",
      { status: 400, code: "3D000", message: 'database "nope" does not exist' },
      /does not exist: database "nope" does not exist/,
    ],
  ];
  for (const [what, answer, reason] of proxyAnswers) {
    for (const path of ["/ingest/message", "/ingest/batch"]) {
      it(`${what} is a 500 database_misconfigured at the first answer (${path})`, async () => {
        await fault("answer", { answer });
        const body = path === "/ingest/message" ? customerLine("P1") : customers("P", 20);
        const { res, ms, body: answerBody } = await timedPost(path, body);
        expect(ms).toBeLessThan(2000);
        expect([res.status, answerBody.code]).toEqual([500, "database_misconfigured"]);
        expect(answerBody.message).toMatch(reason);
        expect(res.headers.get("retry-after")).toBeNull();
      });
    }
  }

  it("a misconfiguration met by /ingest/stream ends it within 2 s with a failure event: 500 database_misconfigured", async () => {
    await fault("answer", { answer: proxyAnswers[0][1] });
    const ctx = createExecutionContext();
    const started = Date.now();
    const res = await worker.fetch(
      new Request("http://nomnom.test/ingest/stream", { method: "POST", body: customers("S", 50), headers: { "Content-Type": "text/plain" } }),
      { ...env, ASYNC_FALLBACK: "true" },
      ctx,
    );
    const events = await readEvents(res.body!);
    await waitOnExecutionContext(ctx);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: { status: "error", http_status: 500, code: "database_misconfigured", message: expect.stringMatching(/203\.0\.113\.7/) },
    });
  });
});

describe("answers that are not misconfiguration", () => {
  /** A trigger raising `sqlstate` on the first `times` inserts into customers; the sequence counts every attempt (it is not rolled back). */
  async function raiseOnInsert(sqlstate: string, message: string, times: number) {
    await sql.query("CREATE SEQUENCE IF NOT EXISTS test_attempts");
    await sql.query("SELECT setval('test_attempts', 1, false)");
    await sql.query(`CREATE OR REPLACE FUNCTION test_raise() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('test_attempts') <= ${times} THEN RAISE EXCEPTION '${message}' USING ERRCODE = '${sqlstate}'; END IF; RETURN NEW; END $$`);
    await sql.query("CREATE TRIGGER test_raise BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION test_raise()");
  }
  const attempts = async () => Number((await sql.query("SELECT last_value FROM test_attempts"))[0].last_value);
  afterEach(async () => {
    await sql.query("DROP TRIGGER IF EXISTS test_raise ON customers");
  });

  it("53100 (project size limit) is a 507 database_storage_full, not retried, not queued", async () => {
    await raiseOnInsert("53100", "could not extend file because project size limit (512 MB) has been exceeded", 1000);
    const { res, ms, body } = await timedPost("/ingest/message", customerLine("S1"));
    expect([res.status, body.code]).toEqual([507, "database_storage_full"]);
    // The service's own words; the compute's message goes to the log line.
    expect(body.message).toBe("the database is full (SQLSTATE 53100): raise the Neon project's size limit or free space");
    expect(res.headers.get("ingest-fallback")).toBeNull();
    expect(await attempts()).toBe(1);
    expect(ms).toBeLessThan(2000);
  });

  it("58030 (a page server I/O error) is retried", async () => {
    await raiseOnInsert("58030", "could not read block 0 in rel 1663/16384/16385 from page server", 1);
    const { res, body } = await timedPost("/ingest/message", customerLine("R1"));
    expect([res.status, body.status]).toEqual([200, "success"]);
    expect(await attempts()).toBe(2);
    expect(await count("customers")).toBe(1);
  });

  it('"Too many connections" is retried', async () => {
    await fault("answer", { times: 2, answer: { status: 400, message: "Too many connections to this endpoint. Please try again later." } });
    const { res } = await timedPost("/ingest/message", customerLine("T1"));
    expect(res.status).toBe(200);
    expect(await count("customers")).toBe(1);
  });

  // PostgreSQL refusing connections, as the proxy answers it: over HTTP a 500 with the code, over the
  // WebSocket ERROR XX000 with PostgreSQL's text; a control plane's own wording, whatever it says.
  const refusals: [string, { status?: number; message: string; code?: string }][] = [
    ["53300 (too many connections)", { status: 500, code: "53300", message: 'too many connections for role "app"' }],
    ["55000 (not accepting connections)", { status: 500, code: "55000", message: 'database "main" is not currently accepting connections' }],
    ["57P03 (starting up)", { status: 500, code: "57P03", message: "the database system is starting up" }],
    ["a control plane's own text", { status: 500, message: "Your compute is being moved. Please retry in a moment." }],
  ];
  for (const [what, answer] of refusals) {
    for (const path of ["/ingest/message", "/ingest/batch"]) {
      it(`${what} at connect is retried on ${path}, then 503 with Retry-After, never a 500`, async () => {
        await fault("answer", { times: 3, answer });
        const { res, body } = await timedPost(path, path === "/ingest/message" ? customerLine("C1") : customers("C", 20), { ASYNC_FALLBACK: "false" });
        expect([res.status, body.status]).toEqual([200, "success"]);
        await fault("answer", { answer });
        // Reset here: the afterEach above this one needs the database.
        const gone = await timedPost(path, path === "/ingest/message" ? customerLine("C2") : customers("D", 20), {
          ASYNC_FALLBACK: "false",
          DB_RETRY_MS: "300",
        }).finally(() => fault("none"));
        expect([gone.res.status, gone.body.code]).toEqual([503, "database_unavailable"]);
        expect(gone.res.headers.get("retry-after")).not.toBeNull();
      });
    }
  }

  it("a connection lost mid-query (400, empty code) is retried, and the row is written once", async () => {
    await fault("connection_lost", { times: 1 });
    const { res, body } = await timedPost("/ingest/batch?atomic=true", `${customerLine("L1")}\n${customerLine("L2")}`);
    expect([res.status, body.inserted]).toEqual([200, 2]);
    expect(await count("customers")).toBe(2);
  });
});
