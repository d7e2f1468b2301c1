-- Hand-written (not generated): the quarantine. Every rejected line of a best-effort ingest is kept here,
-- as received (bytea: text can hold neither NUL nor invalid UTF-8), cut at QUARANTINE_RAW_BYTES, so it can be
-- listed, inspected and replayed after the entities or the data are fixed. See docs/quarantine.md.
CREATE TABLE IF NOT EXISTS "ingest_rejections" (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "request_id" text NOT NULL,
  "api_key_id" text,
  "line_number" integer NOT NULL,
  "entity" text,
  "field" text,
  "position" integer,
  "message" text NOT NULL,
  "sqlstate" text,
  "reason" text NOT NULL,
  "format" text NOT NULL,
  "forced_entity" text,
  "raw" bytea NOT NULL,
  "raw_truncated" boolean NOT NULL,
  "raw_bytes" integer NOT NULL,
  "received_at" timestamptz NOT NULL DEFAULT now(),
  "registry_version" text NOT NULL,
  "replayed_at" timestamptz
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "ingest_rejections_request" ON "ingest_rejections" ("request_id", "id");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "ingest_rejections_key" ON "ingest_rejections" ("api_key_id", "id");
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "ingest_rejections_received" ON "ingest_rejections" ("received_at");
