/**
 * The ingest service's one door to the database. src/db/ implements it: INSERT over Neon's HTTP
 * API (db/insert-writer.ts) and, for bulk writes, COPY over Neon's WebSocket protocol.
 */
import type { EntityDef } from "../entity/entity.ts";
import type { LineError, RowToWrite } from "./rows.ts";

/** What happened to one entity's rows. */
export interface EntityCounts {
  inserted: number;
  duplicates: number;
  failed: number;
}

/** Rows inserted, and rows whose natural key already existed. */
export type RowCounts = Pick<EntityCounts, "inserted" | "duplicates">;

/** What a write did: rows inserted, rows whose natural key already existed, rows the database refused. */
export interface WriteResult extends RowCounts {
  failed: LineError[];
  byEntity: Record<string, EntityCounts>;
}

/** A write that did nothing yet. */
export const emptyResult = (): WriteResult => ({ inserted: 0, duplicates: 0, failed: [], byEntity: {} });

/** Adds `rows` written for `entity`, `inserted` of them new (the rest duplicates), to the entity's counts and the totals. */
export function addWritten(result: WriteResult, entity: string, rows: number, inserted: number): void {
  const counts = (result.byEntity[entity] ??= { inserted: 0, duplicates: 0, failed: 0 });
  counts.inserted += inserted;
  counts.duplicates += rows - inserted;
  result.inserted += inserted;
  result.duplicates += rows - inserted;
}

/** One more statement of a transaction (an idempotency key, stored rejections), with text parameters. */
export interface Statement {
  query: string;
  params: string[];
}

/** A message written alone: the record's real id, and its derived rows per entity. */
export interface SingleWrite {
  id: number | string;
  duplicate: boolean;
  children: Record<string, RowCounts>;
}

/** How the service cuts rows into chunks for this writer. */
export interface WriteLimits {
  /** Rows per chunk. */
  maxRows: number;
  /** UTF-16 units of row JSON per chunk (Neon's HTTP API takes at most 10 MiB a request). */
  maxChars: number;
  /** Chunks in flight at once (Workers allow 6 open connections per request). */
  concurrency: number;
}

/** The database refused the data of a statement (SQLSTATE class 22 or 23): some row in it is bad. */
export class RowsRejected extends Error {
  readonly sqlState: string;
  constructor(message: string, sqlState: string) {
    super(message);
    this.sqlState = sqlState;
  }
}

/** A refused chunk written in one statement (Writer.findRefused): how many of its rows were new, and each row refused. */
export interface FoundRefused {
  /** Rows inserted; the chunk's other rows that were not refused had their natural key already. */
  inserted: number;
  /** The refused rows (their index in the chunk), with PostgreSQL's message and SQLSTATE. */
  refused: { index: number; message: string; sqlState: string }[];
}

/**
 * Writes rows that skip natural-key duplicates (ON CONFLICT DO NOTHING semantics), retrying
 * transient failures itself. It throws RowsRejected when the database refuses a row's data (the
 * bisection decorator, bisect.ts, then splits the chunk), TransientDatabaseError once retries are
 * spent, and IngestError for what no retry fixes (misconfiguration, a full database, SchemaMismatch).
 */
export interface Writer {
  readonly limits: WriteLimits;
  /** One chunk of one entity's rows; resolves to how many were inserted (the rest were duplicates). */
  writeChunk(entity: EntityDef, rows: RowToWrite[]): Promise<number>;
  /** Every row and every extra statement in one transaction: all commit or none. */
  writeTransaction(rows: RowToWrite[], extra: Statement[]): Promise<WriteResult>;
  /** One record and its derived rows in one transaction, with the record's real id. */
  writeOne(entity: EntityDef, json: string, children: { entity: EntityDef; rows: string[] }[]): Promise<SingleWrite>;
  /**
   * A chunk the database refused (RowsRejected for its data), written again by one statement that finds
   * the refused rows itself: one subrequest where bisection would make one a step. Resolves to undefined
   * where bisecting costs no subrequest (inside the COPY writer's open WebSocket); absent: bisect.
   */
  findRefused?(entity: EntityDef, rows: RowToWrite[]): Promise<FoundRefused | undefined>;
  /** Subrequests (fetches, WebSockets) this request's writes have made so far: Workers limit them per request. */
  subrequests(): number;
  /**
   * Rows are coming: a writer with a connection to open (a WebSocket) starts opening it now, while
   * the body is still read and parsed. Failures surface, if at all, at the first write.
   */
  prepare(): void;
  /** Releases what the writer holds (a WebSocket): called once per request, whatever happened (after the answer). */
  close(): Promise<void>;
}
