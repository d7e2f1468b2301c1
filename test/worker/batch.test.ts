import { beforeEach, describe, expect, it } from "vitest";
import exampleOrderText from "../fixtures/nomnom/example_order.json?raw";
import { tpchLines } from "../support/tpch.ts";
import { call, count, post, resetDatabase, sql } from "../support/worker.ts";

// Posted as the file's own text: parsing it here first would turn 450.00 into 450.
const exampleOrder = JSON.parse(exampleOrderText);

beforeEach(resetDatabase);

async function tableCounts() {
  return { orders: await count("orders"), items: await count("order_line_items"), customers: await count("customers"), products: await count("products") };
}

describe("POST /ingest/batch", () => {
  it("inserts 10,000 TPC-H lines exactly once, and reports all 10,000 as duplicates when posted again", async () => {
    const body = tpchLines(10_000).join("\n") + "\n";
    const first = await post("/ingest/batch", body, "text/plain");
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ status: "success", processed: 10_000, inserted: 10_000, duplicates: 0, failed: 0, errors: [] });
    const counts = await tableCounts();
    expect(counts.orders + counts.items + counts.customers + counts.products).toBe(10_000);

    const again = await post("/ingest/batch", body, "text/plain");
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "success", processed: 10_000, inserted: 0, duplicates: 10_000, failed: 0 });
    expect(await tableCounts()).toEqual(counts);
  });

  it("writes the valid lines of a mixed batch and reports each bad line with its number (207)", async () => {
    const lines = [
      "# a comment line is skipped",
      "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|good",
      "O|2|100|O|not-a-price|1996-01-02",
      "",
      "X|what",
      "C|C1|Ann|street|7|555|10.00|BUILDING|hi",
      "O|3|100|O|1.00|1996-02-30",
    ];
    const res = await post("/ingest/batch", lines.join("\r\n"), "text/plain");
    expect(res.status).toBe(207);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ status: "partial", processed: 5, inserted: 2, duplicates: 0, failed: 3 });
    expect(body.errors).toEqual([
      {
        line_number: 3,
        entity: "Order",
        field: "total_price",
        position: 4,
        message: `field 4 'total_price' must be a decimal number like 123.45, got "not-a-price"`,
        line: "O|2|100|O|not-a-price|1996-01-02",
      },
      { line_number: 5, entity: null, message: `unknown prefix "X" (known: C, O, L, P)`, line: "X|what" },
      {
        line_number: 7,
        entity: "Order",
        field: "order_date",
        position: 5,
        message: `field 5 'order_date' must be a real date YYYY-MM-DD, got "1996-02-30"`,
        line: "O|3|100|O|1.00|1996-02-30",
      },
    ]);
    expect(body.entities).toMatchObject({ Order: { inserted: 1, duplicates: 0, failed: 2 }, Customer: { inserted: 1 }, "(unknown)": { failed: 1 } });
    expect(await count("orders")).toBe(1);
    expect(await count("customers")).toBe(1);
  });

  it("answers 400 when no line could be written", async () => {
    const res = await post("/ingest/batch", "INVALID|MESSAGE\nO|1", "text/plain");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: "error", processed: 2, inserted: 0, failed: 2 });
  });

  it("counts a natural key repeated inside one batch as one insert and one duplicate", async () => {
    const line = "C|C9|Bo|x|1|555|1.00|AUTO|y";
    const res = await post("/ingest/batch", `${line}\n${line}\n`, "text/plain");
    expect(await res.json()).toMatchObject({ processed: 2, inserted: 1, duplicates: 1, failed: 0 });
  });

  it("keeps the good lines when one line is not valid UTF-8", async () => {
    const enc = new TextEncoder();
    const body = new Uint8Array([...enc.encode("C|C1|Ann|x|1|5|1.00|A|b\nC|C2|B"), 0xc3, 0x28, ...enc.encode("b|x|1|5|1.00|A|b\nC|C3|Cy|x|1|5|1.00|A|b\n")]);
    const res = await post("/ingest/batch", body, "text/plain");
    expect(res.status).toBe(207);
    expect(await res.json()).toMatchObject({ inserted: 2, failed: 1, errors: [{ line_number: 2, message: "line is not valid UTF-8" }] });
  });

  it("accepts NDJSON and JSON arrays, nested orders included, with the same counts", async () => {
    const ndjson = [JSON.stringify(JSON.parse(exampleOrderText)), `{"entity":"C","customer_key":"C1","name":"Ann","account_balance":"1.50"}`, `{"broken"`].join(
      "\n",
    );
    const res = await post("/ingest/batch", ndjson, "application/x-ndjson");
    expect(res.status).toBe(207);
    expect(await res.json()).toMatchObject({
      processed: 5,
      inserted: 4,
      failed: 1,
      errors: [{ line_number: 3, message: expect.stringMatching(/^invalid JSON/) }],
    });

    const array = await post(
      "/ingest/batch",
      JSON.stringify([exampleOrder, { entity: "Customer", customer_key: "C1", name: "Ann", account_balance: "1.50" }]),
      "application/json",
    );
    expect(array.status).toBe(200);
    expect(await array.json()).toMatchObject({ processed: 4, inserted: 0, duplicates: 4, failed: 0 });
    expect(await tableCounts()).toEqual({ orders: 1, items: 2, customers: 1, products: 0 });
  });

  it("caps the error list and still counts every failure", async () => {
    const body = Array.from({ length: 1500 }, (_, i) => `Z|${i}`).join("\n");
    const res = await post("/ingest/batch", body, "text/plain");
    const json = await res.json<{ errors: unknown[]; failed: number; errors_total: number }>();
    expect(json.errors).toHaveLength(1000);
    expect(json.failed).toBe(1500);
    expect(json.errors_total).toBe(1500);
  });

  it("writes a batch of several flushes whole: exact counts, and its first errors in line order", async () => {
    // 25,000 lines (more than two 10,000-row flushes), a bad line every 3,500th.
    const lines = tpchLines(25_000).map((line, i) => (i % 3500 === 3499 ? `X|bad ${i + 1}` : line));
    const res = await call("/ingest/batch", { method: "POST", body: lines.join("\n"), bindings: { MAX_BATCH_ITEMS: "25000", MAX_ERRORS_REPORTED: "5" } });
    expect(res.status).toBe(207);
    const json = await res.json<{ errors: { line_number: number }[] }>();
    expect(json).toMatchObject({ status: "partial", processed: 25_000, inserted: 24_993, duplicates: 0, failed: 7, errors_truncated: true, errors_total: 7 });
    expect(json.errors.map((e) => e.line_number)).toEqual([3500, 7000, 10_500, 14_000, 17_500]);
    const counts = await tableCounts();
    expect(counts.orders + counts.items + counts.customers + counts.products).toBe(24_993);
  });

  it("refuses a batch past MAX_BATCH_ITEMS with 413 and writes nothing, though more than a flush of good lines came first", async () => {
    const text = `${tpchLines(25_001).join("\n")}\n`;
    // Sent in pieces without a Content-Length, so the count is only known as the body is read.
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 65_536) c.enqueue(bytes.slice(i, i + 65_536));
        c.close();
      },
    });
    const res = await call("/ingest/batch", { method: "POST", body, duplex: "half", bindings: { MAX_BATCH_ITEMS: "25000" } } as Parameters<typeof call>[1]);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: "body_too_large", limit_items: 25_000 });
    expect(await tableCounts()).toEqual({ orders: 0, items: 0, customers: 0, products: 0 });
  });

  it("rejects an empty body", async () => {
    const res = await post("/ingest/batch", "\n# nothing here\n", "text/plain");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: "error", message: "the body holds no messages" });
  });

  it("stores every column with its real type", async () => {
    await post("/ingest/batch", "L|7|1|P1|S1|17|21168.23|0.04|0.02|N|O|1996-03-13|1996-02-12||\n", "text/plain");
    const [row] = await sql.query(
      "SELECT pg_typeof(quantity)::text AS q, pg_typeof(extended_price)::text AS p, pg_typeof(ship_date)::text AS d, receipt_date, comment FROM order_line_items",
    );
    expect(row).toEqual({ q: "integer", p: "numeric", d: "date", receipt_date: null, comment: null });
  });
});
