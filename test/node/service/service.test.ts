/**
 * The ingest service in Node with fakes (test/node/service/fakes.ts): no workerd, no database.
 * Each mode of each flow (message, batch, stream) and what it answers.
 */
import { describe, expect, it } from "vitest";
import { IngestError } from "../../../src/errors.ts";
import { ingestBatch } from "../../../src/ingest/batch.ts";
import { ingestMessage } from "../../../src/ingest/message.ts";
import { ingestStream } from "../../../src/ingest/stream.ts";
import { customerLine, customers } from "../../support/customers.ts";
import { fakeCall, fakeDatabase } from "./fakes.ts";

const sync = { atomic: false, async: false };

describe("a batch", () => {
  it("best effort writes the good lines and reports the bad ones (207), keeping them in the quarantine", async () => {
    const db = fakeDatabase();
    const outcome = await ingestBatch(fakeCall(db, `${customers("a", 3)}\nX|nonsense`), sync);
    expect(outcome).toMatchObject({ kind: "answered", outcome: "partial", body: { processed: 4, inserted: 3, duplicates: 0, failed: 1 } });
    expect(db.rows.size).toBe(3);
    expect(db.rejections).toHaveLength(1);
    expect(db.rejections[0]).toMatchObject({ line_number: 4, reason: "parse" });
  });

  it("answers success when every line is written, and counts a resent batch as duplicates", async () => {
    const db = fakeDatabase();
    expect(await ingestBatch(fakeCall(db, customers("b", 5)), sync)).toMatchObject({ outcome: "success", body: { inserted: 5 } });
    expect(await ingestBatch(fakeCall(db, customers("b", 5)), sync)).toMatchObject({ outcome: "success", body: { inserted: 0, duplicates: 5 } });
  });

  it("answers error (400) when nothing could be written", async () => {
    const outcome = await ingestBatch(fakeCall(fakeDatabase(), "X|1\nY|2"), sync);
    expect(outcome).toMatchObject({ kind: "answered", outcome: "error", body: { failed: 2, inserted: 0 } });
  });

  it("atomic writes nothing when a line is bad, and keeps nothing in the quarantine", async () => {
    const db = fakeDatabase();
    const outcome = await ingestBatch(fakeCall(db, `${customers("c", 2)}\nX|bad`), { atomic: true, async: false });
    expect(outcome).toMatchObject({ outcome: "error", body: { failed: 3, inserted: 0 } });
    expect(outcome.kind === "answered" && outcome.body.message).toMatch(/^atomic batch: nothing was written/);
    expect(db.rows.size).toBe(0);
    expect(db.rejections).toHaveLength(0);
  });

  it("atomic rolls back when the database refuses a row", async () => {
    const db = fakeDatabase();
    db.refuse = "c1";
    const outcome = await ingestBatch(fakeCall(db, customers("c", 3)), { atomic: true, async: false });
    expect(outcome).toMatchObject({ outcome: "error", body: { failed: 3 } });
    expect(outcome.kind === "answered" && outcome.body.message).toMatch(/rolled back.*SQLSTATE 23514/);
  });

  it("with an Idempotency-Key claims the key in the transaction, and a replay gets the stored answer", async () => {
    const db = fakeDatabase();
    const first = await ingestBatch(fakeCall(db, customers("d", 2)), { ...sync, idempotencyKey: "k1" });
    expect(first).toMatchObject({ kind: "answered", outcome: "success" });
    expect(db.transactions[0][0]).toMatchObject({ query: "CLAIM" });
    const again = await ingestBatch(fakeCall(db, customers("d", 2)), { ...sync, idempotencyKey: "k1" });
    expect(again).toMatchObject({ kind: "replayed", status: 200, body: { inserted: 2 } });
    expect(db.rows.size).toBe(2);
    await expect(ingestBatch(fakeCall(db, customers("e", 2)), { ...sync, idempotencyKey: "k1" })).rejects.toMatchObject({ code: "conflict" });
    await expect(ingestBatch(fakeCall(db, customers("e", 2)), { ...sync, idempotencyKey: "bad key" })).rejects.toMatchObject({ code: "bad_request" });
  });

  it("with an Idempotency-Key refuses a replay when the key may no longer write what it stored (403)", async () => {
    const db = fakeDatabase();
    const principal = { keyId: "k", scopes: new Set(["write:*"]) };
    await ingestBatch(fakeCall(db, customers("i", 1), { principal }), { ...sync, idempotencyKey: "k2" });
    const narrowed = { keyId: "k", scopes: new Set(["write:Order"]) };
    await expect(ingestBatch(fakeCall(db, customers("i", 1), { principal: narrowed }), { ...sync, idempotencyKey: "k2" })).rejects.toMatchObject({
      code: "forbidden",
    });
  });

  it("async puts the rows and the rejections on the queue (202) and writes nothing", async () => {
    const db = fakeDatabase();
    const outcome = await ingestBatch(fakeCall(db, `${customers("f", 2)}\nX|bad`), { atomic: false, async: true });
    expect(outcome).toMatchObject({ kind: "accepted", fallback: false, body: { status: "accepted", queued: 2, failed: 1 } });
    expect(db.queued[0].rows).toHaveLength(2);
    expect(db.queued[0].rejections).toHaveLength(1);
    expect(db.rows.size).toBe(0);
  });

  it("falls back to the queue when the database stays down, and answers 503 when the fallback is off", async () => {
    const db = fakeDatabase();
    db.down = true;
    const outcome = await ingestBatch(fakeCall(db, customers("g", 2)), sync);
    expect(outcome).toMatchObject({ kind: "accepted", fallback: true, body: { fallback: true, queued: 2 } });
    await expect(ingestBatch(fakeCall(db, customers("g", 2), { vars: { ASYNC_FALLBACK: "false" } }), sync)).rejects.toMatchObject({
      code: "database_unavailable",
    });
  });

  it("caps the reported errors at MAX_ERRORS_REPORTED and says how many there were", async () => {
    const body = Array.from({ length: 5 }, (_, i) => `X|${i}`).join("\n");
    const outcome = await ingestBatch(fakeCall(fakeDatabase(), body, { vars: { MAX_ERRORS_REPORTED: "2" } }), sync);
    expect(outcome).toMatchObject({ body: { failed: 5, errors_truncated: true, errors_total: 5 } });
    expect(outcome.kind === "answered" && (outcome.body.errors as unknown[]).length).toBe(2);
  });

  it("turns an entity the key may not write into rejected lines", async () => {
    const principal = { keyId: "k", scopes: new Set(["write:Order"]) };
    const outcome = await ingestBatch(fakeCall(fakeDatabase(), customers("h", 1), { principal }), sync);
    expect(outcome).toMatchObject({ outcome: "error", body: { failed: 1 } });
  });
});

