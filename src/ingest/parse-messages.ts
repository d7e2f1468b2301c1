/**
 * Text in, rows per entity out: pipe-delimited lines, NDJSON and JSON records, each checked by
 * the generated parsers. A bad line becomes a LineError naming line, entity, field and reason;
 * it never stops the lines around it.
 */

import type { EntityDef } from "../entity/entity.ts";
import { type FieldError, isRecord, type JsonRecord, parseJsonExact } from "../entity/field-checks.ts";
import { IngestError } from "../errors.ts";
import { entityByName, entityByPrefix, entityForKeys, NAMES, PREFIXES } from "../registry.ts";
import { type LineError, type QuarantineSource, type RowToWrite, withSource } from "../writer/rows.ts";

/** Line numbers of lines that are not valid UTF-8; a Map keeps their bytes as received. */
export type InvalidLines = ReadonlySet<number> | ReadonlyMap<number, Uint8Array>;

export interface ParsedBody {
  rows: RowToWrite[];
  /** Characters of row JSON in `rows`: flushes are cut by size too. */
  chars: number;
  errors: LineError[];
  /** Messages seen (lines or records), blank and comment lines excluded. */
  messages: number;
}

const MAX_LINE_SHOWN = 200;
const shown = (line: string) => (line.length > MAX_LINE_SHOWN ? `${line.slice(0, MAX_LINE_SHOWN)}…` : line);

function lineError(
  lineNumber: number,
  entity: EntityDef | null,
  message: string,
  line: string,
  field?: FieldError,
  source: QuarantineSource = { raw: line },
): LineError {
  const error = withSource({ line_number: lineNumber, entity: entity?.name ?? null, message, line: shown(line) }, source);
  if (field) {
    error.field = field.field;
    error.position = field.position;
  }
  return error;
}

/** Calls `visit` for every non-blank, non-comment line with its physical line number (from `firstLine`). */
export function forEachLine(text: string, visit: (line: string, lineNumber: number) => void, firstLine = 1): void {
  let start = 0;
  let lineNumber = firstLine - 1;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    lineNumber++;
    const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
    start = end + 1;
    const first = line.charCodeAt(0);
    // trim() only for lines that start blank: it would allocate for every line.
    if (line.length === 0 || first === 35 /* # */ || (first <= 32 && line.trim().length === 0)) continue;
    visit(line, lineNumber);
  }
}

/** Says why the caller may not write an entity, or undefined when it may. */
export type EntityGuard = (entity: EntityDef) => string | undefined;

/** One pipe-delimited line: PREFIX|field1|field2|… */
export function parseLine(line: string, lineNumber: number, out: ParsedBody, guard?: EntityGuard): void {
  const bar = line.indexOf("|");
  const prefix = bar === -1 ? line : line.slice(0, bar);
  const entity = entityByPrefix(prefix);
  if (!entity) {
    out.errors.push(lineError(lineNumber, null, `unknown prefix ${JSON.stringify(prefix.slice(0, 20))} (known: ${PREFIXES})`, line));
    return;
  }
  const refused = guard?.(entity);
  if (refused) {
    out.errors.push(lineError(lineNumber, entity, refused, line, undefined, { raw: line, reason: "scope" }));
    return;
  }
  const nul = line.indexOf("\u0000");
  if (nul !== -1) {
    const position = line.slice(0, nul).split("|").length - 1;
    const field = entity.wire[position - 1] ?? "(extra)";
    out.errors.push(lineError(lineNumber, entity, `field ${position} '${field}' contains a NUL character`, line, { position, field, message: "" }));
    return;
  }
  const parsed = entity.parseLine(splitFields(line));
  if (!Array.isArray(parsed)) out.errors.push(lineError(lineNumber, entity, parsed.message, line, parsed));
  else push(out, entity, JSON.stringify(parsed), lineNumber);
}

/** line.split("|"), which V8 does slower than this loop: the loop saved ~12% of the parsers' CPU in workerd. */
export function splitFields(line: string): string[] {
  const fields: string[] = [];
  let start = 0;
  for (let bar = line.indexOf("|"); bar !== -1; bar = line.indexOf("|", start)) {
    fields.push(line.slice(start, bar));
    start = bar + 1;
  }
  fields.push(line.slice(start));
  return fields;
}

