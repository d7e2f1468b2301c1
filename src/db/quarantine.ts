/**
 * The quarantine's SQL (table ingest_rejections, migrations/0004_quarantine.sql): insert rejected
 * lines, page through them by id, mark them replayed, delete them. Raw lines travel as base64, so
 * neither the JSON of Neon's protocol nor a text parameter ever sees their bytes.
 */
import type { Statement } from "../writer/port.ts";
import type { RejectionReason } from "../writer/rows.ts";
import { type Database, withRetries } from "./neon.ts";

/** One rejected line, as stored and as sent through the queue. */
export interface RejectionRecord {
  line_number: number;
  entity: string | null;
  field: string | null;
  position: number | null;
  message: string;
  sqlstate: string | null;
  reason: RejectionReason;
  /** How `raw` is read again on replay: a pipe line, or a JSON record (or document). */
  format: "text" | "json";
  /** The bytes kept, base64. */
  raw: string;
  raw_truncated: boolean;
  /** Bytes of the line as received (for a line over MAX_LINE_BYTES: what was kept of it). */
  raw_bytes: number;
}

/** The request a rejection came from. */
export interface RejectionOrigin {
  requestId: string;
  keyId: string | null;
  /** ?entity= of the request, applied again on replay. */
  forcedEntity: string | null;
  /** ISO time the request was received. */
  receivedAt: string;
  registryVersion: string;
}

const INSERT = `INSERT INTO ingest_rejections (request_id, api_key_id, forced_entity, received_at, registry_version,
  line_number, entity, field, position, message, sqlstate, reason, format, raw, raw_truncated, raw_bytes)
SELECT $1, NULLIF($2, ''), NULLIF($3, ''), $4::timestamptz, $5,
  r.line_number, r.entity, r.field, r.position, r.message, r.sqlstate, r.reason, r.format, decode(r.raw, 'base64'), r.raw_truncated, r.raw_bytes
FROM jsonb_to_recordset($6::jsonb) AS r(line_number integer, entity text, field text, position integer, message text,
  sqlstate text, reason text, format text, raw text, raw_truncated boolean, raw_bytes integer)`;

/** Characters of records per statement: well under Neon's 10 MiB request. */
const STATEMENT_CHARS = 2 * 1024 * 1024;

/**
 * INSERT statements for the records. jsonb holds neither NUL nor lone surrogates: texts are made
 * well-formed and NUL shown as \u0000 (the raw line, in base64, keeps its bytes).
 */
export function insertStatements(origin: RejectionOrigin, records: RejectionRecord[]): Statement[] {
  const head = [origin.requestId, origin.keyId ?? "", origin.forcedEntity ?? "", origin.receivedAt, origin.registryVersion];
  const statements: Statement[] = [];
  let group: string[] = [];
  let chars = 0;
  const close = () => {
    if (group.length > 0) statements.push({ query: INSERT, params: [...head.map(clean), `[${group.join(",")}]`] });
    group = [];
    chars = 0;
  };
  for (const r of records) {
    const json = JSON.stringify({ ...r, entity: r.entity && clean(r.entity), field: r.field && clean(r.field), message: clean(r.message) });
    if (chars + json.length > STATEMENT_CHARS) close();
    group.push(json);
    chars += json.length + 1;
  }
  close();
  return statements;
}

const clean = (text: string) => text.toWellFormed().replaceAll("\u0000", "\\u0000");

const timeout = (db: Database) => ({ fetchOptions: { signal: AbortSignal.timeout(db.timeoutMs) } });

/** Through the prepared request (neon.ts, preparedHttp): a refused message stores its line on the same hot path as a valid one. */
export async function run(db: Database, statement: Statement): Promise<number> {
  const result = await withRetries(db, () => db.http.query(statement.query, statement.params, AbortSignal.timeout(db.timeoutMs)));
  return result.rowCount ?? 0;
}

/** Which rejections a request may see, and which it asks for. */
export interface RejectionFilter {
  request_id?: string;
  entity?: string;
  key?: string;
  since?: string;
  until?: string;
  /** Only ids after this one (the cursor, oldest first). */
  after?: number;
  /** Only ids before this one (the cursor, newest first). */
  before?: number;
  /** Only those not replayed yet. */
  pending?: boolean;
  /** A key sees only its own rejections; undefined: every key's (admin). */
  ownKey?: string | null;
}

