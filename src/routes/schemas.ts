/** Zod schemas of the HTTP contract: the OpenAPI document is generated from these, and the tests parse real responses with them. */
import { z } from "@hono/zod-openapi";
import { ErrorBodyFields } from "../errors.ts";
import { ReceiptFields } from "../queue/receipt.ts";
import { ENTITIES } from "../registry.ts";
import { LineErrorFields, RejectionReason } from "../writer/rows.ts";

const entityNames = ENTITIES.flatMap((e) => [e.name, e.prefix]);

/** Query parameters of the ingest routes. */
export const IngestQuery = z.strictObject({
  entity: z.enum(entityNames).optional().describe("Treat every JSON record of the request as this entity (name or prefix)"),
  progress: z.enum(["chunk", "line"]).optional().describe("/ingest/stream only: a progress event per committed chunk (default) or per line"),
});

/** /ingest/message takes only ?entity. */
export const MessageQuery = IngestQuery.pick({ entity: true });

/** /ingest/batch: ?entity, and ?atomic=true for all-or-nothing. */
export const BatchQuery = MessageQuery.extend({
  atomic: z.enum(["true", "false"]).optional().describe("true: every line is written, or none (one transaction of at most 10 MiB)"),
  mode: z.enum(["sync", "async"]).optional().describe("async (or the header Prefer: respond-async): 202 once the rows are on the queue; follow the receipt"),
});

/** The one error shape (errors.ts' errorAnswer): every error answer, and a stream's failure event. */
// Rebuilt from the shared shape with this module's z: a zod 4 schema made before @hono/zod-openapi
// loaded (errors.ts, writer/rows.ts may load first) has no .openapi method.
export const ErrorBody = z.object(ErrorBodyFields.shape).passthrough().openapi("Error");

export const LineError = z.object(LineErrorFields.shape).openapi("LineError");

export const Counts = z.object({ inserted: z.number().int(), duplicates: z.number().int(), failed: z.number().int() }).openapi("Counts");

export const MessageResult = z
  .object({
    status: z.literal("success"),
    entity: z.string(),
    id: z.union([z.number().int(), z.string()]).describe("The row's id in the database (for a duplicate: the existing row's)"),
    duplicate: z.literal(true).optional(),
    derived: z.record(z.string(), z.object({ inserted: z.number().int(), duplicates: z.number().int() })).optional(),
    timestamp: z.string(),
  })
  .openapi("MessageResult");

/** What answers that may have rejected lines say about the quarantine. */
export const QuarantineFields = {
  request_id: z.string().optional().describe("This request's id: its rejected lines are kept under it"),
  rejections: z.string().optional().describe("Where this request's rejected lines are listed, e.g. /ingest/rejections?request_id=…"),
  rejections_over_cap: z.number().int().optional().describe("Rejected lines past QUARANTINE_MAX_PER_REQUEST: counted, not kept"),
};
export const BatchResult = z
  .object({
    status: z.enum(["success", "partial", "error"]),
    message: z.string().optional().describe("A summary when some or all messages were rejected"),
    processed: z.number().int().describe("inserted + duplicates + failed"),
    inserted: z.number().int(),
    duplicates: z.number().int().describe("Rows skipped because their natural key already exists"),
    failed: z.number().int(),
    errors: z.array(LineError),
    errors_truncated: z.literal(true).optional(),
    errors_total: z.number().int().optional(),
    entities: z.record(z.string(), Counts),
    duration_ms: z.number().int(),
    ...QuarantineFields,
  })
  .openapi("BatchResult");

export const HealthResult = z
  .object({
    status: z.enum(["ok", "degraded"]),
    database: z.enum(["ok", "unreachable", "misconfigured", "behind"]).describe("Anything but ok answers 503"),
    reason: z.string().optional().describe("Why the database is not ok, and what to do"),
    schema: z.object({
      worker: z.number().int().describe("The number of the last migration this Worker's code needs"),
      worker_migration: z.string().nullable(),
      database: z.number().int().nullable().describe("The number of the last migration the database applied (null: unreachable)"),
    }),
    entities: z.array(z.object({ name: z.string(), prefix: z.string(), table: z.string() })),
    version: z.string().describe("The entity registry's version: a hash of the entities this Worker serves"),
  })
  .openapi("Health");

export const StatsResult = z
  .object({
    total_messages_processed: z.number(),
    messages_by_entity: z.record(z.string(), z.number()),
    errors: z.number(),
    uptime_seconds: z.number(),
    requests_per_second: z.number(),
    messages_per_second: z.number(),
    messages_by_outcome: Counts,
    entities: z.record(z.string(), Counts),
    requests: z.record(z.string(), z.record(z.string(), z.number())),
    requests_by_key: z.record(z.string(), z.number()),
    bytes_received: z.number(),
    database_seconds: z.number(),
    duration_seconds: z.object({ count: z.number(), sum: z.number(), p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() }),
    recent: z.array(z.object({ second: z.number(), requests: z.number(), messages: z.number() })),
    shards: z.number().int(),
  })
  .openapi("Stats");

export const LimitsResult = z
  .object({
    max_body_bytes: z.number().int().describe("After decompression; over it: 413"),
    max_line_bytes: z.number().int().describe("A longer line is a rejected line"),
    max_batch_items: z.number().int().describe("Messages per /ingest/batch request; over it: 413"),
    max_errors_reported: z.number().int(),
    rows_per_statement: z.number().int(),
    rate_limit: z.object({ requests: z.number().int(), period_seconds: z.number().int(), per: z.string() }),
  })
  .openapi("Limits");

