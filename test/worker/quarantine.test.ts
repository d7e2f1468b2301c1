/**
 * The quarantine: rejected lines are stored on every best-effort path, listed by request id,
 * replayed once what refused them is fixed, deleted, and expired by the Cron Trigger.
 */
import { createScheduledController, env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { Rejection, RejectionPage, ReplayResult } from "../../src/routes/schemas.ts";
import { readEvents } from "../support/sse.ts";
import { type ApiKeys, apiKeys, type CallInit, call, count, deployedCall, fault, resetDatabase, settled, sql } from "../support/worker.ts";

const LOADER = "nn_loader-secret";
const OTHER = "nn_other-secret";
const ADMIN = "nn_admin-secret";
/** The keys of the deployed settings. `loaderScopes` lets a test widen the loader's scopes, as an operator would. */
const keys = (loaderScopes = ["write:Customer", "write:Order"]): ApiKeys => ({
  loader: [LOADER, loaderScopes],
  other: [OTHER, ["write:*"]],
  admin: [ADMIN, ["admin", "write:*"]],
});
const callDeployed = deployedCall(keys());
/** A request with a key goes to the deployed settings (keys required); one without, to the test settings (anonymous). */
const request = (path: string, init: CallInit = {}) => (init.key ? callDeployed(path, init) : call(path, init));

// biome-ignore lint/suspicious/noExplicitAny: answers of many shapes, matched with toMatchObject or parsed by the route's schemas.
const json = async (res: Response) => (await res.json()) as any;
const list = async (query: string, init: CallInit = {}) => RejectionPage.parse(await json(await request(`/ingest/rejections?${query}`, init)));
const replay = async (query: string, init: CallInit = {}) => {
  const res = await request(`/ingest/rejections/replay?${query}`, { method: "POST", ...init });
  expect(res.status).toBe(200);
  return ReplayResult.parse(await res.json());
};

const GOOD = "C|C1|Ann|x|1|5|1.00|A|b";
const NEGATIVE = "C|C2|Bob|x|1|5|-7.00|A|b";

beforeEach(async () => {
  await resetDatabase();
  await sql.query("TRUNCATE ingest_rejections RESTART IDENTITY");
});
afterEach(async () => {
  await fault("none");
  await sql.query("ALTER TABLE customers DROP CONSTRAINT IF EXISTS test_balance_positive");
});

describe("the quarantine", () => {
  it("stores a batch's rejected lines under its request id, and replays them once the database takes them", async () => {
    // The refusal fixed at run time: a CHECK constraint refuses the row (SQLSTATE 23514); dropping it is the fix.
    await sql.query("ALTER TABLE customers ADD CONSTRAINT test_balance_positive CHECK (account_balance >= 0)");
    const res = await request("/ingest/batch", { method: "POST", body: [GOOD, NEGATIVE, "X|nope"].join("\n") });
    expect(res.status).toBe(207);
    const answer = await json(res);
    expect(answer).toMatchObject({ inserted: 1, failed: 2, request_id: expect.any(String), rejections: `/ingest/rejections?request_id=${answer.request_id}` });

    const { rejections, next_cursor } = await list(`request_id=${answer.request_id}`);
    expect(next_cursor).toBeNull();
    expect(rejections.map((r) => [r.line_number, r.reason, r.entity, r.sqlstate])).toEqual([
      [2, "database", "Customer", "23514"],
      [3, "parse", null, null],
    ]);
    expect(rejections[1]).toMatchObject({ raw: "X|nope", format: "text", raw_truncated: false, raw_bytes: 6, key: null, replayed_at: null });
    expect(rejections[0].message).toMatch(/test_balance_positive/);

    // Still refused: nothing passes, nothing is marked.
    expect(await replay(`request_id=${answer.request_id}`)).toMatchObject({
      replayed: 0,
      inserted: 0,
      still_rejected: 2,
      errors: [{ line_number: 2 }, { line_number: 3 }],
    });

    await sql.query("ALTER TABLE customers DROP CONSTRAINT test_balance_positive");
    const dry = await replay(`request_id=${answer.request_id}&dry_run=true`);
    expect(dry).toMatchObject({ dry_run: true, replayed: 1, inserted: 0, still_rejected: 1 });
    expect(await count("customers")).toBe(1);

    expect(await replay(`request_id=${answer.request_id}`)).toMatchObject({ dry_run: false, replayed: 1, inserted: 1, duplicates: 0, still_rejected: 1 });
    const [row] = await sql.query("SELECT account_balance::text AS balance FROM customers WHERE customer_key = 'C2'");
    expect(row.balance).toBe("-7.00");
    // A second replay finds it replayed: nothing is written twice.
    expect(await replay(`request_id=${answer.request_id}`)).toMatchObject({ replayed: 0, inserted: 0, still_rejected: 1 });
    expect(await count("customers")).toBe(2);
    const after = await list(`request_id=${answer.request_id}`);
    expect(after.rejections[0].replayed_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(after.rejections[1].replayed_at).toBeNull();
  });

  it("replays out-of-scope lines once the key is given the scope, and only the key's own", async () => {
    const res = await request("/ingest/batch", { method: "POST", body: [GOOD, "P|P1|part|M|B|T|1|BOX|1.00|c"].join("\n"), key: LOADER });
    expect(res.status).toBe(207);
    const { request_id } = await json(res);
    expect((await list(`request_id=${request_id}`, { key: LOADER })).rejections).toMatchObject([
      { reason: "scope", entity: "Product", key: "loader", raw: "P|P1|part|M|B|T|1|BOX|1.00|c" },
    ]);

    // Another key sees nothing of it, cannot fetch it by id, replay or delete it.
    expect((await list(`request_id=${request_id}`, { key: OTHER })).rejections).toEqual([]);
    expect((await list("", { key: OTHER })).rejections).toEqual([]);
    const [{ id }] = (await list(`request_id=${request_id}`, { key: LOADER })).rejections;
    expect((await request(`/ingest/rejections/${id}`, { key: OTHER })).status).toBe(404);
    expect(await replay(`request_id=${request_id}`, { key: OTHER })).toMatchObject({ replayed: 0, still_rejected: 0 });
    expect(await json(await request(`/ingest/rejections?request_id=${request_id}`, { method: "DELETE", key: OTHER }))).toEqual({ deleted: 0, more: false });

    // The loader still may not write Product: replaying leaves it rejected, with the reason.
    expect(await replay(`request_id=${request_id}`, { key: LOADER })).toMatchObject({
      replayed: 0,
      still_rejected: 1,
      errors: [{ message: expect.stringContaining("may not write entity Product") }],
    });
    // The operator gives the loader write:Product (a new API_KEYS): the same replay now writes the line.
    const widened = { API_KEYS: await apiKeys(keys(["write:Customer", "write:Order", "write:Product"])) };
    expect(await replay(`request_id=${request_id}`, { key: LOADER, bindings: widened })).toMatchObject({ replayed: 1, inserted: 1, still_rejected: 0 });
    expect(await count("products")).toBe(1);

    // The admin scope sees every key's rejections.
    expect((await request(`/ingest/rejections/${id}`, { key: ADMIN })).status).toBe(200);
    expect((await list("key=loader", { key: ADMIN })).rejections).toHaveLength(1);
  });

  it("stores a stream's rejected lines, and its summary links to them", async () => {
    const lines = [GOOD, "C|C3||x|1|5|1.00|A|b", "nonsense", "C|C4|Dan|x|1|5|1.00|A|b"].join("\n");
    const res = await request("/ingest/stream", { method: "POST", body: lines });
    const events = await readEvents(res.body!);
    const summary = events.find((e) => e.event === "summary")!.data;
    expect(summary).toMatchObject({
      inserted: 2,
      failed: 2,
      request_id: expect.any(String),
      rejections: expect.stringContaining("/ingest/rejections?request_id="),
    });
    const { rejections } = await list(`request_id=${summary.request_id}`);
    expect(rejections.map((r) => [r.line_number, r.field, r.raw])).toEqual([
      [2, "name", "C|C3||x|1|5|1.00|A|b"],
      [3, null, "nonsense"],
    ]);
  });

  it("stores an async batch's rejected lines: those refused before queueing, and those the consumer's database refused", async () => {
    const storedByDatabase = async () =>
      Number(/^ingestion_rejections_stored_total\{entity="Customer",reason="database"\} (\d+)$/m.exec(await (await request("/metrics")).text())?.[1] ?? 0);
    const before = await storedByDatabase();
    await sql.query("ALTER TABLE customers ADD CONSTRAINT test_balance_positive CHECK (account_balance >= 0)");
    const res = await request("/ingest/batch", { method: "POST", body: [GOOD, NEGATIVE, "X|bad"].join("\n"), headers: { Prefer: "respond-async" } });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted).toMatchObject({ request_id: expect.any(String), rejections: `/ingest/rejections?request_id=${accepted.request_id}` });
    const receipt = await settled(accepted.ingest_id);
    expect(receipt).toMatchObject({ status: "done", inserted: 1, failed: 2, request_id: accepted.request_id, rejections: accepted.rejections });
    const { rejections } = await list(`request_id=${accepted.request_id}`);
    expect(rejections.map((r) => [r.line_number, r.reason]).sort()).toEqual([
      [2, "database"],
      [3, "parse"],
    ]);
    // Counted by the consumer, which serves no HTTP request.
    expect(await storedByDatabase()).toBe(before + 1);
  });

  it("sends the rejected lines of a batch that fell back to the queue with its rows, and the consumer stores them", async () => {
    await fault("down");
    const res = await request("/ingest/batch", {
      method: "POST",
      body: [GOOD, "X|while-down"].join("\n"),
      bindings: { DB_TIMEOUT_MS: "300", DB_RETRY_MS: "500", ASYNC_FALLBACK: "true" },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get("ingest-fallback")).toBe("queued");
    const accepted = await json(res);
    await fault("none");
    expect(await settled(accepted.ingest_id)).toMatchObject({ status: "done", inserted: 1, failed: 1 });
    expect((await list(`request_id=${accepted.request_id}`)).rejections).toMatchObject([{ line_number: 2, raw: "X|while-down", reason: "parse" }]);
  });

  it("stores an idempotent batch's rejections with its rows, once: a replay of the request stores nothing more", async () => {
    const send = () => request("/ingest/batch", { method: "POST", body: [GOOD, "X|once"].join("\n"), headers: { "Idempotency-Key": "quarantine-once" } });
    const first = await send();
    expect(first.status).toBe(207);
    const { request_id } = await json(first);
    const again = await send();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(again)).request_id).toBe(request_id);
    expect((await list("")).rejections).toMatchObject([{ request_id, raw: "X|once" }]);
  });

  it("keeps at most QUARANTINE_MAX_PER_REQUEST lines of a request, and the answer counts the rest", async () => {
    const body = ["X|1", "X|2", GOOD, "X|3", "X|4", "X|5"].join("\n");
    const res = await request("/ingest/batch", { method: "POST", body, bindings: { QUARANTINE_MAX_PER_REQUEST: "2" } });
    const answer = await json(res);
    expect(answer).toMatchObject({ failed: 5, rejections_over_cap: 3 });
    expect((await list(`request_id=${answer.request_id}`)).rejections.map((r) => r.line_number)).toEqual([1, 2]);
    const metrics = await (await request("/metrics")).text();
    expect(metrics).toMatch(/^ingestion_rejections_stored_total\{entity="\(unknown\)",reason="parse"\} [1-9]/m);
    expect(metrics).toMatch(/^ingestion_rejections_not_stored_total [1-9]/m);
  });

  it("answers a date PostgreSQL cannot store with a 400 naming the parameter, on every route that filters", async () => {
    for (const [method, path] of [
      ["GET", "/ingest/rejections?since=0000-01-01T00:00:00Z"],
      ["DELETE", "/ingest/rejections?until=0000-12-31T23:59:59Z"],
      ["POST", "/ingest/rejections/replay?since=0000-06-01T00:00:00%2B01:00"],
    ]) {
      const res = await request(path, { method });
      expect(res.status, path).toBe(400);
      expect(await json(res)).toMatchObject({
        code: "bad_request",
        message: expect.stringMatching(/^query parameter (since|until): year 0000 does not exist/),
      });
    }
    expect((await request("/ingest/rejections?since=0001-01-01T00:00:00Z")).status).toBe(200);
  });

  it("stores nothing for an atomic batch that was refused", async () => {
    const res = await request("/ingest/batch?atomic=true", { method: "POST", body: [GOOD, "X|bad"].join("\n") });
    expect(res.status).toBe(400);
    expect(await count("ingest_rejections")).toBe(0);
  });

  it("stores a refused single message; a stored line reads back escaped, never breaking the JSON", async () => {
    const res = await request("/ingest/message", { method: "POST", body: "C|C9||x|1|5|1.00|A|b" });
    expect(res.status).toBe(400);
    const answer = await json(res);
    expect(answer).toMatchObject({ status: "error", request_id: expect.any(String), rejections: expect.any(String) });
    expect((await list(`request_id=${answer.request_id}`)).rejections).toMatchObject([{ field: "name", raw: "C|C9||x|1|5|1.00|A|b" }]);

    const hostile = new Uint8Array([
      ...new TextEncoder().encode("C|N\u0000L|x|1|5|1.00\nC|bad"),
      0xff,
      0xfe,
      ...new TextEncoder().encode("|\\|\u001b[31m\n"),
      ...new TextEncoder().encode(`C|${"h".repeat(300)}\n`),
    ]);
    const batch = await json(await request("/ingest/batch", { method: "POST", body: hostile, bindings: { QUARANTINE_RAW_BYTES: "100" } }));
    const { rejections } = await list(`request_id=${batch.request_id}`);
    expect(rejections.map((r) => r.raw)).toEqual(["C|N\\u0000L|x|1|5|1.00", "C|bad\\xff\\xfe|\\\\|\\u001b[31m", `C|${"h".repeat(98)}`]);
    expect(rejections.map((r) => [r.raw_truncated, r.raw_bytes])).toEqual([
      [false, 16],
      [false, 15],
      [true, 302],
    ]);
    const one = Rejection.parse(await json(await request(`/ingest/rejections/${rejections[1].id}`)));
    expect(one.raw).toBe(rejections[1].raw);
    // The bytes are stored as received.
    const [stored] = await sql.query("SELECT encode(raw, 'hex') AS hex FROM ingest_rejections WHERE id = $1", [rejections[1].id]);
    expect(stored.hex).toBe("437c626164fffe7c5c7c1b5b33316d");
  });

  it("pages with a cursor, and exports NDJSON", async () => {
    const body = Array.from({ length: 7 }, (_, i) => `X|${i}`).join("\n");
    const { request_id } = await json(await request("/ingest/batch", { method: "POST", body }));
    const first = await list(`request_id=${request_id}&limit=3`);
    expect(first.rejections.map((r) => r.line_number)).toEqual([1, 2, 3]);
    const second = await list(`request_id=${request_id}&limit=3&cursor=${first.next_cursor}`);
    expect(second.rejections.map((r) => r.line_number)).toEqual([4, 5, 6]);
    const third = await list(`request_id=${request_id}&limit=3&cursor=${second.next_cursor}`);
    expect(third).toMatchObject({ rejections: [{ line_number: 7 }], next_cursor: null });
    const newest = await list(`request_id=${request_id}&limit=4&order=newest`);
    expect(newest.rejections.map((r) => r.line_number)).toEqual([7, 6, 5, 4]);
    expect((await list(`request_id=${request_id}&order=newest&cursor=${newest.next_cursor}`)).rejections.map((r) => r.line_number)).toEqual([3, 2, 1]);
    const res = await request(`/ingest/rejections?request_id=${request_id}`, { headers: { Accept: "application/x-ndjson" } });
    expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => Rejection.parse(JSON.parse(l)));
    expect(lines.map((r) => r.raw)).toEqual(Array.from({ length: 7 }, (_, i) => `X|${i}`));
  });

  it("cuts a page at about 4 MiB of raw lines, whatever the limit, and the cursor carries on", async () => {
    const body = Array.from({ length: 70 }, (_, i) => `X|${i}|${"a".repeat(64_000)}`).join("\n");
    const { request_id, failed } = await json(await request("/ingest/batch", { method: "POST", body }));
    expect(failed).toBe(70);
    const first = await list(`request_id=${request_id}&limit=1000`);
    expect(first.rejections.length).toBeGreaterThan(0);
    expect(first.rejections.length).toBeLessThan(70);
    const rest = await list(`request_id=${request_id}&limit=1000&cursor=${first.next_cursor}`);
    expect(rest.next_cursor).toBeNull();
    expect([...first.rejections, ...rest.rejections].map((r) => r.line_number)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
  });

  it("deletes only with a filter", async () => {
    const { request_id } = await json(await request("/ingest/batch", { method: "POST", body: "X|1\nX|2" }));
    const refused = await request("/ingest/rejections", { method: "DELETE" });
    expect(refused.status).toBe(400);
    expect(await json(refused)).toMatchObject({ status: "error", code: "bad_request", request_id: expect.any(String) });
    expect(await json(await request(`/ingest/rejections?request_id=${request_id}`, { method: "DELETE" }))).toEqual({ deleted: 2, more: false });
    expect(await count("ingest_rejections")).toBe(0);
  });

  it("retention (the Cron Trigger) deletes only what is older than QUARANTINE_RETENTION_DAYS", async () => {
    const { request_id } = await json(await request("/ingest/batch", { method: "POST", body: "X|old\nX|new" }));
    await sql.query("UPDATE ingest_rejections SET received_at = now() - interval '8 days' WHERE line_number = 1");
    await worker.scheduled(createScheduledController({ cron: "17 * * * *" }), { ...env, QUARANTINE_RETENTION_DAYS: "7" });
    expect((await list(`request_id=${request_id}`)).rejections.map((r) => r.raw)).toEqual(["X|new"]);
  });
});

