/**
 * Group commit (src/db/message-group.ts): concurrent single messages in one isolate share one
 * statement. Each request here is its own request to the Worker (SELF.fetch), so workerd holds them
 * to its rule that one request may not use another's I/O: these tests fail if a request awaited a
 * fetch another request made, or if the plain data handed between them did not reach them.
 */
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { customerLine } from "../support/customers.ts";
import { count, fault, post, resetDatabase, sql } from "../support/worker.ts";

type Answer = { status: string; id: number; duplicate?: boolean; message?: string };

const sqlRequests = async () =>
  ((await (await fetch(env.NEON_FETCH_ENDPOINT!.replace("/sql", "/__counters"))).json()) as { http_requests: number }).http_requests;

/** A Customer line with its own name, so a row tells which message wrote it. */
const named = (key: string, name: string, balance = "1.00") => `C|${key}|${name}|x|1|5|${balance}|A|b`;

async function sendAll(lines: string[]): Promise<{ status: number; body: Answer }[]> {
  return Promise.all(
    lines.map(async (line) => {
      const res = await post("/ingest/message", line, "text/plain");
      return { status: res.status, body: await res.json<Answer>() };
    }),
  );
}

const idsByKey = async () =>
  new Map(
    (await sql.query("SELECT customer_key, id, name FROM customers")).map((r) => [r.customer_key as string, { id: Number(r.id), name: r.name as string }]),
  );

beforeEach(resetDatabase);
afterEach(async () => {
  await fault("none");
  await sql.query("ALTER TABLE customers DROP CONSTRAINT IF EXISTS test_balance_positive");
});

describe("concurrent single messages (group commit)", () => {
  it("answers each of many concurrent messages with its own row's id, in fewer statements than messages", async () => {
    // A message first: the isolate then knows the schema level (each cold request would read it).
    await post("/ingest/message", named("WARM", "warm"), "text/plain");
    // The first two statements are held, so the messages behind them queue up (how busy isolates see it).
    await fault("slow", { times: 2, delayMs: 500 });
    const before = await sqlRequests();
    const lines = Array.from({ length: 60 }, (_, i) => named(`G${i}`, `name ${i}`));
    const answers = await sendAll(lines);
    const used = (await sqlRequests()) - before;
    expect(answers.map((a) => a.status)).toEqual(lines.map(() => 200));
    const rows = await idsByKey();
    expect(rows.size).toBe(61);
    answers.forEach((a, i) => {
      expect(a.body).toMatchObject({ status: "success", entity: "Customer" });
      expect(a.body.duplicate).toBeUndefined();
      expect(a.body.id).toBe(rows.get(`G${i}`)!.id);
    });
    // Each message alone would be one SQL request (and the schema gate's read, once a minute per isolate).
    expect(used).toBeLessThan(10);
  });

  it("answers messages of one key sent together: the row is the one told it was inserted, the others its duplicates", async () => {
    await post("/ingest/message", named("OLD", "already there"), "text/plain");
    const lines = [
      ...Array.from({ length: 8 }, (_, i) => named("SAME", `copy ${i}`)),
      ...Array.from({ length: 8 }, (_, i) => named("OLD", `late ${i}`)),
      ...Array.from({ length: 8 }, (_, i) => named(`U${i}`, "unique")),
    ];
    const answers = await sendAll(lines);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const rows = await idsByKey();
    const same = answers.slice(0, 8);
    const inserted = same.filter((a) => !a.body.duplicate);
    expect(inserted).toHaveLength(1);
    expect(same.every((a) => a.body.id === rows.get("SAME")!.id)).toBe(true);
    expect(rows.get("SAME")!.name).toBe(`copy ${same.indexOf(inserted[0])}`);
    for (const a of answers.slice(8, 16)) expect(a.body).toMatchObject({ id: rows.get("OLD")!.id, duplicate: true });
    expect(rows.get("OLD")!.name).toBe("already there");
    answers.slice(16).forEach((a, i) => expect(a.body).toMatchObject({ id: rows.get(`U${i}`)!.id }));
    expect(await count("customers")).toBe(1 + 1 + 8);
  });

  it("fails only the message whose row the database refuses; the others are written", async () => {
    await sql.query("ALTER TABLE customers ADD CONSTRAINT test_balance_positive CHECK (account_balance >= 0)");
    const lines = Array.from({ length: 30 }, (_, i) => named(`R${i}`, `name ${i}`, i === 13 ? "-5.00" : "1.00"));
    const answers = await sendAll(lines);
    expect(answers[13].status).toBe(400);
    expect(answers[13].body.message).toMatch(/test_balance_positive.*23514/);
    const rows = await idsByKey();
    expect(rows.has("R13")).toBe(false);
    answers.forEach((a, i) => {
      if (i !== 13) expect([a.status, a.body.id]).toEqual([200, rows.get(`R${i}`)!.id]);
    });
    expect(rows.size).toBe(29);
  });

  it("retries a statement the database failed for every message in it: rows equal acknowledgements", async () => {
    await fault("500", { times: 2 });
    const lines = Array.from({ length: 40 }, (_, i) => named(`T${i}`, `name ${i}`));
    const answers = await sendAll(lines);
    const rows = await idsByKey();
    answers.forEach((a, i) => expect([a.status, a.body.id]).toEqual([200, rows.get(`T${i}`)!.id]));
    expect(rows.size).toBe(40);
  });

  it("writes a lone message at once, in one statement", async () => {
    const before = await sqlRequests();
    const res = await post("/ingest/message", customerLine("ALONE"), "text/plain");
    expect(res.status).toBe(200);
    expect((await sqlRequests()) - before).toBeLessThanOrEqual(2);
  });
});
