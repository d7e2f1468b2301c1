-- Hand-written (not generated): Idempotency-Key records of /ingest/batch. The key row is inserted in the
-- same transaction as the batch's rows, so it exists exactly when they committed; status 0 means the
-- answer was not stored yet (a replay then writes again, which the natural keys make harmless).
CREATE TABLE IF NOT EXISTS "ingest_idempotency" (
  "key" text PRIMARY KEY,
  "request_sha256" text NOT NULL,
  "status" integer NOT NULL,
  "response" jsonb NOT NULL,
  "created_at" timestamptz NOT NULL DEFAULT now()
);
