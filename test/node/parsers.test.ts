/** The generated parsers, called directly: values they produce and the exact errors they give. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { EntityDef } from "../../src/entity/entity.ts";
import { type Parsed, parseJsonExact } from "../../src/entity/field-checks.ts";
import { parseBody, splitFields } from "../../src/ingest/parse-messages.ts";
import { entityByName } from "../../src/registry.ts";
import { RECORD_SCHEMAS } from "../project/src/generated/schemas.ts";

const order = entityByName("Order")!;
const item = entityByName("L")!;
const exampleText = readFileSync(resolve(import.meta.dirname, "../fixtures/nomnom/example_order.json"), "utf8");
/** A parsed row is its values in column order; shown here keyed by column, for readable expectations. */
const byColumn = (entity: EntityDef, row: readonly unknown[]) => Object.fromEntries(entity.columns.map((column, i) => [column, row[i]]));
/** A parser's answer as { ok, row } (keyed by column) or { ok, error }, for readable expectations. */
const outcome = (entity: EntityDef, parsed: Parsed) => (Array.isArray(parsed) ? { ok: true, row: byColumn(entity, parsed) } : { ok: false, error: parsed });
const parseOrder = (line: string) => outcome(order, order.parseLine(splitFields(line)));

describe("the generated pipe-line parser", () => {
  it("turns the seed's line into a typed row, decimals and dates kept as exact text", () => {
    expect(parseOrder("O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|comment")).toEqual({
      ok: true,
      row: {
        order_key: "1",
        customer_key: "100",
        order_status: "O",
        total_price: "123.45",
        order_date: "1996-01-02",
        order_priority: "5-LOW",
        clerk: "Clerk#000000951",
        ship_priority: 0,
        comment: "comment",
      },
    });
  });

  it("reads omitted and empty trailing nullable fields as NULL", () => {
    const row = { order_priority: null, clerk: null, ship_priority: null, comment: null };
    expect(parseOrder("O|1|100|O|1|1996-01-02")).toMatchObject({ ok: true, row });
    expect(parseOrder("O|1|100|O|1|1996-01-02||||")).toMatchObject({ ok: true, row });
  });

  const errors: [string, string][] = [
    ["O|1|100|O|1|1996-01-02|p|c|2147483648", `field 8 'ship_priority' must be an integer between -2147483648 and 2147483647, got "2147483648"`],
    ["O|1|100|O|1|1996-01-02|p|c|1.5", `field 8 'ship_priority' must be an integer between -2147483648 and 2147483647, got "1.5"`],
    ["O|1|100|O|1e5|1996-01-02", `field 4 'total_price' must be a decimal number like 123.45, got "1e5"`],
    ["O|1|100|O|NaN|1996-01-02", `field 4 'total_price' must be a decimal number like 123.45, got "NaN"`],
    ["O|1|100|O|1|1900-02-29", `field 5 'order_date' must be a real date YYYY-MM-DD, got "1900-02-29"`],
    ["O|1|100|O|1|96-01-02", `field 5 'order_date' must be a real date YYYY-MM-DD, got "96-01-02"`],
    ["O|1|100||1|1996-01-02", `field 3 'order_status' is required but empty`],
    ["O|1|100", `field 3 'order_status' is missing: this entity needs at least 5 of its 9 fields, the line has 2`],
    ["O|1|100|O|1|1996-01-02|p|c|0|x|y", `field 10 '(extra)' is not expected: this entity has 9 fields, the line has 10`],
    [`O|1|100|O|1|1996-01-02|p|c|${"9".repeat(60)}`, `field 8 'ship_priority' must be an integer between -2147483648 and 2147483647, got "${"9".repeat(40)}…"`],
  ];
  for (const [line, message] of errors) {
    it(`rejects ${JSON.stringify(line.slice(0, 40))} with: ${message.slice(0, 60)}`, () => {
      expect(parseOrder(line)).toEqual({ ok: false, error: expect.objectContaining({ message }) });
    });
  }

  it("accepts 1996-02-29 (a leap year) and 2000-02-29", () => {
    expect(parseOrder("O|1|100|O|1|1996-02-29").ok).toBe(true);
    expect(parseOrder("O|1|100|O|1|2000-02-29").ok).toBe(true);
  });
});