function where(filter: RejectionFilter): { sql: string; params: (string | number)[] } {
  const conditions: string[] = [];
  const params: (string | number)[] = [];
  const add = (condition: (n: string) => string, value: string | number) => {
    params.push(value);
    conditions.push(condition(`$${params.length}`));
  };
  if (filter.ownKey !== undefined) {
    if (filter.ownKey === null) conditions.push("api_key_id IS NULL");
    else add((n) => `api_key_id = ${n}`, filter.ownKey);
  }
  if (filter.request_id !== undefined) add((n) => `request_id = ${n}`, filter.request_id);
  if (filter.entity !== undefined) add((n) => `entity = ${n}`, filter.entity);
  if (filter.key !== undefined) add((n) => `api_key_id = ${n}`, filter.key);
  if (filter.since !== undefined) add((n) => `received_at >= ${n}::timestamptz`, filter.since);
  if (filter.until !== undefined) add((n) => `received_at < ${n}::timestamptz`, filter.until);
  if (filter.after !== undefined) add((n) => `id > ${n}`, filter.after);
  if (filter.before !== undefined) add((n) => `id < ${n}`, filter.before);
  if (filter.pending) conditions.push("replayed_at IS NULL");
  return { sql: conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "", params };
}

/** A rejection as the table holds it: the record, and where it came from and when. */
export interface StoredRejection extends RejectionRecord {
  id: number;
  request_id: string;
  api_key_id: string | null;
  forced_entity: string | null;
  received_at: string;
  registry_version: string;
  replayed_at: string | null;
}

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const COLUMNS = `id::text, request_id, api_key_id, line_number, entity, field, position, message, sqlstate, reason, format, forced_entity,
  encode(raw, 'base64'), raw_truncated, raw_bytes, ${iso("received_at")}, registry_version, ${iso("replayed_at")}`;

const COLUMN_COUNT = 18;

function asRejection(row: unknown[]): StoredRejection {
  const [
    id,
    request_id,
    api_key_id,
    line_number,
    entity,
    field,
    position,
    message,
    sqlstate,
    reason,
    format,
    forced_entity,
    raw,
    raw_truncated,
    raw_bytes,
    received_at,
    registry_version,
    replayed_at,
  ] = row;
  return {
    id: Number(id),
    request_id,
    api_key_id,
    line_number,
    entity,
    field,
    position,
    message,
    sqlstate,
    reason,
    format,
    forced_entity,
    // encode(…, 'base64') breaks lines every 76 characters.
    raw: String(raw).replace(/\s/g, ""),
    raw_truncated,
    raw_bytes,
    received_at,
    registry_version,
    replayed_at,
  } as StoredRejection;
}

/** Bytes of raw lines in one page: base64 makes them a third larger, under Neon's 10 MB answer. */
const PAGE_RAW_BYTES = 4 * 1024 * 1024;

/**
 * One page in id order (newest first when `newest`): at most `limit` rows and about PAGE_RAW_BYTES
 * of raw lines (always at least one row), so a page never holds more than that in memory.
 * `more`: rows past this page match too.
 */
export async function listRejections(
  db: Database,
  filter: RejectionFilter,
  limit: number,
  newest = false,
): Promise<{ rows: StoredRejection[]; more: boolean }> {
  const { sql, params } = where(filter);
  // Qualified in the outer query, where "id" would name the id::text output column.
  const order = `ORDER BY id ${newest ? "DESC" : ""}`;
  const n = Math.trunc(limit);
  const query = `SELECT ${COLUMNS}, inner_count FROM (
    SELECT r.*, sum(octet_length(raw)) OVER (${order}) AS running, count(*) OVER () AS inner_count
    FROM (SELECT * FROM ingest_rejections ${sql} ${order} LIMIT ${n + 1}) r
  ) t WHERE running - octet_length(raw) < ${PAGE_RAW_BYTES} ORDER BY t.id ${newest ? "DESC" : ""} LIMIT ${n}`;
  const result = await withRetries(db, () => db.sql.query(query, params, timeout(db)));
  const rows = result.rows.map((row) => asRejection(row as unknown[]));
  const matched = Number((result.rows[0] as unknown[] | undefined)?.[COLUMN_COUNT] ?? 0);
  return { rows, more: matched > rows.length };
}

export async function markReplayed(db: Database, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await withRetries(db, () =>
    db.sql.query("UPDATE ingest_rejections SET replayed_at = now() WHERE id = ANY($1::bigint[])", [`{${ids.join(",")}}`], timeout(db)),
  );
}

/** Deletes what matches, a slice at a time (a short statement each); stops after `maxRows`. */
export async function deleteRejections(db: Database, filter: RejectionFilter, maxRows: number, slice = 10_000): Promise<{ deleted: number; more: boolean }> {
  const { sql, params } = where(filter);
  let deleted = 0;
  while (deleted < maxRows) {
    const n = Math.min(slice, maxRows - deleted);
    const result = await withRetries(db, () =>
      db.sql.query(`DELETE FROM ingest_rejections WHERE id IN (SELECT id FROM ingest_rejections ${sql} ORDER BY id LIMIT ${n})`, params, timeout(db)),
    );
    const count = result.rowCount ?? 0;
    deleted += count;
    if (count < n) return { deleted, more: false };
  }
  return { deleted, more: true };
}
