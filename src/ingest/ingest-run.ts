/**
 * One ingest request's progress: parsed rows are gathered into flushes written by the batch
 * writer, at most two flushes in flight while the next is gathered, so memory stays at three
 * flushes whatever the body's size. Totals always satisfy processed = inserted + duplicates + failed.
 */
import { IngestError } from "../errors.ts";
import { writeRows } from "../writer/batch.ts";
import type { ChunkWriter } from "../writer/bisect.ts";
import { addCounts } from "../writer/counts.ts";
import type { EntityCounts, WriteLimits, WriteResult } from "../writer/port.ts";
import type { LineError, RowToWrite } from "../writer/rows.ts";
import type { ParsedBody } from "./parsed-body.ts";
import type { Quarantine } from "./quarantine.ts";

/** An ingest's counts, in total and per entity: processed = inserted + duplicates + failed. */
export interface Totals extends EntityCounts {
  processed: number;
  entities: Record<string, EntityCounts>;
}

export interface RunOptions {
  limits?: WriteLimits;
  /** Rows gathered before a flush is written (the unit of progress events). */
  flushRows?: number;
  /** Characters of row JSON gathered before a flush is written, whatever the row count. */
  flushChars?: number;
  /** A slow upload still commits (and reports progress) at least this often; Infinity: only when full or finished. */
  flushMs?: number;
  /** Called with the totals after each committed flush, and the errors found since the last call. */
  onCommit?(totals: Totals, errors: LineError[]): void;
  /** Called for every rejected line as soon as it is known; `refused`: a row the database refused, not a line the parsers rejected. */
  onError?(error: LineError, refused: boolean): void;
  /** Keeps the rejected lines: each flush stores those gathered so far once its rows are written. */
  quarantine?: Quarantine;
}

const DEFAULT_FLUSH_ROWS = 10_000;
const DEFAULT_FLUSH_CHARS = 4 * 1024 * 1024;
const DEFAULT_FLUSH_MS = 1000;

/** Rejected lines kept for one progress event; the rest are counted, not held. */
const MAX_ERRORS_PER_EVENT = 100;

/** Counts of one ingest, kept so that processed = inserted + duplicates + failed, in total and per entity. */
export class Tally {
  readonly totals: Totals = { processed: 0, inserted: 0, duplicates: 0, failed: 0, entities: {} };

  private counts(entity: string): EntityCounts {
    return (this.totals.entities[entity] ??= { inserted: 0, duplicates: 0, failed: 0 });
  }

  rejected(error: LineError): void {
    this.totals.failed++;
    this.totals.processed++;
    this.counts(error.entity ?? "(unknown)").failed++;
  }

  /** Rows written; the rows the database refused are counted by rejected(), one by one. */
  written(result: Pick<WriteResult, "inserted" | "duplicates" | "byEntity">): void {
    addCounts(this.totals, { inserted: result.inserted, duplicates: result.duplicates });
    this.totals.processed += result.inserted + result.duplicates;
    for (const [name, c] of Object.entries(result.byEntity)) addCounts(this.counts(name), { inserted: c.inserted, duplicates: c.duplicates });
  }

  /** Valid rows that were not written (an atomic batch that rolled back): failed, without an error line each. */
  notWritten(rows: RowToWrite[]): void {
    for (const row of rows) {
      this.totals.failed++;
      this.totals.processed++;
      this.counts(row.entity.name).failed++;
    }
  }
}

