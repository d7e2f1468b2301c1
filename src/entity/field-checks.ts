/**
 * Small typed checks the generated parsers call. The generated code is straight-line per entity;
 * these helpers are the per-type leaf checks it shares, so the registry stays readable.
 */

export type Value = string | number | boolean | null | unknown[] | { [key: string]: unknown };
/** A parsed row: its values in column order, as the insert statements read them. */
export type Row = Value[];
export type JsonRecord = Record<string, unknown>;

export interface FieldError {
  /** 1-based position of the field on the pipe-delimited line (also used for JSON records). */
  position: number;
  field: string;
  message: string;
}

/**
 * What a generated parser returns: the row (an array), or why not. Not wrapped in an { ok, row }
 * object: one allocation less per line. Callers tell them apart with Array.isArray, which costs
 * less than instanceof (both measured in workerd).
 */
export type Parsed = Row | FieldError;

const MAX_SHOWN = 40;

/** Quotes offending input for an error message, cut to a readable length. */
export function show(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
  return JSON.stringify(cut);
}

export function fail(position: number, field: string, message: string): FieldError {
  // Position 0: a JSON key with no place on the pipe line.
  const where = position > 0 ? `field ${position} '${field}'` : `field '${field}'`;
  return { position, field, message: `${where} ${message}` };
}

export const invalid = (position: number, field: string, expected: string, got: unknown): FieldError =>
  fail(position, field, `must be ${expected}, got ${show(got)}`);

export const required = (position: number, field: string): FieldError => fail(position, field, "is required but empty");

interface RawJson {
  readonly rawJSON: string;
}
declare global {
  interface JSON {
    rawJSON(text: string): RawJson;
    isRawJSON(value: unknown): value is RawJson;
  }
}

/**
 * JSON.parse that keeps every number a double would round (12345678901234567890, 1.10) as raw
 * JSON text, so decimals and int8 stay exact and JSON.stringify writes them back unchanged.
 */
export function parseJsonExact(text: string): unknown {
  return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" && context?.source !== undefined && String(value) !== context.source ? JSON.rawJSON(context.source) : value,
  );
}

// The shapes of numeric and timestamp text; the generated zod schemas show them in the OpenAPI document.
export const INT = /^[+-]?\d{1,10}$/;
export const BIGINT = /^[+-]?\d{1,19}$/;
export const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
export const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/**
 * What Date.parse takes after the date (ECMA-262's date time string format, plus a space for T and an offset without
 * its colon): hours 00–23 or exactly 24:00, minutes and seconds 00–59, at most microseconds, an offset with its minutes.
 * The document shows this pattern, so it must not take what the parser refuses (test/node/timestamp-pattern.test.ts).
 */
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ](([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?|24:00(:00(\.0{1,6})?)?)(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -9223372036854775808n;
const INT8_MAX = 9223372036854775807n;

// Text checks: the pipe-delimited form. Each returns the column value or undefined when invalid.

export function textInteger(s: string): number | undefined {
  if (!INT.test(s)) return undefined;
  const n = Number(s);
  return n < INT4_MIN || n > INT4_MAX ? undefined : n;
}

/** int8 stays a string: a JS number cannot hold it exactly. */
export function textBigint(s: string): string | undefined {
  if (!BIGINT.test(s)) return undefined;
  if (s.length >= 19) {
    const n = BigInt(s);
    if (n < INT8_MIN || n > INT8_MAX) return undefined;
  }
  return s;
}

/** A double; 1e400 is not one (it would be Infinity, which JSON and the database refuse). */
export function textFloat(s: string): number | undefined {
  if (!FLOAT.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** numeric stays its decimal text: never through a JS double. */
export function textDecimal(s: string): string | undefined {
  return DECIMAL.test(s) ? s : undefined;
}

export function textBoolean(s: string): boolean | undefined {
  switch (s.toLowerCase()) {
    case "true":
    case "t":
    case "1":
      return true;
    case "false":
    case "f":
    case "0":
      return false;
    default:
      return undefined;
  }
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const digit = (s: string, i: number) => {
  const d = s.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : NaN;
};

/** A real calendar date: 1996-02-30 is rejected, 1996-02-29 accepted. Read by char codes: no regex match arrays per field. */
export function textDate(s: string): string | undefined {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const year = digit(s, 0) * 1000 + digit(s, 1) * 100 + digit(s, 2) * 10 + digit(s, 3);
  const month = digit(s, 5) * 10 + digit(s, 6);
  const day = digit(s, 8) * 10 + digit(s, 9);
  if (Number.isNaN(year + month + day)) return undefined;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && day === 29 && !leap ? undefined : s;
}

export function textTimestamp(s: string): string | undefined {
  if (!TIMESTAMP.test(s) || textDate(s.slice(0, 10)) === undefined) return undefined;
  return Number.isNaN(Date.parse(s.replace(" ", "T"))) ? undefined : s;
}

export function textUuid(s: string): string | undefined {
  return UUID.test(s) ? s.toLowerCase() : undefined;
}

export function textJson(s: string): Value | undefined {
  try {
    return JSON.parse(s) as Value;
  } catch {
    return undefined;
  }
}

export function textStringList(s: string): string[] | undefined {
  const list = textJson(s);
  return Array.isArray(list) && list.every((x) => typeof x === "string") ? list : undefined;
}

// JSON checks: the record form. Numbers and numeric strings are both accepted where the type is numeric.

export function jsonString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

export function jsonInteger(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= INT4_MIN && v <= INT4_MAX ? v : undefined;
  return typeof v === "string" ? textInteger(v) : undefined;
}

export function jsonBigint(v: unknown): string | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) ? String(v) : undefined;
  if (JSON.isRawJSON(v)) return textBigint(v.rawJSON);
  return typeof v === "string" ? textBigint(v) : undefined;
}

export function jsonFloat(v: unknown): number | undefined {
  if (typeof v === "number") return v;
  if (JSON.isRawJSON(v)) return Number.isFinite(Number(v.rawJSON)) ? Number(v.rawJSON) : undefined;
  return typeof v === "string" ? textFloat(v) : undefined;
}

export function jsonDecimal(v: unknown): string | undefined {
  if (typeof v === "number") return String(v);
  if (JSON.isRawJSON(v)) return textDecimal(v.rawJSON);
  return typeof v === "string" ? textDecimal(v) : undefined;
}

export function jsonBoolean(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  return typeof v === "string" ? textBoolean(v) : undefined;
}

export const jsonDate = (v: unknown): string | undefined => (typeof v === "string" ? textDate(v) : undefined);
export const jsonTimestamp = (v: unknown): string | undefined => (typeof v === "string" ? textTimestamp(v) : undefined);
export const jsonUuid = (v: unknown): string | undefined => (typeof v === "string" ? textUuid(v) : undefined);

/** Raw numbers inside stay raw: JSON.stringify writes their exact text into jsonb. */
export const jsonJson = (v: unknown): Value | undefined => v as Value;

export function jsonStringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;
}

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !JSON.isRawJSON(v);
}

/** Text that PostgreSQL cannot store in a text column (NUL) is rejected before the database sees it. */
export const hasNul = (s: string): boolean => s.includes("\u0000");
