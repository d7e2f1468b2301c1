/**
 * The quarantine's read side: what a key may see of the stored rejections, how a stored line is
 * shown, replay (parse again, write, mark) and the retention the Cron Trigger enforces. The store
 * and the writer are handed in (src/compose.ts).
 */
import { isAdmin, type Principal } from "../auth/api-keys.ts";
import { entityByName } from "../registry.ts";
import { writeRows } from "../writer/batch.ts";
import type { RejectionFilter, StoredRejection } from "../writer/rejections.ts";
import type { LineError, RowToWrite } from "../writer/rows.ts";
import { parseBody } from "./parse-messages.ts";
import type { WriteScope } from "./parsed-body.ts";
import type { QuarantineStore, WriterFactory } from "./ports.ts";
import { fromBase64 } from "./quarantine.ts";
import { writeScope } from "./scope.ts";

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
function reparse(rejections: StoredRejection[], scope: WriteScope, stillRejected: (r: StoredRejection, message: string, e?: LineError) => void): RowToWrite[] {
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
    const parsed = parseBody(r.format === "text" ? "text" : "json", text, new Set(), { forced, scope });
    if (parsed.errors.length > 0) stillRejected(r, parsed.errors[0].message, parsed.errors[0]);
    else if (parsed.rows.length === 0) stillRejected(r, "the stored line holds no message");
    else for (const row of parsed.rows) rows.push({ entity: row.entity, json: row.json, lineNumber: r.id });
  }
  return rows;
}

/** Replays one page of matching, not yet replayed rejections; `dryRun` writes and marks nothing. */
export async function replay(
  store: QuarantineStore,
  openWriter: WriterFactory,
  principal: Principal,
  filter: RejectionFilter,
  options: { dryRun: boolean; limit: number; maxErrors: number },
): Promise<ReplayAnswer> {
  const { rows: page, more } = await store.list({ ...visibleTo(principal, filter), pending: true }, options.limit);
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
    if (answer.errors.length < options.maxErrors) {
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
  const scope = writeScope(principal, (entity) => `key ${principal.keyId} may not write entity ${entity.name}`);
  const rows = reparse(page, scope, stillRejected);
  if (!options.dryRun && rows.length > 0) {
    const writer = openWriter();
    const written = await writeRows(rows, writer).finally(() => writer.close());
    answer.inserted = written.inserted;
    answer.duplicates = written.duplicates;
    for (const failure of written.failed) stillRejected(byId.get(failure.line_number)!, failure.message, failure);
  }
  answer.errors.sort((a, b) => a.id - b.id);
  const passed = [...new Set(rows.map((r) => r.lineNumber))].filter((id) => !refused.has(id));
  answer.replayed = passed.length;
  // Marked after the write: if marking fails, a second replay finds the rows already there (duplicates), never twice.
  if (!options.dryRun) await store.markReplayed(passed);
  return answer;
}

/** A page of the rejections `principal` may see. */
export function listVisible(
  store: QuarantineStore,
  principal: Principal,
  filter: RejectionFilter,
  limit: number,
  newest = false,
): Promise<{ rows: StoredRejection[]; more: boolean }> {
  return store.list(visibleTo(principal, filter), limit, newest);
}

/** Deletes matching rejections `principal` may see, at most `maxRows`. */
export function deleteVisible(
  store: QuarantineStore,
  principal: Principal,
  filter: RejectionFilter,
  maxRows: number,
): Promise<{ deleted: number; more: boolean }> {
  return store.delete(visibleTo(principal, filter), maxRows);
}

/** Rejections deleted per scheduled run at most; a backlog is worked off over the next runs. */
const RETENTION_MAX_ROWS = 500_000;

/** Deletes rejections received more than `days` ago (the Cron Trigger's work). */
export async function enforceRetention(store: QuarantineStore, retentionDays: number, now = Date.now()): Promise<{ deleted: number; more: boolean }> {
  const cutoff = new Date(now - retentionDays * 86_400_000).toISOString();
  const result = await store.delete({ until: cutoff }, RETENTION_MAX_ROWS);
  console.log(JSON.stringify({ event: "quarantine_retention", older_than: cutoff, ...result }));
  return result;
}
