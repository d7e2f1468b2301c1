/**
 * copyText (and copyFrames, the same text framed for the wire) against an independent reading of the same rows: each JSON array parsed back, each
 * value as the text `e->>i` gives (what the INSERT writer stores), compared with PostgreSQL's
 * reading of the COPY text. Rows the COPY text cannot carry exactly must come back UNENCODABLE,
 * never as different text. The system tests (copy-writer.test.ts) check the same rows reach
 * PostgreSQL alike through both writers.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyFrames, copyText, UNENCODABLE } from "../../src/db/copy-text.ts";

type Value = string | number | boolean | null;

/** The text `e->>i` gives for one value (null for SQL NULL), or UNENCODABLE when COPY text cannot carry it exactly. */
function expectedText(value: Value): string | null | undefined {
  if (value === null) return null;
  if (typeof value === "number") {
    const text = JSON.stringify(value); // -0 is written 0
    return /e|E/.test(text) ? UNENCODABLE : text;
  }
  if (typeof value === "string" && (!value.isWellFormed() || value.includes("\u0000"))) return UNENCODABLE;
  return String(value);
}

const COPY_ESCAPES: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

/** PostgreSQL's reading of COPY text: lines, fields split at tabs, \N is NULL, backslash escapes decoded. */
function readCopyText(bytes: Uint8Array): (string | null)[][] {
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => line.split("\t").map((field) => (field === "\\N" ? null : field.replace(/\\(.)/gs, (_, c: string) => COPY_ESCAPES[c] ?? c))));
}

/** The protocol's CopyData message holding `text`, then CopyDone: 'd', Int32 length (itself included), the bytes; 'c', Int32 4. */
function framed(text: Uint8Array): Uint8Array {
  const out = new Uint8Array(text.length + 10);
  const view = new DataView(out.buffer);
  out[0] = "d".charCodeAt(0);
  view.setInt32(1, text.length + 4);
  out.set(text, 5);
  out[text.length + 5] = "c".charCodeAt(0);
  view.setInt32(text.length + 6, 4);
  return out;
}

function check(rows: Value[][]): void {
  const expected = rows.map((values) => values.map(expectedText));
  const jsons = rows.map((values) => JSON.stringify(values));
  const bytes = copyText(jsons);
  if (expected.some((values) => values.includes(UNENCODABLE))) {
    expect(bytes).toBe(UNENCODABLE);
    expect(copyFrames(jsons)).toBe(UNENCODABLE);
  } else {
    expect(readCopyText(bytes!)).toEqual(expected);
    // The same text, framed for the wire in the buffer it was written in.
    expect(copyFrames(jsons)).toEqual(framed(bytes!));
  }
}

const value: fc.Arbitrary<Value> = fc.oneof(
  fc.string({ unit: "grapheme" }),
  fc.string({
    unit: fc.constantFrom(
      "a",
      "|",
      ",",
      '"',
      "\\",
      "/",
      "\t",
      "\n",
      "\r",
      "\b",
      "\f",
      "\v",
      "\u0000",
      "\u0001",
      "\u007f",
      "é",
      "😀",
      "\ud800",
      "\udc00",
      "]",
      "[",
      "N",
      ".",
    ),
  }),
  fc.integer({ min: -2147483648, max: 2147483647 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(null, true, false, 0, -0, 1e21, 1.5e-7, "null", "\\N"),
);
const row = fc.array(value, { minLength: 1, maxLength: 10 });

describe("copyText and copyFrames", () => {
  it("gives COPY each value's e->>i text, or UNENCODABLE (fast-check)", () => {
    fc.assert(fc.property(fc.array(row, { minLength: 1, maxLength: 5 }), check), { numRuns: 20_000 });
  });

  it("refuses what the parsers never write", () => {
    for (const json of [
      "[]",
      "[[1]]",
      '[{"a":1}]',
      "[1, 2]",
      "[-]",
      "[-0]",
      "[-0.0]",
      "[01]",
      "[1.]",
      "[.5]",
      '["a"',
      '["a"]x',
      "[1e2]",
      "x",
      '["\\x"]',
      '["\\u12"]',
    ]) {
      expect(copyText([json]), json).toBe(UNENCODABLE);
    }
    expect(copyText(['["a"]', "[1e2]"]), "one unencodable row of several").toBe(UNENCODABLE);
    expect(copyFrames(['["a"]', "[1e2]"]), "one unencodable row of several").toBe(UNENCODABLE);
  });

  it("keeps plain decimals as written", () => {
    const bytes = copyText(['["O1",123.45,-0.5,0,1.0,null,true,"a b"]', '["x\\"y",false]']);
    expect(new TextDecoder().decode(bytes)).toBe('O1\t123.45\t-0.5\t0\t1.0\t\\N\ttrue\ta b\nx"y\tfalse\n');
  });
});
