/** How a stored line is shown (showRaw) and kept (toRecord): any bytes in, printable text out. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeLines } from "../../src/ingest/body.ts";
import { parseBody } from "../../src/ingest/parse-messages.ts";
import { oversizeLine } from "../../src/ingest/parsed-body.ts";
import { fromBase64, toRecord } from "../../src/ingest/quarantine.ts";
import { showRaw } from "../../src/ingest/rejections.ts";

const bytes = (...values: (number | string)[]) => new Uint8Array(values.flatMap((v) => (typeof v === "string" ? [...new TextEncoder().encode(v)] : [v])));

describe("showRaw", () => {
  it("keeps valid UTF-8 and escapes invalid bytes, control characters and backslashes", () => {
    expect(showRaw(bytes("O|1|Zürich|😀"))).toBe("O|1|Zürich|😀");
    expect(showRaw(bytes("a", 0, "b", 0x1b, 0x7f, "\\"))).toBe("a\\u0000b\\u001b\\u007f\\\\");
    // A lone continuation byte, an overlong form, a surrogate, a cut sequence.
    expect(showRaw(bytes(0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, "x", 0xe2, 0x82))).toBe("\\x80\\xc0\\xaf\\xed\\xa0\\x80x\\xe2\\x82");
    expect(showRaw(bytes(0xc2, 0x85))).toBe("\\u0085");
  });

  it("never outputs a control character, and shows valid text without controls or backslashes as it is", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        expect(showRaw(raw)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (text) => {
        fc.pre(!/[\u0000-\u001f\u007f-\u009f\\]/.test(text));
        expect(showRaw(new TextEncoder().encode(text))).toBe(text);
      }),
    );
  });
});

describe("toRecord", () => {
  it("keeps a line whole (not the 200 characters the answer shows), cut at the cap and flagged", () => {
    const line = `C|${"x".repeat(500)}`;
    const [error] = parseBody("text", line, new Set()).errors;
    expect(error.line.length).toBeLessThan(210);
    const whole = toRecord(error, "text", 1000);
    expect(new TextDecoder().decode(fromBase64(whole.raw))).toBe(line);
    expect(whole).toMatchObject({ raw_truncated: false, raw_bytes: 502, reason: "parse", format: "text", line_number: 1 });
    const cut = toRecord(error, "text", 100);
    expect(fromBase64(cut.raw)).toHaveLength(100);
    expect(cut).toMatchObject({ raw_truncated: true, raw_bytes: 502 });
  });

  it("keeps an invalid UTF-8 line's bytes as received, and a line over the limit as cut", () => {
    const body = bytes("C|C1|Ann|x|1|5|1.00|A|b\nC|", 0xff, "bad\n");
    const { text, invalidLines } = decodeLines(body);
    const [error] = parseBody("text", text, invalidLines).errors;
    expect(error.message).toBe("line is not valid UTF-8");
    expect([...fromBase64(toRecord(error, "text", 100).raw)]).toEqual([...bytes("C|", 0xff, "bad")]);
    expect(toRecord(oversizeLine(3, 10, "", bytes("0123456789")), "text", 100)).toMatchObject({ raw_truncated: true, line_number: 3 });
  });
});
