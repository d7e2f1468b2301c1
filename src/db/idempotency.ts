/**
 * Idempotency-Key for /ingest/batch: a repeated request with the same key and the same body gets
 * the stored answer without writing again; the same key with another body is a 409. Keys are per
 * API key (anonymous: ""), so one key can neither replay nor block another's. The key row commits in
 * the same transaction as the batch's rows (see migrations/0003_idempotency_per_key.sql).
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

/** The stored answer for a key, undefined for a new key (or one whose answer was not stored yet); 409 on another body. */
export async function storedAnswer(db: Database, owner: string | null, key: string, hash: string): Promise<StoredAnswer | undefined> {
  const { rows } = await withRetries(db, () =>
    db.sql.query(
      "SELECT request_sha256, status, response::text FROM ingest_idempotency_keys WHERE key_id = $1 AND key = $2",
      [owner ?? "", key],
      withTimeout(db),
    ),
  );
  const row = rows[0] as [string, number | string, string] | undefined;
  if (!row) return undefined;
  if (row[0] !== hash) throw new IngestError("conflict", "this Idempotency-Key was used with a different request; use a new key for a new batch");
  return Number(row[1]) > 0 ? { status: Number(row[1]), body: JSON.parse(row[2]) } : undefined;
}

/** The statement that claims the key inside the batch's transaction. */
export const claimStatement = (owner: string | null, key: string, hash: string) => ({
  query:
    "INSERT INTO ingest_idempotency_keys (key_id, key, request_sha256, status, response) VALUES ($1, $2, $3, 0, '{}') ON CONFLICT (key_id, key) DO NOTHING",
  params: [owner ?? "", key, hash],
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