describe("refused rows within Workers' subrequest limit", () => {
  const counters = async () =>
    (await (await fetch(new URL("/__counters", env.NEON_FETCH_ENDPOINT))).json()) as { http_requests: number; ws_connections: number };
  const customers = (n: number) => Array.from({ length: n }, (_, i) => `C|Q${i + 1}|Name|x|1|5|1.00|A|b`);

  beforeEach(async () => {
    // 1% of the customers below (keys ending in 00) are refused by the database itself, as a CHECK would.
    await sql.query(`CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.customer_key LIKE '%00' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$`);
    await sql.query("CREATE TRIGGER test_refuse BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION test_refuse()");
  });
  afterEach(async () => {
    await sql.query("DROP TRIGGER IF EXISTS test_refuse ON customers");
  });

  /** Every line ending in 00 rejected with PostgreSQL's reason and quarantined, every other one written. */
  async function expectExactlyTheRefused(lines: string[], answer: { inserted: number; failed: number }) {
    const refused = lines.flatMap((line, i) => (/^C\|Q\d*00\|/.test(line) ? [i + 1] : []));
    expect(answer).toMatchObject({ inserted: lines.length - refused.length, failed: refused.length });
    expect(await count("customers")).toBe(lines.length - refused.length);
    const stored = await sql.query("SELECT line_number, sqlstate, message FROM ingest_rejections ORDER BY line_number");
    expect(stored.map((r) => Number(r.line_number))).toEqual(refused);
    const reason = "the database rejected the row: refused by the test (SQLSTATE 23514)";
    expect(stored.every((r) => r.sqlstate === "23514" && r.message === reason)).toBe(true);
  }

  it("1% of 10,000 lines refused by a trigger: a handful of subrequests (/__counters), exactly the refused lines rejected and quarantined", async () => {
    const lines = customers(10_000);
    const before = await counters();
    const res = await call("/ingest/batch", { method: "POST", body: lines.join("\n") });
    const after = await counters();
    expect(res.status).toBe(207);
    // Over the WebSocket (COPY) the search is a query a step on the open socket; over HTTP (INSERT) one
    // statement finds the chunk's refused rows (nomnom_insert_each). Either way a few subrequests, not ~1,400.
    expect(after.http_requests - before.http_requests + after.ws_connections - before.ws_connections).toBeLessThanOrEqual(10);
    if (env.NEON_WS_PROXY) expect(after.ws_connections - before.ws_connections).toBe(1);
    await expectExactlyTheRefused(lines, await json(res));
  });

  it("1% of a 30,000-line stream refused over HTTP (no WebSocket): one statement per refused chunk finds its rows, where bisection would pass the budget", async () => {
    // Bisecting from the Worker took about 1,400 HTTP requests per refused 10,000-row chunk: three chunks
    // passed the budget of 1,000, and most lines came back "not written".
    const lines = customers(30_000);
    const before = await counters();
    const res = await call("/ingest/stream", { method: "POST", body: lines.join("\n"), bindings: { BULK_WRITER: "insert" } });
    const summary = (await readEvents(res.body!)).find((e) => e.event === "summary")!.data;
    const after = await counters();
    expect(after.ws_connections - before.ws_connections).toBe(0);
    expect(after.http_requests - before.http_requests).toBeLessThanOrEqual(20);
    await expectExactlyTheRefused(lines, summary);
  });
});
