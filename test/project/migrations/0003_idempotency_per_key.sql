-- Hand-written (not generated): Idempotency-Key records scoped to the API key that sent them, so one
-- key can neither replay nor block another's. Workers built before this migration keep using
-- ingest_idempotency (a rolling deploy loses nothing: a replay they miss writes again, and the natural
-- keys make that harmless); a later migration can drop it once no such Worker runs.
CREATE TABLE "ingest_idempotency_keys" (
  "key_id" text NOT NULL,
  "key" text NOT NULL,
  "request_sha256" text NOT NULL,
  "status" integer NOT NULL,
  "response" jsonb NOT NULL,
  "created_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("key_id", "key")
);
