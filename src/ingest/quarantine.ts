/**
 * The quarantine's collector: every rejected line of a best-effort ingest is gathered here while
 * the request runs and stored through the request's QuarantineStore (src/ingest/ports.ts), to be
 * listed, replayed and deleted later (src/ingest/rejections.ts). Storing a rejection never changes
 * the request's answer: a failure is logged and counted, nothing more.
 */
import type { Statement, WriteResult } from "../writer/port.ts";
import type { RejectionOrigin, RejectionRecord } from "../writer/rejections.ts";
import { type LineError, QUARANTINE } from "../writer/rows.ts";
import type { QuarantineStore } from "./ports.ts";

/** Where a request counts what the quarantine did (observe() turns it into metrics). */
export interface QuarantineMeter {
  /** Stored rejections by "entity|reason". */
  rejections: Record<string, number>;
  /** Rejections that could not be stored (the database failed) or were over the per-request cap. */
  rejectionsNotStored: number;
}

export interface QuarantineLimits {
  /** Bytes kept of one line (QUARANTINE_RAW_BYTES). */
  rawBytes: number;
  /** Rejections kept per request (QUARANTINE_MAX_PER_REQUEST). */
  perRequest: number;
}

const encoder = new TextEncoder();

export function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A rejected line as the record the quarantine stores. */
export function toRecord(error: LineError, defaultFormat: "text" | "json", rawBytes: number): RejectionRecord {
  const source = error[QUARANTINE] ?? { raw: error.line };
  const raw = typeof source.raw === "function" ? source.raw() : source.raw;
  const bytes = typeof raw === "string" ? encoder.encode(raw) : raw;
  const kept = bytes.length > rawBytes ? bytes.subarray(0, rawBytes) : bytes;
  return {
    line_number: error.line_number,
    entity: error.entity,
    field: error.field ?? null,
    position: error.position ?? null,
    message: error.message,
    sqlstate: source.sqlState ?? null,
    reason: source.reason ?? "parse",
    format: source.format ?? defaultFormat,
    raw: base64(kept),
    raw_truncated: Boolean(source.cut) || kept.length < bytes.length,
    raw_bytes: bytes.length,
  };
}

const size = (records: RejectionRecord[]) => records.reduce((n, r) => n + r.raw.length + r.message.length, 0);

/** Rejections that may share a transaction's Neon request (10 MiB) with its rows (at most 3 Mi characters). */
const TRANSACTION_CHARS = 1024 * 1024;

/** Pending rejections held before a flush stores them: a stream flushes early past this. */
export const QUARANTINE_FLUSH_CHARS = 1024 * 1024;

/** One request's rejections: gathered as lines are rejected, stored with the chunk they came with. */
export class Quarantine {
  /** Rejections stored. */
  stored = 0;
  /** Rejections past the per-request cap: counted, not kept. */
  overCap = 0;
  /** Rejections the database did not take. */
  failed = 0;
  private kept = 0;
  private pending: RejectionRecord[] = [];
  private pendingChars = 0;

  private readonly tables: QuarantineStore;
  readonly origin: RejectionOrigin;
  private readonly format: "text" | "json";
  private readonly limits: QuarantineLimits;
  private readonly meter?: QuarantineMeter;
  private readonly flushEarly: boolean;

  constructor(store: QuarantineStore, origin: RejectionOrigin, format: "text" | "json", limits: QuarantineLimits, meter?: QuarantineMeter, flushEarly = false) {
    this.flushEarly = flushEarly;
    this.tables = store;
    this.origin = origin;
    this.format = format;
    this.limits = limits;
    this.meter = meter;
  }

  get waiting(): boolean {
    return this.pending.length > 0;
  }

  /** Enough is pending that a stream should flush: only when `flushEarly` (a batch holds everything until it is whole). */
  get full(): boolean {
    return this.flushEarly && this.pendingChars >= QUARANTINE_FLUSH_CHARS;
  }

  /** Takes rejected lines in, up to the per-request cap. */
  add(errors: Iterable<LineError>): void {
    const records = this.records(errors);
    this.pending.push(...records);
    this.pendingChars += size(records);
  }

