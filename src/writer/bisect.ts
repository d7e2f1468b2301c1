/**
 * The bisection decorator: a Writer that also writes a chunk with the rows the database refuses for
 * their data (RowsRejected) found and returned as rejections, not thrown. A refused chunk is split in
 * halves until each bad row stands alone: O(bad × log n) statements, within the request's subrequest
 * budget. Where the writer has one statement that finds the refused rows itself (the INSERT writer
 * over HTTP: Writer.findRefused), a refused chunk costs that one statement instead.
 * writeRows (batch.ts) drives it; compose builds it around the request's writer (db/writers.ts).
 */
import { type EntityDef, rowAsObject, rowAsRecord } from "../entity/entity.ts";
import { RowsRejected, type Writer } from "./port.ts";
import { type LineError, type RowToWrite, withSource } from "./rows.ts";

/**
 * Subrequests one request's writes may make before bisection stops: Workers allow 10,000 per
 * request on the Paid plan (50 on Free); this leaves room for everything else the request does.
 * Over HTTP each bisection step is a fetch (about 14 per bad row in a 10,000-row chunk); over the
 * COPY writer's WebSocket it is a query on the open socket, no subrequest.
 */
export const SUBREQUEST_BUDGET = 1000;

/** A chunk once its refused rows are found: rows written (`inserted` of them new, the rest duplicates), and the rows refused. */
export interface ChunkWrite {
  written: number;
  inserted: number;
  rejected: LineError[];
}

/** A Writer whose chunks can be written with their refused rows returned: what withBisection makes. */
export interface BisectingWriter extends Writer {
  /** One chunk of one entity's rows; the rows the database refuses come back as rejections. Throws PartlyWritten, with what committed, on any other failure. */
  writeRejecting(entity: EntityDef, rows: RowToWrite[]): Promise<ChunkWrite>;
}

/** What writeRows needs of a writer. */
export type ChunkWriter = Pick<BisectingWriter, "limits" | "writeRejecting">;

/** A chunk's write failed for something other than its data after some of its halves committed: what they wrote, and the failure. */
export class PartlyWritten extends Error {
  readonly written: ChunkWrite;
  readonly failure: unknown;
  constructor(written: ChunkWrite, failure: unknown) {
    super("a chunk's write failed after part of it committed");
    this.written = written;
    this.failure = failure;
  }
}

/** Why the database refused one row, in PostgreSQL's words. */
const rowRefusal = (message: string, sqlState: string) => `the database rejected the row: ${message} (SQLSTATE ${sqlState})`;

/** A row the database refused, as the request reports it and the quarantine keeps it. */
function rejectRow(entity: EntityDef, row: RowToWrite, message: string, sqlState: string): LineError {
  const failure = { line_number: row.lineNumber, entity: entity.name, message, line: rowAsObject(entity, row.json) };
  // The source line is not kept after parsing: the quarantine stores the record it became, which parses back to this row.
  return withSource(failure, { raw: () => rowAsRecord(entity, row.json), reason: "database", sqlState, format: "json" });
}

const overBudgetReason = (refused: RowsRejected, budget: number) =>
  `not written: the database refused a row among these lines (${refused.message}, SQLSTATE ${refused.sqlState}), and finding which ` +
  `would pass this request's budget of ${budget} subrequests (Cloudflare's per-request limit): send these lines again, ` +
  "in a request with fewer refused rows";

/**
 * Wraps `writer`: writeRejecting splits a refused chunk in halves until each bad row stands alone.
 * Past `budget` subrequests (less one per chunk that may be in flight) the half of a refused chunk is
 * not written but rejected whole, with the reason. The other calls pass through.
 */
export function withBisection(writer: Writer, budget = SUBREQUEST_BUDGET): BisectingWriter {
  const overBudget = () => writer.subrequests() >= budget - writer.limits.concurrency;

  /**
   * A refused chunk written again by one statement that finds its refused rows (Writer.findRefused,
   * over HTTP): true once done; false where the writer has no such statement or bisecting is free.
   * Not for a row over Neon's 10 MiB request (413): only halving finds it.
   */
  async function writeFindingRefused(entity: EntityDef, rows: RowToWrite[], into: ChunkWrite, refused: RowsRejected): Promise<boolean> {
    if (!writer.findRefused || refused.sqlState === "413" || overBudget()) return false;
    // A refusal of the statement itself (not of one of its rows): bisection still finds the rows.
    const found = await writer.findRefused(entity, rows).catch((error: unknown) => {
      if (error instanceof RowsRejected) return undefined;
      throw error;
    });
    if (!found) return false;
    into.written += rows.length - found.refused.length;
    into.inserted += found.inserted;
    for (const row of found.refused) into.rejected.push(rejectRow(entity, rows[row.index], rowRefusal(row.message, row.sqlState), row.sqlState));
    return true;
  }

  async function bisect(entity: EntityDef, rows: RowToWrite[], into: ChunkWrite, refused?: RowsRejected): Promise<void> {
    if (refused && overBudget()) {
      const message = overBudgetReason(refused, budget);
      for (const row of rows) into.rejected.push(rejectRow(entity, row, message, refused.sqlState));
      return;
    }
    try {
      into.inserted += await writer.writeChunk(entity, rows);
      into.written += rows.length;
    } catch (error) {
      if (!(error instanceof RowsRejected)) throw error;
      if (rows.length === 1) {
        into.rejected.push(rejectRow(entity, rows[0], rowRefusal(error.message, error.sqlState), error.sqlState));
        return;
      }
      if (await writeFindingRefused(entity, rows, into, error)) return;
      const half = rows.length >> 1;
      await bisect(entity, rows.slice(0, half), into, error);
      await bisect(entity, rows.slice(half), into, error);
    }
  }

  return {
    limits: writer.limits,
    async writeRejecting(entity, rows) {
      const into: ChunkWrite = { written: 0, inserted: 0, rejected: [] };
      try {
        await bisect(entity, rows, into);
      } catch (error) {
        throw into.written > 0 ? new PartlyWritten(into, error) : error;
      }
      return into;
    },
    writeChunk: (entity, rows) => writer.writeChunk(entity, rows),
    writeTransaction: (rows, extra) => writer.writeTransaction(rows, extra),
    writeOne: (entity, json, children) => writer.writeOne(entity, json, children),
    subrequests: () => writer.subrequests(),
    prepare: () => writer.prepare(),
    close: () => writer.close(),
  };
}
