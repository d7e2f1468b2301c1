/**
 * Idempotency-Key for /ingest/batch: a repeated request with the same key and the same body gets
 * the stored answer without writing again; the same key with another body is a 409. Keys are per
 * API key (anonymous: ""), so one key can neither replay nor block another's. The key row commits in
 * the same transaction as the batch's rows (see migrations/0003_idempotency_per_key.sql).
 * A key is remembered IDEMPOTENCY_TTL_HOURS (an older one is a new request: the natural keys keep
 * that safe), and its stored answer is capped at MAX_STORED_ANSWER_BYTES, so no key can fill the database.
 */
import { IngestError } from "../errors.ts";
import { type Database, withRetries, withTimeout } from "./neon.ts";

export interface StoredAnswer {
  status: number;
  body: unknown;
}

const KEY = /^[!-~]{1,255}$/;

export function checkKey(key: string): void {
  if (!KEY.test(key)) throw new IngestError("bad_request", "Idempotency-Key must be 1 to 255 visible ASCII characters");
}

/** SHA-256 of what makes two requests "the same": route, query, content headers and body bytes. */
export async function fingerprint(request: Request, body: Uint8Array): Promise<string> {
  const url = new URL(request.url);
  const head = new TextEncoder().encode(
    `${request.method} ${url.pathname}${url.search}\n${request.headers.get("content-type") ?? ""}\n${request.headers.get("content-encoding") ?? ""}\n`,
  );
  const all = new Uint8Array(head.length + body.length);
  all.set(head);
  all.set(body, head.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A stored answer's size at most: its counts, the first errors and the rejections link (the rest are in the quarantine). */
export const MAX_STORED_ANSWER_BYTES = 16 * 1024;

const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

/** The answer as stored: whole when it fits MAX_STORED_ANSWER_BYTES, else with as many of its first errors as fit. */
export function compactAnswer(body: Record<string, unknown>): Record<string, unknown> {
  if (bytesOf(body) <= MAX_STORED_ANSWER_BYTES) return body;
  const errors = Array.isArray(body.errors) ? body.errors : [];
  const total = typeof body.errors_total === "number" ? body.errors_total : typeof body.failed === "number" ? body.failed : errors.length;
  for (let keep = errors.length; ; keep = Math.floor(keep / 2)) {
    const compact = { ...body, errors: errors.slice(0, keep), errors_truncated: true, errors_total: total };
    if (bytesOf(compact) <= MAX_STORED_ANSWER_BYTES || keep === 0) return compact;
  }
}

/** The stored answer for a key, undefined for a new key (or one whose answer was not stored yet, or expired); 409 on another body. */
export async function storedAnswer(db: Database, owner: string | null, key: string, hash: string, ttlHours: number): Promise<StoredAnswer | undefined> {
  const { rows } = await withRetries(db, () =>
    db.sql.query(
      "SELECT request_sha256, status, response::text FROM ingest_idempotency_keys WHERE key_id = $1 AND key = $2 AND created_at > now() - make_interval(hours => $3)",
      [owner ?? "", key, ttlHours],
      withTimeout(db),
    ),
  );
  const row = rows[0] as [string, number | string, string] | undefined;
  if (!row) return undefined;
  if (row[0] !== hash) throw new IngestError("conflict", "this Idempotency-Key was used with a different request; use a new key for a new batch");
  return Number(row[1]) > 0 ? { status: Number(row[1]), body: JSON.parse(row[2]) } : undefined;
}

/** The statement that claims the key inside the batch's transaction; an expired claim of the same key is taken over. */
export const claimStatement = (owner: string | null, key: string, hash: string, ttlHours: number) => ({
  query: `INSERT INTO ingest_idempotency_keys (key_id, key, request_sha256, status, response) VALUES ($1, $2, $3, 0, '{}')
    ON CONFLICT (key_id, key) DO UPDATE SET request_sha256 = excluded.request_sha256, status = 0, response = '{}', created_at = now()
    WHERE ingest_idempotency_keys.created_at <= now() - make_interval(hours => $4)`,
  params: [owner ?? "", key, hash, String(ttlHours)],
});

export async function storeAnswer(db: Database, owner: string | null, key: string, hash: string, answer: StoredAnswer): Promise<void> {
  await withRetries(db, () =>
    db.sql.query(
      "INSERT INTO ingest_idempotency_keys (key_id, key, request_sha256, status, response) VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (key_id, key) DO UPDATE SET status = excluded.status, response = excluded.response",
      [owner ?? "", key, hash, String(answer.status), JSON.stringify(answer.body)],
      withTimeout(db),
    ),
  );
}

/** Keys deleted per statement, and per scheduled run at most: a backlog is worked off over the next runs. */
const EXPIRY_SLICE = 10_000;
const EXPIRY_MAX_ROWS = 500_000;

/** Deletes keys older than `ttlHours` (the hourly Cron Trigger's work). */
export async function expireKeys(db: Database, ttlHours: number): Promise<{ deleted: number; more: boolean }> {
  let deleted = 0;
  for (;;) {
    const result = await withRetries(db, () =>
      db.sql.query(
        `DELETE FROM ingest_idempotency_keys WHERE (key_id, key) IN (
          SELECT key_id, key FROM ingest_idempotency_keys WHERE created_at <= now() - make_interval(hours => $1) LIMIT ${EXPIRY_SLICE})`,
        [ttlHours],
        withTimeout(db),
      ),
    );
    const n = (result as { rowCount?: number }).rowCount ?? 0;
    deleted += n;
    if (n < EXPIRY_SLICE) return { deleted, more: false };
    if (deleted >= EXPIRY_MAX_ROWS) return { deleted, more: true };
  }
}
