/**
 * Bisection: a chunk the database refuses for its data (RowsRejected) is split in halves until each
 * bad row stands alone, so only the bad rows fail: O(bad × log n) statements, within the request's
 * subrequest budget. Where the writer has one statement that finds the refused rows itself (the
 * INSERT writer over HTTP: Writer.findRefused), the refused chunk costs that one statement instead.
 * It wraps any writer's writeChunk; writeRows (batch.ts) drives it.
 */
import { type EntityDef, rowAsObject, rowAsRecord } from "../entity/entity.ts";
import { addWritten, RowsRejected, type WriteResult, type Writer } from "./port.ts";
import { type RowToWrite, withSource } from "./rows.ts";

/** What writeRows needs of a writer (without `subrequests`, no budget applies). */
export type ChunkWriter = Pick<Writer, "limits" | "writeChunk"> & Partial<Pick<Writer, "subrequests" | "findRefused">>;

/**
 * Subrequests one request's writes may make before bisection stops: Workers allow 10,000 per
 * request on the Paid plan (50 on Free); this leaves room for everything else the request does.
 * Over HTTP each bisection step is a fetch (about 14 per bad row in a 10,000-row chunk), which is why
 * a refused chunk is first given to Writer.findRefused (one fetch); over the COPY writer's WebSocket a
 * step is a query on the open socket, no subrequest.
 */
export const SUBREQUEST_BUDGET = 1000;

/** Whether another bisection step could pass the budget (each chunk in flight may make one more). */
const overBudget = (writer: ChunkWriter) => writer.subrequests !== undefined && writer.subrequests() >= SUBREQUEST_BUDGET - writer.limits.concurrency;

export interface Chunk {
  entity: EntityDef;
  rows: RowToWrite[];
}

/** Why the database refused one row, in PostgreSQL's words. */
const rowRefusal = (message: string, sqlState: string) => `the database rejected the row: ${message} (SQLSTATE ${sqlState})`;

/** A row the database refused, as the request reports it and the quarantine keeps it. */
function rejectRow(chunk: Chunk, row: RowToWrite, message: string, sqlState: string, result: WriteResult): void {
  result.byEntity[chunk.entity.name].failed++;
  const failure = { line_number: row.lineNumber, entity: chunk.entity.name, message, line: rowAsObject(chunk.entity, row.json) };
  // The source line is not kept after parsing: the quarantine stores the record it became, which parses back to this row.
  result.failed.push(withSource(failure, { raw: () => rowAsRecord(chunk.entity, row.json), reason: "database", sqlState, format: "json" }));
}

/**
 * A refused chunk written again by one statement that finds its refused rows (Writer.findRefused,
 * over HTTP): true once done; false where the writer has no such statement or bisecting is free.
 * Not for a row over Neon's 10 MiB request (413): only halving finds it.
 */
async function writeFindingRefused(chunk: Chunk, writer: ChunkWriter, result: WriteResult, refused: RowsRejected): Promise<boolean> {
  if (!writer.findRefused || refused.sqlState === "413" || overBudget(writer)) return false;
  // A refusal of the statement itself (not of one of its rows): bisection still finds the rows.
  const found = await writer.findRefused(chunk.entity, chunk.rows).catch((error) => {
    if (error instanceof RowsRejected) return undefined;
    throw error;
  });
  if (!found) return false;
  addWritten(result, chunk.entity.name, chunk.rows.length - found.refused.length, found.inserted);
  for (const row of found.refused) {
    rejectRow(chunk, chunk.rows[row.index], rowRefusal(row.message, row.sqlState), row.sqlState, result);
  }
  return true;
}

/**
 * Writes a chunk; on a data error splits it in halves until each bad row stands alone: O(bad × log n)
 * statements. `refused`: the half of a refused chunk, with the refusal; past the subrequest budget it
 * is not written but rejected whole, with the reason.
 */
export async function writeBisecting(chunk: Chunk, writer: ChunkWriter, result: WriteResult, refused?: RowsRejected): Promise<void> {
  result.byEntity[chunk.entity.name] ??= { inserted: 0, duplicates: 0, failed: 0 };
  if (refused && overBudget(writer)) {
    const message =
      `not written: the database refused a row among these lines (${refused.message}, SQLSTATE ${refused.sqlState}), and finding which ` +
      `would pass this request's budget of ${SUBREQUEST_BUDGET} subrequests (Cloudflare's per-request limit): send these lines again, ` +
      "in a request with fewer refused rows";
    for (const row of chunk.rows) rejectRow(chunk, row, message, refused.sqlState, result);
    return;
  }
  try {
    addWritten(result, chunk.entity.name, chunk.rows.length, await writer.writeChunk(chunk.entity, chunk.rows));
  } catch (error) {
    if (!(error instanceof RowsRejected)) throw error;
    if (chunk.rows.length === 1) {
      rejectRow(chunk, chunk.rows[0], rowRefusal(error.message, error.sqlState), error.sqlState, result);
      return;
    }
    if (await writeFindingRefused(chunk, writer, result, error)) return;
    const half = chunk.rows.length >> 1;
    await writeBisecting({ entity: chunk.entity, rows: chunk.rows.slice(0, half) }, writer, result, error);
    await writeBisecting({ entity: chunk.entity, rows: chunk.rows.slice(half) }, writer, result, error);
  }
}
