/**
 * The timestamp pattern the OpenAPI document shows (field-checks.ts' TIMESTAMP, in every timestamp
 * field's schema) against what the parser takes: for strings built from timestamp-like parts, in
 * range and out of it, the pattern matches (on a real calendar date) exactly when the parser accepts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { TIMESTAMP, textDate, textTimestamp } from "../../src/entity/field-checks.ts";

const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, "0"));
const date = fc
  .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString().slice(0, 10));
const fraction = fc.option(fc.stringMatching(/^\.\d{0,8}$/), { nil: "" });
const seconds = fc.option(
  fc.tuple(two(65), fraction).map(([s, f]) => `:${s}${f}`),
  { nil: "" },
);
const offset = fc.oneof(
  fc.constantFrom("", "Z", "z", "+00", "-05", "+0", "UTC"),
  fc.tuple(fc.constantFrom("+", "-"), two(30), fc.constantFrom(":", ""), two(65)).map(([sign, h, colon, m]) => `${sign}${h}${colon}${m}`),
);
const timestampLike = fc
  .tuple(date, fc.constantFrom("T", " ", "t", "_"), two(26), two(65), seconds, offset)
  .map(([d, sep, h, m, s, o]) => `${d}${sep}${h}:${m}${s}${o}`);

/** What the document's JSON Schema says, with JSON Schema's ECMA-262 regex semantics. */
const documented = new RegExp(z.toJSONSchema(z.string().regex(TIMESTAMP)).pattern as string, "u");

describe("the documented timestamp pattern", () => {
  it("is the parser's own pattern", () => {
    expect(documented.source).toBe(TIMESTAMP.source);
  });

  it("matches a timestamp on a real date exactly when the parser accepts it", () => {
    fc.assert(
      fc.property(timestampLike, (s) => {
        expect(documented.test(s) && textDate(s.slice(0, 10)) !== undefined, s).toBe(textTimestamp(s) !== undefined);
        // What JavaScript itself refuses, the pattern refuses too: the parser's last check never decides.
        if (documented.test(s)) expect(Number.isNaN(Date.parse(s.replace(" ", "T"))), s).toBe(false);
      }),
      { numRuns: 20_000 },
    );
  });

  it("takes an offset with its minutes, and refuses the hour-only +00 that Date.parse refuses", () => {
    for (const ok of ["2024-02-29T10:00Z", "2024-02-29 10:00:00.123456+05:30", "2024-02-29T10:00:00-0800", "2024-02-29T24:00:00"]) {
      expect(textTimestamp(ok), ok).toBe(ok);
      expect(documented.test(ok), ok).toBe(true);
    }
    for (const bad of ["2024-02-29T10:00+00", "2024-02-29T10:00:00.1234567Z", "2024-02-29T24:30", "2024-02-29T10:60", "2024-02-29T10:00+24:00"]) {
      expect(documented.test(bad), bad).toBe(false);
      expect(textTimestamp(bad), bad).toBeUndefined();
    }
  });
});
