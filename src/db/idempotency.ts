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

/** An answer as stored: its HTTP status and body (the ingest side declares the same shape as StoredAnswer). */
type StoredAnswer = { status: number; body: unknown };

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

/** The key table as one store over `db`, bound to the keys' time to live (src/ingest/ports.ts's IdempotencyStore). */
export function idempotencyStore(db: Database, ttlHours: number) {
  return {
    find: (owner: string | null, key: string, hash: string) => storedAnswer(db, owner, key, hash, ttlHours),
    claim: (owner: string | null, key: string, hash: string) => claimStatement(owner, key, hash, ttlHours),
    save: (owner: string | null, key: string, hash: string, answer: StoredAnswer) => storeAnswer(db, owner, key, hash, answer),
  };
}
