/**
 * What the parser hands a writer (one row per line, as the JSON array its insert reads) and what
 * comes back about a line that could not be written or parsed.
 */
import { z } from "zod";
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

/** Why a line was rejected: it did not parse, the key may not write its entity, or the database refused it. */
export const RejectionReason = z.enum(["parse", "scope", "database"]);
export type RejectionReason = z.infer<typeof RejectionReason>;

export interface QuarantineSource {
  /** A function: made only if the line is kept. */
  raw: string | Uint8Array | (() => string);
  /** The line was longer than what was kept of it. */
  cut?: boolean;
  reason?: RejectionReason;
  sqlState?: string;
  /** How to read `raw` again; else the request's format. */
  format?: "text" | "json";
}

/** A line that could not be parsed or written, as answers report it (routes/schemas.ts documents it as LineError). */
export const LineErrorFields = z.object({
  line_number: z.number().int(),
  entity: z.string().nullable(),
  /** The offending field, when one is to blame. */
  field: z.string().optional(),
  position: z.number().int().optional(),
  message: z.string(),
  line: z.string(),
});

export type LineError = z.infer<typeof LineErrorFields> & { [QUARANTINE]?: QuarantineSource };

/** Attaches what the quarantine keeps, not enumerable: tests comparing errors and answers never see it. */
export function withSource(error: LineError, source: QuarantineSource): LineError {
  return Object.defineProperty(error, QUARANTINE, { value: source, enumerable: false });
}
