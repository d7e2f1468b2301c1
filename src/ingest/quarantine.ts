/**
 * The quarantine: every rejected line of a best-effort ingest is kept (src/db/quarantine.ts), to be
 * listed, inspected, replayed once the entities or the data are fixed, and deleted. Storing a
 * rejection never changes the request's answer: a failure is logged and counted, nothing more.
 */
import { canWrite, isAdmin, type Principal } from "../auth/api-keys.ts";
import { ISOLATE } from "../db/isolate.ts";
import { type Database, database } from "../db/neon.ts";
import {
  deleteRejections,
  insertStatements,
  listRejections,
  markReplayed,
  type RejectionFilter,
  type RejectionOrigin,
  type RejectionRecord,
  run,
  type StoredRejection,
} from "../db/quarantine.ts";
import { openWriter } from "../db/writers.ts";
import type { Settings } from "../env.ts";
import { entityByName, REGISTRY_VERSION } from "../registry.ts";
import { writeRows } from "../writer/batch.ts";
import type { Statement } from "../writer/port.ts";
import { type LineError, QUARANTINE, type RowToWrite } from "../writer/rows.ts";
import { type EntityGuard, parseBody } from "./parse-messages.ts";

export type { RejectionFilter, RejectionOrigin, RejectionRecord, StoredRejection } from "../db/quarantine.ts";

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

  private readonly db: Database;
  readonly origin: RejectionOrigin;
  private readonly format: "text" | "json";
  private readonly limits: QuarantineLimits;
  private readonly meter?: QuarantineMeter;
  private readonly flushEarly: boolean;

  constructor(db: Database, origin: RejectionOrigin, format: "text" | "json", limits: QuarantineLimits, meter?: QuarantineMeter, flushEarly = false) {
    this.flushEarly = flushEarly;
    this.db = db;
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

  /** Puts records taken for a write that failed back, ahead of the rest. */
  restore(records: RejectionRecord[]): void {
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
      statements: insertStatements(this.origin, records),
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
  async store(taken: RejectionRecord[], refused: LineError[] = []): Promise<void> {
    const records = refused.length === 0 ? taken : [...taken, ...this.records(refused)].sort((a, b) => a.line_number - b.line_number);
    if (records.length === 0) return;
    if (await storeRejections(this.db, this.origin, records, this.meter)) this.stored += records.length;
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
export async function storeRejections(db: Database, origin: RejectionOrigin, records: RejectionRecord[], meter?: QuarantineMeter): Promise<boolean> {
  try {
    for (const statement of insertStatements(origin, records)) await run(db, statement);
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

export function originOf(requestId: string, principal: Principal, forced: { name: string } | undefined, receivedAt = new Date()): RejectionOrigin {
  return { requestId, keyId: principal.keyId, forcedEntity: forced?.name ?? null, receivedAt: receivedAt.toISOString(), registryVersion: REGISTRY_VERSION };
}

/** The filter a principal may use: a key only ever sees its own requests' rejections. */
export function visibleTo(principal: Principal, filter: RejectionFilter): RejectionFilter {
  return isAdmin(principal) ? filter : { ...filter, ownKey: principal.keyId };
}

/**
 * A stored line shown as text: valid UTF-8 as it is; invalid bytes as \xNN; control characters
 * (C0, DEL, C1) as \u00NN; a backslash doubled, so the escapes cannot be confused with the data.
 */
export function showRaw(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let valid = length > 0 && i + length <= bytes.length;
    for (let k = 1; valid && k < length; k++) {
      const c = bytes[i + k];
      // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
      const [lo, hi] =
        k === 1 ? (b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf]) : [0x80, 0xbf];
      valid = c >= lo && c <= hi;
    }
    if (!valid) {
      out += `\\x${b.toString(16).padStart(2, "0")}`;
      i++;
      continue;
    }
    const char = new TextDecoder().decode(bytes.subarray(i, i + length));
    const code = char.codePointAt(0)!;
    out += char === "\\" ? "\\\\" : code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, "0")}` : char;
    i += length;
  }
  return out;
}

/** A stored rejection as the API shows it. */
export function present(r: StoredRejection) {
  const { raw, api_key_id, ...rest } = r;
  return { ...rest, key: api_key_id, raw: showRaw(fromBase64(raw)) };
}

export interface ReplayAnswer {
  replayed: number;
  inserted: number;
  duplicates: number;
  still_rejected: number;
  dry_run: boolean;
  errors: { id: number; request_id: string; line_number: number; entity: string | null; field?: string; position?: number; message: string }[];
  /** The id to continue from when more rejections match than one call replays. */
  next_cursor: string | null;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses stored lines again with the current registry and the replaying key's scopes. Rows are
 * numbered by rejection id, so a row the database refuses again points back at its rejection.
 */
function reparse(rejections: StoredRejection[], guard: EntityGuard, stillRejected: (r: StoredRejection, message: string, e?: LineError) => void): RowToWrite[] {
  const rows: RowToWrite[] = [];
  for (const r of rejections) {
    if (r.raw_truncated) {
      stillRejected(r, "the stored line was cut (at QUARANTINE_RAW_BYTES, or it was over MAX_LINE_BYTES): it cannot be replayed; send it again");
      continue;
    }
    let text: string;
    try {
      text = strictUtf8.decode(fromBase64(r.raw));
    } catch {
      stillRejected(r, "the stored line is not valid UTF-8");
      continue;
    }
    const forced = r.forced_entity ? entityByName(r.forced_entity) : undefined;
    const parsed = parseBody(r.format === "text" ? "text" : "json", text, new Set(), { forced, guard });
    if (parsed.errors.length > 0) stillRejected(r, parsed.errors[0].message, parsed.errors[0]);
    else if (parsed.rows.length === 0) stillRejected(r, "the stored line holds no message");
    else for (const row of parsed.rows) rows.push({ entity: row.entity, json: row.json, lineNumber: r.id });
  }
  return rows;
}

/** Replays one page of matching, not yet replayed rejections; `dryRun` writes and marks nothing. */
export async function replay(
  settings: Settings,
  principal: Principal,
  filter: RejectionFilter,
  options: { dryRun: boolean; limit: number },
): Promise<ReplayAnswer> {
  const db = database(settings, ISOLATE);
  const { rows: page, more } = await listRejections(db, { ...visibleTo(principal, filter), pending: true }, options.limit);
  const answer: ReplayAnswer = {
    replayed: 0,
    inserted: 0,
    duplicates: 0,
    still_rejected: 0,
    dry_run: options.dryRun,
    errors: [],
    next_cursor: more ? String(page[page.length - 1].id) : null,
  };
  const refused = new Set<number>();
  const byId = new Map(page.map((r) => [r.id, r]));
  const stillRejected = (r: StoredRejection, message: string, e?: Partial<LineError>) => {
    if (refused.has(r.id)) return;
    refused.add(r.id);
    answer.still_rejected++;
    if (answer.errors.length < settings.MAX_ERRORS_REPORTED) {
      answer.errors.push({
        id: r.id,
        request_id: r.request_id,
        line_number: r.line_number,
        entity: e?.entity ?? r.entity,
        ...(e?.field !== undefined ? { field: e.field } : {}),
        ...(e?.position !== undefined ? { position: e.position } : {}),
        message,
      });
    }
  };
  const guard: EntityGuard = (entity) => (canWrite(principal, entity.name) ? undefined : `key ${principal.keyId} may not write entity ${entity.name}`);
  const rows = reparse(page, guard, stillRejected);
  if (!options.dryRun && rows.length > 0) {
    const writer = openWriter(settings, ISOLATE);
    const written = await writeRows(rows, writer).finally(() => writer.close());
    answer.inserted = written.inserted;
    answer.duplicates = written.duplicates;
    for (const failure of written.failed) stillRejected(byId.get(failure.line_number)!, failure.message, failure);
  }
  answer.errors.sort((a, b) => a.id - b.id);
  const passed = [...new Set(rows.map((r) => r.lineNumber))].filter((id) => !refused.has(id));
  answer.replayed = passed.length;
  // Marked after the write: if marking fails, a second replay finds the rows already there (duplicates), never twice.
  if (!options.dryRun) await markReplayed(db, passed);
  return answer;
}

/** A page of the rejections `principal` may see. */
export function listVisible(
  settings: Settings,
  principal: Principal,
  filter: RejectionFilter,
  limit: number,
  newest = false,
): Promise<{ rows: StoredRejection[]; more: boolean }> {
  return listRejections(database(settings, ISOLATE), visibleTo(principal, filter), limit, newest);
}

/** Deletes matching rejections `principal` may see, at most `maxRows`. */
export function deleteVisible(settings: Settings, principal: Principal, filter: RejectionFilter, maxRows: number): Promise<{ deleted: number; more: boolean }> {
  return deleteRejections(database(settings, ISOLATE), visibleTo(principal, filter), maxRows);
}

/** Rejections deleted per scheduled run at most; a backlog is worked off over the next runs. */
const RETENTION_MAX_ROWS = 500_000;

/** Deletes rejections received more than `days` ago (the Cron Trigger's work). */
export async function enforceRetention(settings: Settings, now = Date.now()): Promise<{ deleted: number; more: boolean }> {
  const db = database(settings, ISOLATE);
  const cutoff = new Date(now - settings.QUARANTINE_RETENTION_DAYS * 86_400_000).toISOString();
  const result = await deleteRejections(db, { until: cutoff }, RETENTION_MAX_ROWS);
  console.log(JSON.stringify({ event: "quarantine_retention", older_than: cutoff, ...result }));
  return result;
}