describe("a message", () => {
  it("is written alone and answered with its id, a resend as a duplicate", async () => {
    const db = fakeDatabase();
    expect(await ingestMessage(fakeCall(db, customerLine("m1")))).toMatchObject({ kind: "written", body: { status: "success", entity: "Customer", id: 1 } });
    expect(await ingestMessage(fakeCall(db, customerLine("m1")))).toMatchObject({ body: { duplicate: true } });
  });

  it("that is bad is a 400 and kept in the quarantine", async () => {
    const db = fakeDatabase();
    await expect(ingestMessage(fakeCall(db, "X|1"))).rejects.toBeInstanceOf(IngestError);
    expect(db.rejections).toHaveLength(1);
  });

  it("refused by the database is a 400 naming the SQLSTATE", async () => {
    const db = fakeDatabase();
    db.refuse = "m2";
    await expect(ingestMessage(fakeCall(db, customerLine("m2")))).rejects.toMatchObject({ code: "invalid_message", message: /SQLSTATE 23514/ });
  });

  it("goes to the queue (202, fallback) when the database is down", async () => {
    const db = fakeDatabase();
    db.down = true;
    expect(await ingestMessage(fakeCall(db, customerLine("m3")))).toMatchObject({ kind: "accepted", fallback: true });
    expect(db.queued).toHaveLength(1);
  });

  it("holding two messages is refused", async () => {
    await expect(ingestMessage(fakeCall(fakeDatabase(), customers("m", 2)))).rejects.toMatchObject({ code: "invalid_message" });
  });
});

describe("a stream", () => {
  const listener = () => {
    const seen = { progress: 0, rejected: 0 };
    return { seen, listener: { progress: () => void seen.progress++, rejected: () => void seen.rejected++ } };
  };

  it("ends with a summary of what was written and rejected", async () => {
    const db = fakeDatabase();
    const { seen, listener: l } = listener();
    const end = await ingestStream(fakeCall(db, `${customers("s", 4)}\nX|bad`), l, () => false);
    expect(end).toMatchObject({ kind: "summary", body: { status: "partial", total: 5, inserted: 4, failed: 1 } });
    expect(seen.rejected).toBe(1);
    expect(seen.progress).toBeGreaterThan(0);
    expect(db.rejections).toHaveLength(1);
  });

  it("ends with a failure saying what was committed when the database is down", async () => {
    const db = fakeDatabase();
    db.down = true;
    const end = await ingestStream(fakeCall(db, customers("t", 3)), listener().listener, () => false);
    expect(end).toMatchObject({ kind: "failure", body: { committed: { inserted: 0 } } });
    expect(end.kind === "failure" && end.error).toMatchObject({ code: "database_unavailable" });
  });
});
