/** Property-based tests (fast-check) of the generated parsers, driven by the compiled entity model. */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadEntities } from "../../scripts/compiler/load-entities.ts";
import type { FieldModel } from "../../scripts/compiler/model.ts";
import { parseBody, splitFields } from "../../src/ingest/parse-messages.ts";
import { entityByName } from "../../src/registry.ts";
import { TEST_ENTITIES } from "../support/test-project.ts";

// The test entity set, which the registry under test is built from (vitest.config.ts).
const models = loadEntities(TEST_ENTITIES);

/** Text that survives the pipe format: no separators, no NUL, no leading/trailing blanks that make a blank line. */
const text = fc.string({ minLength: 1, maxLength: 30, unit: "grapheme" }).filter((s) => !/[|\n\r\u0000]/.test(s) && s.trim().length > 0 && !s.startsWith("#"));
const date = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const decimal = fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.nat({ max: 99999 })).map(([i, f]) => `${i}.${String(f).padStart(5, "0")}`);

/** A column value, as the parser must return it. */
function value(field: FieldModel): fc.Arbitrary<string | number | null> {
  const base: fc.Arbitrary<string | number> =
    field.type === "integer" ? fc.integer({ min: -2147483648, max: 2147483647 }) : field.type === "decimal" ? decimal : field.type === "date" ? date : text;
  return field.nullable ? fc.option(base, { nil: null }) : base;
}

describe("the generated parsers, for any valid record", () => {
  for (const model of models) {
    const entity = entityByName(model.name)!;
    const record = fc.record(Object.fromEntries(model.fields.map((f) => [f.column, value(f)])));

    it(`${model.name}: a record serialised to a pipe line parses back to the same row`, () => {
      fc.assert(
        fc.property(record, (row) => {
          const line = [model.prefix, ...model.fields.map((f) => (row[f.column] === null ? "" : String(row[f.column])))].join("|");
          expect(entity.parseLine(splitFields(line))).toEqual(model.fields.map((f) => row[f.column]));
        }),
        { numRuns: 300 },
      );
    });

    it(`${model.name}: a record sent as JSON parses back to the same row`, () => {
      fc.assert(
        fc.property(record, (row) => {
          const json = JSON.stringify({ entity: model.name, ...Object.fromEntries(model.fields.map((f) => [f.key, row[f.column]])) });
          const parsed = parseBody("json", json, new Set());
          expect(parsed.errors).toEqual([]);
          expect(JSON.parse(parsed.rows[0].json)).toEqual(model.fields.map((f) => row[f.column]));
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe("the parsers, for any input at all", () => {
  const anyText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc
      .array(fc.oneof(fc.constantFrom("O", "L", "C", "P", "|", "", "1", "-1", "1996-02-29", "1.5", "\u0000", "\n", "{", "}", "[", '"', "null")), {
        maxLength: 40,
      })
      .map((a) => a.join("")),
  );

  it("never throw, and turn every line into rows or one LineError", () => {
    fc.assert(
      fc.property(anyText, fc.constantFrom("text", "ndjson", "json") as fc.Arbitrary<"text" | "ndjson" | "json">, (body, format) => {
        const parsed = parseBody(format, body, new Set());
        for (const e of parsed.errors) expect(typeof e.message).toBe("string");
        // Every message is accounted for: written (its rows share its line number) or rejected.
        const written = new Set(parsed.rows.map((r) => r.lineNumber)).size;
        if (format !== "json") expect(written + parsed.errors.length).toBe(parsed.messages);
      }),
      { numRuns: 2000 },
    );
  });

  it("split pipe lines exactly as String.prototype.split does", () => {
    const line = fc.array(fc.constantFrom("|", "", "a", "1", "é", "\u0000", "||"), { maxLength: 30 }).map((a) => a.join(""));
    fc.assert(
      fc.property(fc.oneof(line, fc.string({ unit: "binary", maxLength: 100 })), (text) => {
        expect(splitFields(text)).toEqual(text.split("|"));
      }),
      { numRuns: 2000 },
    );
  });

  it("never throw on field lists of any shape", () => {
    fc.assert(
      fc.property(fc.constantFrom(...models.map((m) => m.name)), fc.array(fc.string({ unit: "binary", maxLength: 20 }), { maxLength: 30 }), (name, fields) => {
        const entity = entityByName(name)!;
        const result = entity.parseLine([name, ...fields]);
        if (Array.isArray(result)) expect(result).toHaveLength(entity.columns.length);
        else expect(result.message).toMatch(/^field /);
      }),
      { numRuns: 2000 },
    );
  });
});