describe("the generated JSON record parser", () => {
  it("accepts numbers or numeric strings for numeric fields and keeps raw decimals exact", () => {
    const record = parseJsonExact(
      `{"order_key":"1","customer_key":7,"order_status":"O","total_price":0.10000000000000000001,"order_date":"1996-01-02","ship_priority":"3"}`,
    ) as Record<string, unknown>;
    expect(outcome(order, order.parseRecord(record))).toMatchObject({
      ok: true,
      row: { customer_key: "7", total_price: "0.10000000000000000001", ship_priority: 3 },
    });
  });

  it("names the field, its position and the offending value", () => {
    expect(outcome(order, order.parseRecord({ order_key: "1", customer_key: "7", order_status: "O", total_price: true, order_date: "1996-01-02" }))).toEqual({
      ok: false,
      error: { position: 4, field: "total_price", message: "field 4 'total_price' must be a decimal number like 123.45, got \"true\"" },
    });
    expect(
      outcome(
        order,
        order.parseRecord({ order_key: "1", customer_key: "7", order_status: "O", total_price: 1, order_date: "1996-01-02", comment: "a\u0000b" }),
      ),
    ).toMatchObject({
      ok: false,
      error: { message: "field 9 'comment' contains a NUL character" },
    });
  });

  it("derives line items from an order's line_items, copying the parent's key", () => {
    const parsed = parseBody("json", exampleText, new Set());
    expect(parsed.errors).toEqual([]);
    expect(parsed.rows.map((r) => r.entity.name)).toEqual(["Order", "OrderLineItem", "OrderLineItem"]);
    expect(byColumn(item, JSON.parse(parsed.rows[1].json))).toEqual({
      order_key: "O12345",
      line_number: 1,
      part_key: "P5001",
      supplier_key: "S501",
      quantity: 10,
      extended_price: "450.00",
      discount: "0.05",
      tax: "0.08",
      return_flag: "N",
      line_status: "O",
      ship_date: "2025-01-20",
      commit_date: "2025-01-18",
      receipt_date: null,
      comment: null,
    });
    expect(item.children).toEqual([]);
  });

  it("agrees with the generated zod schema on the fixture", () => {
    expect(RECORD_SCHEMAS.Order.safeParse(JSON.parse(exampleText)).success).toBe(true);
    expect(RECORD_SCHEMAS.Order.safeParse({ ...JSON.parse(exampleText), order_date: "2025-02-30" }).success).toBe(false);
  });
});

describe("parseBody", () => {
  it("numbers physical lines, skips blanks and comments, accepts CRLF", () => {
    const parsed = parseBody("text", "# header\r\n\r\nC|C1|Ann||||1.00\r\nC|C2||x\r\n   \nZ|1", new Set());
    expect(parsed.messages).toBe(3);
    expect(parsed.rows.map((r) => r.lineNumber)).toEqual([3]);
    expect(parsed.errors.map((e) => [e.line_number, e.message])).toEqual([
      [4, "field 4 'nation_key' is missing: this entity needs at least 6 of its 8 fields, the line has 3"],
      [6, `unknown prefix "Z" (known: C, O, L, P)`],
    ]);
  });

  it("pins a NUL byte to its field", () => {
    const parsed = parseBody("text", "C|C1|An\u0000n|x|1|5|1.00", new Set());
    expect(parsed.errors[0]).toMatchObject({ field: "name", position: 2, message: "field 2 'name' contains a NUL character" });
  });

  it("numbers the records of a JSON array from 1", () => {
    const parsed = parseBody("json", `[{"entity":"C","customer_key":"a","name":"n","account_balance":1}, 5, {"entity":"C"}]`, new Set());
    expect(parsed.messages).toBe(3);
    expect(parsed.errors.map((e) => [e.line_number, e.message])).toEqual([
      [2, "expected a JSON object, got number"],
      [3, "field 1 'customer_key' is required but empty"],
    ]);
  });
});
