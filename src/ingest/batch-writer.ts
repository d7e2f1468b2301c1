/**
 * Rows in, exact counts out. Groups rows per entity, cuts them into chunks that stay under
 * Neon's 10 MiB request limit, writes each chunk as one INSERT … FROM jsonb_array_elements statement,
 * and when the database rejects a chunk for its data, bisects it so only the bad rows fail.
 */
import { DATABASE_UNAVAILABLE, IngestError } from "../errors.ts";
import { rowAsObject, rowAsRecord, type EntityDef } from "./entity.ts";
import { withSource, type LineError, type RowToWrite } from "./parse-messages.ts";

/** The seam in front of the database: one statement, one JSON array parameter, rows inserted back. */
export interface StatementRunner {
  insert(sql: string, rowsJson: string): Promise<number>;
}

/** The database refused the data of a statement (SQLSTATE class 22 or 23): some row in it is bad. */
export class RowsRejected extends Error {
  readonly sqlState: string;
  constructor(message: string, sqlState: string) {
    super(message);
    this.sqlState = sqlState;
  }
}

export interface WriteLimits {
  /** Rows per statement: 1,000–10,000 is the sweet spot. */
  maxRows: number;
  /**
   * UTF-16 units of row JSON per statement. Neon's request body JSON-encodes this text once more:
   * a char becomes at most 3 bytes (non-ASCII, sent raw) or 2 (an escaped quote or backslash),
   * so 3 Mi units stay under Neon's 10 MiB body with the query around it.
   */
  maxChars: number;
  /** Statements in flight at once (Workers allow 6 open connections per request). */
  concurrency: number;
}

/**
 * 10,000-row statements, so a flush (≤ 10,000 rows) is one statement per entity: against
 * 5,000, PostgreSQL spent ~10% less CPU on the same rows (npm run bench's stack, 300,000 lines;
 * README, Benchmarks). 1, 2 or 4 statements in flight made no difference there beyond the
 * noise; 4 hides more of the network's round trips in production, where Neon is not local.
 */
export const DEFAULT_LIMITS: WriteLimits = { maxRows: 10_000, maxChars: 3 * 1024 * 1024, concurrency: 4 };

export interface EntityCounts {
  inserted: number;
  duplicates: number;
  failed: number;
}

export interface WriteResult {
  inserted: number;
  duplicates: number;
  failed: LineError[];
  byEntity: Record<string, EntityCounts>;
}

interface Chunk {
  entity: EntityDef;
  rows: RowToWrite[];
  json: string[];
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
      chunk = { entity: item.entity, rows: [], json: [], chars: 0 };
      open.set(item.entity, chunk);
    }
    chunk.rows.push(item);
    chunk.json.push(json);
    chunk.chars += json.length + 1;
  }
  chunks.push(...open.values());
  return chunks;
}

/** Writes a chunk; on a data error splits it in halves until each bad row stands alone: O(bad × log n) statements. */
async function writeChunk(chunk: Chunk, runner: StatementRunner, result: WriteResult): Promise<void> {
  const counts = (result.byEntity[chunk.entity.name] ??= { inserted: 0, duplicates: 0, failed: 0 });
  try {
    const inserted = await runner.insert(chunk.entity.insertSql, `[${chunk.json.join(",")}]`);
    counts.inserted += inserted;
    counts.duplicates += chunk.rows.length - inserted;
    result.inserted += inserted;
    result.duplicates += chunk.rows.length - inserted;
  } catch (error) {
    if (!(error instanceof RowsRejected)) throw error;
    if (chunk.rows.length === 1) {
      const row = chunk.rows[0];
      counts.failed++;
      const failure = {
        line_number: row.lineNumber,
        entity: chunk.entity.name,
        message: `the database rejected the row: ${error.message} (SQLSTATE ${error.sqlState})`,
        line: rowAsObject(chunk.entity, chunk.json[0]),
      };
      // The source line is not kept after parsing: the quarantine stores the record it became, which parses back to this row.
      result.failed.push(withSource(failure, { raw: () => rowAsRecord(chunk.entity, row.json), reason: "database", sqlState: error.sqlState, format: "json" }));
      return;
    }
    const half = chunk.rows.length >> 1;
    await writeChunk({ entity: chunk.entity, rows: chunk.rows.slice(0, half), json: chunk.json.slice(0, half) }, runner, result);
    await writeChunk({ entity: chunk.entity, rows: chunk.rows.slice(half), json: chunk.json.slice(half) }, runner, result);
  }
}

/** Writes every row; resolves only once each reported row is committed. */
export async function writeRows(rows: RowToWrite[], runner: StatementRunner, limits: WriteLimits = DEFAULT_LIMITS): Promise<WriteResult> {
  const result: WriteResult = { inserted: 0, duplicates: 0, failed: [], byEntity: {} };
  const queue = chunkRows(rows, limits);
  let failure: unknown;
  const worker = async () => {
    for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
      try {
        await writeChunk(chunk, runner, result);
      } catch (error) {
        failure ??= error;
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