export class IngestRun {
  private readonly tally = new Tally();
  readonly totals: Totals = this.tally.totals;
  /** The ParsedBody the parsers append to; `step` drains it. */
  readonly sink: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
  private errorsSinceCommit: LineError[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private lastFlush = Date.now();
  private timer?: ReturnType<typeof setTimeout>;
  private readonly writer: ChunkWriter;
  private readonly options: RunOptions;

  constructor(writer: ChunkWriter, options: RunOptions = {}) {
    this.writer = writer;
    this.options = options;
  }

  private reject(error: LineError, refused = false): void {
    this.tally.rejected(error);
    if (this.errorsSinceCommit.length < MAX_ERRORS_PER_EVENT) this.errorsSinceCommit.push(error);
    this.options.onError?.(error, refused);
  }

  /** Counts a written flush, and reports it. */
  private commit(written: WriteResult): void {
    this.tally.written(written);
    for (const error of written.failed) this.reject(error, true);
    const errors = this.errorsSinceCommit.sort((a, b) => a.line_number - b.line_number);
    this.errorsSinceCommit = [];
    this.options.onCommit?.(this.totals, errors);
  }

  /**
   * Call after appending to `sink`: reports its rejected lines at once, and writes its rows when
   * they make a full flush, when they have waited flushMs, or when forced. A flush starts writing
   * at once, while the previous one may still be writing (the database is kept busy while the
   * next is parsed), and flushes are counted in order. The caller waits for the previous flush
   * (backpressure): at most two are written while a third is gathered.
   */
  async step(force = false): Promise<void> {
    const errors = this.sink.errors.splice(0);
    for (const error of errors) this.reject(error);
    const quarantine = this.options.quarantine;
    quarantine?.add(errors);
    const flushMs = this.options.flushMs ?? DEFAULT_FLUSH_MS;
    const full =
      this.sink.rows.length >= (this.options.flushRows ?? DEFAULT_FLUSH_ROWS) ||
      this.sink.chars >= (this.options.flushChars ?? DEFAULT_FLUSH_CHARS) ||
      Boolean(quarantine?.full);
    const waiting = this.sink.rows.length > 0 || this.errorsSinceCommit.length > 0 || Boolean(quarantine?.waiting);
    const due = waiting && Date.now() - this.lastFlush >= flushMs;
    if (!force && !full && !due) {
      // A trickle that pauses must still commit: flush on a timer if no more data comes.
      if (waiting)
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.step().catch(() => {}); // a failure stays in inFlight for the next step or finish
        }, flushMs);
      return;
    }
    if (!waiting) return void (await this.inFlight);
    this.lastFlush = Date.now();
    const rows = this.sink.rows.splice(0);
    this.sink.chars = 0;
    // The rejections gathered so far go with this flush: stored once its rows are written, in flush order.
    const settle = quarantine ? quarantine.hold() : (written: Promise<WriteResult>) => written;
    const writing = writeRows(rows, this.writer, this.options.limits);
    writing.catch(() => {}); // settled below, in order
    const previous = this.inFlight;
    this.inFlight = this.countInOrder(previous, writing, settle);
    // Awaited by a later step or by finish; this only keeps the runtime from reporting it unhandled meanwhile.
    this.inFlight.catch(() => {});
    await previous;
  }

  /**
   * Counts a flush after the one before it. After a failure the chain still waits for this
   * flush and counts what it committed, then passes the first failure on: its own committed
   * counts are added by abort().
   */
  private async countInOrder(
    previous: Promise<void>,
    writing: Promise<WriteResult>,
    settle: (writing: Promise<WriteResult>) => Promise<WriteResult>,
  ): Promise<void> {
    let failure: unknown;
    try {
      await previous;
    } catch (error) {
      failure = error;
    }
    try {
      // The rejections held for this flush are stored once its rows are (else kept pending for abort() or the queue fallback).
      this.commit(await settle(writing));
    } catch (error) {
      if (failure === undefined) throw error;
      this.countCommitted(error);
    }
    if (failure !== undefined) throw failure;
  }

  /** Adds what a failed write had committed before it failed (its IngestError says). */
  private countCommitted(error: unknown): void {
    const committed = error instanceof IngestError ? (error.details.committed as { inserted: number; duplicates: number } | undefined) : undefined;
    if (committed) this.tally.written({ ...committed, byEntity: {} });
  }

  /**
   * After a failure: writes nothing more, waits for the flushes in flight, and counts what they
   * committed, so the totals are what the database holds from this request. `store`: the rejected
   * lines still pending are stored now (not when the caller hands them to the queue instead).
   */
  async abort(store = true): Promise<Totals> {
    clearTimeout(this.timer);
    this.sink.rows.length = 0;
    this.sink.chars = 0;
    try {
      await this.inFlight;
    } catch (error) {
      this.countCommitted(error);
    }
    if (!store) return this.totals;
    // Lines already rejected are kept even when the request fails or the client went away.
    this.options.quarantine?.add(this.sink.errors.splice(0));
    await this.options.quarantine?.flush();
    return this.totals;
  }

  /** Writes the rest; resolves once every reported row is committed. */
  async finish(): Promise<Totals> {
    clearTimeout(this.timer);
    await this.step(true);
    await this.inFlight;
    return this.totals;
  }
}
