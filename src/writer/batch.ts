/**
 * Rows in, exact counts out. Groups rows per entity, cuts them into chunks within the writer's
 * limits, writes the chunks a few at a time through the bisection decorator (bisect.ts), so only
 * the rows the database refuses fail.
 */
import type { EntityDef } from "../entity/entity.ts";
import { DATABASE_UNAVAILABLE, IngestError } from "../errors.ts";
import { type ChunkWrite, type ChunkWriter, PartlyWritten } from "./bisect.ts";
import { addWritten, emptyResult, type WriteLimits, type WriteResult } from "./port.ts";
import type { RowToWrite } from "./rows.ts";

interface Chunk {
  entity: EntityDef;
  rows: RowToWrite[];
}

/** Adds a chunk's outcome to the result. */
function count(result: WriteResult, entity: string, chunk: ChunkWrite): void {
  addWritten(result, entity, chunk.written, chunk.inserted);
  result.byEntity[entity].failed += chunk.rejected.length;
  result.failed.push(...chunk.rejected);
}

function chunkRows(rows: RowToWrite[], limits: WriteLimits): Chunk[] {
  const open = new Map<EntityDef, Chunk & { chars: number }>();
  const chunks: Chunk[] = [];
  for (const item of rows) {
    const json = item.json;
    let chunk = open.get(item.entity);
    if (chunk && (chunk.rows.length >= limits.maxRows || chunk.chars + json.length > limits.maxChars)) {
      chunks.push(chunk);
      chunk = undefined;
    }
    if (!chunk) {
      chunk = { entity: item.entity, rows: [], chars: 0 };
      open.set(item.entity, chunk);
    }
    chunk.rows.push(item);
    chunk.chars += json.length + 1;
  }
  chunks.push(...open.values());
  return chunks;
}

/** Writes every row; resolves only once each reported row is committed. */
export async function writeRows(rows: RowToWrite[], writer: ChunkWriter, limits: WriteLimits = writer.limits): Promise<WriteResult> {
  const result = emptyResult();
  const queue = chunkRows(rows, limits);
  let failure: unknown;
  const worker = async () => {
    for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
      try {
        count(result, chunk.entity.name, await writer.writeRejecting(chunk.entity, chunk.rows));
      } catch (error) {
        if (error instanceof PartlyWritten) count(result, chunk.entity.name, error.written);
        failure ??= error instanceof PartlyWritten ? error.failure : error;
        queue.length = 0; // stop the other workers too; what is in flight finishes and is counted
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.concurrency, queue.length) }, worker));
  if (failure instanceof IngestError) throw failure;
  if (failure) {
    // Some chunks may have committed: say how many, so the client knows a retry is needed and safe (natural keys).
    throw new IngestError("database_unavailable", DATABASE_UNAVAILABLE, { committed: { inserted: result.inserted, duplicates: result.duplicates } }, failure);
  }
  result.failed.sort((a, b) => a.line_number - b.line_number);
  return result;
}