  private records(errors: Iterable<LineError>): RejectionRecord[] {
    const records: RejectionRecord[] = [];
    for (const error of errors) {
      if (this.kept >= this.limits.perRequest) {
        this.overCap++;
        if (this.meter) this.meter.rejectionsNotStored++;
        continue;
      }
      this.kept++;
      const record = toRecord(error, this.format, this.limits.rawBytes);
      records.push(record);
    }
    return records;
  }

  /**
   * Holds what is pending for a write starting now: `settle` waits for the write, then stores what
   * was held with the rows the database refused (in line order); a write that failed puts it back
   * ahead of the rest (for the queue fallback, or abort()) and throws on.
   */
  hold(): (writing: Promise<WriteResult>) => Promise<WriteResult> {
    const held = this.take();
    return async (writing) => {
      let written: WriteResult;
      try {
        written = await writing;
      } catch (error) {
        this.restore(held);
        throw error;
      }
      await this.store(held, written.failed);
      return written;
    };
  }

  /** Puts records taken for a write that failed back, ahead of the rest. */
  private restore(records: RejectionRecord[]): void {
    this.pending.unshift(...records);
    this.pendingChars += size(records);
  }

  /** Rejections not yet stored, for a caller that stores them elsewhere (the queue, a transaction). */
  take(): RejectionRecord[] {
    this.pendingChars = 0;
    // Stored in line order: parse errors are known before the database's refusals of the same chunk.
    return this.pending.splice(0).sort((a, b) => a.line_number - b.line_number);
  }

  /**
   * The pending rejections as statements for the caller's transaction; call `committed` once it
   * committed. Too many to share the transaction's one Neon request: none, and they stay pending.
   */
  statements(): { statements: Statement[]; committed(): void } {
    if (this.pendingChars > TRANSACTION_CHARS) return { statements: [], committed: () => {} };
    const records = [...this.pending];
    return {
      statements: this.tables.statements(this.origin, records),
      committed: () => {
        this.pending.splice(0, records.length);
        this.pendingChars = size(this.pending);
        this.stored += records.length;
        if (this.meter) countStored(this.meter, records);
      },
    };
  }

  /** Forgets the pending rejections: an atomic batch that was refused stores nothing. */
  discard(): void {
    this.kept -= this.pending.length;
    this.take();
  }

  /** Stores what is pending. Never throws: a failure is logged and counted. */
  flush(): Promise<void> {
    return this.store(this.take());
  }

  /** Stores `taken` and the rows the database refused with them (in line order). Never throws. */
  private async store(taken: RejectionRecord[], refused: LineError[] = []): Promise<void> {
    const records = refused.length === 0 ? taken : [...taken, ...this.records(refused)].sort((a, b) => a.line_number - b.line_number);
    if (records.length === 0) return;
    if (await storeRejections(this.tables, this.origin, records, this.meter)) this.stored += records.length;
    else this.failed += records.length;
  }

  /** What an answer says about the quarantine of its request (nothing when nothing was rejected). */
  summary(): Record<string, unknown> {
    if (this.kept + this.overCap === 0) return { request_id: this.origin.requestId };
    return {
      request_id: this.origin.requestId,
      rejections: rejectionsLink(this.origin.requestId),
      ...(this.overCap > 0 ? { rejections_over_cap: this.overCap } : {}),
    };
  }
}

export const rejectionsLink = (requestId: string) => `/ingest/rejections?request_id=${encodeURIComponent(requestId)}`;

function countStored(meter: QuarantineMeter, records: RejectionRecord[]): void {
  for (const r of records) {
    const key = `${r.entity ?? "(unknown)"}|${r.reason}`;
    meter.rejections[key] = (meter.rejections[key] ?? 0) + 1;
  }
}

/** Stores records, counting them in `meter`; false (logged, counted) when the database did not take them. */
export async function storeRejections(store: QuarantineStore, origin: RejectionOrigin, records: RejectionRecord[], meter?: QuarantineMeter): Promise<boolean> {
  try {
    await store.insert(origin, records);
    if (meter) countStored(meter, records);
    return true;
  } catch (error) {
    if (meter) meter.rejectionsNotStored += records.length;
    console.error(
      JSON.stringify({ level: "error", event: "quarantine_store_failed", request_id: origin.requestId, rejections: records.length, error: String(error) }),
    );
    return false;
  }
}