function resolveEntity(record: JsonRecord, forced: EntityDef | undefined): EntityDef | string {
  if (record.entity !== undefined) {
    const named = typeof record.entity === "string" ? entityByName(record.entity) : undefined;
    if (!named) return `unknown entity ${JSON.stringify(record.entity)} (known: ${NAMES})`;
    if (forced && named !== forced) return `record says entity ${named.name}, the request says ${forced.name}`;
    return named;
  }
  if (forced) return forced;
  const guess = entityForKeys(Object.keys(record));
  if (guess === "ambiguous") return `record matches several entities: add "entity" (one of ${NAMES})`;
  return guess ?? `record matches no entity: add "entity" (one of ${NAMES}) or use the fields of one`;
}

/** One JSON record, with the rows of its derived children (an Order's line_items): all or none. */
export function parseRecord(record: unknown, lineNumber: number, source: string | (() => string), out: ParsedBody, options: LineOptions = {}): void {
  const { forced, guard, maxLineChars = Infinity } = options;
  // Array elements have no source line of their own: their text is made only for an error.
  const line = () => (typeof source === "string" ? source : source());
  if (!isRecord(record)) {
    out.errors.push(
      lineError(
        lineNumber,
        forced ?? null,
        `expected a JSON object, got ${Array.isArray(record) ? "an array" : record === null ? "null" : typeof record}`,
        line(),
      ),
    );
    return;
  }
  const entity = resolveEntity(record, forced);
  if (typeof entity === "string") {
    out.errors.push(lineError(lineNumber, null, entity, line()));
    return;
  }
  const refused = guard?.(entity);
  if (refused) {
    out.errors.push(lineError(lineNumber, entity, refused, line(), undefined, { raw: line(), reason: "scope" }));
    return;
  }
  const parsed = entity.parseRecord(record);
  if (!Array.isArray(parsed)) {
    out.errors.push(lineError(lineNumber, entity, parsed.message, line(), parsed));
    return;
  }
  const rows: RowToWrite[] = [{ entity, json: JSON.stringify(parsed), lineNumber }];
  if (rows[0].json.length > maxLineChars) {
    out.errors.push(lineError(lineNumber, entity, `the record is larger than the limit of ${maxLineChars} bytes (MAX_LINE_BYTES)`, line()));
    return;
  }
  for (const child of entity.children) {
    const items = record[child.field];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      out.errors.push(lineError(lineNumber, entity, `'${child.field}' must be a list of objects`, line()));
      return;
    }
    const childEntity = entityByName(child.entity)!;
    const childRefused = items.length > 0 ? guard?.(childEntity) : undefined;
    if (childRefused) {
      out.errors.push(lineError(lineNumber, childEntity, `${child.field}: ${childRefused}`, line(), undefined, { raw: line(), reason: "scope" }));
      return;
    }
    for (let i = 0; i < items.length; i++) {
      const item: unknown = items[i];
      if (!isRecord(item)) {
        out.errors.push(lineError(lineNumber, childEntity, `${child.field}[${i}]: must be an object`, line()));
        return;
      }
      const childParsed = childEntity.parseRecord(child.derive(parsed, item));
      if (!Array.isArray(childParsed)) {
        out.errors.push(lineError(lineNumber, childEntity, `${child.field}[${i}]: ${childParsed.message}`, line(), childParsed));
        return;
      }
      rows.push({ entity: childEntity, json: JSON.stringify(childParsed), lineNumber });
    }
  }
  for (const row of rows) push(out, row.entity, row.json, lineNumber);
}

/**
 * A class, not an object literal: V8 pretenures a literal whose objects outlive a young-generation
 * collection (rows wait for their flush), and rows allocated old keep every row JSON string they
 * point to alive until a full collection. Rows from a constructor stay young and die young.
 */
class ParsedRow implements RowToWrite {
  readonly entity: EntityDef;
  readonly json: string;
  readonly lineNumber: number;
  constructor(entity: EntityDef, json: string, lineNumber: number) {
    this.entity = entity;
    this.json = json;
    this.lineNumber = lineNumber;
  }
}

function push(out: ParsedBody, entity: EntityDef, json: string, lineNumber: number): void {
  out.rows.push(new ParsedRow(entity, json, lineNumber));
  out.chars += json.length;
}

function parseJsonText(text: string, lineNumber: number, out: ParsedBody): unknown {
  try {
    return parseJsonExact(text);
  } catch (error) {
    out.errors.push(lineError(lineNumber, null, `invalid JSON: ${(error as Error).message}`, text));
    return undefined;
  }
}

