/**
 * Idempotency-Key for /ingest/batch, as one wrapper around the batch: a repeated request with the
 * same key and the same body gets the stored answer without writing again; the same key with another
 * body is a 409 (the store says so). The key is claimed inside the batch's transaction and its
 * answer stored after it (src/db/idempotency.ts holds the SQL), capped at MAX_STORED_ANSWER_BYTES.
 */
import { canWrite, type Principal } from "../auth/api-keys.ts";
import { IngestError } from "../errors.ts";
import type { BodyLimit } from "../limits/caps.ts";
import { entityByName } from "../registry.ts";
import type { Statement } from "../writer/port.ts";
import { rawBodyStream, readAll } from "./body.ts";
import type { IdempotencyStore, StoredAnswer } from "./ports.ts";
import { scopeRefusal } from "./scope.ts";

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

/** A stored answer given back for a repeated request. */
export interface Replayed {
  kind: "replayed";
  status: number;
  body: object;
}

/**
 * Runs `work` once per key: a new key runs it with the request (its body read once, to fingerprint
 * it) and the statement claiming the key for the work's transaction, then stores what `answerOf`
 * says to store (nothing for a 202: the answer is not final); a known key gets its stored answer.
 * Without a key, `work` runs with the request as it came.
 */
export async function withIdempotency<T>(
  call: { idempotency: IdempotencyStore; principal: Principal; request: Request },
  key: string | undefined,
  limit: BodyLimit,
  work: (request: Request, claim: Statement | undefined) => Promise<T>,
  answerOf: (result: T) => StoredAnswer | undefined,
): Promise<T | Replayed> {
  if (key === undefined) return work(call.request, undefined);
  const { idempotency: store, principal } = call;
  checkKey(key);
  // The body is needed twice (fingerprint, then parsing); a batch is capped at MAX_BATCH_BYTES anyway.
  const raw = await readAll(rawBodyStream(call.request, limit));
  const hash = await fingerprint(call.request, raw);
  const stored = await store.find(principal.keyId, key, hash);
  if (stored) {
    // The key's scopes may have shrunk since: a replay answers only what the key may still write.
    const refused = Object.keys((stored.body as { entities?: object }).entities ?? {}).find((name) => !canWrite(principal, name));
    if (refused) throw new IngestError("forbidden", scopeRefusal(principal, entityByName(refused) ?? { name: refused }), { entity: refused });
    return { kind: "replayed", status: stored.status, body: stored.body as object };
  }
  const request = new Request(call.request.url, { method: "POST", headers: call.request.headers, body: raw });
  const result = await work(request, store.claim(principal.keyId, key, hash));
  const answer = answerOf(result);
  if (answer) await store.save(principal.keyId, key, hash, { status: answer.status, body: compactAnswer(answer.body as Record<string, unknown>) });
  return result;
}
