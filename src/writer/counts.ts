/**
 * The rules over counts, defined once: what an ingest amounts to (success, partial, error) and how
 * counts are summed. Used by the ingest service's tally, the async receipts and the stats.
 */
import type { EntityCounts } from "./port.ts";

export type Outcome = "success" | "partial" | "error";

/** The one rule for what an ingest amounts to: nothing rejected, some rows written, or nothing written. */
export function outcomeOf(counts: EntityCounts): Outcome {
  if (counts.failed === 0) return "success";
  return counts.inserted + counts.duplicates > 0 ? "partial" : "error";
}

/** Adds `more` into `into` (a missing count adds nothing). */
export function addCounts(into: EntityCounts, more: Partial<EntityCounts>): void {
  into.inserted += more.inserted ?? 0;
  into.duplicates += more.duplicates ?? 0;
  into.failed += more.failed ?? 0;
}

/** Messages counted: inserted, duplicates and failed together. */
export const countTotal = (counts: EntityCounts): number => counts.inserted + counts.duplicates + counts.failed;
