import { SELF } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_LEVEL, SCHEMA_MIGRATIONS } from "../project/src/generated/registry.ts";
import { readEvents } from "../support/sse.ts";
import { count, post, resetDatabase, sql } from "../support/worker.ts";

const ORDER = "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|comment";
const ORDERS = ["O|1|100|O|1.00|1996-01-02", "O|2|100|O|2.00|1996-01-02", "O|3|100|O|3.00|1996-01-02"].join("\n");

/** /health reads the journal afresh, and so refreshes what the isolate remembers of it. */
async function health() {
  const res = await SELF.fetch("http://nomnom.test/health");
  return { status: res.status, body: await res.json<{ database: string; reason?: string; schema: { worker: number; database: number | null } }>() };
}

let undo: string[] = [];
/** Changes the database the way a migration (or a person) would, and puts it back after the test. */
async function change(statement: string, reverse: string) {
  await sql.query(statement);
  undo.unshift(reverse);
}

beforeEach(resetDatabase);
afterEach(async () => {
  for (const statement of undo) await sql.query(statement);
  undo = [];
  expect((await health()).status).toBe(200);
});

describe("a Worker that knows its schema", () => {
  it("answers writes with 503 schema_behind, naming the migration to apply, while the database is behind it; /health says behind", async () => {
    const [last] = await sql.query("SELECT id, name, sha256 FROM nomnom_migrations WHERE id = $1", [SCHEMA_LEVEL]);
    await change(
      `DELETE FROM nomnom_migrations WHERE id = ${SCHEMA_LEVEL}`,
      `INSERT INTO nomnom_migrations (id, name, sha256) VALUES (${last.id}, '${last.name}', '${last.sha256}')`,
    );
    const checked = await health();
    expect(checked.status).toBe(503);
    expect(checked.body).toMatchObject({ database: "behind", schema: { worker: SCHEMA_LEVEL, database: SCHEMA_LEVEL - 1 } });
    expect(checked.body.reason).toContain(`this Worker needs ${SCHEMA_MIGRATIONS[SCHEMA_LEVEL - 1]}: apply it with \`npm run migrate\``);
    // The tests' Worker, like `npm run dev`'s, reaches the database through a local endpoint: it says how to migrate there.
    expect(checked.body.reason).toContain("(under `npm run dev`: restart it, it applies pending migrations when it starts)");

    for (const path of ["/ingest/message", "/ingest/batch", "/ingest/stream"]) {
      const res = await post(path, ORDER, "text/plain");
      // Not queued (202) either: the queue's consumer would meet the same schema.
      expect(res.status, path).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await res.json()).toMatchObject({
        status: "error",
        code: "schema_behind",
        request_id: expect.any(String),
        schema: { worker: SCHEMA_LEVEL, database: SCHEMA_LEVEL - 1 },
      });
    }
    expect(await count("orders")).toBe(0);
  });

  it("keeps an older Worker writing after an additive migration (a rolling deploy)", async () => {
    await change("ALTER TABLE orders ADD COLUMN channel text", "ALTER TABLE orders DROP COLUMN channel");
    await change(
      `INSERT INTO nomnom_migrations (id, name, sha256) VALUES (${SCHEMA_LEVEL + 1}, 'next_orders_add_channel', 'x')`,
      `DELETE FROM nomnom_migrations WHERE id = ${SCHEMA_LEVEL + 1}`,
    );
    expect(await health()).toMatchObject({ status: 200, body: { database: "ok", schema: { worker: SCHEMA_LEVEL, database: SCHEMA_LEVEL + 1 } } });
    expect((await post("/ingest/message", ORDER, "text/plain")).status).toBe(200);
    expect(await sql.query("SELECT order_key, channel FROM orders")).toEqual([{ order_key: "1", channel: null }]);
  });

  it("answers 503 schema_ahead after a rename this Worker predates; /health says redeploy", async () => {
    await change("ALTER TABLE orders RENAME COLUMN clerk TO clerk_name", "ALTER TABLE orders RENAME COLUMN clerk_name TO clerk");
    await change(
      `INSERT INTO nomnom_migrations (id, name, sha256, breaks_older_workers) VALUES (${SCHEMA_LEVEL + 1}, 'next_rename', 'x', true)`,
      `DELETE FROM nomnom_migrations WHERE id = ${SCHEMA_LEVEL + 1}`,
    );
    const checked = await health();
    expect(checked.status).toBe(503);
    expect(checked.body.database).toBe("misconfigured");
    expect(checked.body.reason).toContain("deploy the current Worker");
    const res = await post("/ingest/batch", ORDERS, "text/plain");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "schema_ahead" });
  });

  it("answers a write that meets a renamed column whole with the schema answer, even before the minute's check: never per row, never a 500", async () => {
    expect((await health()).status).toBe(200); // the isolate now believes the schema matches
    await change("ALTER TABLE orders RENAME COLUMN clerk TO clerk_name", "ALTER TABLE orders RENAME COLUMN clerk_name TO clerk");
    await change(
      `INSERT INTO nomnom_migrations (id, name, sha256, breaks_older_workers) VALUES (${SCHEMA_LEVEL + 1}, 'next_rename', 'x', true)`,
      `DELETE FROM nomnom_migrations WHERE id = ${SCHEMA_LEVEL + 1}`,
    );
    const res = await post("/ingest/batch", ORDERS, "text/plain");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "error", code: "schema_ahead" });
    expect(await count("orders")).toBe(0);
  });

  it("says the schema was changed by hand when the journal matches but a column is missing, on the batch and the stream", async () => {
    expect((await health()).status).toBe(200);
    await change("ALTER TABLE orders RENAME COLUMN clerk TO clerk_name", "ALTER TABLE orders RENAME COLUMN clerk_name TO clerk");
    const batch = await post("/ingest/batch", ORDERS, "text/plain");
    expect(batch.status).toBe(503);
    const body = await batch.json<{ code: string; message: string; errors?: unknown }>();
    expect(body).toMatchObject({ code: "schema_behind" });
    expect(body.message).toContain("changed outside `npm run migrate`");
    expect(body.errors).toBeUndefined();

    const stream = await post("/ingest/stream", ORDERS, "text/plain");
    const events = await readEvents(stream.body!);
    expect(events.filter((e) => e.event === "rejected")).toEqual([]);
    expect(events.at(-1)).toMatchObject({ event: "failure", data: { status: "error", http_status: 503, code: "schema_behind", committed: { inserted: 0 } } });
  });
});
