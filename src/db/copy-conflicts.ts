/**
 * The COPY writer's memory of entities that met existing keys (CopyCache.conflicted): a chunk that
 * inserted all its rows, whichever writer took it, ends its entity's replay; a COPY transaction's
 * counts are read from each COPY's inserted rows.
 */
import type { EntityDef } from "../entity/entity.ts";
import { Declined } from "../writer/fallback.ts";
import { addWritten, emptyResult, type WriteResult } from "../writer/port.ts";
import type { RowToWrite } from "../writer/rows.ts";

/** An entity's chunk that found no existing row ends its replay: COPY straight into the table next time. */
export function noteInserted(conflicted: Set<string>, entity: EntityDef, rows: number, inserted: number): void {
  if (inserted === rows) conflicted.delete(entity.name);
}

/** A chunk for the fallback (a refused row, text COPY cannot carry, no WebSocket); what it inserts still ends a replay. */
export const declineChunk = (conflicted: Set<string>, entity: EntityDef, rows: RowToWrite[], why: string) =>
  new Declined(why, (inserted) => noteInserted(conflicted, entity, rows.length, inserted as number));

/** Counts per entity from each COPY's inserted rows. */
export function copyResult(conflicted: Set<string>, groups: Map<EntityDef, string[]>, inserted: number[]): WriteResult {
  const result = emptyResult();
  for (const [i, [entity, jsons]] of [...groups].entries()) {
    addWritten(result, entity.name, jsons.length, inserted[i]);
    noteInserted(conflicted, entity, jsons.length, inserted[i]);
  }
  return result;
}