export type BodyFormat = "text" | "ndjson" | "json";

export interface LineOptions {
  forced?: EntityDef;
  /** Refuses entities the caller may not write: their lines become rejected lines. */
  guard?: EntityGuard;
  /** Longer lines are rejected, not parsed. */
  maxLineChars?: number;
  /** Called after each line with its number (for per-line progress). */
  onLine?(lineNumber: number): void;
  /** More messages than this: 413 at the first one past it, before the rest is parsed. */
  maxMessages?: number;
}

/** `instead`: what the client can do instead (a JSON document on /ingest/stream is held whole too). */
export function tooManyMessages(max: number, instead = "split it, or use /ingest/stream"): IngestError {
  return new IngestError("body_too_large", `the batch holds more than ${max} messages (MAX_BATCH_ITEMS); nothing was written: ${instead}`, {
    limit_items: max,
  });
}

/** Pipe-delimited or NDJSON lines, numbered from `firstLine`, appended to `out`. */
export function parseLines(
  format: "text" | "ndjson",
  text: string,
  firstLine: number,
  invalidLines: InvalidLines,
  out: ParsedBody,
  options: LineOptions = {},
): void {
  const maxLineChars = options.maxLineChars ?? Infinity;
  const maxMessages = options.maxMessages ?? Infinity;
  forEachLine(
    text,
    (line, lineNumber) => {
      if (++out.messages > maxMessages) throw tooManyMessages(maxMessages);
      if (invalidLines.has(lineNumber))
        out.errors.push(
          lineError(lineNumber, null, "line is not valid UTF-8", line, undefined, {
            raw: (invalidLines instanceof Map ? invalidLines.get(lineNumber) : undefined) ?? line,
          }),
        );
      else if (line.length > maxLineChars) out.errors.push(oversizeLine(lineNumber, maxLineChars, line));
      else if (format === "text") parseLine(line, lineNumber, out, options.guard);
      else {
        const record = parseJsonText(line, lineNumber, out);
        if (record !== undefined) parseRecord(record, lineNumber, line, out, options);
      }
      options.onLine?.(lineNumber);
    },
    firstLine,
  );
}

/** `head`: what was kept of a line too long to be read whole. */
export function oversizeLine(lineNumber: number, limit: number, line = "", head?: Uint8Array): LineError {
  return lineError(
    lineNumber,
    null,
    `line is longer than the limit of ${limit} bytes (MAX_LINE_BYTES)`,
    line,
    undefined,
    head ? { raw: head, cut: true } : { raw: line },
  );
}

/** A whole body in one of the three formats; line numbers are physical lines (JSON arrays: element index from 1). */
export function parseBody(
  format: BodyFormat,
  text: string,
  invalidLines: InvalidLines,
  options: LineOptions = {},
  out: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 },
): ParsedBody {
  if (format !== "json") {
    parseLines(format, text, 1, invalidLines, out, options);
    return out;
  }
  parseRecords(jsonRecords(text, invalidLines, out), 0, Infinity, out, options);
  return out;
}

/** A JSON document's records (one, or an array's elements), counted as messages; an unreadable document is one rejected message. */
export function jsonRecords(text: string, invalidLines: InvalidLines, out: ParsedBody): unknown[] {
  if (invalidLines.size > 0) {
    const first = invalidLines.keys().next().value;
    out.errors.push(
      lineError(1, null, `body is not valid UTF-8 (line ${first})`, "", undefined, {
        raw: (invalidLines instanceof Map ? invalidLines.get(first) : undefined) ?? "",
      }),
    );
    out.messages++;
    return [];
  }
  const before = out.errors.length;
  const value = parseJsonText(text, 1, out);
  const records = Array.isArray(value) ? value : value === undefined ? [] : [value];
  out.messages += Math.max(records.length, out.errors.length - before);
  return records;
}

/** Records `start` to `end` (exclusive) of a document, numbered from 1. */
export function parseRecords(records: unknown[], start: number, end: number, out: ParsedBody, options: LineOptions = {}): void {
  for (let i = start; i < Math.min(end, records.length); i++) {
    const record = records[i];
    parseRecord(record, i + 1, () => JSON.stringify(record) ?? "", out, options);
  }
}
