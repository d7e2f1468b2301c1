/**
 * What the ingest service needs from outside, declared here and handed in by the composition root
 * (src/compose.ts): db/ and queue/ satisfy these shapes without importing ingest/, and the Node
 * tests satisfy them with fakes. Nothing in ingest/ reaches for a database, a queue or a global.
 */
import type { Settings } from "../env.ts";
import type { BisectingWriter } from "../writer/bisect.ts";
import type { Statement } from "../writer/port.ts";
import type { RejectionFilter, RejectionOrigin, RejectionRecord, StoredRejection } from "../writer/rejections.ts";
import type { LineError, RowToWrite } from "../writer/rows.ts";

/** Where a writer's database seconds are counted (the request's meter). */
export interface WriterClock {
  dbSeconds: number;
}

/** Opens a writer; the caller closes it. `retryMs` shortens the retry budget (the queue consumer's). */
export type WriterFactory = (clock?: WriterClock, retryMs?: number) => BisectingWriter;

/** An answer stored under an Idempotency-Key. */
export interface StoredAnswer {
  status: number;
  body: unknown;
}

/** The Idempotency-Key table, bound to its time to live. */
export interface IdempotencyStore {
  /** The stored answer; undefined for a new key (or one not answered yet); 409 for another body under the key. */
  find(owner: string | null, key: string, hash: string): Promise<StoredAnswer | undefined>;
  /** The statement that claims the key inside the batch's transaction. */
  claim(owner: string | null, key: string, hash: string): Statement;
  save(owner: string | null, key: string, hash: string, answer: StoredAnswer): Promise<void>;
}

/** The quarantine's table. */
export interface QuarantineStore {
  /** INSERT statements for `records`, for a caller's transaction. */
  statements(origin: RejectionOrigin, records: RejectionRecord[]): Statement[];
  /** Stores records (throws when the database did not take them). */
  insert(origin: RejectionOrigin, records: RejectionRecord[]): Promise<void>;
  list(filter: RejectionFilter, limit: number, newest?: boolean): Promise<{ rows: StoredRejection[]; more: boolean }>;
  markReplayed(ids: number[]): Promise<void>;
  delete(filter: RejectionFilter, maxRows: number): Promise<{ deleted: number; more: boolean }>;
}

/** Puts rows (and the rejections not stored yet) on the queue and opens their receipt. */
export type Enqueue = (
  keyId: string | null,
  rows: RowToWrite[],
  parseErrors: LineError[],
  failed: number,
  quarantine?: { origin: RejectionOrigin; rejections: RejectionRecord[] },
) => Promise<{ ingestId: string; parts: number }>;

/** A request's dependencies, built once per request by src/compose.ts. */
export interface IngestDeps {
  settings: Settings;
  openWriter: WriterFactory;
  idempotency: IdempotencyStore;
  quarantine: QuarantineStore;
  enqueue: Enqueue;
  /** A schema mismatch explained from a fresh read of the migration journal; anything else as it is. */
  explain(error: unknown): Promise<unknown>;
  /** Work the request finishes after its answer (ctx.waitUntil): closing its writer's connection. */
  waitUntil(work: Promise<unknown>): void;
  /** The clock (ms since the epoch). */
  now(): number;
}