export const PIPE_EXAMPLE = "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|test";
export const PipeLines = z.string().describe("Pipe-delimited lines, PREFIX|field1|field2|…, one message per line");
export const NdjsonLines = z.string().describe("One JSON record per line");

export const AcceptedResult = z
  .object({
    status: z.literal("accepted"),
    ingest_id: z.string(),
    receipt: z.string().describe("GET it for the status, counts and errors"),
    queued: z.number().int().describe("Valid rows put on the queue"),
    failed: z.number().int().describe("Lines rejected before queueing (also in errors)"),
    errors: z.array(LineError),
    fallback: z.literal(true).optional().describe("Queued because the database could not be reached (header Ingest-Fallback: queued)"),
    ...QuarantineFields,
  })
  .openapi("Accepted");

/** A receipt as GET /ingest/receipts/{id} documents it: the stored one (queue/receipt.ts) without its key id. */
export const ReceiptResult = ReceiptFields.omit({ key_id: true })
  .extend({ errors: z.array(LineError) })
  .openapi("Receipt");

export const ParkedSummary = z
  .object({
    ingest_id: z.string(),
    part: z.number().int(),
    rows: z.number().int(),
    rejections: z.number().int(),
    attempts: z.number().int(),
    reason: z.string(),
    parked_at: z.string(),
    redrives: z.number().int(),
  })
  .openapi("ParkedPart");

export const ParkedList = z.object({ parts: z.array(ParkedSummary), total: z.number().int() }).openapi("ParkedList");

export const RedriveResult = z
  .object({
    redriven: z.number().int().describe("Parts written by this call"),
    remaining: z.number().int().describe("Parts still parked"),
    stopped: z.string().optional().describe("Why the re-drive stopped: the database still fails"),
  })
  .openapi("RedriveResult");

/** An ISO 8601 time PostgreSQL can store: it has no year 0 (22008), so 0000-… is refused here, naming the parameter, not by the database. */
const storableDate = z.iso
  .datetime({ offset: true })
  .refine((value) => !value.startsWith("0000"), "year 0000 does not exist in PostgreSQL; use 0001-01-01T00:00:00Z or later");

/** Filters of the quarantine's routes: all optional, combined with AND. */
export const RejectionFilters = z.strictObject({
  request_id: z.string().max(200).optional().describe("The request_id of an ingest answer"),
  entity: z.enum(entityNames).optional().describe("Entity name (or prefix) of the rejected lines"),
  key: z.string().max(64).optional().describe("API key id whose requests were rejected (a key other than admin sees only its own)"),
  since: storableDate.optional().describe("Received at or after (ISO 8601)"),
  until: storableDate.optional().describe("Received before (ISO 8601)"),
});

export const RejectionListQuery = RejectionFilters.extend({
  cursor: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional()
    .describe("next_cursor of the previous page"),
  limit: z.coerce.number().int().min(1).max(1000).optional().describe("Rejections per page (default 100, at most 1000)"),
  order: z.enum(["oldest", "newest"]).optional().describe("oldest first (default) or newest first; the cursor follows the order"),
  format: z.enum(["json", "ndjson"]).optional().describe("ndjson (or Accept: application/x-ndjson): every matching rejection, one per line, streamed"),
});

export const ReplayQuery = RejectionFilters.extend({
  dry_run: z.enum(["true", "false"]).optional().describe("true: report what would pass, write nothing"),
  limit: z.coerce.number().int().min(1).max(10000).optional().describe("Rejections replayed by this call (default 1000); next_cursor says there are more"),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/)
    .optional(),
});

export const Rejection = z
  .object({
    id: z.number().int(),
    request_id: z.string(),
    key: z.string().nullable().describe("The API key id of the request (null: anonymous)"),
    line_number: z.number().int(),
    entity: z.string().nullable(),
    field: z.string().nullable(),
    position: z.number().int().nullable(),
    message: z.string(),
    sqlstate: z.string().nullable().describe("When the database refused the row"),
    reason: RejectionReason,
    format: z.enum(["text", "json"]),
    forced_entity: z.string().nullable(),
    raw: z.string().describe("The line as received: invalid UTF-8 bytes shown as \\xNN, control characters as \\u00NN, a backslash doubled"),
    raw_truncated: z.boolean().describe("Only the first QUARANTINE_RAW_BYTES were kept (or the line was over MAX_LINE_BYTES)"),
    raw_bytes: z.number().int(),
    received_at: z.string(),
    registry_version: z.string(),
    replayed_at: z.string().nullable(),
  })
  .openapi("Rejection");

export const RejectionPage = z.object({ rejections: z.array(Rejection), next_cursor: z.string().nullable() }).openapi("RejectionPage");

export const ReplayResult = z
  .object({
    replayed: z.number().int().describe("Rejected lines that now pass and were written (or, in a dry run, would be)"),
    inserted: z.number().int(),
    duplicates: z.number().int(),
    still_rejected: z.number().int(),
    dry_run: z.boolean(),
    errors: z.array(
      z.object({
        id: z.number().int(),
        request_id: z.string(),
        line_number: z.number().int(),
        entity: z.string().nullable(),
        field: z.string().optional(),
        position: z.number().int().optional(),
        message: z.string(),
      }),
    ),
    next_cursor: z.string().nullable().describe("More rejections match: call again with this cursor (a real replay can simply be called again)"),
  })
  .openapi("ReplayResult");

export const DeleteResult = z
  .object({ deleted: z.number().int(), more: z.boolean().describe("More matched than one call deletes: call again") })
  .openapi("DeleteResult");
