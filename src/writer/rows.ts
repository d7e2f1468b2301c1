/**
 * What the parser hands a writer (one row per line, as the JSON array its insert reads) and what
 * comes back about a line that could not be written or parsed.
 */
import type { EntityDef } from "../entity/entity.ts";

export interface RowToWrite {
  entity: EntityDef;
  /**
   * The row as the JSON array of its values (column order) that the insert statement reads,
   * encoded once at parse time: one flat string per row waits for its flush, not an object.
   */
  json: string;
  lineNumber: number;
}

/**
 * What the quarantine keeps of a rejected line beyond its answer: the line whole (`line` is cut for
 * the answer), or its bytes as received when they are not UTF-8. Symbol-keyed, so JSON answers and
 * structured clones never carry it.
 */
export const QUARANTINE = Symbol("quarantine");

export interface QuarantineSource {
  /** A function: made only if the line is kept. */
  raw: string | Uint8Array | (() => string);
  /** The line was longer than what was kept of it. */
  cut?: boolean;
  reason?: "parse" | "scope" | "database";
  sqlState?: string;
  /** How to read `raw` again; else the request's format. */
  format?: "text" | "json";
}

export interface LineError {
  line_number: number;
  entity: string | null;
  /** The offending field, when one is to blame. */
  field?: string;
  position?: number;
  message: string;
  line: string;
  [QUARANTINE]?: QuarantineSource;
}

/** Attaches what the quarantine keeps, not enumerable: tests comparing errors and answers never see it. */
export function withSource(error: LineError, source: QuarantineSource): LineError {
  return Object.defineProperty(error, QUARANTINE, { value: source, enumerable: false });
}
