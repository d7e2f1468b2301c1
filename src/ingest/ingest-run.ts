/**
 * One ingest request's progress: parsed rows are gathered into flushes written by the batch
 * writer, at most two flushes in flight while the next is gathered, so memory stays at three
 * flushes whatever the body's size. Totals always satisfy processed = inserted + duplicates + failed.
 */
import { IngestError } from "../errors.ts";
import { DEFAULT_LIMITS, writeRows, type EntityCounts, type StatementRunner, type WriteLimits, type WriteResult } from "./batch-writer.ts";
import type { LineError, ParsedBody, RowToWrite } from "./parse-messages.ts";
import type { Quarantine, RejectionRecord } from "./quarantine.ts";

export interface Totals {
  processed: number;
  inserted: number;
  duplicates: number;
  failed: number;
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
  /** Called for every rejected line as soon as it is known. */
  onError?(error: LineError): void;
  /** Keeps the rejected lines: each flush stores those gathered so far once its rows are written. */
  quarantine?: Quarantine;
}

const DEFAULT_FLUSH_ROWS = 10_000;
const DEFAULT_FLUSH_CHARS = 4 * 1024 * 1024;
const DEFAULT_FLUSH_MS = 1000;

/** Rejected lines kept for one progress event; the rest are counted, not held. */
const MAX_ERRORS_PER_EVENT = 100;

export class IngestRun {
  readonly totals: Totals = { processed: 0, inserted: 0, duplicates: 0, failed: 0, entities: {} };
  /** The ParsedBody the parsers append to; `step` drains it. */
  readonly sink: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
  private errorsSinceCommit: LineError[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private lastFlush = Date.now();
  private timer?: ReturnType<typeof setTimeout>;
  private readonly runner: StatementRunner;
  private readonly options: RunOptions;

  constructor(runner: StatementRunner, options: RunOptions = {}) {
    this.runner = runner;
    this.options = options;
  }

  private counts(entity: string): EntityCounts {
    return (this.totals.entities[entity] ??= { inserted: 0, duplicates: 0, failed: 0 });
  }

  private reject(error: LineError): void {
    this.totals.failed++;
    this.totals.processed++;
    this.counts(error.entity ?? "(unknown)").failed++;
    if (this.errorsSinceCommit.length < MAX_ERRORS_PER_EVENT) this.errorsSinceCommit.push(error);
    this.options.onError?.(error);
  }

  /** Takes the gathered rows out, for a caller that writes them itself (in one transaction). */
  takeRows(): RowToWrite[] {
    this.sink.chars = 0;
    return this.sink.rows.splice(0);
  }

  /** Counts valid rows that were not written (an atomic batch that rolled back) as failed, without an error line each. */
  countNotWritten(rows: RowToWrite[]): void {
    for (const row of rows) {
      this.totals.failed++;
      this.totals.processed++;
      this.counts(row.entity.name).failed++;
    }
  }

  /** Counts rows the caller wrote itself. */
  commit(written: WriteResult): void {
    this.totals.inserted += written.inserted;
    this.totals.duplicates += written.duplicates;
    this.totals.processed += written.inserted + written.duplicates;
    for (const [name, c] of Object.entries(written.byEntity)) {
      const counts = this.counts(name);
      counts.inserted += c.inserted;
      counts.duplicates += c.duplicates;
    }
    written.failed.forEach((e) => this.reject(e));
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
    errors.forEach((e) => this.reject(e));
    const quarantine = this.options.quarantine;
    quarantine?.add(errors);
    const flushMs = this.options.flushMs ?? DEFAULT_FLUSH_MS;
    const full = this.sink.rows.length >= (this.options.flushRows ?? DEFAULT_FLUSH_ROWS) || this.sink.chars >= (this.options.flushChars ?? DEFAULT_FLUSH_CHARS) || Boolean(quarantine?.full);
    const waiting = this.sink.rows.length > 0 || this.errorsSinceCommit.length > 0 || Boolean(quarantine?.waiting);
    const due = waiting && Date.now() - this.lastFlush >= flushMs;
    if (!force && !full && !due) {
      // A trickle that pauses must still commit: flush on a timer if no more data comes.
      if (waiting) this.timer ??= setTimeout(() => {
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
    const rejected = quarantine?.take() ?? [];
    const writing = writeRows(rows, this.runner, this.options.limits ?? DEFAULT_LIMITS);
    writing.catch(() => {}); // settled below, in order
    const previous = this.inFlight;
    this.inFlight = this.countInOrder(previous, writing, rejected);
    // Awaited by a later step or by finish; this only keeps the runtime from reporting it unhandled meanwhile.
    this.inFlight.catch(() => {});
    await previous;
  }

  /**
   * Counts a flush after the one before it. After a failure the chain still waits for this
   * flush and counts what it committed, then passes the first failure on: its own committed
   * counts are added by abort().
   */
  private async countInOrder(previous: Promise<void>, writing: Promise<WriteResult>, rejected: RejectionRecord[]): Promise<void> {
    let failure: unknown;
    try {
      await previous;
    } catch (error) {
      failure = error;
    }
    const quarantine = this.options.quarantine;
    try {
      const written = await writing;
      await quarantine?.store(rejected, written.failed);
      this.commit(written);
    } catch (error) {
      // Not stored: kept pending for abort() or the caller (the queue fallback).
      quarantine?.restore(rejected);
      if (failure === undefined) throw error;
      this.countCommitted(error);
    }
    if (failure !== undefined) throw failure;
  }

  /** Adds what a failed write had committed before it failed (its IngestError says). */
  private countCommitted(error: unknown): void {
    const committed = error instanceof IngestError ? (error.details.committed as { inserted: number; duplicates: number } | undefined) : undefined;
    if (!committed) return;
    this.totals.inserted += committed.inserted;
    this.totals.duplicates += committed.duplicates;
    this.totals.processed += committed.inserted + committed.duplicates;
  }

  /**
   * After a failure: writes nothing more, waits for the flushes in flight, and counts what they
   * committed, so the totals are what the database holds from this request.
   */
  async abort(): Promise<Totals> {
    clearTimeout(this.timer);
    this.sink.rows.length = 0;
    this.sink.chars = 0;
    try {
      await this.inFlight;
    } catch (error) {
      this.countCommitted(error);
    }
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
