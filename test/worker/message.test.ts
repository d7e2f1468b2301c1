import { beforeEach, describe, expect, it } from "vitest";
import exampleOrderText from "../fixtures/nomnom/example_order.json?raw";
import { count, post, resetDatabase, sql } from "../support/worker.ts";

const SEED_LINE = "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|test";

// Posted as the file's own text: parsing it here first would turn 450.00 into 450.
const exampleOrder = JSON.parse(exampleOrderText);

beforeEach(resetDatabase);

describe("POST /ingest/message", () => {
  it("writes the seed's pipe line and answers the row's real id", async () => {
    const res = await post("/ingest/message", SEED_LINE, "text/plain");
    expect(res.status).toBe(200);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({ status: "success", entity: "Order" });
    expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const [row] = await sql.query("SELECT id, order_key, customer_key, total_price::text, order_date::text, ship_priority, comment FROM orders");
    expect(body.id).toBe(Number(row.id));
    expect(row).toMatchObject({ order_key: "1", customer_key: "100", total_price: "123.45", order_date: "1996-01-02", ship_priority: 0, comment: "test" });
  });

  it("answers a repeated message with the existing row's id and duplicate: true, writing nothing", async () => {
    const first = await (await post("/ingest/message", SEED_LINE, "text/plain")).json<{ id: number }>();
    const again = await post("/ingest/message", SEED_LINE, "text/plain");
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "success", id: first.id, duplicate: true });
    expect(await count("orders")).toBe(1);
  });

  it("writes a nested JSON order and its line items, copying the order key into each item", async () => {
    const res = await post("/ingest/message", exampleOrderText, "application/json");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ entity: "Order", derived: { OrderLineItem: { inserted: 2, duplicates: 0 } } });
    const items = await sql.query(
      "SELECT order_key, line_number, part_key, extended_price::text, discount::text, receipt_date FROM order_line_items ORDER BY line_number",
    );
    expect(items).toEqual([
      { order_key: "O12345", line_number: 1, part_key: "P5001", extended_price: "450.00", discount: "0.05", receipt_date: null },
      { order_key: "O12345", line_number: 2, part_key: "P5002", extended_price: "784.56", discount: "0.03", receipt_date: null },
    ]);
    const [order] = await sql.query("SELECT total_price::text, order_date::text FROM orders");
    expect(order).toEqual({ total_price: "1234.56", order_date: "2025-01-15" });
  });

  it("keeps decimals exact through JSON: digits a double would round survive", async () => {
    const record = `{"entity":"Customer","customer_key":"C1","name":"Ann","account_balance":12345678901234567890.123456789}`;
    expect((await post("/ingest/message", record, "application/json")).status).toBe(200);
    const [row] = await sql.query("SELECT account_balance::text FROM customers");
    expect(row.account_balance).toBe("12345678901234567890.123456789");
  });

  it("does not write a nested order when one of its items is invalid", async () => {
    const bad = { ...exampleOrder, line_items: [exampleOrder.line_items[0], { ...exampleOrder.line_items[1], quantity: "five" }] };
    const res = await post("/ingest/message", JSON.stringify(bad), "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      status: "error",
      entity: "OrderLineItem",
      field: "quantity",
      message: `line_items[1]: field 5 'quantity' must be an integer between -2147483648 and 2147483647, got "five"`,
    });
    expect(await count("orders")).toBe(0);
    expect(await count("order_line_items")).toBe(0);
  });
});

describe("POST /ingest/message with bad input answers 400 naming line, field and reason", () => {
  const cases: [string, string, string | undefined, Record<string, unknown>][] = [
    ["an unknown prefix", "INVALID|MESSAGE", "text/plain", { entity: null, message: `unknown prefix "INVALID" (known: C, O, L, P)`, line: "INVALID|MESSAGE" }],
    [
      "too few fields",
      "O|1|100|O",
      "text/plain",
      {
        entity: "Order",
        field: "total_price",
        position: 4,
        message: "field 4 'total_price' is missing: this entity needs at least 5 of its 9 fields, the line has 3",
      },
    ],
    [
      "too many fields",
      `${SEED_LINE}|extra`,
      "text/plain",
      { entity: "Order", position: 10, message: "field 10 '(extra)' is not expected: this entity has 9 fields, the line has 10" },
    ],
    [
      "a non-integer in an integer field",
      "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#1|high|x",
      "text/plain",
      { field: "ship_priority", position: 8, message: `field 8 'ship_priority' must be an integer between -2147483648 and 2147483647, got "high"` },
    ],
    [
      "a malformed decimal",
      "O|1|100|O|12.3.4|1996-01-02",
      "text/plain",
      { field: "total_price", message: `field 4 'total_price' must be a decimal number like 123.45, got "12.3.4"` },
    ],
    [
      "an impossible date",
      "O|1|100|O|1.00|1996-02-30",
      "text/plain",
      { field: "order_date", message: `field 5 'order_date' must be a real date YYYY-MM-DD, got "1996-02-30"` },
    ],
    [
      "an empty non-nullable field",
      "O|1||O|1.00|1996-02-03",
      "text/plain",
      { field: "customer_key", position: 2, message: "field 2 'customer_key' is required but empty" },
    ],
    ["invalid JSON", `{"order_key": "1",`, "application/json", { message: expect.stringMatching(/^invalid JSON: /) }],
    [
      "JSON of an unknown entity",
      `{"sku": "X", "colour": "red"}`,
      "application/json",
      { entity: null, message: `record matches no entity: add "entity" (one of Customer, Order, OrderLineItem, Product) or use the fields of one` },
    ],
    [
      "a JSON record naming an unknown entity",
      `{"entity": "Invoice", "id": 1}`,
      "application/json",
      { message: `unknown entity "Invoice" (known: Customer, Order, OrderLineItem, Product)` },
    ],
    [
      "a JSON record with an unknown field",
      `{"entity":"Customer","customer_key":"C1","name":"A","account_balance":1,"colour":"red"}`,
      "application/json",
      { entity: "Customer", field: "colour", message: expect.stringContaining("field 'colour' is not a field of this entity") },
    ],
  ];

  for (const [what, body, contentType, expected] of cases) {
    it(`rejects ${what}`, async () => {
      const res = await post("/ingest/message", body, contentType);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ status: "error", ...expected });
      expect(await count("orders")).toBe(0);
    });
  }

  it("rejects a body that is not UTF-8", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode("O|1|100|O|1.00|1996-01-02|x|"), 0xff, 0xfe]);
    const res = await post("/ingest/message", bytes, "text/plain");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ status: "error", message: "line is not valid UTF-8" });
  });

  it("rejects two messages sent to the single-message route", async () => {
    const res = await post("/ingest/message", `${SEED_LINE}\n${SEED_LINE.replace("O|1|", "O|2|")}`, "text/plain");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: "the body holds 2 messages; send one here, or POST them to /ingest/batch" });
  });

  it("rejects an unsupported Content-Type with 415", async () => {
    const res = await post("/ingest/message", SEED_LINE, "application/x-www-form-urlencoded");
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ status: "error", message: expect.stringContaining("use text/plain") });
  });
});
