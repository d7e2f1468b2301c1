/**
 * What the parsers share: the parsed body they fill (rows per entity, rejected lines), how a
 * rejected line is described, and the options and limits every format takes.
 */
import type { EntityDef } from "../entity/entity.ts";
import type { FieldError } from "../entity/field-checks.ts";
import { IngestError } from "../errors.ts";
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

export function lineError(
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

/**
 * What the caller may write, resolved once per request (scope.ts): the parsers check each line's
 * entity against `writable`, and reject a line of any other with `refusal(entity)`.
 */
export interface WriteScope {
  writable: ReadonlySet<EntityDef>;
  refusal(entity: EntityDef): string;
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

export function push(out: ParsedBody, entity: EntityDef, json: string, lineNumber: number): void {
  out.rows.push(new ParsedRow(entity, json, lineNumber));
  out.chars += json.length;
}

export type BodyFormat = "text" | "ndjson" | "json";

export interface LineOptions {
  forced?: EntityDef;
  /** The entities the caller may write: lines of others become rejected lines. */
  scope?: WriteScope;
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
